"""Trades, not just orders: the trades list (``/trades``), its CSV (``/trades.csv``) and
``/api/trades``, all from load_trades (app/web/trades_view.py), with one set of filters:
``?range=today|week|month|all&account=&strategy=``.

A range starts at the trader's local midnight (today), Monday (week) or the 1st (month), in the
machine's time zone; the bound is passed to load_trades in UTC. Money is USD, prices points.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from app.domain.enums import Side
from app.domain.trades import Trade
from app.web.alert_money import trade_key
from app.web.journal_page import bad_request
from app.web.queries import FilterError, query_int, shown
from app.web.render import SafeJSONResponse, templates
from app.web.status import account_list
from app.web.trades_view import load_trades

if TYPE_CHECKING:
    from app.web.app import Runtime

RANGES = ("today", "week", "month", "all")


@dataclass(frozen=True)
class TradeFilter:
    """The trades list's filters: a range of the local calendar, an account, a strategy."""

    range: str = "all"
    account_id: int | None = None
    strategy: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TradeFilter:
        """Read ``range``, ``account`` and ``strategy``. Raises FilterError naming a bad value."""
        name = query.get("range", "").strip() or "all"
        if name not in RANGES:
            raise FilterError(f"range '{shown(name)}' is not a range; use one of {', '.join(RANGES)}")
        return cls(name, query_int(query, "account"), query.get("strategy") or None)

    def since(self, today: date | None = None) -> datetime | None:
        """The range's start in UTC (None: all)."""
        day = today or datetime.now().astimezone().date()
        start = {
            "today": day,
            "week": day - timedelta(days=day.weekday()),
            "month": day.replace(day=1),
        }.get(self.range)
        return None if start is None else datetime.combine(start, time()).astimezone().astimezone(UTC)

    def query_string(self) -> str:
        values = {"range": self.range, "account": self.account_id, "strategy": self.strategy}
        return urlencode({k: v for k, v in values.items() if v not in (None, "", "all")})

    async def load(self, runtime: Runtime) -> list[Trade]:
        return await load_trades(
            runtime, since=self.since(), account_id=self.account_id, strategy=self.strategy
        )


def direction(side: Side) -> str:
    return "long" if side == Side.BUY else "short"


def trade_json(t: Trade) -> dict[str, Any]:
    """One trade as JSON: prices points and money USD as exact strings, times ISO 8601 UTC."""
    return {
        "key": trade_key(t),
        "account_id": t.account_id,
        "contract_id": t.contract_id,
        "side": direction(t.side),
        "size": t.size,
        "entry_price": str(t.entry_price),
        "exit_price": _s(t.exit_price),
        "opened_at": t.opened_at.astimezone(UTC).isoformat(),
        "closed_at": t.closed_at.astimezone(UTC).isoformat() if t.closed_at else None,
        "duration_s": t.duration_s,
        "ticks": _s(t.ticks),
        "pnl": usd_text(t.pnl),
        "fees": usd_text(t.fees),
        "net": usd_text(t.net),
        "open": t.open,
        "strategy": t.strategy,
        "closed_by": t.closed_by,
        "entry_alert_ids": list(t.entry_alert_ids),
        "exit_alert_ids": list(t.exit_alert_ids),
        "fill_ids": list(t.fill_ids),
    }


def held(seconds: float | None) -> str:
    """How long a trade was held: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h"; "" while open."""
    if seconds is None:
        return ""
    whole = int(seconds)
    steps = (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1))
    for unit, length, sub, sub_length in steps:
        if whole >= length:
            return f"{whole // length} {unit} {whole % length // sub_length} {sub}"
    return f"{seconds:.0f} s"


def usd_text(value: Decimal | None) -> str | None:
    """USD as an exact string with cents ("2.00", "-1.48"); None stays None."""
    return None if value is None else str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _s(value: object | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Totals:
    """What the trades of a list add up to: closed trades only for P&L (USD)."""

    trades: int
    closed: int
    pnl: Decimal
    fees: Decimal
    net: Decimal

    @classmethod
    def of(cls, trades: Sequence[Trade]) -> Totals:
        closed = [t for t in trades if not t.open and t.pnl is not None]
        pnl = sum((t.pnl for t in closed if t.pnl is not None), start=_ZERO)
        fees = sum((t.fees for t in closed), start=_ZERO)
        return cls(len(trades), len(closed), pnl, fees, pnl - fees)


_ZERO = Decimal(0)


async def trades_page(request: Request) -> Response:
    """GET /trades: the trades list with its filters and totals."""
    runtime: Runtime = request.app.state.runtime
    error = None
    try:
        flt = TradeFilter.from_query(request.query_params)
    except FilterError as exc:
        flt, error = TradeFilter(), f"{exc}; showing every trade instead."
    trades = await flt.load(runtime)
    accounts = await account_list(runtime.bridge, runtime.journal, set())
    strategies = sorted(set(runtime.bridge.templates) | {t.strategy for t in trades if t.strategy})
    return templates.TemplateResponse(
        request,
        "trades.html",
        {
            "flt": flt,
            "ranges": RANGES,
            "trades": list(reversed(trades)),  # newest first
            "totals": Totals.of(trades),
            "accounts": accounts,
            "account_names": {a["account_id"]: a["name"] for a in accounts},
            "strategies": strategies,
            "error": error,
            "trade_key": trade_key,
            "direction": direction,
            "held": held,
        },
        status_code=400 if error else 200,
    )


async def api_trades(request: Request) -> SafeJSONResponse:
    """GET /api/trades?range=&account=&strategy=: trades oldest first and their totals."""
    runtime: Runtime = request.app.state.runtime
    try:
        flt = TradeFilter.from_query(request.query_params)
    except FilterError as exc:
        return SafeJSONResponse({"error": str(exc)}, status_code=400)
    trades = await flt.load(runtime)
    totals = Totals.of(trades)
    return SafeJSONResponse(
        {
            "trades": [trade_json(t) for t in trades],
            "totals": {
                "trades": totals.trades,
                "closed": totals.closed,
                "pnl": usd_text(totals.pnl),
                "fees": usd_text(totals.fees),
                "net": usd_text(totals.net),
            },
        }
    )


TRADES_CSV_COLUMNS = [
    "trade", "account_id", "contract_id", "side", "size", "entry_price", "exit_price", "opened_at_utc",
    "closed_at_utc", "duration_s", "ticks", "pnl_usd", "fees_usd", "net_usd", "strategy", "closed_by",
    "entry_alert_ids", "exit_alert_ids",
]  # fmt: skip


async def trades_csv(request: Request) -> Response:
    """GET /trades.csv?<filters>: one line per trade (oldest first), P&L and fees in USD."""
    runtime: Runtime = request.app.state.runtime
    try:
        flt = TradeFilter.from_query(request.query_params)
    except FilterError as exc:
        return bad_request(str(exc))
    trades = await flt.load(runtime)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TRADES_CSV_COLUMNS)
    for t in trades:
        row = trade_json(t)
        writer.writerow(
            [
                row["key"],
                t.account_id,
                t.contract_id,
                row["side"],
                t.size,
                row["entry_price"],
                row["exit_price"] or "",
                row["opened_at"],
                row["closed_at"] or "",
                "" if t.duration_s is None else f"{t.duration_s:.0f}",
                row["ticks"] or "",
                row["pnl"] or "",
                row["fees"],
                row["net"] or "",
                _text(t.strategy or ""),
                t.closed_by,
                " ".join(map(str, t.entry_alert_ids)),
                " ".join(map(str, t.exit_alert_ids)),
            ]  # fmt: skip
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tvbridge-trades.csv"'},
    )


def _text(value: str) -> str:
    """A strategy name a spreadsheet must not run as a formula (journal_page._text)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
