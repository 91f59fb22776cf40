"""The strip at the top of every page: day P&L, open positions, the last alert, health.

Built from the journal and the bridge's in-memory state only (no gateway request per page view):
the day's P&L per followed account is the Risk card's (RiskGate.status, app/web/risk_view.py),
positions are the journal's (kept by the User Hub), open P&L at the same prices the risk gate
counts (RiskGate.marks). Pages get it through :class:`StripContext` (computed once per page
request, before the handler renders) and keep it live through ``/strip/stream`` (server-sent
events sent when the journal commits, like the journal page's feed, and every REFRESH_S for what
changes without a commit: the hub, the session token, a lockout's end). ``/api/strip`` is the
same as JSON. Money USD strings with 2 decimals (a loss negative), prices points, times UTC.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.domain.expiry import contract_words
from app.domain.models import Account
from app.domain.risk import signed
from app.errors import JournalError
from app.web.health import hub_json
from app.web.journal_view import utc_iso
from app.web.render import SafeJSONResponse, templates
from app.web.risk_view import account_risk_json, money
from app.web.tunnel_link import tunnel_status

if TYPE_CHECKING:
    from app.web.app import Runtime
    from app.web.feed import JournalFeed

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # the stream re-reads at least this often (hub, token, lockout end: no commit)
MIN_INTERVAL_S = 0.5  # a burst of commits costs one snapshot per this
# Paths whose requests render no page (JSON, rows, streams, files, webhooks): no strip built.
NO_STRIP_PREFIXES = (
    "/api/",
    "/static/",
    "/journal/",
    "/strip/",
    "/webhook/",
    "/healthz",
    "/readyz",
    "/login",
)


async def strip_snapshot(runtime: Runtime) -> dict[str, Any]:
    """The strip's numbers now (see the module doc). Raises JournalError."""
    bridge, journal, run = runtime.bridge, runtime.journal, runtime.bridge.runner.run
    gate = bridge.gate
    now = gate.clock()
    followed = bridge.followed
    states = await run(journal.account_states)
    accounts = [
        Account(s.account_id, s.name, s.balance, s.can_trade) for s in states if s.account_id in followed
    ]
    accounts.sort(key=lambda a: a.name)
    risks = await gate.status(accounts)
    rows = [account_risk_json(r, gate.calendar(r.limits), gate.settings.contract_weights, now) for r in risks]
    realised = sum((r.day.realised_pnl for r in risks), Decimal(0))
    unrealised = sum((r.day.open_pnl for r in risks), Decimal(0))
    names = {a.account_id: a.name for a in accounts}
    can_trade = {a.account_id: a.can_trade for a in accounts}
    positions = await _positions(runtime, names, now)
    recent = await run(journal.recent_alerts, limit=1)
    last = recent[0] if recent else None
    return {
        "at": utc_iso(datetime.now(UTC)),
        "accounts": [
            {
                "account_id": r["account_id"],
                "account_name": r["account_name"],
                "realised_pnl": r["realised_pnl"],
                "open_pnl": r["open_pnl"],
                "day_pnl": r["day_pnl"],
                "locked": r["lockout"] is not None,
                # canTrade false (the gateway's account snapshot): every entry is refused.
                "can_trade": can_trade.get(r["account_id"], True),
            }
            for r in rows
        ],
        "total": {
            "realised_pnl": money(realised),
            "open_pnl": money(unrealised),
            "day_pnl": money(realised + unrealised),
        },
        "positions": positions,
        "last_alert": None
        if last is None
        else {
            "alert_id": last.id,
            "strategy": last.strategy,
            "status": last.status.value,
            "received_at": utc_iso(last.received_at),
            "reason": last.reason,
        },
        "health": _health(runtime, [r for r in rows if r["lockout"] is not None]),
    }


async def _positions(runtime: Runtime, names: dict[int, str], now: datetime) -> list[dict[str, Any]]:
    """The followed accounts' open positions with their open P&L at the risk gate's prices."""
    bridge, journal, run = runtime.bridge, runtime.journal, runtime.bridge.runner.run
    held = [p for p in await run(journal.positions) if p.size and p.account_id in names]
    if not held:
        return []
    marks = await bridge.gate.marks(now)
    ticks = await run(journal.contract_ticks)
    rows = []
    for p in sorted(held, key=lambda p: (names[p.account_id], p.contract_id)):
        mark, tick = marks.get(p.contract_id), ticks.get(p.contract_id)
        pnl = None
        if mark is not None and tick is not None and p.average_price is not None:
            tick_size, tick_value = tick
            pnl = (mark - p.average_price) * signed(p.side, p.size) / tick_size * tick_value
        rows.append(
            {
                "account_id": p.account_id,
                "account_name": names[p.account_id],
                "contract_id": p.contract_id,
                # The month held, as the platform and the notices name it: MNQZ6, ESH7.
                "contract": contract_words(p.contract_id),
                "side": "long" if signed(p.side, p.size) > 0 else "short",
                "size": p.size,
                "average_price": None if p.average_price is None else str(p.average_price),
                "tick_size": None if tick is None else str(tick[0]),
                "mark": None if mark is None else str(mark),
                "open_pnl": money(pnl),
            }
        )
    return rows


def _health(runtime: Runtime, locked: list[dict[str, Any]]) -> dict[str, Any]:
    """Gateway session, User Hub (or REST polling), tunnel, pause and lockouts: each ``ok``."""
    bridge = runtime.bridge
    expires = bridge.gateway.token_expires_at
    hub = runtime.hub
    hub_view = None
    if hub is not None:
        hub_view = {**hub_json(hub.state), "polling": bridge.follower.following().by == "rest polling"}
    try:
        tunnel = tunnel_status(runtime)
    except JournalError:
        tunnel = None
    paused = bridge.paused
    return {
        "gateway": {
            "ok": expires is not None and expires > datetime.now(UTC),
            "token_expires_at": utc_iso(expires),
        },
        "hub": hub_view,
        "tunnel": None
        if tunnel is None
        else {
            "kind": tunnel.get("kind"),
            "status": "stale" if tunnel.get("stale") else tunnel.get("status"),
            "ok": tunnel.get("status") == "up" and not tunnel.get("stale"),
        },
        "paused": {"since": utc_iso(paused.since), "by": paused.by} if paused else None,
        "lockouts": [
            {"account_id": r["account_id"], "account_name": r["account_name"], "until": r["lockout"]["until"]}
            for r in locked
        ],
    }


async def safe_snapshot(runtime: Runtime) -> dict[str, Any] | None:
    """strip_snapshot, or None (logged) when the journal cannot answer: a page still renders."""
    try:
        return await strip_snapshot(runtime)
    except JournalError as exc:
        log.warning("could not read the strip's numbers: %s", exc)
        return None


def render_strip(strip: dict[str, Any] | None) -> str:
    """The strip's HTML (templates/_strip.html, escaped), as the pages include it."""
    return templates.get_template("_strip.html").render(strip=strip)


class StripContext:
    """ASGI middleware: before a logged-in page request's handler runs, read the strip's numbers
    into ``request.state.strip`` for base.html (a template's context processor cannot await)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _wants_strip(scope):
            runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
            if runtime is not None:
                scope.setdefault("state", {})["strip"] = await safe_snapshot(runtime)
        await self.app(scope, receive, send)


def _wants_strip(scope: Scope) -> bool:
    path: str = scope["path"]
    session = scope.get("session")
    return bool(session and session.get("user")) and not (
        path.startswith(NO_STRIP_PREFIXES) or path.endswith(".csv")
    )


async def api_strip(request: Request) -> Response:
    """GET /api/strip: the strip's numbers as JSON (see strip_snapshot)."""
    return SafeJSONResponse(await strip_snapshot(request.app.state.runtime))


async def strip_stream(request: Request) -> Response:
    """GET /strip/stream: server-sent events ``strip`` with the strip's HTML whenever it changed."""
    runtime: Runtime = request.app.state.runtime
    assert runtime.feed is not None  # start_runtime made one

    async def html() -> str:
        return render_strip(await safe_snapshot(runtime))

    return StreamingResponse(
        strip_changes(runtime.feed, html),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def strip_changes(
    feed: JournalFeed,
    html: Callable[[], Awaitable[str]],
    *,
    refresh_s: float = REFRESH_S,
    min_interval_s: float = MIN_INTERVAL_S,
) -> AsyncGenerator[str, None]:
    """Server-sent events: ``event: strip`` with ``{"html": …}`` each time the journal committed
    (at most every ``min_interval_s``) or ``refresh_s`` passed, only when the HTML changed; a
    keepalive comment otherwise, so proxies and the browser keep the stream open."""
    seen = feed.version
    sent = await html()
    yield "retry: 1000\n\n"
    yield _event(sent)
    while True:
        seen = await feed.wait(seen, refresh_s)
        now = await html()
        if now != sent:
            sent = now
            yield _event(now)
        else:
            yield ": keepalive\n\n"
        await asyncio.sleep(min_interval_s)  # coalesce a burst into one message


def _event(html: str) -> str:
    return f"event: strip\ndata: {json.dumps({'html': html})}\n\n"
