"""Settle orders whose outcome is not known, by asking the gateway, never by resending.

An order row is SUBMITTING (written before Order/place, left so by a crash) or UNKNOWN (sent, no
answer: timeout, 5xx, 429, dropped connection). DESIGN.md: reconciliation searches the orders
for the row's tag (Order/search) before anything else is done for that alert. A close is
settled by looking at the position, a cancel by looking at the working orders.

``reconcile_account`` catches the journal up with one account after events may have been missed
(a reconnect: nothing is replayed, projectx-api.md §7.3, §8 item 9): Order/search, Trade/search
and Position/searchOpen, each result fed through the same EventApplier as the hub's events.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.enums import Leg, OrderState, Side
from app.domain.events import GatewayEvent, OrderEvent, PositionEvent
from app.domain.kinds import EventKind, EventLevel
from app.domain.records import OrderRow
from app.engine.events import EventApplier, row_id
from app.engine.ports import Gateway
from app.engine.runner import JournalRunner
from app.errors import GatewayError

log = logging.getLogger(__name__)

# Order/search window around the row's creation: the gateway's clock may differ from ours.
SEARCH_SLACK = timedelta(minutes=5)
# A partial close's fills are looked for from this long before its row (clocks differ a little).
PARTIAL_CLOSE_SLACK = timedelta(seconds=5)
# How far back reconcile_account looks when not told where to start.
CATCH_UP = timedelta(hours=24)
# Order/search lists orders by creation time: orders still open in the journal are searched from
# their creation, but never further back than this (the search has no paging, §8 item 14).
OPEN_ORDERS_LOOKBACK = timedelta(days=7)


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

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        *,
        attempts: int,
        delay_s: float,
        applier: EventApplier | None = None,
    ) -> None:
        self._gateway = gateway
        self._runner = runner
        self._attempts = attempts
        self._delay_s = delay_s
        self.applier = applier or EventApplier(runner)

    async def reconcile_account(self, account_id: int, since: datetime | None = None) -> list[GatewayEvent]:
        """Catch the journal up with the gateway for one account from ``since`` (UTC); return the
        events that changed the journal (orders whose row changed, new fills), oldest first.

        ``since`` must be a moment up to which nothing can have been missed: the hub's last known
        good moment less a margin (app/engine/follow.py), never a gateway time a REST read learned
        after it; it defaults to 24 h ago. Order/search runs from ``since`` or from the creation of
        the oldest order the journal still holds open, whichever is earlier (at most 7 days back);
        Trade/search from ``since``; Position/searchOpen, with journaled positions it no longer
        lists set flat. Everything goes through the EventApplier, so what was already applied
        changes nothing (fills are unique by trade id: an overlap is free). Raises GatewayError
        when a search fails (nothing of that pass is applied: all three are read first),
        JournalError when the journal cannot be read.
        """
        journal = self._runner.journal
        now = datetime.now(UTC)
        since = since or now - CATCH_UP
        oldest_open = await self._runner.run(journal.oldest_open_order_at, account_id)
        orders_since = since
        if oldest_open is not None:
            orders_since = max(min(since, oldest_open - SEARCH_SLACK), now - OPEN_ORDERS_LOOKBACK)
        orders = await self._gateway.search_orders(account_id, orders_since)
        fills = await self._gateway.search_trades(account_id, since)
        positions = await self._gateway.open_positions(account_id)
        changed: list[GatewayEvent] = []
        # Parents before children (ids are allocated together, §6.4), so a leg sees its entry.
        for order in sorted(orders, key=lambda o: o.broker_order_id):
            event = OrderEvent(order)
            if await self.applier.apply(event):
                changed.append(event)
        await self.applier.retry_parked()
        fills.sort(key=lambda fill: (fill.filled_at, fill.trade_id))
        for fill in fills:
            if await self.applier.apply(fill):
                changed.append(fill)
        listed = {p.contract_id for p in positions}
        held = await self._runner.run(journal.positions, account_id)
        flat = [
            PositionEvent(account_id, p.contract_id, None, 0)
            for p in held
            if p.side is not None and p.contract_id not in listed
        ]
        await self.applier.apply_all(
            [PositionEvent(p.account_id, p.contract_id, p.side, p.size, p.average_price) for p in positions]
            + flat
        )
        return changed

    async def settle(self, order: PendingOrder | OrderRow, *, attempts: int | None = None) -> Settled:
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
                    row_id(order),
                    found.state,
                    broker_order_id=found.broker_order_id,
                    message=found.message,
                )
                return found
        message = _absent_message(order, tries)
        await self._runner.run(
            self._runner.journal.update_order, row_id(order), OrderState.NOT_PLACED, message=message
        )
        await self._runner.run(
            self._runner.journal.add_event,
            EventKind.RECONCILE_NOT_PLACED,
            message,
            level=EventLevel.WARNING,
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

    async def _partial_close_filled(self, order: PendingOrder | OrderRow) -> Settled | None:
        """A partial close answers no order id (§4.9, §8.15): it is found by its trades, fills
        in its contract on its side since it was sent whose order is none of the bridge's
        (a stop loss or take profit filling meanwhile is a row of ours), adding up to its size."""
        since = order.created_at - PARTIAL_CLOSE_SLACK
        journal = self._runner.journal
        found = 0
        for fill in await self._gateway.search_trades(order.account_id, since):
            if fill.contract_id != order.contract_id or fill.side != order.side or fill.voided:
                continue
            ours = await self._runner.run(
                journal.order_for_event, order.account_id, fill.broker_order_id, None
            )
            if ours is None:
                found += fill.size
        if found >= (order.size or 0) > 0:
            return Settled(
                OrderState.DONE,
                None,
                f"partial close found by its trades ({found} filled) after an unknown outcome",
            )
        return None

    async def _look(self, order: PendingOrder | OrderRow) -> Settled | None:
        if order.leg == Leg.CANCEL:
            working = await self._gateway.open_orders(order.account_id)
            if all(o.broker_order_id != order.broker_order_id for o in working):
                return Settled(OrderState.DONE, order.broker_order_id, "order no longer working")
            return None
        if order.leg == Leg.PARTIAL_CLOSE:  # Position/partialCloseContract: no order id, no tag
            return await self._partial_close_filled(order)
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


def _absent_message(order: PendingOrder | OrderRow, tries: int) -> str:
    if order.leg == Leg.PARTIAL_CLOSE:
        return (
            f"no fill of the partial close of {order.size} in {order.contract_id} after {tries} "
            "check(s): close not done"
        )
    if order.leg == Leg.CLOSE:
        return f"position in {order.contract_id} still open after {tries} check(s): close not done"
    if order.leg == Leg.CANCEL:
        return f"order {order.broker_order_id} still working after {tries} check(s): not cancelled"
    return (
        f"not on the gateway after {tries} search(es) for tag {order.client_order_id}: it was "
        "not placed, and the bridge has not resent it (an alert resumed after a restart sends "
        "it again with the same tag, which the gateway cannot take twice); a re-send of the "
        "alert is executed only if none of its orders reached the gateway, else it is a duplicate"
    )
