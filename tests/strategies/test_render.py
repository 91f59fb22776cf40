"""Rendering an alert into OrderIntents: sides, ticks, rounding, multipliers, and every error."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pytest

from app.domain.enums import Action, OrderType, Side
from app.domain.models import Alert, Bracket, Contract, OrderIntent
from app.errors import TemplateError
from app.strategies import StrategyTemplate, load_templates

MNQ = Contract(
    "CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ"
)
CL = Contract("CON.F.US.CLE.J26", "CLJ6", "Crude Oil", Decimal("0.01"), Decimal("10.00"), "F.US.CLE")

HEAD = """\
[alert]
time_field = "time"
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
"""


class Make(Protocol):
    """The ``make`` fixture: write a template (``head`` + ``body``) and load it."""

    def __call__(self, body: str = "", *, head: str = HEAD, name: str = "mnq-trend") -> StrategyTemplate: ...


@pytest.fixture
def make(tmp_path: Path) -> Make:
    def make(body: str = "", *, head: str = HEAD, name: str = "mnq-trend") -> StrategyTemplate:
        (tmp_path / f"{name}.toml").write_text(head + body, encoding="utf-8")
        return load_templates(tmp_path)[name]

    return make


def alert(alert_id: int | None = 1842, /, **fields: object) -> Alert:
    fields = {"ticker": "MNQ1!", "action": "buy", "quantity": "1", **fields}
    return Alert("mnq-trend", "{}", fields, datetime(2026, 3, 2, 14, 30, tzinfo=UTC), alert_id=alert_id)


def refusal(template: StrategyTemplate, an_alert: Alert, contract: Contract = MNQ) -> str:
    with pytest.raises(TemplateError) as caught:
        template.render(an_alert, contract)
    return str(caught.value)


# --- entries and brackets ----------------------------------------------------------------


@pytest.mark.parametrize(("action", "side"), [("buy", Side.BUY), ("sell", Side.SELL)])
def test_market_entry_with_tick_bracket(make: Make, action: str, side: Side) -> None:
    template = make(
        'type = "market"\nprice = "{{ alert.close }}"\n'
        "[bracket]\nstop_loss = { ticks = 40 }\ntake_profit = { ticks = 80 }\n"
    )

    intents = template.render(alert(action=action, quantity=2, close="21500.25"), MNQ)

    assert intents == [
        OrderIntent(
            account="SIM-AUTO-OCO",
            contract_id="CON.F.US.MNQ.H26",
            action=Action(action),
            side=side,
            order_type=OrderType.MARKET,
            quantity=2,
            bracket=Bracket(stop_loss_ticks=40, take_profit_ticks=80),
            reference_price=Decimal("21500.25"),
        )
    ]


@pytest.mark.parametrize(
    ("contract", "points", "ticks"),
    [
        (MNQ, "10", 40),
        (MNQ, "10.1", 40),
        (MNQ, "10.15", 41),
        (MNQ, 0.25, 1),
        (CL, "0.5", 50),
        (CL, "0.123", 12),
    ],
)
def test_points_become_whole_ticks(make: Make, contract: Contract, points: object, ticks: int) -> None:
    template = make('[bracket]\nstop_loss = { points = "{{ alert.sl }}" }\n')

    intents = template.render(alert(sl=points), contract)

    assert intents[0].bracket == Bracket(stop_loss_ticks=ticks)


def test_literal_points(make: Make) -> None:
    template = make("[bracket]\ntake_profit = { points = 20 }\n")

    assert template.render(alert(), MNQ)[0].bracket == Bracket(take_profit_ticks=80)


def test_points_under_one_tick_are_refused(make: Make) -> None:
    template = make('[bracket]\nstop_loss = { points = "{{ alert.sl }}" }\n')

    assert refusal(template, alert(sl="0.1")) == (
        "Template 'mnq-trend': field 'bracket.stop_loss.points' is '0.1', expected at least one "
        "tick (0.25 points) (alert 1842)."
    )


LIMIT_WITH_PRICES = """\
type = "limit"
limit_price = "{{ alert.price }}"
[bracket]
stop_loss = { price = "{{ alert.sl }}" }
take_profit = { price = "{{ alert.tp }}" }
"""


def test_buy_limit_with_bracket_prices_on_mnq(make: Make) -> None:
    template = make(LIMIT_WITH_PRICES)

    intent = template.render(alert(price="21500.30", sl="21490.1", tp=Decimal("21520")), MNQ)[0]

    assert intent.order_type is OrderType.LIMIT
    assert intent.limit_price == Decimal("21500.25")
    assert str(intent.limit_price) == "21500.25"
    assert intent.bracket == Bracket(stop_loss_ticks=41, take_profit_ticks=79)
    assert intent.reference_price == Decimal("21500.25")


def test_sell_limit_with_bracket_prices_on_cl(make: Make) -> None:
    template = make(LIMIT_WITH_PRICES)

    intent = template.render(alert(action="sell", price="71.234", sl="71.485", tp="70.98"), CL)[0]

    assert intent.limit_price == Decimal("71.23")
    assert intent.bracket == Bracket(stop_loss_ticks=26, take_profit_ticks=25)


def test_stop_entry_measures_the_bracket_from_its_stop_price(make: Make) -> None:
    template = make(
        'type = "stop"\nstop_price = "{{ alert.trigger }}"\nprice = "{{ alert.close }}"\n'
        '[bracket]\nstop_loss = { price = "{{ alert.sl }}" }\n'
    )

    intent = template.render(alert(trigger="21510", close="21500", sl="21500"), MNQ)[0]

    assert intent.order_type is OrderType.STOP and intent.stop_price == Decimal("21510.00")
    assert intent.limit_price is None
    assert intent.bracket == Bracket(stop_loss_ticks=40)
    assert intent.reference_price == Decimal("21500.00")


@pytest.mark.parametrize(
    ("action", "leg", "price", "expected"),
    [
        ("buy", "sl", "21510", "'21510.00', expected a stop loss below the entry price 21500.25 for a buy"),
        ("buy", "tp", "21490", "'21490.00', expected a take profit above the entry price 21500.25 for a buy"),
        ("sell", "sl", "21490", "'21490.00', expected a stop loss above the entry price 21500.25 for a sell"),
        (
            "sell",
            "tp",
            "21500.25",
            "'21500.25', expected a take profit below the entry price 21500.25 for a sell",
        ),
    ],
)
def test_bracket_price_on_the_wrong_side_names_both_prices(
    make: Make, action: str, leg: str, price: str, expected: str
) -> None:
    template = make(LIMIT_WITH_PRICES)
    prices = {"sl": "21480", "tp": "21520"} if action == "buy" else {"sl": "21520", "tp": "21480"}

    message = refusal(template, alert(action=action, price="21500.25", **{**prices, leg: price}))

    field = "stop_loss" if leg == "sl" else "take_profit"
    assert message == f"Template 'mnq-trend': field 'bracket.{field}.price' is {expected} (alert 1842)."


def test_bracket_price_on_a_market_entry_needs_the_reference_price(make: Make) -> None:
    template = make('type = "{{ alert.type }}"\n[bracket]\nstop_loss = { price = "{{ alert.sl }}" }\n')

    message = refusal(template, alert(type="market", sl="21490"))

    assert message.startswith(
        "Template 'mnq-trend': field 'bracket.stop_loss.price' is '21490', expected order.price to be set"
    )


def test_bracket_leg_given_twice_is_refused(make: Make) -> None:
    template = make(
        'price = "21500"\n[bracket.stop_loss]\n'
        "price = \"{{ alert.sl | default('') }}\"\n"
        "points = \"{{ alert.sl_points | default('') }}\"\n"
    )

    assert template.render(alert(sl_points="10"), MNQ)[0].bracket == Bracket(stop_loss_ticks=40)
    assert template.render(alert(sl="21490"), MNQ)[0].bracket == Bracket(stop_loss_ticks=40)
    assert template.render(alert(), MNQ)[0].bracket is None
    assert refusal(template, alert(sl="21490", sl_points="10")) == (
        "Template 'mnq-trend': field 'bracket.stop_loss' is 'price 21490 and points 10', expected "
        "exactly one of ticks, points or price (alert 1842)."
    )


@pytest.mark.parametrize("empty", ["", "  ", None])
def test_optional_value_that_renders_empty_is_not_set(make: Make, empty: object) -> None:
    template = make(
        '[bracket]\nstop_loss = { points = "{% if alert.sl %}{{ alert.sl }}{% endif %}" }\n'
        'take_profit = { points = "{{ alert.tp }}" }\n'
    )

    assert template.render(alert(sl=empty, tp=empty), MNQ)[0].bracket is None


# --- accounts and quantities -----------------------------------------------------------------


MULTI = HEAD.replace(
    'accounts = ["SIM-AUTO-OCO"]',
    'accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }, '
    "{ account = 70000003, multiplier = 0.5 }]",
)


def test_one_intent_per_account_in_order_with_multipliers(make: Make) -> None:
    intents = make(head=MULTI).render(alert(quantity="2"), MNQ)

    assert [(i.account, i.quantity) for i in intents] == [
        ("SIM-AUTO-OCO", 2),
        ("SIM-POSITION-BRACKETS", 4),
        (70000003, 1),
    ]


def test_multiplier_that_leaves_a_fraction_is_refused(make: Make) -> None:
    message = refusal(make(head=MULTI), alert(quantity="1"))

    assert message == (
        "Template 'mnq-trend': field 'quantity' is '1', expected a whole number of contracts "
        "(× 0.5 gives 0.5) on account 70000003 (alert 1842)."
    )


@pytest.mark.parametrize("quantity", [2, "2", Decimal("2"), "2.0", " 2 "])
def test_quantity_may_be_number_or_numeric_string(make: Make, quantity: object) -> None:
    assert make().render(alert(quantity=quantity), MNQ)[0].quantity == 2


def test_literal_quantity(make: Make) -> None:
    template = make(head=HEAD.replace('quantity = "{{ alert.quantity }}"', "quantity = 3"))

    assert template.render(alert(quantity="abc"), MNQ)[0].quantity == 3


# --- actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "action"),
    [
        ("BUY", Action.BUY),
        ("Long", Action.BUY),
        ("short", Action.SELL),
        ("Sell", Action.SELL),
        (" reverse ", Action.REVERSE),
    ],
)
def test_action_synonyms_any_case(make: Make, sent: str, action: Action) -> None:
    assert make().render(alert(action=sent), MNQ)[0].action is action


@pytest.mark.parametrize(
    ("sent", "action"),
    [("exit", Action.EXIT), ("CLOSE", Action.EXIT), ("flat", Action.EXIT), ("cancel", Action.CANCEL)],
)
def test_exit_and_cancel_carry_no_side_or_quantity(make: Make, sent: str, action: Action) -> None:
    template = make("[bracket]\nstop_loss = { ticks = 40 }\n", head=MULTI)
    fields = {"ticker": "MNQ1!", "action": sent}  # no quantity: exits need none
    an_alert = Alert("mnq-trend", "{}", fields, datetime.now(UTC))

    intents = template.render(an_alert, MNQ)

    assert intents == [
        OrderIntent(account=account, contract_id=MNQ.contract_id, action=action)
        for account in ("SIM-AUTO-OCO", "SIM-POSITION-BRACKETS", 70000003)
    ]


def test_reverse_carries_quantity_and_bracket_but_no_side(make: Make) -> None:
    intent = make("[bracket]\nstop_loss = { ticks = 40 }\n").render(alert(action="reverse", quantity=3), MNQ)[
        0
    ]

    assert (intent.side, intent.quantity, intent.bracket) == (None, 3, Bracket(stop_loss_ticks=40))


def test_reverse_with_a_bracket_price_is_refused(make: Make) -> None:
    template = make('price = "{{ alert.close }}"\n[bracket]\nstop_loss = { price = "{{ alert.sl }}" }\n')

    message = refusal(template, alert(action="reverse", close="21500", sl="21490"))

    assert "expected ticks or points with action reverse" in message


# --- every TemplateError message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"quantity": "abc"}, "field 'quantity' is 'abc', expected a whole number of contracts"),
        ({"quantity": "0"}, "field 'quantity' is '0', expected a whole number of contracts"),
        ({"quantity": "1.5"}, "field 'quantity' is '1.5', expected a whole number of contracts"),
        (
            {"action": "hold"},
            "field 'action' is 'hold', expected buy, sell, exit, reverse, cancel or breakeven "
            "(or long, short, close, flat)",
        ),
        ({"type": "iceberg"}, "field 'type' is 'iceberg', expected market, limit, stop or trailing_stop"),
        ({"type": "limit", "price": "NaN"}, "field 'limit_price' is 'NaN', expected a price above 0"),
        ({"type": "limit", "price": ""}, "field 'limit_price' is '', expected a price above 0"),
        ({"type": "limit", "price": "abc"}, "field 'limit_price' is 'abc', expected a price above 0"),
        ({"type": "stop", "trigger": "-5"}, "field 'stop_price' is '-5', expected a price above 0"),
        ({"sl": "0"}, "field 'bracket.stop_loss.ticks' is '0', expected a whole number of ticks, 1 or more"),
        (
            {"sl": "2.5"},
            "field 'bracket.stop_loss.ticks' is '2.5', expected a whole number of ticks, 1 or more",
        ),
    ],
)
def test_template_error_names_template_field_value_expectation_and_alert(
    make: Make, fields: dict[str, object], expected: str
) -> None:
    template = make(
        "type = \"{{ alert.type | default('market') }}\"\n"
        'limit_price = "{{ alert.price }}"\nstop_price = "{{ alert.trigger }}"\n'
        "[bracket]\nstop_loss = { ticks = \"{{ alert.sl | default('') }}\" }\n"
    )

    assert refusal(template, alert(**fields)) == f"Template 'mnq-trend': {expected} (alert 1842)."


def test_missing_alert_field_lists_the_fields_it_has(make: Make) -> None:
    an_alert = Alert(
        "mnq-trend",
        "{}",
        {"action": "buy", "ticker": "MNQ1!", "price": "1"},
        datetime.now(UTC),
        alert_id=1842,
    )

    assert refusal(make(), an_alert) == (
        "Template 'mnq-trend': field 'quantity' uses alert.quantity, which this alert does not have "
        "(fields: action, ticker, price) (alert 1842)."
    )


def test_missing_nested_field_names_its_path(make: Make) -> None:
    template = make('[bracket]\nstop_loss = { points = "{{ alert.stopLoss.amount }}" }\n')

    message = refusal(template, alert(stopLoss={"type": "stop"}))

    assert (
        "field 'bracket.stop_loss.points' uses alert.stopLoss.amount, which this alert does not "
        "have (fields: type)" in message
    )


def test_without_an_alert_id_the_message_leaves_it_out(make: Make) -> None:
    assert refusal(make(), alert(None, quantity="abc")) == (
        "Template 'mnq-trend': field 'quantity' is 'abc', expected a whole number of contracts."
    )


def test_expression_errors_are_template_errors(make: Make) -> None:
    template = make(head=HEAD.replace('"{{ alert.quantity }}"', '"{{ alert.quantity | decimal / 0 }}"'))

    message = refusal(template, alert())

    assert message.startswith("Template 'mnq-trend': field 'quantity' could not be rendered: ")


def test_sandbox_refuses_python_internals(make: Make) -> None:
    template = make(head=HEAD.replace('"{{ alert.quantity }}"', '"{{ alert.__class__.__mro__ }}"'))

    assert "could not be rendered" in refusal(template, alert())


def test_alert_fields_named_like_methods_are_still_fields(make: Make) -> None:
    template = make(head=HEAD.replace("alert.quantity", "alert.items"))

    assert template.render(alert(items="2"), MNQ)[0].quantity == 2


def test_strategy_name_is_available(make: Make) -> None:
    template = make(
        head=HEAD.replace('"{{ alert.quantity }}"', "\"{{ 2 if strategy == 'mnq-trend' else 1 }}\"")
    )

    assert template.render(alert(), MNQ)[0].quantity == 2


# --- ticker and alert time ----------------------------------------------------------------------


def test_ticker_is_rendered_and_stripped(make: Make) -> None:
    assert make().ticker(alert(ticker=" CME_MINI:MNQ1! ")) == "CME_MINI:MNQ1!"


def test_empty_ticker_is_refused(make: Make) -> None:
    with pytest.raises(TemplateError, match="field 'ticker' is '', expected a contract such as NQ1!"):
        make().ticker(alert(ticker=""))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02T14:30:00Z", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("2026-03-02T15:30:00+01:00", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("2026-03-02T14:30:00", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        (1772461800000, datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("1772461800000", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("1772461800", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_alert_time(make: Make, value: object, expected: datetime | None) -> None:
    assert make().alert_time(alert(time=value)) == expected


def test_alert_time_without_time_field(make: Make) -> None:
    template = make(head=HEAD.replace('[alert]\ntime_field = "time"\n', ""))

    assert template.alert_time(alert(time="2026-03-02T14:30:00Z")) is None
