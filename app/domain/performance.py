"""How a strategy (or an account) is doing: the numbers of its closed trades over a range.

Pure: no I/O. Input: closed ``Trade``s (app/domain/trades.py; open ones are left out) and the
exchange's trading-day function (``TradingCalendar.trading_day``). A trade counts on the trading
day, and in the range, of its ``closed_at``: a trade is won or lost when it closes.

Rules a trader should know:

- A win has net P&L (gross less fees) > 0, a loss < 0. A trade netting exactly 0.00 is a
  *breakeven*: it counts in ``trades`` (so it lowers the win rate) but is neither a win nor a loss.
- ``win_rate`` = wins ÷ trades (0..1); None without trades.
- ``profit_factor`` = gross wins ÷ |gross losses| (sums of net P&L); ``INFINITE`` when there are
  wins and no losses; None when there are neither wins nor losses (nothing to divide).
- ``expectancy`` = mean net P&L per trade; ``average_win`` / ``average_loss`` = mean net of the
  wins / of the losses (a loss negative); None when there are none.
- ``max_drawdown``: the largest fall (USD, ≥ 0) of the cumulative net equity curve from a peak
  to a later trough; the curve starts at 0 before the first trade, so an opening loss counts.

Units: USD (Decimal, unrounded: pages round to cents), times UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.domain.trades import Trade

INFINITE = Decimal("Infinity")
OUTSIDE = "outside"  # the strategy name of trades opened outside the bridge (manual trades)
ZERO = Decimal(0)

DayFunction = Callable[[datetime], date]


class Range(StrEnum):
    """The ranges the performance page offers, on the exchange's trading calendar."""

    TODAY = "today"  # the current trading day
    WEEK = "week"  # from the start of this week's Monday trading day
    MONTH = "month"  # from the start of the trading day named the 1st of this month
    ALL = "all"


@dataclass(frozen=True)
class EquityPoint:
    """The cumulative net P&L (USD) right after a trade closed at ``at`` (UTC)."""

    at: datetime
    equity: Decimal


@dataclass(frozen=True)
class DayResult:
    """One trading day's closed trades: count, net and gross P&L, fees (USD)."""

    day: date
    trades: int
    net: Decimal
    gross: Decimal
    fees: Decimal


@dataclass(frozen=True)
class Performance:
    """The numbers of a set of closed trades (see the module docstring for the rules)."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    win_rate: Decimal | None
    profit_factor: Decimal | None
    expectancy: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    max_drawdown: Decimal
    fees: Decimal
    gross: Decimal
    net: Decimal
    by_day: tuple[DayResult, ...]
    equity: tuple[EquityPoint, ...]


def closed(trades: Iterable[Trade]) -> list[Trade]:
    """The closed trades with a P&L (a contract without a tick value gives none), by close time."""
    done = [t for t in trades if t.closed_at is not None and t.pnl is not None]
    return sorted(done, key=lambda t: (t.closed_at, t.opened_at))


def _net(trade: Trade) -> Decimal:
    net = trade.net
    assert net is not None  # closed() keeps only trades with a P&L
    return net


def performance(trades: Iterable[Trade], day: DayFunction) -> Performance:
    """The numbers of the closed trades among ``trades``; ``day`` names a UTC instant's trading day."""
    done = closed(trades)
    nets = [_net(t) for t in done]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    gross_wins, gross_losses = sum(wins, ZERO), sum(losses, ZERO)
    return Performance(
        trades=len(done),
        wins=len(wins),
        losses=len(losses),
        breakeven=len(nets) - len(wins) - len(losses),
        win_rate=Decimal(len(wins)) / len(done) if done else None,
        profit_factor=_profit_factor(gross_wins, gross_losses, bool(wins), bool(losses)),
        expectancy=sum(nets, ZERO) / len(nets) if nets else None,
        average_win=gross_wins / len(wins) if wins else None,
        average_loss=gross_losses / len(losses) if losses else None,
        largest_win=max(wins) if wins else None,
        largest_loss=min(losses) if losses else None,
        max_drawdown=max_drawdown(nets),
        fees=sum((t.fees for t in done), ZERO),
        gross=sum((t.pnl or ZERO for t in done), ZERO),
        net=sum(nets, ZERO),
        by_day=_by_day(done, day),
        equity=_equity(done),
    )


def _profit_factor(gross_wins: Decimal, gross_losses: Decimal, won: bool, lost: bool) -> Decimal | None:
    if lost:
        return gross_wins / -gross_losses
    return INFINITE if won else None


def max_drawdown(nets: Iterable[Decimal]) -> Decimal:
    """The largest peak-to-trough fall (USD, ≥ 0) of the running sum of ``nets``, starting at 0."""
    equity = peak = worst = ZERO
    for net in nets:
        equity += net
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def _by_day(done: list[Trade], day: DayFunction) -> tuple[DayResult, ...]:
    days: dict[date, list[Trade]] = defaultdict(list)
    for trade in done:
        assert trade.closed_at is not None
        days[day(trade.closed_at)].append(trade)
    return tuple(
        DayResult(
            day=d,
            trades=len(ts),
            net=sum((_net(t) for t in ts), ZERO),
            gross=sum((t.pnl or ZERO for t in ts), ZERO),
            fees=sum((t.fees for t in ts), ZERO),
        )
        for d, ts in sorted(days.items())
    )


def _equity(done: list[Trade]) -> tuple[EquityPoint, ...]:
    points, equity = [], ZERO
    for trade in done:
        assert trade.closed_at is not None
        equity += _net(trade)
        points.append(EquityPoint(trade.closed_at, equity))
    return tuple(points)


def strategy_of(trade: Trade) -> str:
    """The strategy a trade counts for: its opening alert's, or ``OUTSIDE`` (a manual trade)."""
    return trade.strategy or OUTSIDE


def per_strategy(trades: Iterable[Trade], day: DayFunction) -> dict[str, Performance]:
    """``performance`` per strategy (``strategy_of``), by name; only strategies with closed trades."""
    groups: dict[str, list[Trade]] = defaultdict(list)
    for trade in closed(trades):
        groups[strategy_of(trade)].append(trade)
    return {name: performance(group, day) for name, group in sorted(groups.items())}


def per_account(trades: Iterable[Trade], day: DayFunction) -> dict[int, Performance]:
    """``performance`` per account id; only accounts with closed trades."""
    groups: dict[int, list[Trade]] = defaultdict(list)
    for trade in closed(trades):
        groups[trade.account_id].append(trade)
    return {account: performance(group, day) for account, group in sorted(groups.items())}


def range_start(
    chosen: Range, now: datetime, day: DayFunction, day_start_at: Callable[[date], datetime]
) -> datetime | None:
    """The UTC instant ``chosen`` starts (None for ALL), on the trading calendar: ``day`` names a
    trading day, ``day_start_at`` gives the instant one starts (TradingCalendar's methods).
    The range runs to now (no trade closes in the future)."""
    today = day(now)
    if chosen is Range.TODAY:
        return day_start_at(today)
    if chosen is Range.WEEK:
        return day_start_at(today - timedelta(days=today.weekday()))
    if chosen is Range.MONTH:
        return day_start_at(today.replace(day=1))
    return None


def in_range(trades: Iterable[Trade], since: datetime | None) -> list[Trade]:
    """The closed trades among ``trades`` that closed at or after ``since`` (None: all)."""
    return [t for t in closed(trades) if since is None or (t.closed_at is not None and t.closed_at >= since)]
