"""The order sync against a hand-written gateway: skewed clocks, legs held by the gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.models import BrokerOrder
from app.engine.runner import JournalRunner
from app.engine.sync import OrderSync
from app.journal.journal import Journal


class SkewedGateway:
    """Lists orders by Order/search window, stamped with a clock ``skew`` ahead of ours."""

    def __init__(self, skew: timedelta) -> None:
        self.skew = skew
        self.orders: list[BrokerOrder] = []
        self.searches: list[tuple[datetime, datetime | None]] = []

    async def search_orders(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[BrokerOrder]:
        self.searches.append((since, until))
        return [
            o
            for o in self.orders
            if o.account_id == account_id
            and o.created_at is not None
            and since <= o.created_at
            and (until is None or o.created_at <= until)
        ]

    def add(self, tag: str, state: OrderState, **fields: object) -> None:
        self.orders.append(
            BrokerOrder(
                broker_order_id=3_350_000_000 + len(self.orders),
                account_id=70000001,
                contract_id="CON.F.US.MNQ.Z26",
                state=state,
                order_type="market",
                side=Side.BUY,
                size=1,
                client_order_id=tag,
                created_at=datetime.now(UTC) + self.skew,
                **fields,  # type: ignore[arg-type]
            )
        )


def _bracket(journal: Journal) -> tuple[int, int, int, int]:
    alert = journal.record_alert(
        strategy="mnq-bracket", raw_body="{}", received_at=datetime.now(UTC)
    ).alert_id
    common: dict[str, Any] = {
        "alert_id": alert,
        "account_id": 70000001,
        "account_name": "SIM-AUTO-OCO",
        "contract_id": "CON.F.US.MNQ.Z26",
    }
    entry = journal.add_order(
        **common, leg=Leg.ENTRY, action=Action.BUY, client_order_id="tvb-x-1-0", state=OrderState.ACCEPTED
    )
    stop = journal.add_order(
        **common,
        leg=Leg.STOP_LOSS,
        action=Action.BUY,
        client_order_id="tvb-x-1-0-SL",
        parent_id=entry,
        state=OrderState.ACCEPTED,
    )
    target = journal.add_order(
        **common,
        leg=Leg.TAKE_PROFIT,
        action=Action.BUY,
        client_order_id="tvb-x-1-0-TP",
        parent_id=entry,
        state=OrderState.ACCEPTED,
    )
    return alert, entry, stop, target


def _states(journal: Journal, alert: int) -> list[OrderState]:
    return [o.state for o in journal.alert_orders(alert)]


async def test_a_gateway_clock_ahead_of_ours_is_still_followed(journal: Journal) -> None:
    gateway = SkewedGateway(skew=timedelta(seconds=30))
    alert, *_ = _bracket(journal)
    gateway.add("tvb-x-1-0", OrderState.FILLED, fill_volume=1, filled_price=Decimal("21500.25"))
    gateway.add("tvb-x-1-0-SL", OrderState.WORKING)
    gateway.add("tvb-x-1-0-TP", OrderState.WORKING)

    changed = await OrderSync(gateway, JournalRunner(journal)).sync_alerts([alert])  # type: ignore[arg-type]

    assert changed == 3
    assert _states(journal, alert) == [OrderState.FILLED, OrderState.WORKING, OrderState.WORKING]
    assert len(gateway.searches) == 2  # the narrow window missed, the wide one found them
    [entry] = [o for o in journal.alert_orders(alert) if o.leg == Leg.ENTRY]
    assert entry.filled_price == Decimal("21500.25") and entry.fill_volume == 1


async def test_legs_of_a_listed_unfilled_entry_are_suspended(journal: Journal) -> None:
    gateway = SkewedGateway(skew=timedelta(0))
    alert, *_ = _bracket(journal)
    gateway.add("tvb-x-1-0", OrderState.WORKING)  # a limit entry, not filled: children invisible (§4.8)

    await OrderSync(gateway, JournalRunner(journal)).sync_alerts([alert])  # type: ignore[arg-type]

    assert _states(journal, alert) == [OrderState.WORKING, OrderState.SUSPENDED, OrderState.SUSPENDED]
    assert len(gateway.searches) == 1


async def test_nothing_listed_changes_nothing(journal: Journal) -> None:
    gateway = SkewedGateway(skew=timedelta(hours=2))  # beyond any window: the gateway shows nothing
    alert, *_ = _bracket(journal)
    gateway.add("tvb-x-1-0", OrderState.FILLED, fill_volume=1)

    changed = await OrderSync(gateway, JournalRunner(journal)).sync_alerts([alert])  # type: ignore[arg-type]

    assert changed == 0
    assert _states(journal, alert) == [OrderState.ACCEPTED] * 3  # not guessed as SUSPENDED
