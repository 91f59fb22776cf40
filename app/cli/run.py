"""``tvbridge serve`` and ``tvbridge sim``: the commands that run a server until stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.cli.common import say, settings_of
from app.errors import ConfigError


def serve(args: argparse.Namespace) -> int:
    """Run the bridge (on the built-in simulator when no gateway is set)."""
    from app.web.serve import serve

    settings = settings_of(args)
    if settings.gateway.kind != "sim":
        say(
            f"tvbridge: LIVE gateway {settings.gateway.firm_name}: orders are real and final",
            file=sys.stderr,
        )
    # Started here, not in uvicorn's lifespan: a refused login or a broken template is then one
    # line from main(), not a traceback from the server.
    return asyncio.run(
        serve(
            settings,
            host=args.host or settings.server.host,
            port=args.port or settings.server.port,
            webhook_host=settings.server.webhook_host,
            webhook_port=args.webhook_port or settings.server.webhook_port,
            tunnel=getattr(args, "tunnel", False),
        )
    )


def sim(args: argparse.Namespace) -> int:
    """Run the ProjectX simulator alone. Raises ConfigError for --faults off loopback."""
    from app.sim.server import is_loopback, run_sim
    from app.sim.store import MEMORY, StateFileError

    if args.faults and not is_loopback(args.host):
        raise ConfigError(
            f"--faults is refused on --host {args.host}: the fault endpoint lets anyone who reaches "
            "it break the simulator; use a loopback address (127.0.0.1)"
        )
    try:
        run_sim(
            args.host,
            args.port,
            seed=args.seed,
            walk_interval_s=args.walk_interval or None,
            rate_limit=args.rate_limit,
            access_log=not args.no_access_log,
            state_path=None if args.state == MEMORY else Path(args.state),
            fresh=args.fresh,
            fault_control=args.faults,
            latency_s=max(0.0, args.latency_ms) / 1000,
            extra_accounts=max(0, args.extra_accounts),
        )
    except StateFileError as exc:
        raise ConfigError(str(exc)) from None
    return 0
