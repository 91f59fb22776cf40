"""Size by risk in a template: risk_usd / risk_percent instead of quantity, checked at load with
clear errors, rendered as a RiskRequest per account (the engine sizes it: tests/e2e/test_size_by_risk.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.models import Alert, Contract
from app.domain.sizing import RiskRequest
from app.errors import TemplateError
from app.strategies import load_templates
from tests.strategies.test_load import problems_of, write

MNQ = Contract(
    "CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ"
)
RISK = """\
description = "test"
[order]
accounts = ["SIM-AUTO-OCO", { account = "SIM-EXTRA-1", multiplier = 2 }]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
risk_usd = "{{ alert.risk }}"
[bracket]
stop_loss = { ticks = 20 }
"""


def alert(**fields: object) -> Alert:
    body = {"ticker": "MNQ1!", "action": "buy", **fields}
    return Alert("t", json.dumps(body), body, datetime.now(UTC), alert_id=7)


def test_risk_usd_renders_a_risk_request_per_account_with_its_multiplier(tmp_path: Path) -> None:
    write(tmp_path, "t", RISK)
    template = load_templates(tmp_path)["t"]

    intents = template.render(alert(risk="100"), MNQ)

    assert [(i.quantity, i.risk) for i in intents] == [
        (0, RiskRequest(usd=Decimal(100), multiplier=Decimal(1))),
        (0, RiskRequest(usd=Decimal(100), multiplier=Decimal(2))),
    ]
    assert all(i.bracket is not None and i.bracket.stop_loss_ticks == 20 for i in intents)


def test_risk_percent_literal(tmp_path: Path) -> None:
    write(tmp_path, "t", RISK.replace('risk_usd = "{{ alert.risk }}"', "risk_percent = 0.5"))
    (intent, _) = load_templates(tmp_path)["t"].render(alert(), MNQ)
    assert intent.risk == RiskRequest(percent=Decimal("0.5"))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('risk_usd = "{{ alert.risk }}"', "quantity = 1\nrisk_usd = 100"),
            "order takes one of quantity, risk_usd or risk_percent, not quantity and risk_usd",
        ),
        (
            ("stop_loss = { ticks = 20 }", "take_profit = { ticks = 20 }"),
            "order.risk_usd: size by risk needs a stop loss",
        ),
        (('risk_usd = "{{ alert.risk }}"', "risk_percent = 150"), "at most 100 (0.5 is 0.5 %)"),
        (('risk_usd = "{{ alert.risk }}"', "risk_usd = 0"), "expected a risk in USD above 0"),
        (
            ('risk_usd = "{{ alert.risk }}"', 'risk_usd = 10\nsync = "target"\ntarget_signed = 1'),
            'order.risk_usd (size by risk) is not used with sync = "target"',
        ),
    ],
)
def test_load_problems_say_what_to_change(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    problems = problems_of(tmp_path, RISK.replace(*edit))
    assert any(expected in p for p in problems), problems


def test_expressions_may_offer_both_but_exactly_one_must_render(tmp_path: Path) -> None:
    text = RISK.replace(
        'risk_usd = "{{ alert.risk }}"',
        "quantity = \"{{ alert.qty | default('') }}\"\nrisk_usd = \"{{ alert.risk | default('') }}\"",
    )
    write(tmp_path, "t", text)
    template = load_templates(tmp_path)["t"]

    assert template.render(alert(qty="2"), MNQ)[0].quantity == 2
    assert template.render(alert(risk="50"), MNQ)[0].risk == RiskRequest(usd=Decimal(50))
    with pytest.raises(TemplateError, match="expected exactly one of quantity, risk_usd or risk_percent"):
        template.render(alert(qty="2", risk="50"), MNQ)
    with pytest.raises(TemplateError, match="'nothing', expected exactly one of"):
        template.render(alert(), MNQ)


def test_a_stop_loss_that_renders_nothing_refuses_the_alert(tmp_path: Path) -> None:
    text = RISK.replace(
        "stop_loss = { ticks = 20 }", "stop_loss = { ticks = \"{{ alert.sl | default('') }}\" }"
    )
    write(tmp_path, "t", text)
    template = load_templates(tmp_path)["t"]

    with pytest.raises(TemplateError, match="size by risk needs a stop loss"):
        template.render(alert(risk="100"), MNQ)
    assert template.render(alert(risk="100", sl="40"), MNQ)[0].bracket is not None


TRADERSPOST = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize(
    ("fields", "quantity", "risk"),
    [
        ({"quantity": 2}, 2, None),
        ({"quantityType": "fixed_quantity", "quantity": 3}, 3, None),
        ({"quantityType": "risk_dollar_amount", "quantity": 100}, 0, RiskRequest(usd=Decimal(100))),
        ({"quantityType": "RISK_PERCENT", "quantity": "0.25"}, 0, RiskRequest(percent=Decimal("0.25"))),
    ],
)
def test_traderspost_quantity_types_size_by_risk(
    fields: dict[str, object], quantity: int, risk: RiskRequest | None
) -> None:
    template = load_templates(TRADERSPOST)["traderspost"]
    stop = {"stopLoss": {"type": "stop", "amount": "5"}, "price": "21500.25"}

    (intent,) = template.render(alert(**fields, **stop), MNQ)

    assert (intent.quantity, intent.risk) == (quantity, risk)
    assert intent.bracket is not None and intent.bracket.stop_loss_ticks == 20


@pytest.mark.parametrize("kind", ["dollar_amount", "percent_of_equity", "percent_of_position"])
def test_traderspost_quantity_types_not_supported_are_refused(kind: str) -> None:
    template = load_templates(TRADERSPOST)["traderspost"]

    with pytest.raises(TemplateError, match=f"unsupported quantityType {kind}"):
        template.render(alert(quantityType=kind, quantity=10), MNQ)


def test_traderspost_risk_without_a_stop_loss_is_refused() -> None:
    template = load_templates(TRADERSPOST)["traderspost"]

    with pytest.raises(TemplateError, match="size by risk needs a stop loss"):
        template.render(alert(quantityType="risk_dollar_amount", quantity=100), MNQ)
