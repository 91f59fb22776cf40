"""Scale-out arithmetic: targets capped to the fill, break-even, the plan kept in the group's note."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.enums import Side
from app.domain.models import Bracket, BreakEven, Target
from app.domain.scale_out import plan_note, read_plan
from app.engine.scale_out import break_even_price, capped

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
