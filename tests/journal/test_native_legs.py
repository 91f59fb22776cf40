"""Native bracket legs journaled twice over a crash: once read from the gateway by protection,
once by the resumed alert's settlement. The second one adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.enums import Action, AlertStatus, Leg, OrderState, Side
from app.journal.journal import Journal

MNQ = "CON.F.US.MNQ.Z25"


def test_a_settlement_does_not_add_a_leg_the_account_already_has(journal: Journal) -> None:
    alert_id = journal.record_alert(
        strategy="mnq-bracket", raw_body="{}", received_at=datetime.now(UTC)
    ).alert_id
    leg = {
        "account_id": 70000001,
        "account_name": "SIM-AUTO-OCO",
        "contract_id": MNQ,
        "leg": Leg.STOP_LOSS,
        "action": Action.BUY,
        "side": Side.SELL,
        "size": 1,
        "client_order_id": "tvb-abc123-1-0-SL",
        "state": OrderState.ACCEPTED,
    }
    adopted = journal.add_order(
        alert_id=alert_id, **{**leg, "broker_order_id": 9, "state": OrderState.WORKING}
    )
    take_profit = {**leg, "leg": Leg.TAKE_PROFIT, "client_order_id": "tvb-abc123-1-0-TP"}

    ids = journal.settle_alert(alert_id, AlertStatus.EXECUTED, new_orders=[leg, take_profit])

    assert ids[0] == adopted
    rows = journal.alert_orders(alert_id)
    assert [(r.client_order_id, r.state) for r in rows] == [
        ("tvb-abc123-1-0-SL", OrderState.WORKING),  # kept as the gateway reported it
        ("tvb-abc123-1-0-TP", OrderState.ACCEPTED),
    ]
    assert ids[1] == rows[1].id
    assert journal.get_alert(alert_id).status == AlertStatus.EXECUTED  # type: ignore[union-attr]
