"""Orders: exact prices, one status row per state change, one row per customTag and account."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.errors import JournalError
from app.journal import Journal
from tests.journal.conftest import T0

ACCOUNT = 9_100_000_001  # ProjectX ids may pass int32


@pytest.fixture
def alert_id(journal: Journal) -> int:
    return journal.record_alert(strategy="mnq-trend", raw_body="{}", received_at=T0).alert_id


def add(journal: Journal, alert_id: int, n: int = 0, **kw: object) -> int:
    kw.setdefault("client_order_id", f"tvb-{journal.instance}-{alert_id}-{n}")
    kw.setdefault("account_id", ACCOUNT)
    return journal.add_order(
        alert_id=alert_id,
        account_name="50KTC-V2-1234",
        contract_id="CON.F.US.MNQ.M25",
        leg=Leg.ENTRY,
        action=Action.BUY,
        **kw,
    )


@pytest.mark.parametrize(
    "price",
    [Decimal("21500.25"), Decimal("6335.250000000"), Decimal("0.01"), Decimal("-12.5")]
    + [Decimal("4999.99") + Decimal("0.01") * n for n in range(1, 4)],
)
def test_decimal_prices_round_trip_exactly(journal: Journal, alert_id: int, price: Decimal) -> None:
    order_record_id = add(journal, alert_id, limit_price=price, stop_price=price)
    journal.update_order(order_record_id, OrderState.FILLED, filled_price=price, fill_volume=2)

    (order,) = journal.alert_orders(alert_id)
    for stored in (order.limit_price, order.stop_price, order.filled_price):
        assert isinstance(stored, Decimal)
        assert str(stored) == str(price)  # same digits, trailing zeros included


def test_float_price_is_refused(journal: Journal, alert_id: int) -> None:
    with pytest.raises(JournalError, match="Decimal"):
        add(journal, alert_id, limit_price=21500.25)


def test_order_row_keeps_everything_it_was_given(journal: Journal, alert_id: int) -> None:
    body = {
        "accountId": ACCOUNT,
        "contractId": "CON.F.US.MNQ.M25",
        "type": 1,
        "side": 0,
        "size": 2,
        "limitPrice": 21500.25,
        "customTag": "tvb-x",
        "isAutomated": True,
    }
    order_record_id = add(
        journal,
        alert_id,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=2,
        limit_price=Decimal("21500.25"),
        stop_loss_ticks=40,
        take_profit_ticks=80,
        request=body,
    )

    order = journal.order_by_client_id(ACCOUNT, f"tvb-{journal.instance}-{alert_id}-0")
    assert order is not None and order.id == order_record_id
    assert (order.account_id, order.leg, order.action) == (ACCOUNT, Leg.ENTRY, Action.BUY)
    assert (order.side, order.order_type, order.size) == (Side.BUY, OrderType.LIMIT, 2)
    assert (order.stop_loss_ticks, order.take_profit_ticks) == (40, 80)
    assert order.state is OrderState.SUBMITTING and order.fill_volume == 0
    assert order.request == body
    assert order.created_at.tzinfo is not None and order.created_at >= T0


def test_status_history_has_one_row_per_state_change(journal: Journal, alert_id: int) -> None:
    order_record_id = add(journal, alert_id)
    journal.update_order(order_record_id, OrderState.ACCEPTED, broker_order_id=7_000_000_001)
    journal.update_order(order_record_id, OrderState.ACCEPTED, message="seen on the hub")
    journal.update_order(order_record_id, OrderState.FILLED, filled_price=Decimal("21500.25"))

    history = journal.order_history(order_record_id)
    assert [h.state for h in history] == [
        OrderState.SUBMITTING,
        OrderState.ACCEPTED,
        OrderState.FILLED,
    ]
    assert all(h.at.tzinfo is not None for h in history)
    order = journal.order_by_broker_id(ACCOUNT, 7_000_000_001)
    assert order is not None and order.id == order_record_id
    # None arguments left the earlier values in place.
    assert order.broker_order_id == 7_000_000_001
    assert order.message == "seen on the hub"
    assert order.updated_at >= order.created_at


def test_client_order_id_is_unique_per_account(journal: Journal, alert_id: int) -> None:
    add(journal, alert_id)

    with pytest.raises(JournalError, match="(?i)unique"):  # SQLite and PostgreSQL word it apart
        add(journal, alert_id)
    add(journal, alert_id, account_id=ACCOUNT + 1)  # the same tag on another account is fine
    assert len(journal.alert_orders(alert_id)) == 2


def test_orders_without_client_order_id_do_not_collide(journal: Journal, alert_id: int) -> None:
    # Position/closeContract sends no customTag.
    first = add(journal, alert_id, client_order_id=None)
    second = add(journal, alert_id, client_order_id=None)

    assert [o.id for o in journal.alert_orders(alert_id)] == [first, second]


def test_bracket_legs_point_at_their_entry(journal: Journal, alert_id: int) -> None:
    entry = add(journal, alert_id, state=OrderState.ACCEPTED)
    tag = f"tvb-{journal.instance}-{alert_id}-0"
    stop_loss = journal.add_order(
        alert_id=alert_id,
        account_id=ACCOUNT,
        account_name="a",
        contract_id="CON.F.US.MNQ.M25",
        leg=Leg.STOP_LOSS,
        action=Action.SELL,
        client_order_id=f"{tag}-SL",
        parent_id=entry,
        state=OrderState.SUSPENDED,
    )

    legs = journal.alert_orders(alert_id)
    assert [(o.leg, o.parent_id) for o in legs] == [(Leg.ENTRY, None), (Leg.STOP_LOSS, entry)]
    assert [h.state for h in journal.order_history(stop_loss)] == [OrderState.SUSPENDED]


def test_orders_in_states_finds_the_open_ones(journal: Journal, alert_id: int) -> None:
    unknown = add(journal, alert_id, 0)
    submitting = add(journal, alert_id, 1)
    accepted = add(journal, alert_id, 2)
    journal.update_order(unknown, OrderState.UNKNOWN, message="timeout after sending")
    journal.update_order(accepted, OrderState.ACCEPTED)

    found = journal.orders_in_states([OrderState.SUBMITTING, OrderState.UNKNOWN])

    assert [o.id for o in found] == [unknown, submitting]
    assert journal.orders_in_states([]) == []


def test_update_of_missing_order_raises_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="order_record 404"):
        journal.update_order(404, OrderState.FILLED)


def test_events_newest_first_and_by_alert(journal: Journal, alert_id: int) -> None:
    first = journal.add_event("alert.received", "Alert received", alert_id=alert_id)
    journal.add_event("hub.reconnected", "User Hub reconnected", level="warning")
    last = journal.add_event(
        "order.rejected",
        "Order rejected",
        level="error",
        alert_id=alert_id,
        data={"price": Decimal("21500.25"), "errorCode": 2},
    )

    events = journal.events(alert_id=alert_id)
    assert [e.id for e in events] == [last, first]
    assert events[0].data == {"price": "21500.25", "errorCode": 2}
    assert events[0].at.tzinfo is not None
    assert len(journal.events(limit=2)) == 2
    with pytest.raises(ValueError, match="level"):
        journal.add_event("x", "y", level="debug")


def test_order_of_a_missing_alert_is_refused(journal: Journal) -> None:
    # Foreign keys stay on after the migration, which runs with them off on SQLite.
    with pytest.raises(JournalError, match="(?i)foreign key"):
        add(journal, 999)
