"""The risk gate's rules, pure: which limit an entry would break, and when an account locks out.

The engine gathers the numbers (the journal's :class:`AccountDay`), calls :func:`check_entry`
before any entry and :func:`lockout_due` after every fill or price change. Exits and flattening
never come here: they are never refused. Money is Decimal USD, sizes whole contracts (signed
where a position: + long), times tz-aware UTC; exchange time only through the calendar.

This module holds the entry check and its eleven rules; the records and the arithmetic are in
risk_model.py, the lockouts in lockout.py (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.config import RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.lockout import lockout_due
from app.domain.risk_model import (
    AccountDay,
    Entry,
    Lockout,
    cooldown_end,
    drawdown_floor,
    named_drawdown_floor,
    only_reduces,
    plain_number,
    position_words,
    root_from_contract_id,
    signed,
    signed_usd,
    stop_risk,
    usd,
    weight,
    weighted,
)

__all__ = [  # the records and numbers live in risk_model, the lockouts in lockout
    "AccountDay",
    "Entry",
    "Lockout",
    "check_entry",
    "cooldown_end",
    "drawdown_floor",
    "lockout_due",
    "only_reduces",
    "root_from_contract_id",
    "signed",
    "stop_risk",
    "stricter",
    "weighted",
]


def check_entry(
    limits: RiskLimits,
    strategy_limits: RiskLimits | None,
    day: AccountDay,
    entry: Entry,
    calendar: TradingCalendar,
    *,
    now: datetime,
    weights: Mapping[str, float],
    root_of: Callable[[str], str] | None = None,
) -> str | None:
    """Return the first limit the entry would break, as a sentence with the numbers, or None.

    ``limits`` are the account's (``RiskSettings.for_account``); ``strategy_limits`` the
    template's ``[risk]``, of which only max_order_size, max_contracts_per_contract,
    max_contracts_total, trading_windows, max_entries_per_day, max_trades_per_minute,
    max_trades_per_hour and require_stop_loss count; they
    apply in addition to the account's, so the stricter wins. ``now`` is UTC. ``weights``:
    symbol root → weight. ``root_of``: contract_id → root for the open contracts (default: the
    entry's ``symbol_root`` for its contract, else :func:`root_from_contract_id`). Rules, in order:

    1. order size: ``size > max_order_size`` refuses.
    2. per contract: ``|open + signed size| > max_contracts_per_contract`` refuses (a buy adds,
       a sell subtracts, so the size after an entry that reduces a position is smaller).
    3. total: weighted open contracts after the entry ``> max_contracts_total`` refuses.
    4. trading windows: exchange time outside ``trading_windows`` refuses; so does a trading
       day in the calendar's or the account's holidays.
    5. session close (``close_at_session_end``): from ``session_close`` to the next trading
       day's start refuses.
    6. ``require_stop_loss`` and no stop loss refuses.
    7. daily loss: ``realised + open − stop risk ≤ −daily_loss_limit`` refuses (reaching the
       limit breaches the account, as Topstep counts it); no stop loss: stop risk 0.
    8. daily profit target: ``realised + open ≥ daily_profit_target`` refuses.
    9. trailing drawdown: ``balance + open − stop risk ≤ high_water − max_trailing_drawdown``
       refuses; an unknown balance refuses too (the floor cannot be checked).
    10. entries per day: ``entries_today + 1 > max_entries_per_day`` (account) or
        ``strategy_entries_today + 1 >`` the strategy's refuses; likewise the entries of the last
        60 s against ``max_trades_per_minute`` and of the last 60 min against ``max_trades_per_hour``.
    11. cool-down: ``losing_streak ≥ cooldown_after_losses`` and ``now < last_loss_at +
        cooldown_minutes`` refuses.
    """
    if root_of is None:
        root_of = _default_root_of(entry)
    rules = (
        _order_size,
        _per_contract,
        _total,
        _windows,
        _session_close,
        _stop_loss_required,
        _daily_loss,
        _profit_target,
        _drawdown,
        _entries,
        _rates,
        _cooldown,
    )
    gate = _Gate(limits, strategy_limits, day, entry, calendar, now, weights, root_of)
    for rule in rules:
        refusal = rule(gate)
        if refusal is not None:
            return refusal
    return None


def stricter(
    limits: RiskLimits, strategy_limits: RiskLimits | None, key: str, strategy: str
) -> tuple[float | None, str]:
    """The lower of the account's and the strategy's limit ``key`` (None: off), and its name in
    a refusal, e.g. ``max_order_size 10`` or ``strategy 'mnq-risk' max_order_size 5``. Size by
    risk caps with it (app/engine/sizing.py), so the cap is the gate's own."""
    mine = getattr(limits, key)
    theirs = getattr(strategy_limits, key) if strategy_limits is not None else None
    if theirs is not None and (mine is None or theirs < mine):
        return theirs, f"strategy '{strategy}' {key} {plain_number(theirs)}"
    return mine, f"{key} {plain_number(mine)}" if mine is not None else key


@dataclass(frozen=True)
class _Gate:
    """One check's inputs, so each rule is a small function of them."""

    limits: RiskLimits
    strategy_limits: RiskLimits | None
    day: AccountDay
    entry: Entry
    calendar: TradingCalendar
    now: datetime
    weights: Mapping[str, float]
    root_of: Callable[[str], str]

    @property
    def account(self) -> str:
        return self.day.account_name

    def stricter(self, key: str) -> tuple[float | None, str]:
        """The lower of the account's and the strategy's limit ``key``, and how to name it."""
        return stricter(self.limits, self.strategy_limits, key, self.entry.strategy)

    @property
    def open_after(self) -> int:
        """The signed position in the entry's contract after the entry (contracts, + long)."""
        return self.day.open_contracts.get(self.entry.contract_id, 0) + signed(
            self.entry.side, self.entry.size
        )

    @property
    def stop_risk(self) -> Decimal:
        return stop_risk(self.entry) or Decimal(0)


def _order_size(gate: _Gate) -> str | None:
    limit, named = gate.stricter("max_order_size")
    if limit is not None and gate.entry.size > limit:
        return f"order size {gate.entry.size} contracts is above {named} on {gate.account}"
    return None


def _per_contract(gate: _Gate) -> str | None:
    limit, named = gate.stricter("max_contracts_per_contract")
    after = gate.open_after
    if limit is None or abs(after) <= limit:
        return None
    held = gate.day.open_contracts.get(gate.entry.contract_id, 0)
    return (
        f"position in {gate.entry.contract_id} would be {position_words(after)} (open "
        f"{position_words(held)}, {gate.entry.side.value} {gate.entry.size}), above {named} on {gate.account}"
    )


def _total(gate: _Gate) -> str | None:
    limit, named = gate.stricter("max_contracts_total")
    if limit is None:
        return None
    after = {**gate.day.open_contracts, gate.entry.contract_id: gate.open_after}
    total = weighted(after, gate.weights, gate.root_of)
    if total <= Decimal(str(limit)):
        return None
    roots = {contract_id: gate.root_of(contract_id) for contract_id, size in after.items() if size}
    parts = ", ".join(
        f"{root} {abs(after[contract_id])} × {plain_number(weight(gate.weights, root))}"
        for contract_id, root in roots.items()
    )
    return (
        f"open contracts would total {plain_number(total)} weighted ({parts}), "
        f"above {named} on {gate.account}"
    )


def _windows(gate: _Gate) -> str | None:
    calendar, now = gate.calendar, gate.now
    holidays = set(gate.limits.holidays)
    if calendar.is_holiday(now, holidays):
        return (
            f"trading day {calendar.trading_day(now)} is a holiday on {gate.account}: no entries "
            f"until {calendar.describe(calendar.next_day_start(now), now=now)}"
        )
    owners = [(gate.limits.trading_windows, f"on {gate.account}")]
    if gate.strategy_limits is not None:
        owners.append(
            (gate.strategy_limits.trading_windows, f"of strategy '{gate.entry.strategy}' on {gate.account}")
        )
    for windows, owner in owners:
        if not calendar.in_windows(now, windows):
            opens_at = calendar.next_window_open(now, windows)
            assert opens_at is not None  # not in_windows: there are windows
            return (
                f"outside trading_windows {', '.join(windows)} {calendar.zone_name} {owner}: it is "
                f"{calendar.describe(now, now=now)}; the next window opens at "
                f"{calendar.describe(opens_at, now=now)}"
            )
    return None


def _session_close(gate: _Gate) -> str | None:
    limits, calendar, now = gate.limits, gate.calendar, gate.now
    if not limits.close_at_session_end:
        return None
    if now < calendar.session_close_at(now, limits.session_close):
        return None
    resume_at = calendar.next_day_start(now)
    return (
        f"after the session close at {limits.session_close} {calendar.zone_name}: "
        f"entries resume at {calendar.local(resume_at):%H:%M} {calendar.zone_name}"
    )


def _stop_loss_required(gate: _Gate) -> str | None:
    strategy = gate.strategy_limits
    required = gate.limits.require_stop_loss or (strategy is not None and strategy.require_stop_loss)
    if not required or gate.entry.stop_loss_ticks is not None:
        return None
    owner = gate.account if gate.limits.require_stop_loss else f"strategy '{gate.entry.strategy}'"
    return (
        f"entry without a stop loss on {gate.account}: require_stop_loss is set for {owner}; "
        f"give template '{gate.entry.strategy}' a stop loss"
    )


def _daily_loss(gate: _Gate) -> str | None:
    limit = gate.limits.daily_loss_limit
    if limit is None:
        return None
    pnl = gate.day.realised_pnl + gate.day.open_pnl
    if pnl - gate.stop_risk > -limit:
        return None
    risk = stop_risk(gate.entry)
    shown = "unknown (no stop loss)" if risk is None else f"{usd(risk)} USD"
    return (
        f"daily loss {signed_usd(pnl)} USD + stop risk {shown} would pass the limit {signed_usd(-limit)} USD"
    )


def _profit_target(gate: _Gate) -> str | None:
    target = gate.limits.daily_profit_target
    pnl = gate.day.realised_pnl + gate.day.open_pnl
    if target is None or pnl < target:
        return None
    return (
        f"daily profit target reached: {signed_usd(pnl)} USD ≥ {usd(target)} USD; "
        "entries resume next trading day"
    )


def _drawdown(gate: _Gate) -> str | None:
    if gate.limits.max_trailing_drawdown is None:
        return None
    balance = gate.day.balance
    if balance is None:
        return (
            f"max_trailing_drawdown is set but the balance of {gate.account} is not known yet; "
            "entries resume once the gateway reports it"
        )
    floor, named = named_drawdown_floor(gate.limits.max_trailing_drawdown, gate.day, balance)
    equity = balance + gate.day.open_pnl - gate.stop_risk
    if equity > floor:
        return None
    return (
        f"balance {usd(balance)} USD + open {signed_usd(gate.day.open_pnl)} USD − stop risk "
        f"{usd(gate.stop_risk)} USD = {usd(equity)} USD would reach the trailing drawdown floor "
        f"{usd(floor)} USD ({named}) on {gate.account}"
    )


def _entries(gate: _Gate) -> str | None:
    limit = gate.limits.max_entries_per_day
    if limit is not None and gate.day.entries_today + 1 > limit:
        return (
            f"entry {gate.day.entries_today + 1} today would be above max_entries_per_day {limit} "
            f"on {gate.account}; entries resume next trading day"
        )
    strategy = gate.strategy_limits
    limit = strategy.max_entries_per_day if strategy is not None else None
    if limit is not None and gate.day.strategy_entries_today + 1 > limit:
        return (
            f"entry {gate.day.strategy_entries_today + 1} today of strategy '{gate.entry.strategy}' "
            f"would be above its max_entries_per_day {limit} on {gate.account}; "
            "entries resume next trading day"
        )
    return None


_RATES = (
    (
        "max_trades_per_minute",
        "entries_last_minute",
        "strategy_entries_last_minute",
        "a minute",
        "60 seconds",
    ),
    ("max_trades_per_hour", "entries_last_hour", "strategy_entries_last_hour", "an hour", "60 minutes"),
)


def _rates(gate: _Gate) -> str | None:
    """max_trades_per_minute / _hour: the entries of the rolling window, plus this one."""
    for key, mine, theirs, unit, window in _RATES:
        limit = getattr(gate.limits, key)
        count: int = getattr(gate.day, mine)
        if limit is not None and count + 1 > limit:
            return (
                f"entry {count + 1} in the last {window} would be above {key} {limit} on "
                f"{gate.account}; entries resume when the oldest of them is {unit} old"
            )
        strategy = gate.strategy_limits
        limit = getattr(strategy, key) if strategy is not None else None
        count = getattr(gate.day, theirs)
        if limit is not None and count + 1 > limit:
            return (
                f"entry {count + 1} in the last {window} of strategy '{gate.entry.strategy}' would "
                f"be above its {key} {limit} on {gate.account}; entries resume when the oldest of "
                f"them is {unit} old"
            )
    return None


def _cooldown(gate: _Gate) -> str | None:
    end = cooldown_end(gate.limits, gate.day.losing_streak, gate.day.last_loss_at)
    if end is None or gate.now >= end:
        return None
    return (
        f"{gate.day.losing_streak} losing trades in a row on {gate.account} (cooldown_after_losses "
        f"{gate.limits.cooldown_after_losses}): cool-down until {gate.calendar.describe(end, now=gate.now)}"
    )


def _default_root_of(entry: Entry) -> Callable[[str], str]:
    def root_of(contract_id: str) -> str:
        if contract_id == entry.contract_id:
            return entry.symbol_root
        return root_from_contract_id(contract_id)

    return root_of
