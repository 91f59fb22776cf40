"""A trailing stop order on its own ([order] type = "trailing_stop" with trail_ticks or trail_points):
checked line by line at load, rendered to whole ticks (at most the gateway's 1,000)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.enums import OrderType
from app.errors import TemplateError
from app.strategies import StrategyTemplate
from tests.strategies.test_oco_and_managed import MNQ, OCO, alert, load, problems

TRAILING = """\
description = "protect the position with a trailing stop"
[order]
accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }]
ticker = "MNQ1!"
action = "sell"
quantity = 1
type = "trailing_stop"
trail_ticks = "{{ alert.trail }}"
"""


def render(tmp_path: Path, text: str, **fields: object) -> list[tuple[OrderType, int | None, int]]:
    template = load(tmp_path, text)
    assert isinstance(template, StrategyTemplate)
    return [(i.order_type, i.trail_ticks, i.quantity) for i in template.render(alert(**fields), MNQ)]


def test_it_renders_its_trail_in_ticks_per_account(tmp_path: Path) -> None:
    assert render(tmp_path, TRAILING, trail=20) == [
        (OrderType.TRAILING_STOP, 20, 1),
        (OrderType.TRAILING_STOP, 20, 2),
    ]


def test_a_trail_in_points_is_whole_ticks(tmp_path: Path) -> None:
    text = TRAILING.replace('trail_ticks = "{{ alert.trail }}"', 'trail_points = "{{ alert.trail }}"')
    assert render(tmp_path, text, trail="5")[0] == (OrderType.TRAILING_STOP, 20, 1)


def test_a_trail_over_1000_ticks_is_refused_at_render_with_the_numbers(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="at most 1000 ticks.*got 1001 ticks"):
        render(tmp_path, TRAILING, trail=1001)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('trail_ticks = "{{ alert.trail }}"\n', ""),
            'order.type = "trailing_stop" needs exactly one of order.trail_ticks or order.trail_points',
        ),
        (
            ('trail_ticks = "{{ alert.trail }}"\n', 'trail_ticks = 20\ntrail_points = "5"\n'),
            "needs exactly one of order.trail_ticks or order.trail_points",
        ),
        (
            ('type = "trailing_stop"\n', 'type = "stop"\nstop_price = 21400\n'),
            'a trailing stop order: it needs order.type = "trailing_stop"',
        ),
        (('type = "trailing_stop"\n', ""), "order.trail_ticks is the distance of a trailing stop order"),
        (('trail_ticks = "{{ alert.trail }}"\n', "trail_ticks = 1001\n"), "at most 1000 ticks"),
    ],
)
def test_mistakes_are_named_at_load(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, TRAILING.replace(*edit))
    assert any(expected in p for p in found), found


def test_it_carries_no_bracket(tmp_path: Path) -> None:
    found = problems(tmp_path, TRAILING + "[bracket]\nstop_loss = { ticks = 40 }\n")
    assert any('a trailing stop order (order.type = "trailing_stop") carries no bracket' in p for p in found)


def test_a_trailing_stop_is_not_a_side_of_an_oco_pair(tmp_path: Path) -> None:
    found = problems(tmp_path, OCO.replace('type = "stop"', 'type = "trailing_stop"', 1))
    assert any('is "trailing_stop", expected limit or stop' in p for p in found), found
