"""Position sync templates (sync = "target"): what loads, and the target each account gets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.enums import Action, Side
from app.domain.models import Alert, Bracket, Contract
from app.errors import TemplateError
from app.strategies import StrategyTemplate, SyncIntent, check_templates, load_templates

MNQ = Contract(
    "CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ"
)
HEAD = """\
[order]
accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }]
ticker = "{{ alert.ticker }}"
sync = "target"
"""
PAIR = 'target_position = "{{ alert.market_position }}"\ntarget_size = "{{ alert.market_position_size }}"\n'
SIGNED = 'target_signed = "{{ alert.position_size }}"\n'


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return [str(p).removeprefix(f"{path}:") for p in check_templates(tmp_path)]


def make(tmp_path: Path, body: str) -> StrategyTemplate:
    (tmp_path / "mnq-sync.toml").write_text(HEAD + body, encoding="utf-8")
    return load_templates(tmp_path)["mnq-sync"]


def alert(**fields: object) -> Alert:
    fields = {"ticker": "MNQ1!", **fields}
    return Alert("mnq-sync", "{}", fields, datetime(2026, 3, 2, 14, 30, tzinfo=UTC), alert_id=77)


def refusal(template: StrategyTemplate, an_alert: Alert) -> str:
    with pytest.raises(TemplateError) as caught:
        template.render(an_alert, MNQ)
    return str(caught.value)


# --- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [PAIR, SIGNED])
def test_a_sync_template_needs_no_action_or_quantity(tmp_path: Path, target: str) -> None:
    template = make(tmp_path, target + "[bracket]\nstop_loss = { ticks = 40 }\n")

    assert template.sync == "target"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ['4: sync = "target" needs the target position: target_position = ']),
        (PAIR + SIGNED, ['7: sync = "target" takes one target: target_position with target_size, or ']),
        (
            'target_position = "{{ alert.market_position }}"\n',
            ["5: order.target_position needs order.target_size too, e.g. target_size = "],
        ),
        (
            'target_size = "{{ alert.market_position_size }}"\n',
            ["5: order.target_size needs order.target_position too, e.g. target_position = "],
        ),
        (SIGNED + 'action = "exit"\n', ["6: order.action is 'exit', expected buy or sell with sync"]),
        (
            SIGNED + 'type = "limit"\nlimit_price = 1\n',
            [
                '6: order.type is "limit", but sync = "target" sends market orders',
                '7: order.limit_price is not used with sync = "target"',
            ],
        ),
        (
            SIGNED + 'stop_price = "{{ alert.low }}"\n',
            ['6: order.stop_price is not used with sync = "target"'],
        ),
        (SIGNED.replace('"{{ alert.position_size }}"', '"1.5"'), ["5: order.target_signed 1.5 on account"]),
        (
            'target_position = "sideways"\ntarget_size = 1\n',
            ["5: order.target_position is 'sideways', expected long"],
        ),
    ],
)
def test_sync_problems_are_listed_with_their_line(tmp_path: Path, body: str, expected: list[str]) -> None:
    problems = problems_of(tmp_path, HEAD + body)

    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_target_keys_without_sync_are_refused(tmp_path: Path) -> None:
    text = HEAD.replace('sync = "target"\n', 'action = "buy"\nquantity = 1\n') + SIGNED

    assert problems_of(tmp_path, text) == [
        '6: order.target_signed is only used with sync = "target" (position sync); add that to '
        "[order] or remove it"
    ]


def test_sync_has_one_mode(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, HEAD.replace('"target"', '"delta"') + SIGNED)

    assert problem == "4: order.sync is 'delta', expected \"target\""


def test_sync_is_not_for_oco_templates(tmp_path: Path) -> None:
    oco = (
        'kind = "oco"\n' + HEAD + "[oco]\n"
        'first = { action = "buy", type = "stop", stop_price = 2, quantity = 1 }\n'
        'second = { action = "sell", type = "stop", stop_price = 1, quantity = 1 }\n'
    )

    [problem] = problems_of(tmp_path, oco)

    assert "unknown key 'sync' in [order] of a kind = \"oco\" template" in problem


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "size", "targets"),
    [("long", "2", [2, 4]), ("short", "1", [-1, -2]), ("flat", "0", [0, 0]), ("LONG", 3, [3, 6])],
)
def test_the_target_is_signed_and_multiplied_per_account(
    tmp_path: Path, position: str, size: object, targets: list[int]
) -> None:
    template = make(tmp_path, PAIR)

    intents = template.render(alert(market_position=position, market_position_size=size), MNQ)

    assert all(isinstance(i, SyncIntent) for i in intents)
    assert [i.target for i in intents] == targets  # type: ignore[attr-defined]
    assert [i.quantity for i in intents] == [abs(t) for t in targets]
    side = Side.BUY if targets[0] > 0 else Side.SELL if targets[0] < 0 else None
    assert [i.side for i in intents] == [side, side]
    assert intents[0].action == {Side.BUY: Action.BUY, Side.SELL: Action.SELL, None: Action.EXIT}[side]


@pytest.mark.parametrize(("signed", "target"), [("-2", -2), (3, 3), ("0", 0), ("-0.0", 0)])
def test_a_signed_target(tmp_path: Path, signed: object, target: int) -> None:
    template = make(tmp_path, SIGNED)

    first, second = template.render(alert(position_size=signed), MNQ)

    assert (first.target, second.target) == (target, 2 * target)  # type: ignore[attr-defined]


def test_the_alerts_own_order_is_carried_for_the_mismatch_check(tmp_path: Path) -> None:
    template = make(tmp_path, PAIR + 'action = "{{ alert.action }}"\nquantity = "{{ alert.quantity }}"\n')

    intents = template.render(
        alert(market_position="short", market_position_size="2", action="sell", quantity="4"), MNQ
    )

    assert [(i.alert_side, i.alert_quantity) for i in intents] == [  # type: ignore[attr-defined]
        (Side.SELL, 4),
        (Side.SELL, 8),
    ]


def test_without_action_and_quantity_the_alerts_order_is_unknown(tmp_path: Path) -> None:
    [intent, _] = make(tmp_path, SIGNED).render(alert(position_size="1"), MNQ)

    assert (intent.alert_side, intent.alert_quantity) == (None, None)  # type: ignore[attr-defined]


def test_the_bracket_goes_with_a_long_or_short_target_not_with_flat(tmp_path: Path) -> None:
    template = make(
        tmp_path, SIGNED + "[bracket]\nstop_loss = { ticks = 40 }\ntake_profit = { ticks = 80 }\n"
    )

    [long, _] = template.render(alert(position_size="1"), MNQ)
    [flat, _] = template.render(alert(position_size="0"), MNQ)

    assert long.bracket == Bracket(stop_loss_ticks=40, take_profit_ticks=80)
    assert flat.bracket is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"market_position": "long", "market_position_size": "0"},
            "field 'target_size' is '0', expected 1 or more when target_position is long (alert 77)",
        ),
        (
            {"market_position": "flat", "market_position_size": "2"},
            "field 'target_size' is '2', expected 0 when target_position is flat (alert 77)",
        ),
        (
            {"market_position": "up", "market_position_size": "2"},
            "field 'target_position' is 'up', expected long, flat or short",
        ),
        (
            {"market_position": "long", "market_position_size": "-1"},
            "field 'target_size' is '-1', expected a number of contracts, 0 or more",
        ),
        (
            {"market_position": "long", "market_position_size": "1.5"},
            "field 'target_size' is '1.5', expected a whole number of contracts",
        ),
        ({"market_position": "long"}, "uses alert.market_position_size, which this alert does not have"),
    ],
)
def test_a_target_that_makes_no_sense_is_refused(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    template = make(tmp_path, PAIR)

    assert message in refusal(template, alert(**fields))


def test_a_fractional_target_names_the_account_multiplier(tmp_path: Path) -> None:
    (tmp_path / "mnq-sync.toml").write_text(
        HEAD.replace("multiplier = 2", "multiplier = 0.5") + SIGNED, encoding="utf-8"
    )
    template = load_templates(tmp_path)["mnq-sync"]

    message = refusal(template, alert(position_size="3"))

    assert "field 'target_signed' is '3', expected a whole number of contracts (× 0.5 gives 1.5)" in message
    assert "on account 'SIM-POSITION-BRACKETS'" in message


def test_a_rendered_action_other_than_buy_or_sell_is_refused(tmp_path: Path) -> None:
    template = make(tmp_path, SIGNED + 'action = "{{ alert.action }}"\n')

    assert "field 'action' is 'reverse', expected buy or sell with sync" in refusal(
        template, alert(position_size="1", action="reverse")
    )
