"""Scale-out arithmetic: targets capped to the fill, break-even, the plan kept in the group's note."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.enums import Leg, Side
from app.domain.models import Bracket, BreakEven, Target
from app.domain.scale_out import plan_note, read_plan
from app.domain.ticks import round_in_favour
from app.engine.managed_brackets import leg_price
from app.engine.scale_out import break_even_price, capped
from app.engine.trailing import trail_price

TICK = Decimal("0.25")


@pytest.mark.parametrize(
    ("filled", "sizes"),
    [(3, [1, 1, 1]), (2, [1, 1, 0]), (1, [1, 0, 0]), (5, [1, 1, 1])],  # 5: 2 ride with the stop
)
def test_targets_are_capped_in_order_to_what_filled(filled: int, sizes: list[int]) -> None:
    assert capped((Target(20, 1), Target(40, 1), Target(80, 1)), filled) == sizes


@pytest.mark.parametrize(
    ("price", "side", "offset", "expected"),
    [
        (Decimal("21500.25"), Side.BUY, 1, Decimal("21500.50")),
        (Decimal("21500.25"), Side.SELL, 1, Decimal("21500.00")),
        (Decimal("21500.10"), Side.BUY, 0, Decimal("21500.25")),  # an average off the grid: never below it
        (Decimal("21500.10"), Side.SELL, 0, Decimal("21500.00")),  # never above it for a short
    ],
)
def test_break_even_is_in_the_trade_s_favour_on_the_tick_grid(
    price: Decimal, side: Side, offset: int, expected: Decimal
) -> None:
    assert break_even_price(price, side, offset, TICK) == expected


def test_the_plan_round_trips_through_the_group_note() -> None:
    bracket = Bracket(40, None, (Target(20, 1), Target(40, 2)), BreakEven(1, 2))

    note = plan_note(bracket)

    assert note is not None and read_plan(note) == (bracket.targets, bracket.break_even)
    assert plan_note(Bracket(40, 80)) is None
    assert read_plan("take_profit filled 1") is None and read_plan("scale-out plan {bad") is None


# 3 contracts filled at 21500.00, 21500.25 and 21500.25: the gateway's average fill price
AVERAGE = (Decimal("21500.00") + Decimal("21500.25") * 2) / 3


@pytest.mark.parametrize(
    ("side", "leg", "expected"),
    [
        # a long: the stop loss 40 ticks below rounds up (never more than 40 ticks of risk) ...
        (Side.BUY, Leg.STOP_LOSS, Decimal("21490.25")),
        # ... its take profit 80 ticks above rounds up too (never less than 80 ticks of profit)
        (Side.BUY, Leg.TAKE_PROFIT, Decimal("21520.25")),
        (Side.SELL, Leg.STOP_LOSS, Decimal("21510.00")),
        (Side.SELL, Leg.TAKE_PROFIT, Decimal("21480.00")),
    ],
)
def test_a_leg_from_an_average_fill_off_the_grid_is_on_the_grid_in_the_trade_s_favour(
    side: Side, leg: Leg, expected: Decimal
) -> None:
    ticks = 40 if leg == Leg.STOP_LOSS else 80
    price = leg_price(AVERAGE, side, leg, ticks, TICK)
    assert price == expected
    assert price % TICK == 0  # the gateway refuses an unaligned price (§6.2)


def test_a_trailing_stop_s_start_from_an_average_fill_is_on_the_grid_within_its_ticks() -> None:
    start = trail_price(AVERAGE, Side.BUY, 20, TICK)
    assert start == Decimal("21495.25") and start % TICK == 0
    assert (AVERAGE - start) / TICK <= 20


def test_an_on_grid_fill_keeps_its_exact_distances() -> None:
    fill = Decimal("21500.25")
    assert leg_price(fill, Side.BUY, Leg.STOP_LOSS, 40, TICK) == fill - 10
    assert leg_price(fill, Side.SELL, Leg.TAKE_PROFIT, 80, TICK) == fill - 20
    assert round_in_favour(Decimal("21500.30"), Decimal("0.1"), long=False) == Decimal("21500.3")
