"""The Performance page and its JSON: how each strategy and account is doing over a range
(app/domain/performance.py), the equity curve, P&L by trading day, and a price chart of a contract
(``/api/bars``: one-minute bars from History/retrieveBars) with the trades' entries and exits and
their stop loss and take profit orders.

Trades come from ``load_trades`` (app/web/trades_view.py), the one source every page shares.
Ranges are on the exchange's calendar ([risk] timezone and day_start). JSON: times ISO 8601 UTC,
prices points and money USD as exact decimal strings (money to the cent), sizes contracts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from app.domain.calendar import TradingCalendar
from app.domain.enums import Leg, OrderState
from app.domain.performance import (
    INFINITE,
    Performance,
    Range,
    in_range,
    per_account,
    per_strategy,
    performance,
    range_start,
    strategy_of,
)
from app.domain.trades import Trade
from app.errors import GatewayError, GatewayUnavailable
from app.web.journal_view import utc_iso
from app.web.queries import FilterError, query_int, shown
from app.web.render import SafeJSONResponse, templates
from app.web.status import account_list
from app.web.trades_view import load_trades

if TYPE_CHECKING:
    from app.journal import OrderRecord
    from app.web.app import Runtime

log = logging.getLogger(__name__)

_CENT = Decimal("0.01")
# A contract id as the gateway writes one (CON.F.US.MNQ.H26); anything else is refused before
# it reaches the gateway.
_CONTRACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_BARS_SPAN = timedelta(days=1)  # one request: at most a day of one-minute bars (1,440)
DEFAULT_BARS_SPAN = timedelta(hours=2)
CHART_MARGIN = timedelta(minutes=15)  # bars shown before the first and after the last fill
# The legs drawn as lines on the price chart, over the trade they protected, and the states of a
# leg that did protect it (a leg cancelled when the trade closed by another order still did).
PROTECTION_LEGS = {Leg.STOP_LOSS, Leg.TAKE_PROFIT}
PROTECTION_STATES = {
    OrderState.ACCEPTED,
    OrderState.SUSPENDED,
    OrderState.WORKING,
    OrderState.FILLED,
    OrderState.CANCELLED,
}
MAX_CHART_TRADES = 200  # the newest trades of the chart's contract that get markers


@dataclass(frozen=True)
class PerformanceFilter:
    """The page's filters: ``range`` (today, week, month, all), ``account`` id, ``strategy``
    ("outside" for trades opened outside the bridge), ``contract`` id of the price chart."""

    range: Range = Range.WEEK
    account_id: int | None = None
    strategy: str | None = None
    contract_id: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PerformanceFilter:
        """Read the query string. Raises FilterError naming a bad value."""
        text = query.get("range", "").strip().lower()
        try:
            chosen = Range(text) if text else Range.WEEK
        except ValueError:
            known = ", ".join(r.value for r in Range)
            raise FilterError(f"range '{shown(text)}' is not a range; use one of {known}") from None
        strategy = query.get("strategy", "").strip() or None
        if strategy is not None and len(strategy) > 100:
            raise FilterError(f"strategy '{shown(strategy)}' is too long")
        contract = query.get("contract", "").strip() or None
        return cls(chosen, query_int(query, "account"), strategy, contract and contract_id(contract))


def contract_id(value: str) -> str:
    """``value`` if it reads as a gateway contract id. Raises FilterError naming it."""
    if not _CONTRACT_ID.fullmatch(value):
        raise FilterError(f"contract '{shown(value)}' is not a contract id (e.g. CON.F.US.MNQ.H26)")
    return value


def calendar_of(runtime: Runtime) -> TradingCalendar:
    """The exchange's calendar as [risk] sets it."""
    risk = runtime.bridge.settings.risk
    return TradingCalendar(risk.timezone, risk.day_start)


def money(value: Decimal | None) -> str | None:
    """USD to the cent as a string ("-5.74"); None stays None."""
    return None if value is None else str(value.quantize(_CENT))


def stats_json(p: Performance) -> dict[str, Any]:
    """One Performance as JSON: counts, ``win_rate`` a fraction 0..1 (4 places), money in USD to
    the cent, ``profit_factor`` 2 places, "∞" without a loss, None without wins or losses."""
    factor = p.profit_factor
    return {
        "trades": p.trades,
        "wins": p.wins,
        "losses": p.losses,
        "breakeven": p.breakeven,
        "win_rate": None if p.win_rate is None else str(p.win_rate.quantize(Decimal("0.0001"))),
        "profit_factor": "∞"
        if factor == INFINITE
        else (None if factor is None else str(factor.quantize(_CENT))),
        "expectancy": money(p.expectancy),
        "average_win": money(p.average_win),
        "average_loss": money(p.average_loss),
        "largest_win": money(p.largest_win),
        "largest_loss": money(p.largest_loss),
        "max_drawdown": money(p.max_drawdown),
        "fees": money(p.fees),
        "gross": money(p.gross),
        "net": money(p.net),
    }


def trade_json(trade: Trade) -> dict[str, Any]:
    """One trade for the chart and the API (prices points, money USD to the cent)."""
    return {
        "account_id": trade.account_id,
        "contract_id": trade.contract_id,
        "strategy": strategy_of(trade),
        "side": trade.side.value,
        "size": trade.size,
        "entry_price": str(trade.entry_price),
        "exit_price": None if trade.exit_price is None else str(trade.exit_price),
        "opened_at": utc_iso(trade.opened_at),
        "closed_at": utc_iso(trade.closed_at),
        "pnl": money(trade.pnl),
        "fees": money(trade.fees),
        "net": money(trade.net),
        "closed_by": trade.closed_by,
        "entry_alert_ids": list(trade.entry_alert_ids),
        "exit_alert_ids": list(trade.exit_alert_ids),
    }


def protection_json(trades: Iterable[Trade], orders: Iterable[OrderRecord]) -> list[dict[str, Any]]:
    """The stop loss and take profit orders of ``trades`` (the journal's rows of their alerts, in
    the trade's account and contract, working, filled or cancelled, with a price): leg, price (points),
    state, and the span (UTC) of the trade they protected (``until`` None while it is open)."""
    by_alert: dict[int, list[OrderRecord]] = {}
    for order in orders:
        by_alert.setdefault(order.alert_id, []).append(order)
    lines, seen = [], set()
    for trade in trades:
        for alert_id in (*trade.entry_alert_ids, *trade.exit_alert_ids):
            for order in by_alert.get(alert_id, []):
                price = _order_price(order)
                if (
                    order.leg not in PROTECTION_LEGS
                    or order.state not in PROTECTION_STATES
                    or order.account_id != trade.account_id
                    or order.contract_id != trade.contract_id
                    or price is None
                    or (order.id, trade.opened_at) in seen
                ):
                    continue
                seen.add((order.id, trade.opened_at))
                lines.append(
                    {
                        "leg": order.leg.value,
                        "price": str(price),
                        "state": order.state.value,
                        "alert_id": order.alert_id,
                        "account_id": order.account_id,
                        "contract_id": order.contract_id,
                        "from": utc_iso(trade.opened_at),
                        "until": utc_iso(trade.closed_at),
                    }
                )
    return lines


def _order_price(order: OrderRecord) -> Decimal | None:
    if order.state is OrderState.FILLED and order.filled_price is not None:
        return order.filled_price
    if order.leg is Leg.STOP_LOSS:
        return order.stop_price or order.limit_price
    return order.limit_price or order.stop_price


def chart_window(trades: list[Trade], now: datetime) -> tuple[datetime, datetime]:
    """The bars to fetch for the price chart: from the first fill less a margin to the last
    fill plus a margin (not past now), at most MAX_BARS_SPAN (the newest kept); without trades
    the last DEFAULT_BARS_SPAN."""
    if not trades:
        return now - DEFAULT_BARS_SPAN, now
    first = min(t.opened_at for t in trades)
    last = max(t.closed_at or now for t in trades)
    end = min(last + CHART_MARGIN, now)
    start = max(first - CHART_MARGIN, end - MAX_BARS_SPAN)
    return start, max(end, start + timedelta(minutes=1))


async def performance_snapshot(
    runtime: Runtime, flt: PerformanceFilter, *, now: datetime | None = None
) -> dict[str, Any]:
    """What the page and ``/api/performance`` show for ``flt``. Raises JournalError."""
    now = now or datetime.now(UTC)
    calendar = calendar_of(runtime)
    since = range_start(flt.range, now, calendar.trading_day, calendar.day_start_at)
    loaded = await load_trades(runtime, since=since, account_id=flt.account_id, strategy=flt.strategy)
    done = in_range(loaded, since)
    still_open = [t for t in loaded if t.open]
    day = calendar.trading_day
    total = performance(done, day)
    contracts = _contracts_newest_first([*done, *still_open])
    chart_contract = flt.contract_id or (contracts[0] if contracts else None)
    shown_trades = [t for t in [*done, *still_open] if t.contract_id == chart_contract][-MAX_CHART_TRADES:]
    alert_ids = {a for t in shown_trades for a in (*t.entry_alert_ids, *t.exit_alert_ids)}
    orders = await runtime.bridge.runner.run(runtime.journal.orders_of_alerts, sorted(alert_ids))
    start, end = chart_window(shown_trades, now)
    return {
        "range": flt.range.value,
        "since": utc_iso(since),
        "until": utc_iso(now),
        "timezone": calendar.timezone,
        "trading_day": day(now).isoformat(),
        "filters": {"account": flt.account_id, "strategy": flt.strategy, "contract": flt.contract_id},
        "total": stats_json(total),
        "strategies": [{"strategy": s, **stats_json(p)} for s, p in per_strategy(done, day).items()],
        "accounts": [{"account_id": a, **stats_json(p)} for a, p in per_account(done, day).items()],
        "by_day": [
            {
                "day": d.day.isoformat(),
                "trades": d.trades,
                "net": money(d.net),
                "gross": money(d.gross),
                "fees": money(d.fees),
            }
            for d in total.by_day
        ],
        "equity": [{"at": utc_iso(p.at), "equity": money(p.equity)} for p in total.equity],
        "open_trades": len(still_open),
        "contracts": contracts,
        "chart": {
            "contract_id": chart_contract,
            "start": utc_iso(start),
            "end": utc_iso(end),
            "trades": [trade_json(t) for t in shown_trades],
            "protection": protection_json(shown_trades, orders),
        },
    }


def _contracts_newest_first(trades: Iterable[Trade]) -> list[str]:
    latest: dict[str, datetime] = {}
    for t in trades:
        at = t.closed_at or t.opened_at
        latest[t.contract_id] = max(at, latest.get(t.contract_id, at))
    return sorted(latest, key=lambda c: latest[c], reverse=True)


# -- routes ---------------------------------------------------------------------------------------


async def performance_page(request: Request) -> Response:
    """GET /performance: the stats per strategy and account, P&L by day and the charts."""
    runtime: Runtime = request.app.state.runtime
    error = None
    try:
        flt = PerformanceFilter.from_query(request.query_params)
    except FilterError as exc:
        flt, error = PerformanceFilter(), f"{exc}; showing this week instead."
    snapshot = await performance_snapshot(runtime, flt)
    accounts = await account_list(runtime.bridge, runtime.journal, set())
    names = {a["account_id"]: a["name"] for a in accounts}
    strategies = sorted(set(runtime.bridge.templates) | {s["strategy"] for s in snapshot["strategies"]})
    return templates.TemplateResponse(
        request,
        "performance.html",
        {
            "flt": flt,
            "s": snapshot,
            "error": error,
            "ranges": [r.value for r in Range],
            "accounts": accounts,
            "account_names": names,
            "strategies": strategies,
        },
        status_code=400 if error else 200,
    )


async def api_performance(request: Request) -> SafeJSONResponse:
    """GET /api/performance?range=&account=&strategy=&contract=: the page's numbers as JSON."""
    try:
        flt = PerformanceFilter.from_query(request.query_params)
    except FilterError as exc:
        return SafeJSONResponse({"error": str(exc)}, status_code=400)
    return SafeJSONResponse(await performance_snapshot(request.app.state.runtime, flt))


async def api_bars(request: Request) -> SafeJSONResponse:
    """GET /api/bars?contract=ID&start=&end=: one-minute bars (History/retrieveBars) of one
    contract, oldest first. ``start``/``end`` ISO 8601 with a zone (default: the last 2 hours);
    at most one day apart. 400 names a bad value or a contract the gateway does not know; 503
    when the gateway cannot be reached; 502 for another gateway error."""
    runtime: Runtime = request.app.state.runtime
    try:
        contract, start, end = _bars_query(request.query_params, datetime.now(UTC))
    except FilterError as exc:
        return SafeJSONResponse({"error": str(exc)}, status_code=400)
    try:
        bars = await runtime.bridge.gateway.bars(contract, start, end)
    except GatewayUnavailable as exc:
        return SafeJSONResponse({"error": f"the gateway cannot be reached: {exc}"}, status_code=503)
    except GatewayError as exc:
        if exc.error_name == "ContractNotFound":
            text = f"contract '{contract}' is not known to the gateway"
            return SafeJSONResponse({"error": text}, status_code=400)
        log.warning("bars of %s: %s", contract, exc)
        return SafeJSONResponse({"error": f"the gateway refused the bars: {exc}"}, status_code=502)
    return SafeJSONResponse(
        {
            "contract_id": contract,
            "unit": "minute",
            "start": utc_iso(start),
            "end": utc_iso(end),
            "bars": [
                {
                    "t": utc_iso(b.at),
                    "o": str(b.open),
                    "h": str(b.high),
                    "l": str(b.low),
                    "c": str(b.close),
                    "v": b.volume,
                }
                for b in bars
            ],
        }
    )


def _bars_query(query: Mapping[str, str], now: datetime) -> tuple[str, datetime, datetime]:
    raw = query.get("contract", "").strip()
    if not raw:
        raise FilterError("contract is required (e.g. contract=CON.F.US.MNQ.H26)")
    contract = contract_id(raw)
    end = _instant(query, "end") or now
    start = _instant(query, "start") or end - DEFAULT_BARS_SPAN
    if start >= end:
        raise FilterError(f"start {utc_iso(start)} is not before end {utc_iso(end)}")
    if end - start > MAX_BARS_SPAN:
        raise FilterError(
            f"start {utc_iso(start)} to end {utc_iso(end)} is more than one day of one-minute bars; "
            "ask for at most one day per request"
        )
    return contract, start, end


def _instant(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{name} '{shown(value)}' is not a time; use ISO 8601, e.g. 2026-03-02T14:30:00Z"
        ) from None
    if at.tzinfo is None:
        raise FilterError(f"{name} '{shown(value)}' has no time zone; end it with Z (UTC) or an offset")
    return at.astimezone(UTC)
