"""Fills, order states from the gateway, positions and accounts in the journal (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.events import Fill, PositionEvent
from app.domain.models import Account, BrokerOrder
from app.journal import Journal
from app.journal.journal import OrderUpdate
from tests.journal.conftest import T0

ACCOUNT = 26282486
MNQ = "CON.F.US.MNQ.U26"


def _entry(journal: Journal, **row: object) -> tuple[int, int]:
    alert = journal.record_alert(
        strategy="mnq-bracket", raw_body="{}", received_at=T0, alert_time=T0 - timedelta(seconds=2)
    ).alert_id
    fields: dict[str, object] = {
        "account_id": ACCOUNT,
        "account_name": "PRAC",
        "contract_id": MNQ,
        "leg": Leg.ENTRY,
        "action": Action.BUY,
        "side": Side.BUY,
        "size": 2,
        "client_order_id": "tvb-abc123-1-0",
        "state": OrderState.ACCEPTED,
        "broker_order_id": 3423462488,
        **row,
    }
    return alert, journal.add_order(alert_id=alert, **fields)


def _broker(state: OrderState, at_ms: int, **fields: object) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=3423462488,
        account_id=ACCOUNT,
        contract_id=MNQ,
        state=state,
        order_type="market",
        side=Side.BUY,
        size=2,
        client_order_id="tvb-abc123-1-0",
        updated_at=T0 + timedelta(milliseconds=at_ms),
        **fields,  # type: ignore[arg-type]
    )


def _fill(trade_id: int, price: str, at_ms: int, **fields: object) -> Fill:
    values: dict[str, object] = {
        "trade_id": trade_id,
        "account_id": ACCOUNT,
        "contract_id": MNQ,
        "broker_order_id": 3423462488,
        "side": Side.BUY,
        "size": 1,
        "price": Decimal(price),
        "filled_at": T0 + timedelta(milliseconds=at_ms),
        "fees": Decimal("0.37"),
        "commissions": Decimal("0.25"),
        **fields,
    }
    return Fill(**values)  # type: ignore[arg-type]


def _states(journal: Journal, order_record_id: int) -> list[OrderState]:
    return [h.state for h in journal.order_history(order_record_id)]


def test_a_fill_sent_twice_is_one_row(journal: Journal) -> None:
    alert, entry = _entry(journal)
    fill = _fill(3004518356, "29423.25", 10)

    assert journal.record_fill(fill, entry) is True
    assert journal.record_fill(fill, entry) is False

    [row] = journal.alert_fills(alert)
    assert (row.trade_id, row.price, row.fees, row.commissions) == (
        3004518356,
        Decimal("29423.25"),
        Decimal("0.37"),
        Decimal("0.25"),
    )
    assert row.profit_and_loss is None and row.filled_at == fill.filled_at


def test_a_voided_resend_updates_voided_and_the_fill_times(journal: Journal) -> None:
    alert, entry = _entry(journal)
    journal.record_fill(_fill(1, "29423.25", 10), entry)
    journal.record_fill(_fill(2, "29423.50", 30), entry)

    assert journal.record_fill(_fill(2, "29423.50", 30, voided=True), entry) is False

    assert [f.voided for f in journal.alert_fills(alert)] == [False, True]
    [order] = journal.alert_orders(alert)
    assert order.first_fill_at == order.last_fill_at == T0 + timedelta(milliseconds=10)


def test_fills_set_fill_times_volume_and_average_price_of_our_order(journal: Journal) -> None:
    alert, entry = _entry(journal)

    journal.record_fill(_fill(2, "29424.00", 40), entry)
    journal.record_fill(_fill(1, "29423.00", 10), entry)

    [order] = journal.alert_orders(alert)
    assert order.first_fill_at == T0 + timedelta(milliseconds=10)
    assert order.last_fill_at == T0 + timedelta(milliseconds=40)
    assert order.fill_volume == 2 and order.filled_price == Decimal("29423.5")


def test_a_fill_before_its_order_is_known_is_attached_when_the_order_arrives(journal: Journal) -> None:
    alert, leg = _entry(
        journal, leg=Leg.TAKE_PROFIT, client_order_id="tvb-abc123-1-0-TP", broker_order_id=None
    )
    journal.record_fill(_fill(7, "29443.00", 50), None)  # the leg's broker id is not known yet

    journal.apply_order_event(leg, _broker(OrderState.FILLED, 50, fill_volume=2, filled_price=Decimal(29443)))

    [fill] = journal.alert_fills(alert)
    assert fill.order_record_id == leg
    [order] = journal.alert_orders(alert)
    assert order.broker_order_id == 3423462488 and order.first_fill_at == T0 + timedelta(milliseconds=50)


def test_the_newest_state_by_update_time_wins_and_history_changes_only_on_change(journal: Journal) -> None:
    alert, entry = _entry(journal)
    filled = _broker(OrderState.FILLED, 8, fill_volume=2, filled_price=Decimal("29423.25"))

    assert journal.apply_order_event(entry, _broker(OrderState.PENDING, 0)) is True
    assert journal.apply_order_event(entry, filled) is True
    assert journal.apply_order_event(entry, _broker(OrderState.PENDING, 0)) is False  # older
    assert journal.apply_order_event(entry, filled) is False  # the same again

    [order] = journal.alert_orders(alert)
    assert order.state == OrderState.FILLED and order.fill_volume == 2
    assert order.filled_price == Decimal("29423.25")
    assert order.broker_updated_at == T0 + timedelta(milliseconds=8)
    assert _states(journal, entry) == [OrderState.ACCEPTED, OrderState.PENDING, OrderState.FILLED]


def test_at_the_same_update_time_a_final_state_wins(journal: Journal) -> None:
    _, entry = _entry(journal)

    journal.apply_order_event(entry, _broker(OrderState.FILLED, 5, fill_volume=2))
    assert journal.apply_order_event(entry, _broker(OrderState.WORKING, 5)) is False
    assert _states(journal, entry)[-1] == OrderState.FILLED


def test_a_row_still_being_submitted_keeps_its_state_but_learns_its_broker_id(journal: Journal) -> None:
    alert, entry = _entry(journal, state=OrderState.SUBMITTING, broker_order_id=None)

    journal.apply_order_event(entry, _broker(OrderState.FILLED, 5, fill_volume=2))

    [order] = journal.alert_orders(alert)
    assert order.state == OrderState.SUBMITTING and order.broker_order_id == 3423462488
    assert order.broker_updated_at is None  # the next event or reconcile brings the state


def test_bracket_leg_learns_its_price_when_working(journal: Journal) -> None:
    alert, leg = _entry(journal, leg=Leg.STOP_LOSS, client_order_id="tvb-abc123-1-0-SL", broker_order_id=None)

    journal.apply_order_event(leg, replace(_broker(OrderState.WORKING, 9), stop_price=Decimal("29413.25")))

    [order] = journal.alert_orders(alert)
    assert order.state == OrderState.WORKING and order.stop_price == Decimal("29413.25")


def test_positions_long_short_and_flat(journal: Journal) -> None:
    journal.set_position(PositionEvent(ACCOUNT, MNQ, Side.BUY, 2, Decimal("29398.5")))
    journal.set_position(PositionEvent(ACCOUNT, "CON.F.US.EP.U26", Side.SELL, 1, Decimal("6335.25")))
    [es, mnq] = journal.positions(ACCOUNT)
    assert (mnq.side, mnq.size, mnq.average_price) == (Side.BUY, 2, Decimal("29398.5"))
    assert (es.side, es.size) == (Side.SELL, 1)

    journal.set_position(PositionEvent(ACCOUNT, MNQ, None, 0))

    [es, mnq] = journal.positions(ACCOUNT)
    assert (mnq.side, mnq.size, mnq.average_price) == (None, 0, None)
    assert es.side == Side.SELL
    assert journal.positions(ACCOUNT + 1) == []


def test_account_state_is_upserted(journal: Journal) -> None:
    journal.set_account(Account(ACCOUNT, "PRAC-V2", Decimal("150000"), True))
    journal.set_account(Account(ACCOUNT, "PRAC-V2", Decimal("149848.64"), False))

    [state] = journal.account_states()
    assert (state.account_id, state.balance, state.can_trade) == (ACCOUNT, Decimal("149848.64"), False)


def test_latency_chain_and_slippage_of_an_entry(journal: Journal) -> None:
    alert, entry = _entry(
        journal,
        state=OrderState.SUBMITTING,
        sent_at=T0 + timedelta(milliseconds=3),
        reference_price=Decimal("29423.00"),
        tick_size=Decimal("0.25"),
        tick_value=Decimal("0.50"),
    )
    journal.update_orders(
        [OrderUpdate(entry, OrderState.ACCEPTED, acknowledged_at=T0 + timedelta(milliseconds=9))]
    )
    journal.record_fill(_fill(1, "29423.50", 12), entry)
    journal.record_fill(_fill(2, "29423.50", 15), entry)

    chain = journal.alert_latency(alert)

    assert chain is not None
    assert chain.alert_time == T0 - timedelta(seconds=2) and chain.received_at == T0
    assert chain.sent_at == T0 + timedelta(milliseconds=3)
    assert chain.acknowledged_at == T0 + timedelta(milliseconds=9)
    assert (chain.first_fill_at, chain.last_fill_at) == (
        T0 + timedelta(milliseconds=12),
        T0 + timedelta(milliseconds=15),
    )
    assert [(a, b) for a, b, _ in chain.steps()][1:] == [
        ("received_at", "sent_at"),
        ("sent_at", "acknowledged_at"),
        ("acknowledged_at", "first_fill_at"),
        ("first_fill_at", "last_fill_at"),
    ]
    [slip] = chain.slippage
    # a buy 2 ticks above the reference: 2 ticks worse, × $0.50 × 2 contracts
    assert (slip.ticks, slip.usd, slip.size) == (Decimal(2), Decimal("2"), 2)
    assert journal.alert_latency(alert + 1) is None


def test_sell_slippage_below_the_reference_is_adverse(journal: Journal) -> None:
    alert, entry = _entry(
        journal,
        side=Side.SELL,
        action=Action.SELL,
        reference_price=Decimal("29423.00"),
        tick_size=Decimal("0.25"),
        tick_value=Decimal("0.50"),
        sent_at=T0,
    )
    journal.record_fill(_fill(1, "29422.75", 12, side=Side.SELL, size=2), entry)

    chain = journal.alert_latency(alert)

    assert chain is not None
    [slip] = chain.slippage
    assert slip.ticks == Decimal(1) and slip.usd == Decimal("1")


def test_last_gateway_time_and_oldest_open_order(journal: Journal) -> None:
    assert journal.last_gateway_time(ACCOUNT) is None
    _, entry = _entry(journal)
    journal.apply_order_event(entry, _broker(OrderState.WORKING, 40))
    journal.record_fill(_fill(1, "29423.50", 12), None)

    assert journal.last_gateway_time(ACCOUNT) == T0 + timedelta(milliseconds=40)
    assert journal.oldest_open_order_at(ACCOUNT) is not None
    journal.apply_order_event(entry, _broker(OrderState.FILLED, 50, fill_volume=2))
    assert journal.oldest_open_order_at(ACCOUNT) is None
