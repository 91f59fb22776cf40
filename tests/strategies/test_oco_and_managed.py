"""OCO templates and managed brackets: loaded, checked line by line, rendered into pairs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.enums import Action, OrderType, Side
from app.domain.models import Alert, Bracket, Contract, OrderIntent
from app.errors import TemplateError
from app.strategies import check_templates, load_templates

MNQ = Contract(
    "CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ"
)
OCO = """\
description = "breakout"
kind = "oco"
[order]
accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }]
ticker = "{{ alert.ticker }}"
[oco]
first = { action = "buy", type = "stop", stop_price = "{{ alert.high }}", quantity = 1 }
second = { action = "sell", type = "limit", limit_price = "{{ alert.low }}", quantity = 1 }
"""
MANAGED = """\
description = "managed"
[order]
accounts = ["SIM-POSITION-BRACKETS"]
ticker = "MNQ1!"
action = "buy"
quantity = 2
[bracket]
mode = "managed"
on_failure = "keep"
stop_loss = { ticks = 40 }
take_profit = { ticks = 80 }
"""


def load(tmp_path: Path, text: str) -> object:
    (tmp_path / "t.toml").write_text(text, encoding="utf-8")
    return load_templates(tmp_path)["t"]


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return [str(p).removeprefix(f"{path}:") for p in check_templates(tmp_path)]


def alert(**fields: object) -> Alert:
    return Alert("t", "{}", {"ticker": "MNQ1!", **fields}, datetime(2026, 3, 2, tzinfo=UTC), alert_id=7)


def test_an_oco_template_renders_both_orders_for_every_account(tmp_path: Path) -> None:
    template = load(tmp_path, OCO)

    intents = template.render(alert(high="21510.3", low=21485.5), MNQ)  # type: ignore[attr-defined]

    first = OrderIntent(
        "SIM-AUTO-OCO",
        MNQ.contract_id,
        Action.BUY,
        Side.BUY,
        OrderType.STOP,
        1,
        stop_price=Decimal("21510.25"),  # on the tick grid
        reference_price=Decimal("21510.25"),
    )
    second = OrderIntent(
        "SIM-AUTO-OCO",
        MNQ.contract_id,
        Action.SELL,
        Side.SELL,
        OrderType.LIMIT,
        1,
        limit_price=Decimal("21485.50"),
        reference_price=Decimal("21485.50"),
    )
    assert intents[:2] == [first, second]
    assert [(i.account, i.quantity) for i in intents[2:]] == [("SIM-POSITION-BRACKETS", 2)] * 2
    assert template.kind == "oco" and template.oco_on_both_filled == "flatten"  # type: ignore[attr-defined]


def test_an_oco_leg_that_cannot_render_names_its_place_in_the_file(tmp_path: Path) -> None:
    template = load(tmp_path, OCO.replace('action = "buy"', 'action = "{{ alert.side }}"'))

    with pytest.raises(TemplateError) as caught:
        template.render(alert(high="1", low="1", side="exit"), MNQ)  # type: ignore[attr-defined]

    assert "field 'oco.first.action' is 'exit', expected buy or sell (alert 7)" in str(caught.value)


def test_a_managed_bracket_keeps_its_ticks_and_settings(tmp_path: Path) -> None:
    template = load(tmp_path, MANAGED)

    [intent] = template.render(alert(), MNQ)  # type: ignore[attr-defined]

    assert intent.bracket == Bracket(stop_loss_ticks=40, take_profit_ticks=80)
    assert (template.bracket_mode, template.bracket_on_failure) == ("managed", "keep")  # type: ignore[attr-defined]


def test_defaults_are_native_close_and_flatten(tmp_path: Path) -> None:
    template = load(tmp_path, MANAGED.replace('mode = "managed"\non_failure = "keep"\n', ""))

    assert (template.kind, template.bracket_mode, template.bracket_on_failure) == (  # type: ignore[attr-defined]
        "order",
        "native",
        "close",
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('kind = "oco"', 'kind = "pair"'), '2: kind is \'pair\', expected "order" or "oco"'),
        (
            ('type = "stop", stop_price = "{{ alert.high }}"', 'type = "stop"'),
            '7: oco.first.type = "stop" needs oco.first.stop_price',
        ),
        (('action = "buy"', 'action = "exit"'), "7: oco.first.action is 'exit', expected buy or sell"),
        (
            ('type = "limit"', 'type = "market"'),
            '8: oco.second.type is "market", expected limit or stop (a market order fills at once)',
        ),
        (("second = {", "#"), "6: oco.second must be a table"),
        (
            ("[oco]", '[oco]\non_both_filled = "cancel"'),
            '7: oco.on_both_filled is \'cancel\', expected "flatten" or "keep"',
        ),
        (
            ('ticker = "{{ alert.ticker }}"', 'ticker = "x"\nquantity = 1'),
            "6: unknown key 'quantity' in [order] of a",
        ),
        (
            ("[oco]", "[bracket]\nstop_loss = { ticks = 4 }\n[oco]"),
            '6: a kind = "oco" template cannot have [bracket]',
        ),
    ],
)
def test_oco_problems_are_listed_by_line(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, OCO.replace(*edit))

    assert any(p.startswith(expected) for p in found), found


def test_managed_settings_and_a_stray_oco_table_are_checked(tmp_path: Path) -> None:
    text = MANAGED.replace('mode = "managed"', 'mode = "manual"').replace('"keep"', '"hold"')

    found = problems(tmp_path, text + "[oco]\nfirst = {}\n")

    assert found[0].startswith("1") or found  # every problem is listed, each with its line
    assert '8: bracket.mode is \'manual\', expected "native" or "managed"' in found
    assert '9: bracket.on_failure is \'hold\', expected "close" or "keep"' in found
    assert any(p.startswith('12: [oco] is only used with kind = "oco"') for p in found)
