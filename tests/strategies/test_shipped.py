"""The shipped templates and alert messages work together, and TradersPost alerts move over unchanged."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import Action, OrderType, Side
from app.domain.models import Alert, Bracket, BreakEven, Contract, LiveStops, OrderIntent, Target
from app.errors import TemplateError
from app.ingest import parse_body
from app.strategies import StrategyTemplate, SyncIntent, check_templates, load_templates
from tests.corpus import VALUES, render_corpus

pytestmark = pytest.mark.xdist_group("shipped-templates")  # its module-scoped fixture starts once

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
ALERTS = ROOT / "alerts"
SHIPPED = [
    "mnq-bracket",
    "mnq-breakeven",
    "mnq-exit",
    "mnq-exit-partial",
    "mnq-market",
    "mnq-oco",
    "mnq-risk",
    "mnq-scale-out",
    "mnq-sync",
    "mnq-trail",
    "mnq-trail-live",
    "mnq-trail-stop",
    "nq-text",
    "traderspost",
]
MNQ = Contract(
    "CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ"
)
NQ = Contract("CON.F.US.ENQ.H26", "NQH6", "E-mini Nasdaq-100", Decimal("0.25"), Decimal("5.00"), "F.US.ENQ")
AT = datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def templates() -> dict[str, StrategyTemplate]:
    return load_templates(TEMPLATES)


def render(template: StrategyTemplate, raw: bytes, contract: Contract = MNQ) -> list[OrderIntent]:
    fields = parse_body(raw, fmt=template.alert_format, pattern=template.pattern)
    an_alert = Alert(template.name, raw.decode(), fields, AT, alert_id=1)
    assert template.ticker(an_alert)
    return template.render(an_alert, contract)


def example(strategy: str) -> bytes:
    (path,) = ALERTS.glob(f"{strategy}.example.*")
    return path.read_bytes()


def test_every_shipped_template_loads_without_problems(templates: dict[str, StrategyTemplate]) -> None:
    assert sorted(templates) == SHIPPED
    assert check_templates(TEMPLATES) == []
    assert all(t.description for t in templates.values())


@pytest.mark.parametrize("strategy", SHIPPED)
def test_every_template_has_its_message_and_example(strategy: str) -> None:
    message = (ALERTS / f"{strategy}.txt").read_text()
    values = {**VALUES, "ticker": "NQ1!" if strategy.startswith("nq") else "MNQ1!"}
    if not strategy.startswith("nq") and strategy != "mnq-sync":  # mnq-sync: buy 2, now long 2
        values.update({"strategy.order.contracts": "1", "strategy.position_size": "1"})
    if strategy == "mnq-scale-out":  # three targets of 1 each: an entry of 3
        values["strategy.order.contracts"] = "3"

    rendered = re.sub(r"\{\{(.+?)\}\}", lambda m: values[m.group(1)], message)

    assert rendered.encode() == example(strategy)
    assert "secret" not in message
    assert strategy in (ALERTS / "README.md").read_text()


@pytest.mark.parametrize("strategy", SHIPPED)
def test_every_example_renders_to_orders(templates: dict[str, StrategyTemplate], strategy: str) -> None:
    template = templates[strategy]
    contract = NQ if strategy.startswith("nq") else MNQ

    intents = render(template, example(strategy), contract)

    pair = 2 if template.kind == "oco" else 1  # an OCO template makes two orders per account
    assert [i.account for i in intents] == ["SIM-AUTO-OCO"] * pair
    assert all(i.contract_id == contract.contract_id for i in intents)


def test_mnq_bracket_example_is_an_entry_with_stop_loss_and_take_profit(
    templates: dict[str, StrategyTemplate],
) -> None:
    template = templates["mnq-bracket"]

    intents = render(template, example("mnq-bracket"))

    assert intents == [
        OrderIntent(
            account="SIM-AUTO-OCO",
            contract_id=MNQ.contract_id,
            action=Action.BUY,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=1,
            bracket=Bracket(stop_loss_ticks=40, take_profit_ticks=80),
            reference_price=Decimal("21500.25"),
        )
    ]
    assert template.id_field == "id"
    fields = json.loads(example("mnq-bracket"))
    assert template.alert_time(Alert("mnq-bracket", "", fields, AT)) == datetime(
        2026, 3, 2, 14, 30, tzinfo=UTC
    )


def test_mnq_scale_out_example_is_three_targets_and_break_even(
    templates: dict[str, StrategyTemplate],
) -> None:
    (intent,) = render(templates["mnq-scale-out"], example("mnq-scale-out"))

    assert (intent.side, intent.quantity) == (Side.BUY, 3)
    assert intent.bracket == Bracket(
        stop_loss_ticks=40,
        targets=(Target(20, 1), Target(40, 1), Target(80, 1)),
        break_even=BreakEven(after_target=1, offset_ticks=1),
    )


def test_mnq_trail_live_example_is_a_managed_stop_moved_from_live_quotes(
    templates: dict[str, StrategyTemplate],
) -> None:
    template = templates["mnq-trail-live"]

    (intent,) = render(template, example("mnq-trail-live"))

    assert (intent.side, intent.order_type, intent.quantity) == (Side.BUY, OrderType.MARKET, 1)
    assert intent.reference_price == Decimal("21500.25")
    assert intent.bracket == Bracket(
        stop_loss_ticks=40,
        live=LiveStops(
            be_after_ticks=20,
            be_offset_ticks=1,
            trail_ticks=20,
            trail_activation_ticks=30,
            trail_step_ticks=4,
        ),
    )
    assert template.bracket_mode == "managed"
    raw = example("mnq-trail-live").replace(b'"be_after_ticks": 20', b'"be_after_ticks": 12')
    (tighter,) = render(template, raw.replace(b'"trail_ticks": 20', b'"trail_ticks": 8'))
    assert tighter.bracket is not None and tighter.bracket.live is not None
    assert (tighter.bracket.live.be_after_ticks, tighter.bracket.live.trail_ticks) == (12, 8)


def test_mnq_breakeven_example_asks_to_move_the_mnq_stop_to_break_even(
    templates: dict[str, StrategyTemplate],
) -> None:
    (intent,) = render(templates["mnq-breakeven"], example("mnq-breakeven"))

    assert (intent.account, intent.contract_id, intent.action) == (
        "SIM-AUTO-OCO",
        MNQ.contract_id,
        Action.BREAKEVEN,
    )
    assert intent.bracket is None


def test_mnq_market_sells_what_the_strategy_sold(templates: dict[str, StrategyTemplate]) -> None:
    raw = example("mnq-market").replace(b'"buy"', b'"sell"').replace(b'"1"', b'"3"')

    (intent,) = render(templates["mnq-market"], raw)

    assert (intent.side, intent.order_type, intent.quantity, intent.bracket) == (
        Side.SELL,
        OrderType.MARKET,
        3,
        None,
    )


def test_mnq_sync_example_targets_long_2_with_the_strategys_own_order(
    templates: dict[str, StrategyTemplate],
) -> None:
    [intent] = render(templates["mnq-sync"], example("mnq-sync"))

    assert isinstance(intent, SyncIntent)
    assert (intent.target, intent.alert_side, intent.alert_quantity) == (2, Side.BUY, 2)
    assert intent.bracket == Bracket(stop_loss_ticks=40, take_profit_ticks=80)
    assert intent.reference_price == Decimal("21500.25")


def test_mnq_exit_closes(templates: dict[str, StrategyTemplate]) -> None:
    assert render(templates["mnq-exit"], example("mnq-exit")) == [
        OrderIntent(account="SIM-AUTO-OCO", contract_id=MNQ.contract_id, action=Action.EXIT)
    ]


@pytest.mark.parametrize(
    ("quantity", "contracts", "percent"),
    [("50%", None, Decimal(50)), (" 12.5 % ", None, Decimal("12.5")), ("2", 2, None), ("", None, None)],
)
def test_mnq_exit_partial_reads_contracts_or_a_percentage(
    templates: dict[str, StrategyTemplate], quantity: str, contracts: int | None, percent: Decimal | None
) -> None:
    body = json.loads(example("mnq-exit-partial"))
    body["quantity"] = quantity

    [intent] = render(templates["mnq-exit-partial"], json.dumps(body).encode())

    assert intent.action is Action.EXIT
    assert (intent.exit_contracts, intent.exit_percent) == (contracts, percent)


@pytest.mark.parametrize("quantity", ["0", "-1", "150%", "0%", "half", "1.5"])
def test_mnq_exit_partial_refuses_a_size_it_cannot_close(
    templates: dict[str, StrategyTemplate], quantity: str
) -> None:
    body = json.loads(example("mnq-exit-partial"))
    body["quantity"] = quantity

    with pytest.raises(TemplateError, match="exit_quantity"):
        render(templates["mnq-exit-partial"], json.dumps(body).encode())


@pytest.mark.parametrize(
    ("action", "position", "expected"),
    [
        ("buy", "2", (Action.BUY, Side.BUY, 2)),
        ("sell", "-3", (Action.SELL, Side.SELL, 3)),
        ("sell", "0", (Action.EXIT, None, 0)),
    ],
)
def test_nq_text_reads_the_pine_faq_message(
    templates: dict[str, StrategyTemplate], action: str, position: str, expected: tuple[Any, ...]
) -> None:
    raw = render_corpus(
        "C07",
        **{
            "strategy.order.action": action,
            "strategy.position_size": position,
            "strategy.order.price": "21500.30",
        },
    )

    (intent,) = render(templates["nq-text"], raw, NQ)

    assert (intent.action, intent.side, intent.quantity) == expected
    if intent.action is not Action.EXIT:
        assert intent.order_type is OrderType.LIMIT and intent.limit_price == Decimal("21500.25")


# --- TradersPost ---------------------------------------------------------------------------------


def traderspost(templates: dict[str, StrategyTemplate], body: dict[str, object]) -> list[OrderIntent]:
    return render(templates["traderspost"], json.dumps(body).encode())


def test_traderspost_corpus_messages(templates: dict[str, StrategyTemplate]) -> None:
    template = templates["traderspost"]

    (c10,) = render(template, render_corpus("C10"))
    (c11,) = render(template, render_corpus("C11"))
    (c12,) = render(template, render_corpus("C12"))
    (c13,) = render(template, render_corpus("C13"))

    assert (c10.side, c10.quantity, c10.reference_price, c10.bracket) == (
        Side.BUY,
        2,
        Decimal("21500.25"),
        None,
    )
    assert c11.action is Action.EXIT  # sell + sentiment flat
    assert (c12.side, c12.quantity, c12.reference_price) == (Side.BUY, 1, None)  # no quantity: 1
    assert c13.action is Action.EXIT


def test_traderspost_example_amounts_are_points(templates: dict[str, StrategyTemplate]) -> None:
    (intent,) = render(templates["traderspost"], example("traderspost"))

    assert intent.bracket == Bracket(stop_loss_ticks=40, take_profit_ticks=80)


@pytest.mark.parametrize(
    ("stop_loss", "take_profit", "expected"),
    [
        ({"type": "stop", "stopPrice": 21490}, {"limitPrice": "21520.25"}, Bracket(41, 80)),
        ({"type": "stop", "amount": "10"}, {"amount": 20}, Bracket(40, 80)),
        ({"type": "stop", "percent": "0.1"}, {"percent": 0.2}, Bracket(86, 172)),
        ({"type": "STOP", "stopPrice": "21490.10"}, None, Bracket(41, None)),
        (None, {"limitPrice": 21510}, Bracket(None, 39)),
    ],
)
def test_traderspost_stop_loss_and_take_profit_shapes(
    templates: dict[str, StrategyTemplate], stop_loss: object, take_profit: object, expected: Bracket
) -> None:
    body: dict[str, object] = {"ticker": "MNQ1!", "action": "buy", "quantity": 1, "price": 21500.25}
    if stop_loss is not None:
        body["stopLoss"] = stop_loss
    if take_profit is not None:
        body["takeProfit"] = take_profit

    (intent,) = traderspost(templates, body)

    assert intent.bracket == expected


@pytest.mark.parametrize(
    ("stop_loss", "expected"),
    [
        ({"type": "trailing_stop", "trailAmount": "5"}, Bracket(20, None, trailing=True)),  # points
        ({"type": "Trailing_Stop", "trailAmount": 2.5}, Bracket(10, None, trailing=True)),
        ({"type": "trailing_stop", "trailPercent": "0.1"}, Bracket(86, None, trailing=True)),  # of 21500.25
        ({"type": "trailing_stop", "trailAmount": "250"}, Bracket(1000, None, trailing=True)),  # the maximum
    ],
)
def test_traderspost_trailing_stop_loss_is_a_native_trailing_stop(
    templates: dict[str, StrategyTemplate], stop_loss: dict[str, object], expected: Bracket
) -> None:
    body: dict[str, object] = {"ticker": "MNQ1!", "action": "buy", "price": "21500.25", "stopLoss": stop_loss}

    (intent,) = traderspost(templates, body)

    assert intent.bracket == expected


def test_mnq_trail_example_is_an_entry_with_a_20_tick_trailing_stop(
    templates: dict[str, StrategyTemplate],
) -> None:
    (intent,) = render(templates["mnq-trail"], example("mnq-trail"))

    assert intent.bracket == Bracket(stop_loss_ticks=20, trailing=True)
    assert (intent.side, intent.order_type, intent.reference_price) == (
        Side.BUY,
        OrderType.MARKET,
        Decimal("21500.25"),
    )


def test_mnq_trail_stop_example_is_a_sell_trailing_stop_of_20_ticks_on_its_own(
    templates: dict[str, StrategyTemplate],
) -> None:
    (intent,) = render(templates["mnq-trail-stop"], example("mnq-trail-stop"))

    assert (intent.side, intent.order_type, intent.trail_ticks, intent.quantity) == (
        Side.SELL,
        OrderType.TRAILING_STOP,
        20,
        1,
    )
    assert intent.bracket is None and intent.reference_price == Decimal("21500.25")


@pytest.mark.parametrize(
    ("trail", "expected"),
    [
        ("1001", "field 'bracket.stop_loss.trail_ticks' is '1001', expected a trail of at most 1000 ticks"),
        ("0", "expected a whole number of ticks, 1 or more"),
    ],
)
def test_mnq_trail_refuses_a_trail_the_gateway_would_refuse(
    templates: dict[str, StrategyTemplate], trail: str, expected: str
) -> None:
    raw = example("mnq-trail").replace(b'"trail_ticks": "20"', f'"trail_ticks": "{trail}"'.encode())

    with pytest.raises(TemplateError) as caught:
        render(templates["mnq-trail"], raw)

    assert expected in str(caught.value)


def test_traderspost_sell_limit_measures_from_the_limit_price(templates: dict[str, StrategyTemplate]) -> None:
    body: dict[str, object] = {
        "ticker": "MNQ1!",
        "action": "sell",
        "orderType": "limit",
        "limitPrice": "21510",
        "stopLoss": {"type": "stop", "stopPrice": "21520"},
        "takeProfit": {"limitPrice": "21490"},
    }

    (intent,) = traderspost(templates, body)

    assert (intent.side, intent.order_type, intent.limit_price) == (
        Side.SELL,
        OrderType.LIMIT,
        Decimal("21510.00"),
    )
    assert intent.bracket == Bracket(stop_loss_ticks=40, take_profit_ticks=80)


@pytest.mark.parametrize("sentiment_action", [("flat", "buy"), ("Flat", "SELL")])
def test_traderspost_flat_sentiment_exits(
    templates: dict[str, StrategyTemplate], sentiment_action: tuple[str, str]
) -> None:
    sentiment, action = sentiment_action

    (intent,) = traderspost(templates, {"ticker": "MNQ1!", "action": action, "sentiment": sentiment})

    assert intent.action is Action.EXIT


def test_traderspost_cancel(templates: dict[str, StrategyTemplate]) -> None:
    assert traderspost(templates, {"ticker": "MNQ1!", "action": "cancel"})[0].action is Action.CANCEL


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"stopLoss": {"type": "stop_limit", "amount": "10"}},
            'unsupported stopLoss type stop_limit: only "stop" or',
        ),
        (
            {"stopLoss": {"type": "trailing_stop"}},
            "stopLoss trailing_stop needs trailAmount or trailPercent",
        ),
        (
            {"stopLoss": {"type": "trailing_stop", "trailAmount": "2", "trailPercent": "1"}},
            "send trailAmount or trailPercent, not both",
        ),
        (
            {"stopLoss": {"type": "trailing_stop", "trailAmount": "250.25"}},
            "expected a trail of at most 1000 ticks",
        ),
        (
            {"stopLoss": {"type": "stop", "pnlAmount": 100}},
            "unsupported stopLoss {type: stop, pnlAmount: 100}",
        ),
        ({"takeProfit": {"pnlAmount": 100}}, "unsupported takeProfit {pnlAmount: 100}"),
        (
            {"action": "add"},
            "field 'action' is 'add', expected buy, sell, exit, reverse, cancel or breakeven",
        ),
        (
            {"orderType": "stop_limit", "stopPrice": 21510, "limitPrice": 21511},
            "field 'type' is 'stop_limit', expected market, limit, stop or trailing_stop",
        ),
        (
            {"stopLoss": {"type": "stop", "stopPrice": 21510}},
            "expected a stop loss below the entry price 21500.25 for a buy",
        ),
    ],
)
def test_traderspost_shapes_we_cannot_honour_are_refused_not_ignored(
    templates: dict[str, StrategyTemplate], extra: dict[str, object], expected: str
) -> None:
    body = {"ticker": "MNQ1!", "action": "buy", "price": "21500.25", **extra}

    with pytest.raises(TemplateError) as caught:
        traderspost(templates, body)

    assert str(caught.value).startswith("Template 'traderspost': ")
    assert expected in str(caught.value)


def test_the_readme_shows_the_partial_exit_template_and_its_message() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Partial exits: `mnq-exit-partial`")[1].split("\n## ")[0]
    order = (TEMPLATES / "mnq-exit-partial.toml").read_text().split("[order]\n")[1]

    assert "[order]\n" + order in section
    assert (ALERTS / "mnq-exit-partial.txt").read_text() in section


@pytest.mark.parametrize(
    ("body", "contracts"),
    [
        ({"action": "exit", "quantity": "1"}, 1),  # TradersPost: an exit below the position
        ({"action": "exit", "quantity": 3}, 3),
        ({"action": "exit"}, None),  # the whole position
        ({"action": "sell", "sentiment": "flat", "quantity": "1"}, None),  # flat: all of it
    ],
)
def test_traderspost_exit_quantity_closes_that_many(
    templates: dict[str, StrategyTemplate], body: dict[str, object], contracts: int | None
) -> None:
    (intent,) = traderspost(templates, {"ticker": "MNQ1!", **body})

    assert intent.action is Action.EXIT
    assert (intent.exit_contracts, intent.exit_percent) == (contracts, None)


@pytest.mark.parametrize("strategy", SHIPPED)
def test_the_readme_shows_every_template_with_its_alert(
    templates: dict[str, StrategyTemplate], strategy: str
) -> None:
    """README's "Shipped templates and their alerts" table: one row per template, with the very
    message of alerts/<strategy>.txt (on one line)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Shipped templates and their alerts", 1)[1].split("\n### ", 1)[0]
    [row] = [line for line in table.splitlines() if line.startswith(f"| `{strategy}` |")]
    shown = row.rsplit(" | `", 1)[1].removesuffix("` |")
    message = (ALERTS / f"{strategy}.txt").read_text().strip()

    if strategy == "nq-text":  # the plain-text message, as it is
        assert shown == message
    else:
        assert json.loads(shown) == json.loads(message)
    assert f"| `{strategy}` | {templates[strategy].description} |" in row
