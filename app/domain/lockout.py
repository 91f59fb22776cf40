"""When an account locks out for entries: daily loss, profit target, trailing drawdown, cool-down
(pure)."""

from __future__ import annotations

from datetime import datetime

from app.config import RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.risk_model import (
    AccountDay,
    Lockout,
    cooldown_end,
    named_drawdown_floor,
    plain_number,
    signed_usd,
    usd,
)


def lockout_due(
    limits: RiskLimits, day: AccountDay, calendar: TradingCalendar, *, now: datetime
) -> Lockout | None:
    """Return the lockout the account has reached now, or None.

    Daily loss (``realised + open ≤ −daily_loss_limit``), the profit target (``realised + open ≥
    daily_profit_target``: the day's gain is kept) and trailing drawdown (``balance + open ≤
    high_water − max_trailing_drawdown``) lock until ``lockout_until``: "next_day" → the
    next trading day's start, "HH:MM" → the next such exchange time. A cool-down
    (``losing_streak ≥ cooldown_after_losses`` with the last loss within ``cooldown_minutes``)
    locks from the last loss until its own end.
    """
    pnl = day.realised_pnl + day.open_pnl
    if limits.daily_loss_limit is not None and pnl <= -limits.daily_loss_limit:
        reason = (
            f"daily loss {signed_usd(pnl)} USD reached the limit {signed_usd(-limits.daily_loss_limit)} USD"
        )
        return _lock(day, reason, now, _lock_end(limits, calendar, now))
    if limits.daily_profit_target is not None and pnl >= limits.daily_profit_target:
        reason = (
            f"daily P&L {signed_usd(pnl)} USD reached the profit target "
            f"{signed_usd(limits.daily_profit_target)} USD: the day's gain is kept"
        )
        return _lock(day, reason, now, _lock_end(limits, calendar, now))
    if limits.max_trailing_drawdown is not None and day.balance is not None:
        floor, named = named_drawdown_floor(limits.max_trailing_drawdown, day, day.balance)
        if day.balance + day.open_pnl <= floor:
            reason = (
                f"balance {usd(day.balance)} USD + open {signed_usd(day.open_pnl)} USD reached the "
                f"trailing drawdown floor {usd(floor)} USD ({named})"
            )
            return _lock(day, reason, now, _lock_end(limits, calendar, now))
    cooldown = cooldown_end(limits, day.losing_streak, day.last_loss_at)
    if cooldown is not None and day.last_loss_at is not None and now < cooldown:
        reason = (
            f"{day.losing_streak} losing trades in a row (cooldown_after_losses "
            f"{limits.cooldown_after_losses}): cool-down of {plain_number(limits.cooldown_minutes)} minutes"
        )
        return _lock(day, reason, day.last_loss_at, cooldown)
    return None


def _lock_end(limits: RiskLimits, calendar: TradingCalendar, now: datetime) -> datetime:
    if limits.lockout_until == "next_day":
        return calendar.next_day_start(now)
    return calendar.next_time(now, limits.lockout_until)


def _lock(day: AccountDay, reason: str, since: datetime, until: datetime) -> Lockout:
    return Lockout(day.account_id, day.account_name, f"{reason} on {day.account_name}", since, until)
