"""The performance numbers of closed trades (app/domain/performance.py), computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.calendar import TradingCalendar
from app.domain.enums import Side
from app.domain.performance import (
    INFINITE,
    OUTSIDE,
    Range,
    in_range,
    max_drawdown,
    per_account,
    per_strategy,
    performance,
    range_start,
)
from app.domain.trades import Trade

CAL = TradingCalendar("America/Chicago", "17:00")
# Tuesday 2026-03-03 15:00 UTC = 09:00 Central: trading day 2026-03-03.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def trade(
    pnl: str | None,
    fees: str = "0.74",
    *,
    minutes: int = 0,
    account_id: int = 1,
    strategy: str | None = "mnq-trend",
    open_: bool = False,
) -> Trade:
    opened = T0 + timedelta(minutes=minutes)
    return Trade(
        account_id=account_id,
        contract_id="CON.F.US.MNQ.H26",
        side=Side.BUY,
        size=1,
        entry_price=Decimal("21000"),
        exit_price=None if open_ else Decimal("21001"),
        opened_at=opened,
        closed_at=None if open_ else opened + timedelta(minutes=1),
        ticks=None,
        pnl=None if pnl is None else Decimal(pnl),
        fees=Decimal(fees),
        strategy=strategy,
        closed_by="" if open_ else "alert",
    )


def test_the_numbers_of_a_mixed_day_by_hand() -> None:
    # nets: +9.26, −5.74, −0.74+0.74=0 (breakeven), +19.26
    trades = [trade("10"), trade("-5", minutes=5), trade("0.74", minutes=10), trade("20", minutes=15)]
    p = performance(trades, CAL.trading_day)
    assert (p.trades, p.wins, p.losses, p.breakeven) == (4, 2, 1, 1)
    assert p.win_rate == Decimal("0.5")  # a breakeven counts as a trade, not as a win
    assert p.gross == Decimal("25.74")
    assert p.fees == Decimal("2.96")
    assert p.net == Decimal("22.78")
    assert p.expectancy == Decimal("5.695")
    assert p.average_win == Decimal("14.26")
    assert p.average_loss == Decimal("-5.74")
    assert p.largest_win == Decimal("19.26")
    assert p.largest_loss == Decimal("-5.74")
    assert p.profit_factor == Decimal("28.52") / Decimal("5.74")
    assert p.max_drawdown == Decimal("5.74")  # 9.26 → 3.52
    assert [pt.equity for pt in p.equity] == [Decimal(x) for x in ("9.26", "3.52", "3.52", "22.78")]
    assert [pt.at for pt in p.equity] == [T0 + timedelta(minutes=m + 1) for m in (0, 5, 10, 15)]
    assert [(d.day, d.trades, d.net) for d in p.by_day] == [(date(2026, 3, 3), 4, Decimal("22.78"))]


def test_open_trades_and_trades_without_a_pnl_are_left_out() -> None:
    p = performance([trade("10"), trade(None, open_=True), trade(None, minutes=3)], CAL.trading_day)
    assert p.trades == 1
    assert p.net == Decimal("9.26")


def test_no_trades() -> None:
    p = performance([], CAL.trading_day)
    assert (p.trades, p.win_rate, p.profit_factor, p.expectancy) == (0, None, None, None)
    assert (p.average_win, p.average_loss, p.largest_win, p.largest_loss) == (None, None, None, None)
    assert (p.max_drawdown, p.net, p.by_day, p.equity) == (Decimal(0), Decimal(0), (), ())


def test_profit_factor_without_a_loss_is_infinite_and_without_either_is_none() -> None:
    assert performance([trade("10")], CAL.trading_day).profit_factor == INFINITE
    assert performance([trade("0.74")], CAL.trading_day).profit_factor is None  # breakeven only
    assert performance([trade("-10")], CAL.trading_day).profit_factor == Decimal(0)


def test_an_opening_loss_is_a_drawdown_from_zero() -> None:
    assert max_drawdown([Decimal("-5"), Decimal("3"), Decimal("-4")]) == Decimal("6")
    assert max_drawdown([Decimal("5"), Decimal("3")]) == Decimal(0)


def test_pnl_by_trading_day_follows_the_exchange_day_start() -> None:
    # 22:59 and 23:01 UTC on 2026-03-03 = 16:59 and 17:01 Central: two trading days.
    before = trade("10", minutes=7 * 60 + 58)
    after = trade("-5", minutes=8 * 60)
    p = performance([before, after], CAL.trading_day)
    assert [(d.day, d.net) for d in p.by_day] == [
        (date(2026, 3, 3), Decimal("9.26")),
        (date(2026, 3, 4), Decimal("-5.74")),
    ]


def test_per_strategy_and_per_account() -> None:
    trades = [
        trade("10", strategy="a"),
        trade("-5", strategy="b", account_id=2),
        trade("4", strategy=None, account_id=2),
    ]
    by_strategy = per_strategy(trades, CAL.trading_day)
    assert list(by_strategy) == ["a", "b", OUTSIDE]
    assert by_strategy["b"].net == Decimal("-5.74")
    by_account = per_account(trades, CAL.trading_day)
    assert {a: p.trades for a, p in by_account.items()} == {1: 1, 2: 2}
    assert by_account[2].net == Decimal("-2.48")


def test_ranges_start_on_the_exchange_calendar() -> None:
    now = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # Thursday 09:00 Central, trading day 03-05
    starts = {r: range_start(r, now, CAL.trading_day, CAL.day_start_at) for r in Range}
    assert starts[Range.TODAY] == datetime(2026, 3, 4, 23, 0, tzinfo=UTC)  # Wed 17:00 CST
    assert starts[Range.WEEK] == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # Sun 17:00 → Monday's day
    assert starts[Range.MONTH] == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # the day named the 1st
    assert starts[Range.ALL] is None
    # After 17:00 Central the next trading day has begun.
    evening = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert range_start(Range.TODAY, evening, CAL.trading_day, CAL.day_start_at) == datetime(
        2026, 3, 5, 23, 0, tzinfo=UTC
    )


def test_in_range_keeps_trades_closed_since() -> None:
    early, late = trade("1"), trade("2", minutes=60)
    assert in_range([early, late], T0 + timedelta(minutes=30)) == [late]
    assert in_range([late, early], None) == [early, late]


cents = st.integers(min_value=-100_000, max_value=100_000).map(lambda c: Decimal(c) / 100)


@given(st.lists(cents, max_size=30))
def test_properties_of_any_trade_list(pnls: list[Decimal]) -> None:
    trades = [trade(str(p), "0", minutes=i) for i, p in enumerate(pnls)]
    p = performance(trades, CAL.trading_day)
    assert p.wins + p.losses + p.breakeven == p.trades == len(pnls)
    assert p.net == sum(pnls, Decimal(0)) == sum((d.net for d in p.by_day), Decimal(0))
    assert p.equity[-1].equity == p.net if pnls else p.equity == ()
    # The drawdown is never more than the sum of the losses, and at least the largest loss.
    assert p.max_drawdown <= -sum((x for x in pnls if x < 0), Decimal(0))
    assert p.max_drawdown >= -(p.largest_loss or 0)
    if p.expectancy is not None:
        assert abs(p.expectancy * p.trades - p.net) < Decimal("1e-20")
