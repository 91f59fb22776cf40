"""[bracket] targets and break_even: checked line by line, rendered per account (sizes, percent rounding)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.models import Bracket, BreakEven, Target
from app.domain.scale_out import sized_targets
from app.errors import TemplateError
from app.strategies import StrategyTemplate
from tests.strategies.test_oco_and_managed import MNQ, alert, load, problems

SCALE_OUT = """\
description = "scale out"
[order]
accounts = ["SIM-POSITION-BRACKETS", { account = "SIM-AUTO-OCO", multiplier = 2 }]
ticker = "MNQ1!"
action = "buy"
quantity = "{{ alert.quantity | default(3) }}"
[bracket]
mode = "managed"
stop_loss = { ticks = 40 }
targets = [ { ticks = 20, size = 1 }, { ticks = 40, size = 1 }, { ticks = 80, size = 1 } ]
break_even = { after_target = 1, offset_ticks = 1 }
"""
PERCENT = SCALE_OUT.replace(
    "size = 1 }, { ticks = 40, size = 1 }, { ticks = 80, size = 1 }",
    "percent = 50 }, { ticks = 40, percent = 50 }",
)


def brackets(tmp_path: Path, text: str, **fields: object) -> list[Bracket | None]:
    template = load(tmp_path, text)
    assert isinstance(template, StrategyTemplate)
    return [i.bracket for i in template.render(alert(**fields), MNQ)]


def test_targets_render_per_account_with_the_multiplier(tmp_path: Path) -> None:
    one, doubled = brackets(tmp_path, SCALE_OUT, quantity=3)

    assert one == Bracket(40, None, (Target(20, 1), Target(40, 1), Target(80, 1)), BreakEven(1, 1))
    assert doubled == Bracket(40, None, (Target(20, 2), Target(40, 2), Target(80, 2)), BreakEven(1, 1))


def test_contracts_no_target_covers_ride_with_the_stop_loss(tmp_path: Path) -> None:
    bracket = brackets(tmp_path, SCALE_OUT, quantity=5)[0]

    assert bracket is not None and sum(t.size for t in bracket.targets) == 3  # 2 more with the stop


@pytest.mark.parametrize(("quantity", "sizes"), [(3, [1, 2]), (1, [0, 1]), (4, [2, 2])])
def test_percent_rounds_down_and_the_remainder_goes_to_the_last_target(
    tmp_path: Path, quantity: int, sizes: list[int]
) -> None:
    bracket = brackets(tmp_path, PERCENT, quantity=quantity)[0]

    assert bracket is not None and [t.size for t in bracket.targets] == sizes


def test_sizes_above_the_entry_are_refused_at_render(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="add up to at most the entry's 2"):
        brackets(tmp_path, SCALE_OUT, quantity=2)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('mode = "managed"\n', ""), 'bracket.targets needs mode = "managed"'),
        (("stop_loss = { ticks = 40 }\n", ""), "bracket.targets needs a bracket.stop_loss"),
        (
            ("stop_loss = { ticks = 40 }\n", "stop_loss = { ticks = 40 }\ntake_profit = { ticks = 9 }\n"),
            "replaces bracket.take_profit",
        ),
        (
            ('quantity = "{{ alert.quantity | default(3) }}"', "quantity = 2"),
            "the sizes add up to 3, more than order.quantity 2",
        ),
        (("after_target = 1", "after_target = 4"), "after_target is 4, but there are 3 target(s)"),
        (
            ("{ ticks = 20, size = 1 }", "{ ticks = 20 }"),
            "needs one distance (ticks, points or price) and one size",
        ),
        (("{ ticks = 20, size = 1 }", "{ ticks = 20, percent = 50 }"), "a size, or every target a percent"),
        (("{ ticks = 20, size = 1 }", "{ ticks = 20, size = 1, qty = 2 }"), "unknown key 'qty'"),
        (("targets = [", "targets = [ { ticks = 1, size = 1 }, "), "a list of 1 to 3 tables"),
        (
            ('quantity = "{{ alert.quantity | default(3) }}"', 'sync = "target"\ntarget_signed = 3'),
            'bracket.targets cannot be used with sync = "target"',
        ),
        (
            ("stop_loss = { ticks = 40 }", "stop_loss = { trail_ticks = 40 }"),
            "a trailing stop loss (trail_ticks / trail_points) is not moved by the bridge",
        ),
    ],
)
def test_bad_targets_are_named(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, SCALE_OUT.replace(*edit))

    assert any(expected in p for p in found), found


def test_percentages_above_100_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        PERCENT.replace("percent = 50 }]", "percent = 60 }]").replace("percent = 50 }", "percent = 60 }"),
    )

    assert any("the percentages add up to 120, more than 100" in p for p in found), found


def test_alert_fields_give_the_targets(tmp_path: Path) -> None:
    text = SCALE_OUT.replace(
        "targets = [ { ticks = 20, size = 1 }, { ticks = 40, size = 1 }, { ticks = 80, size = 1 } ]",
        'targets = [ { ticks = "{{ alert.tp1 }}", size = "{{ alert.qty1 }}" }, '
        '{ ticks = "{{ alert.tp2 }}", size = "{{ alert.qty2 }}" } ]',
    ).replace("after_target = 1", 'after_target = "{{ alert.be_after }}"')

    bracket = brackets(tmp_path, text, quantity=3, tp1=12, qty1=2, tp2="30", qty2=1, be_after=2)[0]

    assert bracket == Bracket(40, None, (Target(12, 2), Target(30, 1)), BreakEven(2, 1))
    with pytest.raises(TemplateError, match="expected a distance beyond target 1"):
        brackets(tmp_path, text, quantity=3, tp1=30, qty1=2, tp2=12, qty2=1, be_after=2)


def test_with_size_by_risk_percent_targets_wait_for_the_entry_s_size(tmp_path: Path) -> None:
    text = PERCENT.replace('quantity = "{{ alert.quantity | default(3) }}"', 'risk_usd = "{{ alert.risk }}"')

    bracket = brackets(tmp_path, text, risk="100")[0]

    # sized by the engine once the entry's contracts are known (app/engine/sizing.py)
    assert bracket is not None
    assert bracket.targets == (Target(20, 0, Decimal(50)), Target(40, 0, Decimal(50)))
    assert sized_targets(bracket.targets, 5) == (Target(20, 2), Target(40, 3))


@pytest.mark.parametrize(
    ("targets", "quantity", "sizes"),
    [
        ((Target(20, 0, Decimal(50)), Target(40, 0, Decimal(50))), 1, [0, 1]),
        ((Target(20, 0, Decimal(50)), Target(40, 0, Decimal(50))), 10, [5, 5]),
        ((Target(20, 0, Decimal(30)), Target(40, 0, Decimal(30))), 10, [3, 3]),  # 4 ride the stop
        ((Target(20, 1), Target(40, 0, Decimal(100))), 4, [1, 3]),
        ((Target(20, 2), Target(40, 0, Decimal(100))), 1, [2, 0]),  # never below 0
    ],
)
def test_sized_targets(targets: tuple[Target, ...], quantity: int, sizes: list[int]) -> None:
    got = sized_targets(targets, quantity)
    assert [t.size for t in got] == sizes and all(t.percent is None for t in got)


def test_a_break_even_offset_at_or_past_its_target_is_refused_at_render(tmp_path: Path) -> None:
    text = SCALE_OUT.replace("offset_ticks = 1", 'offset_ticks = "{{ alert.offset }}"')

    assert brackets(tmp_path, text, quantity=3, offset=19)[0] is not None  # 19 < target 1's 20
    with pytest.raises(TemplateError, match="expected fewer ticks than target 1's 20"):
        brackets(tmp_path, text, quantity=3, offset=20)


def test_a_live_break_even_offset_at_or_past_after_ticks_is_refused_at_render(tmp_path: Path) -> None:
    text = SCALE_OUT.replace(
        "break_even = { after_target = 1, offset_ticks = 1 }",
        'break_even = { after_ticks = 10, offset_ticks = "{{ alert.offset }}" }',
    )

    bracket = brackets(tmp_path, text, quantity=3, offset=9)[0]
    assert bracket is not None and bracket.live is not None and bracket.live.be_offset_ticks == 9
    with pytest.raises(TemplateError, match="expected fewer ticks than after_ticks 10"):
        brackets(tmp_path, text, quantity=3, offset=10)
