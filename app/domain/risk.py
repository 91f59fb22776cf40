"""The risk gate's rules, pure: which limit an entry would break, and when an account locks out.

The engine gathers the numbers (the journal's :class:`AccountDay`), calls :func:`check_entry`
before any entry and :func:`lockout_due` after every fill or price change. Exits and flattening
never come here: they are never refused. Money is Decimal USD, sizes whole contracts (signed
where a position: + long), times tz-aware UTC; exchange time only through the calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.config import RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.enums import Side

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class AccountDay:
    """What the journal says about one account now, for the alert being checked.

    ``realised_pnl``: closing fills' P&L minus fees and commissions since the trading day
    started (USD). ``open_pnl``: open positions at the latest known prices (USD). ``balance`` and
    its ``high_water`` mark (USD; None when not known). ``open_contracts``: contract_id → signed
    size (contracts, + long). ``entries_today``: entries on the account this trading day;
    ``strategy_entries_today``: those of the alert's strategy. ``losing_streak``: closed trades
    with P&L < 0 in a row, newest first; ``last_loss_at``: when the newest of them closed (UTC).
    """

    account_id: int
    account_name: str
    trading_day: date
    realised_pnl: Decimal
    open_pnl: Decimal
    balance: Decimal | None
    high_water: Decimal | None
    open_contracts: Mapping[str, int]
    entries_today: int
    strategy_entries_today: int
    losing_streak: int
    last_loss_at: datetime | None


@dataclass(frozen=True)
class Entry:
    """The entry asked for: ``size`` contracts on ``side`` in ``contract_id``.

    ``symbol_root`` (e.g. "MNQ") picks the contract weight. ``stop_loss_ticks``: the stop loss
    distance from the entry in whole ticks (None without a stop loss). ``tick_size`` in points,
    ``tick_value`` in USD per tick per contract.
    """

    strategy: str
    contract_id: str
    symbol_root: str
    side: Side
    size: int
    stop_loss_ticks: int | None
    tick_size: Decimal
    tick_value: Decimal


@dataclass(frozen=True)
class Lockout:
    """An account locked for entries from ``since`` until ``until`` (UTC), and why."""

    account_id: int
    account_name: str
    reason: str
    since: datetime
    until: datetime


def signed(side: Side | None, size: int) -> int:
    """``size`` contracts as a signed position: + long (buy), − short (sell)."""
    return size if side == Side.BUY else -size


def only_reduces(held: int, side: Side, size: int) -> bool:
    """Say whether an order of ``size`` contracts on ``side`` only reduces the signed position
    ``held`` (contracts, + long): the other side, and no more contracts than are held. Such an
    order without a bracket is an exit in substance (TradingView's "sell" that closes a long)."""
    order = signed(side, size)
    return held * order < 0 and abs(order) <= abs(held)


def stop_risk(entry: Entry) -> Decimal | None:
    """Return what the entry loses at its stop loss (USD): ticks × tick value × size.

    None without a stop loss. The distance counts as positive whatever its sign.
    """
    if entry.stop_loss_ticks is None:
        return None
    return abs(entry.stop_loss_ticks) * entry.tick_value * entry.size


def weighted(
    open_contracts: Mapping[str, int], weights: Mapping[str, float], root_of: Callable[[str], str]
) -> Decimal:
    """Return the weighted total of open contracts: Σ |size| × weight of its root.

    ``open_contracts``: contract_id → signed size. ``weights``: symbol root → weight
    ([risk] contract_weights; a micro 0.1 of its mini); a root not listed weighs 1.
    ``root_of``: contract_id → symbol root.
    """
    return sum(
        (abs(size) * _weight(weights, root_of(contract_id)) for contract_id, size in open_contracts.items()),
        Decimal(0),
    )


def root_from_contract_id(contract_id: str) -> str:
    """Guess a symbol root from a ProjectX contract id: "CON.F.US.MNQ.Z25" → "MNQ".

    Only a fallback: ProjectX symbols are not always TradingView roots (MGC trades as GMET),
    so callers that know the contracts pass their own ``root_of``.
    """
    parts = contract_id.split(".")
    return parts[3] if len(parts) == 5 else contract_id


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
    max_contracts_total, trading_windows, max_entries_per_day and require_stop_loss count; they
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
        ``strategy_entries_today + 1 >`` the strategy's refuses.
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
        _cooldown,
    )
    gate = _Gate(limits, strategy_limits, day, entry, calendar, now, weights, root_of)
    for rule in rules:
        refusal = rule(gate)
        if refusal is not None:
            return refusal
    return None


def lockout_due(
    limits: RiskLimits, day: AccountDay, calendar: TradingCalendar, *, now: datetime
) -> Lockout | None:
    """Return the lockout the account has reached now, or None.

    Daily loss (``realised + open ≤ −daily_loss_limit``) and trailing drawdown (``balance +
    open ≤ high_water − max_trailing_drawdown``) lock until ``lockout_until``: "next_day" → the
    next trading day's start, "HH:MM" → the next such exchange time. A cool-down
    (``losing_streak ≥ cooldown_after_losses`` with the last loss within ``cooldown_minutes``)
    locks from the last loss until its own end.
    """
    pnl = day.realised_pnl + day.open_pnl
    if limits.daily_loss_limit is not None and pnl <= -limits.daily_loss_limit:
        reason = f"daily loss {_signed(pnl)} USD reached the limit {_signed(-limits.daily_loss_limit)} USD"
        return _lock(day, reason, now, _lock_end(limits, calendar, now))
    if limits.max_trailing_drawdown is not None and day.balance is not None:
        floor, named = _drawdown_floor(limits.max_trailing_drawdown, day, day.balance)
        if day.balance + day.open_pnl <= floor:
            reason = (
                f"balance {_usd(day.balance)} USD + open {_signed(day.open_pnl)} USD reached the "
                f"trailing drawdown floor {_usd(floor)} USD ({named})"
            )
            return _lock(day, reason, now, _lock_end(limits, calendar, now))
    cooldown = cooldown_end(limits, day.losing_streak, day.last_loss_at)
    if cooldown is not None and day.last_loss_at is not None and now < cooldown:
        reason = (
            f"{day.losing_streak} losing trades in a row (cooldown_after_losses "
            f"{limits.cooldown_after_losses}): cool-down of {_number(limits.cooldown_minutes)} minutes"
        )
        return _lock(day, reason, day.last_loss_at, cooldown)
    return None


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
        mine = getattr(self.limits, key)
        theirs = getattr(self.strategy_limits, key) if self.strategy_limits is not None else None
        if theirs is not None and (mine is None or theirs < mine):
            return theirs, f"strategy '{self.entry.strategy}' {key} {_number(theirs)}"
        return mine, f"{key} {_number(mine)}" if mine is not None else key

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
        f"position in {gate.entry.contract_id} would be {_position(after)} (open "
        f"{_position(held)}, {gate.entry.side.value} {gate.entry.size}), above {named} on {gate.account}"
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
        f"{root} {abs(after[contract_id])} × {_number(_weight(gate.weights, root))}"
        for contract_id, root in roots.items()
    )
    return f"open contracts would total {_number(total)} weighted ({parts}), above {named} on {gate.account}"


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
    shown = "unknown (no stop loss)" if risk is None else f"{_usd(risk)} USD"
    return f"daily loss {_signed(pnl)} USD + stop risk {shown} would pass the limit {_signed(-limit)} USD"


def _profit_target(gate: _Gate) -> str | None:
    target = gate.limits.daily_profit_target
    pnl = gate.day.realised_pnl + gate.day.open_pnl
    if target is None or pnl < target:
        return None
    return (
        f"daily profit target reached: {_signed(pnl)} USD ≥ {_usd(target)} USD; "
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
    floor, named = _drawdown_floor(gate.limits.max_trailing_drawdown, gate.day, balance)
    equity = balance + gate.day.open_pnl - gate.stop_risk
    if equity > floor:
        return None
    return (
        f"balance {_usd(balance)} USD + open {_signed(gate.day.open_pnl)} USD − stop risk "
        f"{_usd(gate.stop_risk)} USD = {_usd(equity)} USD would reach the trailing drawdown floor "
        f"{_usd(floor)} USD ({named}) on {gate.account}"
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


def _cooldown(gate: _Gate) -> str | None:
    end = cooldown_end(gate.limits, gate.day.losing_streak, gate.day.last_loss_at)
    if end is None or gate.now >= end:
        return None
    return (
        f"{gate.day.losing_streak} losing trades in a row on {gate.account} (cooldown_after_losses "
        f"{gate.limits.cooldown_after_losses}): cool-down until {gate.calendar.describe(end, now=gate.now)}"
    )


def cooldown_end(limits: RiskLimits, losing_streak: int, last_loss_at: datetime | None) -> datetime | None:
    """When the cool-down of a losing streak ends (UTC), or None when the streak is short."""
    needed = limits.cooldown_after_losses
    if needed is None or last_loss_at is None or losing_streak < needed:
        return None
    return last_loss_at + timedelta(minutes=limits.cooldown_minutes)


def drawdown_floor(limit: Decimal, high_water: Decimal | None, balance: Decimal) -> Decimal:
    """The lowest equity allowed (USD): high-water − max_trailing_drawdown (no high-water yet:
    the balance)."""
    return (high_water if high_water is not None else balance) - limit


def _drawdown_floor(limit: Decimal, day: AccountDay, balance: Decimal) -> tuple[Decimal, str]:
    """The lowest equity allowed (USD): high-water − max drawdown (no high-water: the balance)."""
    high_water = day.high_water if day.high_water is not None else balance
    named = f"high-water {_usd(high_water)} USD − max_trailing_drawdown {_usd(limit)} USD"
    return drawdown_floor(limit, day.high_water, balance), named


def _lock_end(limits: RiskLimits, calendar: TradingCalendar, now: datetime) -> datetime:
    if limits.lockout_until == "next_day":
        return calendar.next_day_start(now)
    return calendar.next_time(now, limits.lockout_until)


def _lock(day: AccountDay, reason: str, since: datetime, until: datetime) -> Lockout:
    return Lockout(day.account_id, day.account_name, f"{reason} on {day.account_name}", since, until)


def _default_root_of(entry: Entry) -> Callable[[str], str]:
    def root_of(contract_id: str) -> str:
        if contract_id == entry.contract_id:
            return entry.symbol_root
        return root_from_contract_id(contract_id)

    return root_of


def _position(size: int) -> str:
    """A signed position in words: "3 long", "2 short", "flat"."""
    if size == 0:
        return "flat"
    return f"{abs(size)} {'long' if size > 0 else 'short'}"


def _weight(weights: Mapping[str, float], root: str) -> Decimal:
    # Through str: 0.1 stays 0.1, not 0.1000000000000000055511151231257827.
    return Decimal(str(weights.get(root, 1)))


def _round(amount: Decimal) -> Decimal:
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)  # never "-0.00"


def _usd(amount: Decimal) -> str:
    """Money with 2 decimals: 150.00."""
    return f"{_round(amount):.2f}"


def _signed(amount: Decimal) -> str:
    """Money with its sign and 2 decimals: -412.50, +612.00."""
    return f"{_round(amount):+.2f}"


def _number(value: float | Decimal | None) -> str:
    """A count or weight without noise: 2, 0.1, 1.3 (never 1E+1)."""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"
