"""The risk rules as the status page and /api/status show them: per followed account, every
limit in effect and the numbers now (day P&L, room to each limit, contracts, entries, streak,
lockout, session close, trading windows), from one RiskGate.status call: journal reads only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from app.config import RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.models import Account
from app.domain.risk import cooldown_end, drawdown_floor, root_from_contract_id, weighted
from app.engine.risk_gate import AccountRisk, RiskGate
from app.web.journal_view import utc_iso

if TYPE_CHECKING:
    from app.journal.tables import LockoutRecord

_CENT = Decimal("0.01")


async def risk_snapshot(gate: RiskGate, accounts: list[Account]) -> dict[str, Any]:
    """The risk gate's view of ``accounts`` now (app/engine/risk_gate.py): the exchange calendar,
    where open positions are priced (``prices``: ``kind`` "quotes", the Market Hub, or "bars"),
    and per account its limits, the day's numbers and the room left to each limit.

    Money USD strings with 2 decimals (a loss negative), sizes contracts, times ISO 8601 UTC. One
    ``gate.status`` call: journal reads only, no gateway request. Raises JournalError.
    """
    settings = gate.settings
    now = gate.clock()
    calendar = TradingCalendar(settings.timezone, settings.day_start)
    statuses = await gate.status(accounts)
    source = gate.price_source()
    return {
        "prices": {"kind": source.kind, "detail": source.detail},
        "calendar": {
            "timezone": settings.timezone,
            "zone_name": calendar.zone_name,
            "day_start": settings.day_start,
            "trading_day": calendar.trading_day(now).isoformat(),
            "day_started_at": utc_iso(calendar.day_start_at(calendar.trading_day(now))),
            "next_day_start_at": utc_iso(calendar.next_day_start(now)),
            "now": utc_iso(now),
        },
        "accounts": [
            account_risk_json(r, gate.calendar(r.limits), settings.contract_weights, now) for r in statuses
        ],
    }


def account_risk_json(
    risk: AccountRisk, calendar: TradingCalendar, weights: Mapping[str, float], now: datetime
) -> dict[str, Any]:
    """One account's limits, numbers and room as JSON (see risk_snapshot).

    Room is what is left before the limit is reached (USD or contracts; 0 or less: reached).
    Open P&L is at the latest prices the journal has seen (alert prices and fills), not a quote.
    """
    limits, day = risk.limits, risk.day
    pnl = day.realised_pnl + day.open_pnl
    largest = max((abs(size) for size in day.open_contracts.values()), default=0)
    total = weighted(day.open_contracts, weights, root_from_contract_id)
    return {
        "account_id": risk.account_id,
        "account_name": risk.account_name,
        "limits": limits_json(limits),
        "trading_day": day.trading_day.isoformat(),
        "realised_pnl": _money(day.realised_pnl),
        "open_pnl": _money(day.open_pnl),
        "day_pnl": _money(pnl),
        "daily_loss": _daily_loss(limits, pnl),
        "profit_target": _profit_target(limits, pnl),
        "balance": _money(day.balance),
        "high_water": _money(day.high_water),
        "drawdown": _drawdown(limits, day.balance, day.high_water, day.open_pnl),
        "open_contracts": dict(sorted(day.open_contracts.items())),
        "open_contracts_largest": largest,
        "open_contracts_room": _room(limits.max_contracts_per_contract, largest),
        "open_contracts_weighted": _number(total),
        "open_contracts_weighted_room": _weighted_room(limits.max_contracts_total, total),
        "entries_today": day.entries_today,
        "entries_left": _room(limits.max_entries_per_day, day.entries_today),
        "losing_streak": day.losing_streak,
        "last_loss_at": utc_iso(day.last_loss_at),
        "cooldown_until": utc_iso(_cooldown_until(limits, day.losing_streak, day.last_loss_at, now)),
        "lockout": _lockout(risk.lockout),
        "session_close": _session_close(limits, calendar, now),
        "trading_windows": _windows(limits, calendar, now),
    }


def limits_json(limits: RiskLimits) -> dict[str, Any]:
    """Every limit key as set (None: off); money USD strings, holidays ISO dates."""
    values: dict[str, Any] = {}
    for key in RiskLimits.model_fields:
        value = getattr(limits, key)
        if isinstance(value, Decimal):
            value = _money(value)
        elif key == "holidays":
            value = [d.isoformat() for d in value]
        values[key] = value
    return values


def _daily_loss(limits: RiskLimits, pnl: Decimal) -> dict[str, Any] | None:
    """The day's P&L against -daily_loss_limit: reaching it locks the account (app/domain/risk.py)."""
    if limits.daily_loss_limit is None:
        return None
    room = pnl + limits.daily_loss_limit
    return {"limit": _money(-limits.daily_loss_limit), "room": _money(room), "reached": room <= 0}


def _profit_target(limits: RiskLimits, pnl: Decimal) -> dict[str, Any] | None:
    """The day's P&L against daily_profit_target: reached, no more entries that day."""
    target = limits.daily_profit_target
    if target is None:
        return None
    return {"target": _money(target), "left": _money(max(target - pnl, Decimal(0))), "reached": pnl >= target}


def _drawdown(
    limits: RiskLimits, balance: Decimal | None, high_water: Decimal | None, open_pnl: Decimal
) -> dict[str, Any] | None:
    """Balance + open P&L against the floor high-water − max_trailing_drawdown (no high-water
    yet: the balance), as the gate counts it. Unknown balance: floor and room None."""
    limit = limits.max_trailing_drawdown
    if limit is None:
        return None
    if balance is None:
        return {"floor": None, "equity": None, "room": None, "reached": False}
    floor = drawdown_floor(limit, high_water, balance)
    equity = balance + open_pnl
    return {
        "floor": _money(floor),
        "equity": _money(equity),
        "room": _money(equity - floor),
        "reached": equity <= floor,
    }


def _cooldown_until(
    limits: RiskLimits, streak: int, last_loss_at: datetime | None, now: datetime
) -> datetime | None:
    """When the running cool-down ends (UTC), None when none runs now."""
    end = cooldown_end(limits, streak, last_loss_at)
    return end if end is not None and now < end else None


def _session_close(limits: RiskLimits, calendar: TradingCalendar, now: datetime) -> dict[str, Any]:
    """The session close time, its next instant, and whether entries are refused now because
    today's session has closed (only with close_at_session_end)."""
    closed_at = calendar.session_close_at(now, limits.session_close)
    return {
        "time": limits.session_close,
        "close_at_session_end": limits.close_at_session_end,
        "next_at": utc_iso(calendar.next_time(now, limits.session_close)),
        "closed_now": limits.close_at_session_end and now >= closed_at,
    }


def _windows(limits: RiskLimits, calendar: TradingCalendar, now: datetime) -> dict[str, Any]:
    """The trading windows (exchange time), whether now is inside one, the next opening, and
    whether today's trading day is a holiday."""
    windows = limits.trading_windows
    inside = calendar.in_windows(now, windows)
    return {
        "windows": list(windows),
        "inside_now": inside,
        "next_open_at": None if inside else utc_iso(calendar.next_window_open(now, windows)),
        "holiday_today": calendar.is_holiday(now, limits.holidays),
    }


def _lockout(lock: LockoutRecord | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {"reason": lock.reason, "since": utc_iso(lock.since), "until": utc_iso(lock.until), "by": lock.by}


def _room(limit: int | None, used: int) -> int | None:
    """limit − used (contracts or entries), None when the limit is off."""
    return None if limit is None else limit - used


def _weighted_room(limit: float | None, used: Decimal) -> str | None:
    """limit − used in weighted contracts, None when the limit is off."""
    return None if limit is None else _number(Decimal(str(limit)) - used)


def _money(amount: Decimal | None) -> str | None:
    """USD with 2 decimals, half up, never "-0.00"; None stays None."""
    if amount is None:
        return None
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"{rounded if rounded else abs(rounded):.2f}"


def _number(value: Decimal) -> str:
    """A weighted count without noise: "2", "0.1" (never "1E+1")."""
    return f"{value.normalize():f}"


def money(amount: Decimal | None) -> str | None:
    """USD with 2 decimals, half up, never "-0.00"; None stays None (the Risk card's format, for
    the other views that show the same numbers: app/web/strip.py)."""
    return _money(amount)
