"""A scale-out group's note (app/domain/scale_out.py): the plan and the best price since the fill,
which the live stop moves keep in it so that a restart goes on from it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.models import Bracket, BreakEven, LiveStops, Target
from app.domain.scale_out import plan_note, read_best, read_live, read_plan, with_best

LIVE = LiveStops(
    be_after_ticks=20, be_offset_ticks=1, trail_ticks=8, trail_activation_ticks=4, trail_step_ticks=2
)


def note() -> str:
    bracket = Bracket(
        stop_loss_ticks=40,
        targets=(Target(20, 1), Target(40, 1)),
        break_even=BreakEven(1, 1),
        live=LIVE,
    )
    written = plan_note(bracket)
    assert written is not None
    return written


def test_the_best_is_kept_beside_the_plan_and_read_back() -> None:
    kept = with_best(note(), Decimal("21505.25"))
    assert kept is not None
    assert read_best(kept) == Decimal("21505.25")
    assert read_plan(kept) == read_plan(note()) == ((Target(20, 1), Target(40, 1)), BreakEven(1, 1))
    assert read_live(kept) == LIVE
    again = with_best(kept, Decimal("21506"))
    assert again is not None and read_best(again) == Decimal("21506")


def test_a_note_with_no_best_has_none() -> None:
    assert read_best(note()) is None


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "flat: T1 filled 1",  # a finished group's note
        'scale-out plan {"targets": [], "best": 21505}',  # not a string
        'scale-out plan {"targets": [], "best": "NaN"}',
        'scale-out plan {"targets": [], "best": "Infinity"}',
        'scale-out plan {"targets": [], "best": "twenty"}',
        "scale-out plan [1, 2]",
        "scale-out plan {not json",
    ],
)
def test_a_note_without_a_readable_best_has_none(text: str | None) -> None:
    assert read_best(text) is None


def test_best_is_not_written_into_a_note_without_a_plan() -> None:
    assert with_best("flat: T1 filled 1", Decimal("1")) is None
