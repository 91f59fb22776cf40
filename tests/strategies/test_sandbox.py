"""The bounded sandbox (issue 12): ordinary expressions still work; bombs stop quickly."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.strategies.expressions import compile_value
from app.strategies.sandbox import RenderBoundError


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("{{ alert.price | decimal * 2 }}", {"price": "1.5"}, "3.0"),
        ("{% if alert.stopLoss %}{{ alert.stopLoss }}{% endif %}", {"stopLoss": 3}, "3"),
        ("{{ '%.2f' % (alert.p | float) }}", {"p": "3.14159"}, "3.14"),
        ("{{ ['a', 'b'] | join(',') }}{{ 'x' ~ 1 }}", {}, "a,bx1"),
        ("{{ '{:>6}'.format(alert.q) }}", {"q": 5}, "5"),
        ("{{ alert.t | replace('-', '') | upper | center(8) }}", {"t": "a-b"}, "AB"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", {}, "012"),
        ("{{ 2 ** 10 * 3 }}", {}, "3072"),
    ],
)
def test_ordinary_expressions_render_as_before(
    expression: str, fields: dict[str, Any], expected: str
) -> None:
    assert compile_value("quantity", expression).render(fields, "s") == expected


@pytest.mark.parametrize(
    "bomb",
    [
        "{{ ('a' * 10000).replace('a', alert.x) }}",
        "{{ alert.x.ljust(1000000000) }}",
        "{{ (alert.x * 10) ~ (alert.x * 10) }}",
        "{{ alert.x | center(1000000000) }}",
        "{{ '%1000000000s' % alert.x }}",
        "{% for a in alert.x %}{% for b in alert.x %}{% endfor %}{% endfor %}1",
        "{% set l = [alert.x] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
    ],
)
def test_a_bomb_is_stopped_at_check_or_at_render_quickly(bomb: str) -> None:
    started = time.perf_counter()
    with pytest.raises(RenderBoundError):  # at the check when it can tell without an alert
        compile_value("quantity", bomb).render({"x": "x" * 10_000}, "s")
    assert time.perf_counter() - started < 1.0


def test_a_loop_over_the_alert_passes_the_check_and_is_stopped_by_the_steps_bound() -> None:
    value = compile_value("quantity", "{% for a in alert.x %}{% for b in alert.x %}{% endfor %}{% endfor %}1")
    with pytest.raises(RenderBoundError, match="more than 200000 steps"):
        value.render({"x": "x" * 10_000}, "s")


def test_slow_steps_are_stopped_by_the_time_budget() -> None:
    value = compile_value("quantity", "{% for a in alert.x %}{% set u = alert.x.upper() %}{% endfor %}1")
    with pytest.raises(RenderBoundError, match="took too long"):
        value.render({"x": "x" * 50_000}, "s")


def test_compiling_computes_nothing() -> None:
    started = time.perf_counter()
    with pytest.raises(RenderBoundError, match="'\\*' makes 300000000 items"):
        compile_value("quantity", "{{ alert.q ~ 'a' * 3*10**8 }}")
    assert time.perf_counter() - started < 1.0
