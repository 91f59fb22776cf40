"""``tvbridge doctor``: the read-only pre-flight against the configured gateway (never an order).

On ``gateway = "sim"`` it runs against a fresh in-memory simulator (a rehearsal: a running
``serve`` keeps its own); otherwise against the live gateway with the settings' credentials.
Exit 0 when no check FAILs, else 1 (2: the settings or templates cannot be read).
"""

from __future__ import annotations

import argparse
import asyncio

from app.cli.common import say, settings_of, webhook_url
from app.config import Settings
from app.engine.doctor import DoctorReport, TunnelProbe, run_doctor


def doctor(args: argparse.Namespace) -> int:
    """Run every check and print one line each (with what to do); 0 when none FAILed."""
    settings = settings_of(args)
    report = asyncio.run(_run(settings))
    for check in report.checks:
        say(check.line())
    verdict = "FAILED" if report.failed else "OK"
    say(f"tvbridge doctor: {verdict} ({report.summary()}); no order was sent")
    return report.exit_code


async def _run(settings: Settings) -> DoctorReport:
    from app.gateway.projectx import build_gateway
    from app.strategies import load_templates

    templates = load_templates(settings.server.templates_dir)
    sim = None
    base_url = None
    if settings.gateway.kind == "sim":
        from app.sim.server import SimServer

        sim = SimServer(seed=settings.sim.seed, walk_interval_s=1.0, state_path=None)
        await sim.start(host="127.0.0.1", port=0)
        base_url = sim.url
    try:
        gateway = build_gateway(settings.gateway, base_url=base_url)
        hub_url = f"{sim.url}/hubs/user" if sim is not None else settings.gateway.resolved_user_hub_url
        try:
            return await run_doctor(
                gateway,
                templates,
                alerts_dir=settings.server.alerts_dir,
                rate_limit_per_minute=settings.gateway.rate_limit_per_minute,
                hub_url=hub_url,
                tunnel=_tunnel_probe(settings, sorted(templates)),
            )
        finally:
            await gateway.close()
    finally:
        if sim is not None:
            await sim.stop()


def _tunnel_probe(settings: Settings, strategies: list[str]) -> TunnelProbe | None:
    """The tunnel check when a public URL is configured (a tunnel up, or server.public_url)."""
    from app.web.tunnel_link import public_base_url

    base = public_base_url(settings, None)
    if not base or not strategies:
        return None

    async def probe() -> tuple[bool, str]:
        from app.errors import ConfigError
        from app.tunnel import check_reachability
        from app.tunnel.check import ATTEMPT_TIMEOUT_S

        try:
            url = webhook_url(settings, strategies[0], base)
        except ConfigError as exc:
            return False, str(exc)
        timeout_s = min(settings.tunnel.check_timeout_s, ATTEMPT_TIMEOUT_S)
        result = await check_reachability(url, timeout_s=timeout_s)
        return result.arrived, result.message

    return probe
