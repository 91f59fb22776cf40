"""The risk gate's records and numbers, pure: an account's day, an entry, a lockout, and the
arithmetic and wording of money and positions both the entry check and the lockouts use.

Money is Decimal USD, sizes whole contracts (signed where a position: + long), times tz-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.config import RiskLimits
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
    ``entries_last_minute`` / ``_hour`` (and the strategy's): entries in the rolling window.
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
    # Entries in the last 60 s and 60 min (rolling, not bounded by the day's start); 0 unless a
    # max_trades_per_minute / max_trades_per_hour limit asked the journal.
    entries_last_minute: int = 0
    entries_last_hour: int = 0
    strategy_entries_last_minute: int = 0
    strategy_entries_last_hour: int = 0


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
        (abs(size) * weight(weights, root_of(contract_id)) for contract_id, size in open_contracts.items()),
        Decimal(0),
    )


def root_from_contract_id(contract_id: str) -> str:
    """Guess a symbol root from a ProjectX contract id: "CON.F.US.MNQ.Z25" → "MNQ".

    Only a fallback: ProjectX symbols are not always TradingView roots (MGC trades as GMET),
    so callers that know the contracts pass their own ``root_of``.
    """
    parts = contract_id.split(".")
    return parts[3] if len(parts) == 5 else contract_id


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


def named_drawdown_floor(limit: Decimal, day: AccountDay, balance: Decimal) -> tuple[Decimal, str]:
    """The lowest equity allowed (USD): high-water − max drawdown (no high-water: the balance)."""
    high_water = day.high_water if day.high_water is not None else balance
    named = f"high-water {usd(high_water)} USD − max_trailing_drawdown {usd(limit)} USD"
    return drawdown_floor(limit, day.high_water, balance), named


def position_words(size: int) -> str:
    """A signed position in words: "3 long", "2 short", "flat"."""
    if size == 0:
        return "flat"
    return f"{abs(size)} {'long' if size > 0 else 'short'}"


def weight(weights: Mapping[str, float], root: str) -> Decimal:
    # Through str: 0.1 stays 0.1, not 0.1000000000000000055511151231257827.
    return Decimal(str(weights.get(root, 1)))


def _round(amount: Decimal) -> Decimal:
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)  # never "-0.00"


def usd(amount: Decimal) -> str:
    """Money with 2 decimals: 150.00."""
    return f"{_round(amount):.2f}"


def signed_usd(amount: Decimal) -> str:
    """Money with its sign and 2 decimals: -412.50, +612.00."""
    return f"{_round(amount):+.2f}"


def plain_number(value: float | Decimal | None) -> str:
    """A count or weight without noise: 2, 0.1, 1.3 (never 1E+1)."""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"
