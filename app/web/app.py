"""The Starlette app: builds the bridge on start (lifespan) and routes webhooks.

Start order: journal (migrated to head), templates (all validated), webhook secrets (made for new
strategies), gateway (the in-process simulator when ``gateway.kind = "sim"``), then the bridge
reconciles what a previous run left open. Any failure stops the start with one clear line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import __version__
from app.config import Settings
from app.engine.bridge import Bridge
from app.engine.doctor import DoctorReport, run_doctor
from app.engine.ports import Notifier
from app.engine.watchdog import Watchdog
from app.gateway.hub import TokenSource, UserHub
from app.gateway.projectx import ProjectXGateway, build_gateway
from app.ingest.auth import ensure_secrets, load_secrets
from app.journal import Journal
from app.redact import url_without_password
from app.strategies import StrategyTemplate, load_templates
from app.web import logsafe
from app.web.access import AuthFile
from app.web.api import api_alerts, api_fills, api_orders, api_positions, api_status
from app.web.control import ControlPages
from app.web.feed import JournalFeed
from app.web.guard import HostCheck, OriginCheck, SecurityHeaders, allowed_hosts
from app.web.health import healthz, readyz
from app.web.journal_page import journal_csv, journal_page, journal_rows, journal_stream
from app.web.login import LoginPages, login_middleware
from app.web.market_link import MarketLink, build_market_link
from app.web.notify_link import build_notifier, journal_record
from app.web.performance_page import api_bars, api_performance, performance_page
from app.web.render import STATIC_DIR
from app.web.sim_link import open_sim, pace_hub
from app.web.status import status_page
from app.web.strip import StripContext, api_strip, strip_stream
from app.web.templates_page import routes as templates_routes
from app.web.trades_page import api_trades, trades_csv, trades_page
from app.web.webhook import receive_webhook
from app.web.webhooks_page import send_test_alert, webhooks_page

if TYPE_CHECKING:
    from app.notify.notifier import AppriseNotifier
    from app.sim.server import SimServer
    from app.tunnel.supervisor import TunnelSupervisor

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the lifespan built, for the routes (``request.app.state``) and for tests."""

    bridge: Bridge
    journal: Journal
    sim: SimServer | None = None  # the built-in simulator, when it runs in-process
    hub: UserHub | None = None
    market: MarketLink | None = None  # the Market Hub, when [gateway] market_hub is on
    feed: JournalFeed | None = None  # wakes the journal page's live updates
    tunnel: TunnelSupervisor | None = None  # while `serve --tunnel` runs one
    watchdog: Watchdog | None = None  # the unreachable alarm; what the last shutdown left open
    doctor: DoctorReport | None = None  # the cheap pre-flight checks made at start (Status page)
    # The one [notify] describes, when it has URLs and no notifier was passed to start_runtime:
    # started before the bridge, stopped last (Status page: targets, counts).
    notifier: AppriseNotifier | None = None


async def start_runtime(settings: Settings, *, notifier: Notifier | None = None) -> Runtime:
    """Build and start everything the bridge needs. Raises ConfigError, GatewayError, JournalError.

    ``notifier``: where the trader's notices go; None: the one ``[notify]`` describes."""
    logsafe.install()  # before the bridge exists: its secrets are scrubbed from every log record
    sim = open_sim(settings)
    try:
        # The journal keeps each gateway's rows apart: ids restart per gateway (Journal.gateway).
        gateway_identity = f"sim:{sim.state.instance}" if sim is not None else settings.gateway.identity
        journal = Journal(settings.journal.url, gateway=gateway_identity)
        journal.upgrade()
    except BaseException:
        if sim is not None:
            sim.state.close()
        raise
    try:
        return await _start(settings, journal, sim, notifier)
    except BaseException:
        if sim is not None:
            sim.state.close()  # idempotent: stop() may have closed it already
        journal.close()
        raise


async def _start(
    settings: Settings, journal: Journal, sim: SimServer | None, notifier: Notifier | None
) -> Runtime:
    own = build_notifier(settings) if notifier is None else None  # ConfigError: a wrong kind or URL
    templates = load_templates(settings.server.templates_dir)
    notes = []
    added = ensure_secrets(settings.server.secrets_file, templates)
    if added:
        notes.append(
            f"made a webhook secret for {', '.join(added)} in {settings.server.secrets_file}; "
            "`tvbridge url STRATEGY` prints the URL to paste into TradingView"
        )
    secrets = load_secrets(settings.server.secrets_file)
    base_url = None
    if sim is not None:
        pace_hub(sim, settings.gateway.hub_silence_timeout_s)
        await sim.start(host="127.0.0.1", port=0)
        base_url = sim.url
    gateway = build_gateway(settings.gateway, base_url=base_url)
    bridge = Bridge(settings, gateway, journal, templates, secrets, notifier or own)
    if own is not None:
        own.record = journal_record(bridge.runner)
    hub = UserHub(
        f"{sim.url}/hubs/user" if sim is not None else settings.gateway.resolved_user_hub_url,
        gateway.rest.access_token,
        bridge.on_gateway_event,
        bridge.on_hub_connected,
        silence_timeout_s=settings.gateway.hub_silence_timeout_s,
        token_check_s=settings.gateway.hub_token_check_s,
        urgent=bridge.follower.urgent,
    )
    market = _market_link(settings, sim, gateway.rest.access_token, bridge)
    try:
        if own is not None:
            own.start()  # before the bridge, whose start may notify
        await bridge.start()
        bridge.follow_hub(lambda: hub.state)  # before the first connect's catch-up asks for it
        await hub.start(await bridge.followed_account_ids())
        if market is not None:
            await market.start()
    except BaseException:
        if market is not None:
            await market.stop()
        await hub.stop()
        await bridge.follower.stop()
        if own is not None:
            await own.stop(drain_s=0)
        await gateway.close()
        if sim is not None:
            await sim.stop()
        raise
    for note in notes:
        log.warning(note)
    doctor = await _cheap_doctor(settings, gateway, templates)
    log.warning(
        "tvbridge %s ready: gateway %s, %d strategies, journal %s",
        __version__,
        settings.gateway.firm_name,
        len(templates),
        url_without_password(settings.journal.url),
    )
    feed = JournalFeed(journal, asyncio.get_running_loop())
    watchdog = Watchdog(
        bridge.runner,
        gateway,
        hub,
        lambda: bridge.followed,
        alarm_s=settings.engine.unreachable_alarm_s,
        last_shutdown=bridge.last_shutdown,
        polled=lambda: bridge.follower.following().by == "rest polling",
        notifier=bridge.notifier,
        token_margin_s=settings.gateway.token_refresh_margin_s,
        rolls=bridge.rolls,
    )
    watchdog.start()
    return Runtime(
        bridge=bridge,
        journal=journal,
        sim=sim,
        hub=hub,
        market=market,
        feed=feed,
        watchdog=watchdog,
        doctor=doctor,
        notifier=own,
    )


def _market_link(
    settings: Settings, sim: SimServer | None, token: TokenSource, bridge: Bridge
) -> MarketLink | None:
    """The Market Hub when ``[gateway] market_hub`` is on and its address is known (not started)."""
    if not settings.gateway.market_hub:
        return None
    url = f"{sim.url}/hubs/market" if sim is not None else settings.gateway.resolved_market_hub_url
    if not url:
        log.warning("gateway.market_hub is on but no Market Hub address is known: set gateway.market_hub_url")
        return None
    return build_market_link(settings.gateway, url, token, bridge)


async def _cheap_doctor(
    settings: Settings, gateway: ProjectXGateway, templates: dict[str, StrategyTemplate]
) -> DoctorReport | None:
    """The pre-flight's cheap checks (no hub, no tunnel: serve runs its own), logged; a problem
    in them never stops the start (the bridge already logged in and read its accounts)."""
    try:
        report = await run_doctor(
            gateway,
            templates,
            alerts_dir=settings.server.alerts_dir,
            rate_limit_per_minute=settings.gateway.rate_limit_per_minute,
        )
    except Exception:
        log.exception("the start-up checks failed; `tvbridge doctor` runs them on their own")
        return None
    for check in report.checks:
        if check.verdict != "PASS":
            log.warning("doctor: %s", check.line())
    return report


async def stop_runtime(runtime: Runtime) -> None:
    """Finish alerts in flight, then report (or flatten, engine.on_shutdown) what the followed
    accounts still hold while the hub and the gateway still answer; then stop following the hub
    and close the gateway, the simulator, the notifier (after sending what is queued) and the
    journal. Call it once the servers stopped taking alerts."""
    if runtime.watchdog is not None:
        await runtime.watchdog.stop()
    await runtime.bridge.wind_down()  # never raises
    if runtime.market is not None:
        await runtime.market.stop()
    if runtime.hub is not None:
        await runtime.hub.stop()
    await runtime.bridge.stop()
    if runtime.sim is not None:
        await runtime.sim.stop()
    if runtime.feed is not None:
        runtime.feed.close()
    if runtime.notifier is not None:
        # Last but the journal: the shutdown's notices ("bridge stopped", what is left open) were
        # queued above; what is queued goes out within [notify] timeout_s + 2 s, then is journaled.
        await runtime.notifier.stop()
    runtime.journal.close()


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """The ASGI app. With ``runtime`` (already started by the caller, as ``tvbridge serve`` does so
    that a start-up failure is one clear line), the app serves it; otherwise its lifespan builds
    and stops one."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logsafe.install()
        if runtime is not None:
            app.state.runtime, app.state.bridge = runtime, runtime.bridge
            yield
            return
        built = await start_runtime(settings)
        app.state.runtime, app.state.bridge = built, built.bridge
        try:
            yield
        finally:
            await stop_runtime(built)

    auth = AuthFile(settings.server.auth_file, create=True)  # the keys are made at the first start
    routes = [
        Route("/", journal_page, methods=["GET"]),
        Route("/journal/rows", journal_rows, methods=["GET"]),
        Route("/journal/stream", journal_stream, methods=["GET"]),
        Route("/journal.csv", journal_csv, methods=["GET"]),
        Route("/status", status_page, methods=["GET"]),
        Route("/webhooks", webhooks_page, methods=["GET"]),
        Route("/webhooks/{strategy}/test", send_test_alert, methods=["POST"]),
        Route("/api/alerts", api_alerts, methods=["GET"]),
        Route("/api/orders", api_orders, methods=["GET"]),
        Route("/api/fills", api_fills, methods=["GET"]),
        Route("/api/positions", api_positions, methods=["GET"]),
        Route("/api/status", api_status, methods=["GET"]),
        Route("/api/strip", api_strip, methods=["GET"]),
        Route("/strip/stream", strip_stream, methods=["GET"]),
        Route("/performance", performance_page, methods=["GET"]),
        Route("/api/performance", api_performance, methods=["GET"]),
        Route("/api/bars", api_bars, methods=["GET"]),
        Route("/api/trades", api_trades, methods=["GET"]),
        Route("/trades", trades_page, methods=["GET"]),
        Route("/trades.csv", trades_csv, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/webhook/{strategy}", receive_webhook, methods=["POST"]),
        Route("/webhook/{strategy}/{token}", receive_webhook, methods=["POST"]),
        *LoginPages(auth).routes(),
        *ControlPages(auth).routes(),
        *templates_routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    guards = [
        Middleware(SecurityHeaders),
        Middleware(HostCheck, hosts=allowed_hosts(settings)),
        Middleware(OriginCheck),
    ]
    return Starlette(
        routes=routes,
        middleware=[*guards, *login_middleware(settings, auth), Middleware(StripContext)],
        lifespan=lifespan,
    )
