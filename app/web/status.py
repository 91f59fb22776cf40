"""What the bridge is connected to and holding: one snapshot for the status page and /api/status.

Accounts, positions and working orders come from the journal, which the User Hub and the
reconciler keep in line with the gateway, so opening the page costs no gateway request (the
gateway's 200-per-minute budget is for orders). Only accounts not yet reported by the hub are read
from the bridge's account directory (cached Account/search). The risk part is one
``RiskGate.status`` call over the followed accounts: journal reads only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from app import __version__
from app.domain.models import Account
from app.engine.shutdown import WORKING_STATES
from app.errors import GatewayError
from app.redact import url_without_password
from app.web.health import hub_json
from app.web.journal_view import order_json, position_json, utc_iso
from app.web.notify_link import notifications_json
from app.web.render import templates
from app.web.risk_view import risk_snapshot
from app.web.tunnel_link import tunnel_status

if TYPE_CHECKING:
    from app.engine.bridge import Bridge
    from app.engine.doctor import DoctorReport
    from app.engine.watchdog import LeftOpen
    from app.journal import EventRecord, Journal
    from app.web.app import Runtime

log = logging.getLogger(__name__)

_CENT = Decimal("0.01")


async def status_snapshot(runtime: Runtime) -> dict[str, Any]:
    """The status as plain JSON-ready values (times ISO 8601 UTC, balances USD strings)."""
    bridge, journal = runtime.bridge, runtime.journal
    settings = bridge.settings
    gateway = bridge.gateway
    now = datetime.now(UTC)
    expires = gateway.token_expires_at
    followed = set(await bridge.followed_account_ids())
    known = await known_accounts(bridge, journal)
    accounts = account_rows(known, followed)
    positions = await bridge.runner.run(journal.positions)
    working = await bridge.runner.run(journal.orders_in_states, WORKING_STATES)
    by_account: dict[int, dict[str, list[Any]]] = defaultdict(lambda: {"positions": [], "orders": []})
    for p in positions:
        if p.size:
            by_account[p.account_id]["positions"].append(position_json(p))
    for o in working:
        by_account[o.account_id]["orders"].append(order_json(o))
    for account in accounts:
        account.update(by_account.pop(account["account_id"], {"positions": [], "orders": []}))
    hub, watchdog = runtime.hub, runtime.watchdog
    alarm = watchdog.alarm if watchdog is not None else None
    paused = bridge.paused
    sim = settings.gateway.kind == "sim"
    traded = sorted((a for a, _ in known.values() if a.account_id in followed), key=lambda a: a.name)
    return {
        "version": __version__,
        "mode": "sim" if sim else "live",
        "firm": settings.gateway.firm_name,
        "api_url": "built-in simulator"
        if settings.gateway.kind == "sim"
        else settings.gateway.resolved_api_url,
        "username": settings.gateway.username or None,
        "paused": {"since": utc_iso(paused.since), "by": paused.by} if paused else None,
        "login": {
            "logged_in": expires is not None and expires > now,
            "token_expires_at": utc_iso(expires),
        },
        "hub": {**hub_json(hub.state), "following": bridge.follower.following().data()}
        if hub is not None
        else None,
        "market_hub": {**hub_json(runtime.market.hub.state), "contracts": runtime.market.hub.contract_ids}
        if runtime.market is not None
        else None,
        "tunnel": await bridge.runner.run(tunnel_status, runtime),
        "alarm": alarm.data() if alarm is not None else None,
        "last_shutdown": shutdown_json(bridge.last_shutdown, watchdog.left_open if watchdog else None),
        "accounts": accounts,
        "risk": await risk_snapshot(bridge.gate, traded),
        "journal": {"url": url_without_password(settings.journal.url)},
        "strategies": sorted(bridge.templates),
        "doctor": doctor_json(runtime.doctor),
        "notifications": await notifications_json(runtime),
    }


def doctor_json(report: DoctorReport | None) -> dict[str, Any] | None:
    """The start-up checks (``tvbridge doctor``'s cheap ones): each verdict, detail and what to do."""
    if report is None:
        return None
    return {
        "ran_at": utc_iso(report.ran_at),
        "failed": report.failed,
        "summary": report.summary(),
        "checks": [
            {"name": c.name, "verdict": c.verdict, "detail": c.detail, "todo": c.todo} for c in report.checks
        ],
    }


async def known_accounts(bridge: Bridge, journal: Journal) -> dict[int, tuple[Account, datetime | None]]:
    """account id → (the account, when the hub last reported it): every account the directory
    has (cached Account/search) overlaid by the journal's latest hub report of it."""
    known: dict[int, tuple[Account, datetime | None]] = {}
    try:
        for a in await bridge.accounts.all():
            known[a.account_id] = (a, None)
    except GatewayError as exc:  # the page still shows what the journal has
        log.warning("status page: could not list the accounts: %s", exc)
    for state in await bridge.runner.run(journal.account_states):
        account = Account(state.account_id, state.name, state.balance, state.can_trade)
        known[state.account_id] = (account, state.updated_at)
    return known


def account_rows(
    known: Mapping[int, tuple[Account, datetime | None]], followed: set[int]
) -> list[dict[str, Any]]:
    """The accounts as JSON rows (balance USD string), followed first, then by name."""
    rows = [_account(a, at, followed) for a, at in known.values()]
    return sorted(rows, key=lambda a: (not a["followed"], a["name"]))


async def account_list(bridge: Bridge, journal: Journal, followed: set[int]) -> list[dict[str, Any]]:
    """Every account the journal knows (hub reports) plus those the directory has, followed first."""
    return account_rows(await known_accounts(bridge, journal), followed)


def shutdown_json(event: EventRecord | None, left_open: LeftOpen | None) -> dict[str, Any] | None:
    """The previous run's "bridge.shutdown" event (app/engine/bridge.py) as JSON: what it left
    open, whether it flattened (``flatten``: None when it did not try), and ``still_open``: what
    of it the journal shows open now (app/engine/watchdog.py)."""
    if event is None:
        return None
    data = event.data or {}
    return {
        "at": utc_iso(event.at),
        "level": event.level,
        "message": event.message,
        "on_shutdown": data.get("on_shutdown"),
        "positions": data.get("positions", []),
        "orders": data.get("orders", []),
        "journal_view": data.get("journal_view", []),
        "flatten": data.get("flatten"),
        "still_open": [h.data() for h in left_open.held] if left_open is not None else [],
    }


def _account(account: Account, at: datetime | None, followed: set[int]) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "balance": _s(account.balance),
        "can_trade": account.can_trade,
        "updated_at": utc_iso(at),
        "followed": account.account_id in followed,
    }


def _s(value: object) -> str | None:
    return None if value is None else str(value)


async def status_page(request: Request) -> Response:
    """GET /status: the snapshot as a page."""
    runtime: Runtime = request.app.state.runtime
    snapshot = await status_snapshot(runtime)
    ticks = await runtime.bridge.runner.run(runtime.journal.tick_sizes)
    return templates.TemplateResponse(request, "status.html", {"s": snapshot, "ticks": ticks})
