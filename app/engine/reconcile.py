"""Settle orders whose outcome is not known, by asking the gateway, never by resending.

An order row is SUBMITTING (written before Order/place, left so by a crash) or UNKNOWN (sent, no
answer: timeout, 5xx, 429, dropped connection). DESIGN.md: reconciliation searches the orders
for the row's tag (Order/search) before anything else is done for that alert. A close is
settled by looking at the position, a cancel by looking at the working orders.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.enums import Leg, OrderState, Side
from app.engine.ports import Gateway
from app.engine.runner import JournalRunner
from app.errors import GatewayError

log = logging.getLogger("tvbridge.engine")

# Order/search window around the row's creation: the gateway's clock may differ from ours.
SEARCH_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class PendingOrder:
    """The fields of an order row that reconciliation needs (a journal row fits too)."""

    id: int
    alert_id: int
    account_id: int
    contract_id: str
    leg: Leg
    client_order_id: str | None
    broker_order_id: int | None
    created_at: datetime
    side: Side | None = None
    size: int | None = None


@dataclass(frozen=True)
class Settled:
    """What reconciliation concluded for one row."""

    state: OrderState
    broker_order_id: int | None
    message: str


class Reconciler:
    """Find out what happened to SUBMITTING and UNKNOWN order rows."""

    def __init__(self, gateway: Gateway, runner: JournalRunner, *, attempts: int, delay_s: float) -> None:
        self._gateway = gateway
        self._runner = runner
        self._attempts = attempts
        self._delay_s = delay_s

    async def settle(self, order: Any, *, attempts: int | None = None) -> Settled:
        """Ask the gateway until the row's outcome is known or ``attempts`` searches are spent.

        ``order`` is a PendingOrder or a journal order row. The row's new state is ACCEPTED
        (found, with its broker id), DONE (a close or cancel that took effect), NOT_PLACED
        (proven absent after every attempt) or UNKNOWN (the gateway could not be asked; a later
        reconcile pass tries again).
        """
        tries = attempts or self._attempts
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(self._delay_s)
            try:
                found = await self._look(order)
            except GatewayError as exc:
                log.warning("reconcile of order row %s: gateway not reachable: %s", order.id, exc)
                return Settled(
                    OrderState.UNKNOWN,
                    order.broker_order_id,
                    f"outcome still unknown: the gateway could not be asked ({exc}); will retry",
                )
            if found is not None:
                await self._runner.run(
                    self._runner.journal.update_order,
                    order.id,
                    found.state,
                    broker_order_id=found.broker_order_id,
                    message=found.message,
                )
                return found
        message = _absent_message(order, tries)
        await self._runner.run(
            self._runner.journal.update_order, order.id, OrderState.NOT_PLACED, message=message
        )
        await self._runner.run(
            self._runner.journal.add_event,
            "reconcile.not_placed",
            message,
            level="warning",
            alert_id=order.alert_id,
            order_record_id=order.id,
        )
        return Settled(OrderState.NOT_PLACED, order.broker_order_id, message)

    async def settle_all_pending(self) -> int:
        """Reconcile every SUBMITTING or UNKNOWN row (at start and periodically); return how many.

        Rows older than a minute get one conclusive search: an order sent that long ago is on
        the gateway's books by now or never will be.
        """
        journal = self._runner.journal
        rows = await self._runner.run(journal.orders_in_states, [OrderState.SUBMITTING, OrderState.UNKNOWN])
        now = datetime.now(UTC)
        for row in rows:
            old = now - row.created_at > timedelta(minutes=1)
            await self.settle(row, attempts=1 if old else None)
        return len(rows)

    async def _look(self, order: Any) -> Settled | None:
        if order.leg == Leg.CANCEL:
            working = await self._gateway.open_orders(order.account_id)
            if all(o.broker_order_id != order.broker_order_id for o in working):
                return Settled(OrderState.DONE, order.broker_order_id, "order no longer working")
            return None
        if order.leg == Leg.CLOSE and not order.client_order_id:  # Position/closeContract
            positions = await self._gateway.open_positions(order.account_id)
            if all(p.contract_id != order.contract_id for p in positions):
                return Settled(OrderState.DONE, None, "position found closed after an unknown outcome")
            return None
        since = order.created_at - SEARCH_SLACK
        for broker in await self._gateway.search_orders(order.account_id, since):
            if broker.client_order_id == order.client_order_id:
                return Settled(
                    OrderState.DONE if order.leg == Leg.CLOSE else OrderState.ACCEPTED,
                    broker.broker_order_id,
                    f"found on the gateway by its tag {order.client_order_id} "
                    "after an unknown outcome; not resent",
                )
        return None


def _absent_message(order: Any, tries: int) -> str:
    if order.leg == Leg.CLOSE:
        return f"position in {order.contract_id} still open after {tries} check(s): close not done"
    if order.leg == Leg.CANCEL:
        return f"order {order.broker_order_id} still working after {tries} check(s): not cancelled"
    return (
        f"not on the gateway after {tries} search(es) for tag {order.client_order_id}: "
        "it was not placed, and it is not resent; send the alert again if you still want it"
    )
