"""The JSON API behind the page's login: ``/api/alerts``, ``/api/orders``, ``/api/fills``,
``/api/positions``, ``/api/status``. Same queries as the pages (app/web/queries.py, status.py).

Times are ISO 8601 UTC, sizes contracts, prices points and money USD as exact decimal strings.
A bad filter value is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from app.domain.enums import OrderState
from app.web.journal_view import alerts_json, fill_json, order_json, position_json
from app.web.queries import (
    AlertFilter,
    FilterError,
    find_alert_page,
    query_day_start,
    query_int,
    shown,
)
from app.web.render import SafeJSONResponse
from app.web.status import status_snapshot


async def api_alerts(request: Request) -> SafeJSONResponse:
    """Alerts newest first with orders, fills, latency and slippage.
    Query: strategy, account, status (comma-separated), since/until (local YYYY-MM-DD), before, limit."""
    runtime = request.app.state.runtime
    try:
        flt = AlertFilter.from_query(request.query_params)
    except FilterError as exc:
        return _bad(exc)
    page = await runtime.bridge.runner.run(find_alert_page, runtime.journal, flt)
    return SafeJSONResponse({"alerts": alerts_json(page.alerts, page.details), "older_than": page.older_than})


async def api_orders(request: Request) -> SafeJSONResponse:
    """Order rows newest first. Query: account, state (comma-separated OrderState), since, limit."""
    runtime = request.app.state.runtime
    try:
        query = request.query_params
        states = [_state(s) for s in query.get("state", "").split(",") if s] or None
        kwargs = _account_since_limit(query)
    except FilterError as exc:
        return _bad(exc)
    orders = await runtime.bridge.runner.run(runtime.journal.find_orders, states=states, **kwargs)
    return SafeJSONResponse({"orders": [order_json(o) for o in orders]})


async def api_fills(request: Request) -> SafeJSONResponse:
    """Fills newest first. Query: account, since (local YYYY-MM-DD), limit."""
    runtime = request.app.state.runtime
    try:
        query = request.query_params
        kwargs = _account_since_limit(query)
    except FilterError as exc:
        return _bad(exc)
    fills = await runtime.bridge.runner.run(runtime.journal.find_fills, **kwargs)
    return SafeJSONResponse({"fills": [fill_json(f) for f in fills]})


async def api_positions(request: Request) -> SafeJSONResponse:
    """Open positions per account as the User Hub last reported them (``?flat=1`` adds flat ones)."""
    runtime = request.app.state.runtime
    try:
        account_id = query_int(request.query_params, "account")
    except FilterError as exc:
        return _bad(exc)
    rows = await runtime.bridge.runner.run(runtime.journal.positions, account_id)
    keep_flat = request.query_params.get("flat") == "1"
    return SafeJSONResponse({"positions": [position_json(p) for p in rows if p.size or keep_flat]})


async def api_status(request: Request) -> SafeJSONResponse:
    """What the status page shows: mode, session, hub, accounts with positions and working orders."""
    return SafeJSONResponse(await status_snapshot(request.app.state.runtime))


def _bad(exc: Exception) -> SafeJSONResponse:
    return SafeJSONResponse({"error": str(exc)}, status_code=400)


def _state(value: str) -> OrderState:
    try:
        return OrderState(value.upper())
    except ValueError:
        known = ", ".join(s.value for s in OrderState)
        raise FilterError(f"state '{shown(value)}' is not an order state; use one of {known}") from None


def _account_since_limit(query: Mapping[str, str]) -> dict[str, Any]:
    return {
        "account_id": query_int(query, "account"),
        "since": query_day_start(query, "since"),
        "limit": min(query_int(query, "limit") or 200, 1000),
    }
