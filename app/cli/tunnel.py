"""``tvbridge tunnel``: run the tunnel client, or check once that alerts arrive through it."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.cli.common import say, settings_of, webhook_url
from app.config import Settings
from app.errors import ConfigError


def tunnel(args: argparse.Namespace) -> int:
    """Run the tunnel client until stopped, or with ``--check`` send one signed test request."""
    settings = settings_of(args)
    if args.check:
        return asyncio.run(_check(settings, args.strategy, args.url))
    return asyncio.run(_until_stopped(settings))


async def _until_stopped(settings: Settings) -> int:
    """Run the tunnel client until Ctrl-C (or SIGTERM / SIGHUP: the client must not outlive us)."""
    import signal

    from app.web.notify_link import build_notifier
    from app.web.tunnel_link import start_tunnel

    # Run beside a serve, the tunnel is what sees its public URL change: it tells the trader
    # ([notify]); the outcomes are logged (the serve's Status page lists its own).
    notifier = build_notifier(settings)
    if notifier is not None:
        notifier.start()
    try:
        supervisor = await start_tunnel(settings, None, notifier=notifier)
    except BaseException:
        if notifier is not None:
            await notifier.stop()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # Windows: Ctrl-C and closing the console reach the client too
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
    say("the tunnel runs until Ctrl-C; `tvbridge serve` must run too (its webhook listener answers)")
    try:
        await stop.wait()
    finally:
        await supervisor.stop()
        if notifier is not None:
            await notifier.stop()
    return 0


async def _check(settings: Settings, strategy: str | None, base_url: str | None) -> int:
    from app.ingest.auth import load_secrets
    from app.tunnel import check_reachability
    from app.tunnel.check import ATTEMPT_TIMEOUT_S
    from app.web.tunnel_link import public_base_url

    base = base_url or public_base_url(settings, None)
    if not base:
        raise ConfigError(
            "no public URL to check: no tunnel is up (start `tvbridge tunnel` or `tvbridge serve "
            "--tunnel`) and server.public_url is not set; or pass --url https://your.public.address"
        )
    if strategy is None:
        names = sorted(load_secrets(settings.server.secrets_file))
        if not names:
            raise ConfigError(
                f"no webhook secret in {settings.server.secrets_file} to sign the check with: "
                "run `tvbridge serve` once to make them"
            )
        strategy = names[0]
    url = webhook_url(settings, strategy, base)
    say(f"checking {base.rstrip('/')} with strategy '{strategy}'...")
    timeout_s = min(settings.tunnel.check_timeout_s, ATTEMPT_TIMEOUT_S)
    result = await check_reachability(url, timeout_s=timeout_s)
    seen = f"HTTP {result.status_code}" if result.status_code is not None else "no HTTP answer"
    verdict = "ARRIVED" if result.arrived else "NOT ARRIVED"
    say(f"{verdict} ({seen}, {result.elapsed_ms} ms): {result.message}")
    if result.client_ip:
        say(f"the bridge saw the request come from {result.client_ip}")
    return 0 if result.arrived else 1
