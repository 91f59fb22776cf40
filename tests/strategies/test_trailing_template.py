"""A template's native trailing stop loss: ``[bracket] stop_loss = { trail_ticks = N }`` (or
``trail_points``), checked when the template is loaded; always a managed bracket."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.strategies import load_templates
from tests.strategies.test_load import GOOD, problems_of, write


def bracket(text: str) -> str:
    return GOOD + f"[bracket]\n{text}\n"


@pytest.mark.parametrize(
    ("legs", "mode"),
    [
        ("stop_loss = { trail_ticks = 20 }", "managed"),  # a trailing stop is placed by the bridge
        ('stop_loss = { trail_points = "5" }\ntake_profit = { ticks = 80 }', "managed"),
        ('stop_loss = { trail_ticks = "{{ alert.trail }}" }', "managed"),
        # may render either way (traderspost): native, managed for the alerts that trail
        ('stop_loss = { ticks = "{{ alert.sl }}", trail_ticks = "{{ alert.trail }}" }', "native"),
        ("stop_loss = { ticks = 20 }", "native"),
    ],
)
def test_a_stop_loss_that_only_trails_makes_a_managed_bracket(tmp_path: Path, legs: str, mode: str) -> None:
    write(tmp_path, "trail", bracket(legs))

    assert load_templates(tmp_path)["trail"].bracket_mode == mode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stop_loss = { trail_ticks = 1001 }", "expected a trail of at most 1000 ticks"),
        ("stop_loss = { trail_ticks = 0 }", "expected a whole number of ticks, 1 or more"),
        ("take_profit = { trail_ticks = 20 }", "only the stop loss can trail"),
        ('mode = "native"\nstop_loss = { trail_ticks = 20 }', 'use mode = "managed"'),
    ],
)
def test_a_trail_the_gateway_would_refuse_is_a_template_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = problems_of(tmp_path, bracket(text))

    assert any(expected in p for p in problems), problems
