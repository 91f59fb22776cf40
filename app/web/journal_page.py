"""The journal page (home): alerts newest first with their orders and fills, filters, live
updates over server-sent events, and a CSV export of what the filters show."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from app.domain.enums import AlertStatus
from app.web.alert_money import AlertMoney, alert_money
from app.web.feed import alert_changes
from app.web.queries import (
    MAX_IDS,
    AlertFilter,
    AlertPage,
    FilterError,
    alerts_by_id,
    find_alert_page,
    parse_whole,
)
from app.web.render import templates
from app.web.status import account_list
from app.web.trades_view import load_trades

if TYPE_CHECKING:
    from app.journal import OrderRecord
    from app.journal.journal import JournalCursor
    from app.web.app import Runtime

# Statuses whose reason is a problem the trader should read (shown in red).
BAD_STATUSES = {
    AlertStatus.REJECTED,
    AlertStatus.INVALID,
    AlertStatus.UNAUTHORIZED,
    AlertStatus.UNKNOWN_STRATEGY,
    AlertStatus.TOO_LARGE,
    AlertStatus.REFUSED,
    AlertStatus.STALE,  # an entry not sent: the tunnel or this computer's clock needs a look
    AlertStatus.FAILED,
    AlertStatus.PARTIAL,
    AlertStatus.UNKNOWN,
}
CSV_MAX_ALERTS = 10_000


async def journal_page(request: Request) -> Response:
    """GET /: the journal with the filters of the query string."""
    runtime: Runtime = request.app.state.runtime
    error = None
    try:
        flt = AlertFilter.from_query(request.query_params)
    except FilterError as exc:
        flt, error = AlertFilter(), f"{exc}; showing every alert instead."
    page = await runtime.bridge.runner.run(find_alert_page, runtime.journal, flt)
    money = await _money(runtime, page)
    accounts = await account_list(runtime.bridge, runtime.journal, set())
    strategies = sorted(set(runtime.bridge.templates) | {a.strategy for a in page.alerts})
    return templates.TemplateResponse(
        request,
        "journal.html",
        {
            "flt": flt,
            "page": page,
            "error": error,
            "strategies": strategies,
            "accounts": accounts,
            "statuses": [s.value for s in AlertStatus],
            "bad_statuses": BAD_STATUSES,
            "money": money,
        },
        status_code=400 if error else 200,
    )


async def journal_rows(request: Request) -> Response:
    """GET /journal/rows?ids=3,2&<filters>: the HTML of those alerts that pass the filters (the
    live feed's follow-up request)."""
    runtime: Runtime = request.app.state.runtime
    try:
        flt = AlertFilter.from_query(request.query_params)
        given = [i for i in request.query_params.get("ids", "").split(",") if i]
        if len(given) > MAX_IDS:
            raise FilterError(f"ids names {len(given)} alerts; at most {MAX_IDS} at once")
        ids = [parse_whole("ids", i) for i in given]
    except FilterError as exc:
        return bad_request(str(exc))
    page: AlertPage = await runtime.bridge.runner.run(alerts_by_id, runtime.journal, ids, flt)
    module: Any = templates.get_template("_alert.html").make_module({"bad_statuses": BAD_STATUSES})
    money = await _money(runtime, page)
    html = "".join(
        str(module.alert_row(a, page.details[a.id], page.tick_sizes, m=money.get(a.id))) for a in page.alerts
    )
    return HTMLResponse(html)


async def _money(runtime: Runtime, page: AlertPage) -> dict[int | None, AlertMoney]:
    """Each shown alert's side, size, average fill, fees, realised P&L and trades."""
    if not any(d.fills for d in page.details.values()):
        return {}
    trades = await load_trades(runtime)
    return alert_money({i: d.fills for i, d in page.details.items()}, trades)


def bad_request(message: str) -> HTMLResponse:
    """400 with ``message`` escaped by the template (it quotes what the query string held)."""
    html = templates.get_template("_bad_request.html").render(message=message)
    return HTMLResponse(html, status_code=400)


async def journal_stream(request: Request) -> Response:
    """GET /journal/stream: server-sent events naming the alerts that changed."""
    runtime: Runtime = request.app.state.runtime

    async def changes_since(cursor: JournalCursor | None) -> tuple[JournalCursor, list[int]]:
        now, ids = await runtime.bridge.runner.run(runtime.journal.changes_since, cursor)
        if ids and cursor is not None:
            ids = await _with_trade_partners(runtime, ids)
        return now, ids

    assert runtime.feed is not None  # start_runtime made one
    return StreamingResponse(
        alert_changes(runtime.feed, changes_since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _with_trade_partners(runtime: Runtime, ids: list[int]) -> list[int]:
    """``ids`` and the other alerts of the trades they opened or closed: an exit's fill changes
    the row of the alert that opened the trade too (its trade is closed now, with a net)."""
    changed = set(ids)
    more: set[int] = set()
    for t in await load_trades(runtime):
        alerts = {*t.entry_alert_ids, *t.exit_alert_ids}
        if alerts & changed:
            more |= alerts
    return sorted(changed | more, reverse=True)[:MAX_IDS]


async def journal_csv(request: Request) -> Response:
    """GET /journal.csv?<filters>: every alert the filters match (up to CSV_MAX_ALERTS), one line
    per order (an alert without orders gets one line), times in UTC."""
    runtime: Runtime = request.app.state.runtime
    try:
        flt = AlertFilter.from_query(request.query_params)
    except FilterError as exc:
        return bad_request(str(exc))
    flt = dataclasses.replace(flt, limit=CSV_MAX_ALERTS, before_id=None)
    page = await runtime.bridge.runner.run(find_alert_page, runtime.journal, flt)
    return Response(
        "".join(_csv_lines(page)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tvbridge-journal.csv"'},
    )


CSV_COLUMNS = [
    "alert_id", "received_at_utc", "strategy", "status", "reason", "ticker", "contract_id", "source_ip",
    "leg", "account", "side", "type", "size", "limit_price", "stop_price", "state", "broker_order_id",
    "client_order_id", "fill_volume", "filled_price", "fills", "receive_to_send_ms", "send_to_ack_ms",
    "ack_to_first_fill_ms", "slippage_ticks", "slippage_usd",
]  # fmt: skip


def _csv_lines(page: AlertPage) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for a in page.alerts:
        detail = page.details[a.id]
        steps = {(x, y): s for x, y, s in detail.latency.steps()} if detail.latency else {}
        slip = {s.order_record_id: s for s in detail.latency.slippage} if detail.latency else {}
        alert_cells = [a.id, _utc(a.received_at), _text(a.strategy), a.status, _text(a.reason or ""),
                       _text(a.ticker or ""), a.contract_id or "", a.source_ip]  # fmt: skip
        latency = [_ms(steps.get(("received_at", "sent_at"))), _ms(steps.get(("sent_at", "acknowledged_at"))),
                   _ms(steps.get(("acknowledged_at", "first_fill_at")))]  # fmt: skip
        orders: Sequence[OrderRecord | None] = detail.orders or [None]
        for o in orders:
            if o is None:
                writer.writerow([*alert_cells, *[""] * (len(CSV_COLUMNS) - len(alert_cells))])
                continue
            fills = sum(1 for f in detail.fills if f.order_record_id == o.id)
            s = slip.get(o.id) if o.id is not None else None
            writer.writerow(
                [
                    *alert_cells,
                    o.leg,
                    _text(o.account_name),
                    o.side or "",
                    o.order_type or "",
                    o.size,
                    o.limit_price or "",
                    o.stop_price or "",
                    o.state,
                    o.broker_order_id or "",
                    o.client_order_id or "",
                    o.fill_volume,
                    o.filled_price or "",
                    fills,
                    *latency,
                    s.ticks if s else "",
                    s.usd if s and s.usd is not None else "",
                ]  # fmt: skip
            )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _text(value: str) -> str:
    """Text a spreadsheet must not run as a formula (a strategy name comes from a URL anyone can
    send to): a leading = + - @ tab or CR gets a quote, OWASP's CSV-injection advice."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _utc(at: datetime | None) -> str:
    return at.isoformat() if at else ""


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"
