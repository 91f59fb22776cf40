"""Apply what the gateway reports (User Hub events, or REST reconciliation) to the journal.

Every event is a latest-state snapshot that may come twice, late or out of order
(projectx-api.md §7.3, §8 items 9–10): orders keep the newest state by updateTimestamp, fills
are journaled once by trade id, positions and accounts are upserted. Applying the same event
again changes nothing.

Nothing here remembers gateway times for a later catch-up: a time learned from a REST read may
lie after a fill the hub never delivered, so where a catch-up starts is app/engine/follow.py's
business (the moment the hub was last known good).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from app.domain import ids
from app.domain.enums import Leg, OrderState
from app.domain.events import AccountEvent, Fill, GatewayEvent, LogoutEvent, OrderEvent, PositionEvent
from app.domain.kinds import EventKind, EventLevel
from app.engine.runner import JournalRunner

log = logging.getLogger(__name__)

# An event for one of our tags whose row is not journaled yet (a bracket leg reported before the
# alert's settlement wrote it) is kept this long, and retried with every later order event.
PARKED_FOR_S = 600.0
PARKED_LIMIT = 1000


class OrderRow(Protocol):
    """What the applier reads of an order row: a journal OrderRecord, or the read-only row
    ``Journal.order_for_event`` returns."""

    @property
    def id(self) -> int | None: ...

    @property
    def leg(self) -> Leg: ...


def row_id(row: OrderRow) -> int:
    """The id of an order row read from the journal (always set once written)."""
    assert row.id is not None, "an order row read from the journal has an id"
    return row.id


class EventApplier:
    """Apply gateway events to the journal."""

    def __init__(self, runner: JournalRunner, *, on_fill: Callable[[Fill], None] | None = None) -> None:
        self._runner = runner
        # Called with each fill journaled for the first time (the FILL notice, when [notify]
        # fills = true); never awaited, it must return at once.
        self._on_fill = on_fill
        # Called with each position snapshot journaled (hub and reconcile alike): the stray-leg
        # sweep (app/engine/stray_legs.py) when set; never awaited, it must return at once.
        self.on_position: Callable[[PositionEvent], None] | None = None
        self._journal = runner.journal
        self._instance: str | None = None
        # (account id, tag) → (event, monotonic time parked)
        self._parked: dict[tuple[int, str], tuple[OrderEvent, float]] = {}

    async def apply(self, event: GatewayEvent) -> bool:
        """Apply one event; return whether it changed the journal (a new fill, an order row's
        new state; positions and accounts count as changed). Never raises: a failure is logged,
        returns False, and the next event goes on."""
        try:
            return await self._apply(event)
        except Exception:  # noqa: BLE001 — one bad event must not stop the stream
            log.exception("gateway event %r could not be applied", event)
            return False

    async def apply_all(self, events: Iterable[GatewayEvent]) -> None:
        """Apply several events in order; never raises."""
        for event in events:
            await self.apply(event)

    async def apply_many(self, events: list[GatewayEvent]) -> None:
        """Apply a batch of events (in arrival order) in one journal transaction; never raises.

        The hub sends several events per order (its states, the fill, the position, the
        balance); one commit for all of them keeps the event loop free for the next alert. Only
        the newest position per contract and the newest state per account are written.
        """
        try:
            orders: list[tuple[OrderRow, OrderEvent]] = []
            fills: list[tuple[Fill, int | None]] = []
            positions: dict[tuple[int, str], PositionEvent] = {}
            accounts: dict[int, AccountEvent] = {}
            for event in events:
                if isinstance(event, OrderEvent):
                    row = await self._row_for(
                        event.order.account_id, event.order.broker_order_id, event.order.client_order_id
                    )
                    if row is None:
                        await self._park(event)
                    else:
                        orders.append((row, event))
                elif isinstance(event, Fill):
                    row = await self._row_for(event.account_id, event.broker_order_id, None)
                    fills.append((event, None if row is None else row.id))
                elif isinstance(event, PositionEvent):
                    positions[(event.account_id, event.contract_id)] = event
                elif isinstance(event, AccountEvent):
                    accounts[event.account.account_id] = event
                else:
                    await self.apply(event)  # a logout: rare, journaled on its own
            new = await self._runner.run(
                self._journal.apply_events,
                orders=[(row_id(row), e.order, state_for(row, e.order.state)) for row, e in orders],
                fills=fills,
                positions=list(positions.values()),
                accounts=[e.account for e in accounts.values()],
            )
            for position in positions.values():
                self._position_seen(position)
            for (fill, _), fresh in zip(fills, new, strict=True):
                if fresh:
                    self._log_fill(fill)
                    self._fill_is_new(fill)
            if self._parked and orders:
                await self._retry_parked()
        except Exception:  # noqa: BLE001 — one bad batch must not stop the stream
            log.exception("a batch of %d gateway event(s) could not be applied", len(events))

    async def _row_for(
        self, account_id: int, broker_order_id: int | None, tag: str | None
    ) -> OrderRow | None:
        return await self._runner.run(self._journal.order_for_event, account_id, broker_order_id, tag)

    async def apply_order(self, event: OrderEvent) -> bool:
        """Apply one order event; return whether a row changed. Raises JournalError."""
        order = event.order
        row = await self._runner.run(
            self._journal.order_for_event, order.account_id, order.broker_order_id, order.client_order_id
        )
        if row is None:
            await self._park(event)
            return False
        changed = await self.apply_to_row(row, event)
        if self._parked:
            await self._retry_parked()
        return changed

    async def apply_to_row(self, row: OrderRow, event: OrderEvent) -> bool:
        """Apply an order event to ``row``, our order row it is about; return whether it changed.

        Raises JournalError.
        """
        return await self.apply_to_rows([(row, event)]) == 1

    async def apply_to_rows(self, pairs: Sequence[tuple[OrderRow, OrderEvent]]) -> int:
        """Apply order events to the rows they are about, in one journal transaction; return how
        many rows changed. A close order that FILLED is DONE. Raises JournalError."""
        batch = [(row_id(row), event.order, state_for(row, event.order.state)) for row, event in pairs]
        return await self._runner.run(self._journal.apply_order_events, batch)

    async def _apply(self, event: GatewayEvent) -> bool:
        if isinstance(event, OrderEvent):
            return await self.apply_order(event)
        if isinstance(event, Fill):
            return await self._apply_fill(event)
        if isinstance(event, PositionEvent):
            await self._runner.run(self._journal.set_position, event)
            self._position_seen(event)
        elif isinstance(event, AccountEvent):
            await self._runner.run(self._journal.set_account, event.account)
        elif isinstance(event, LogoutEvent):
            message = f"the gateway ended the session ({event.reason or 'no reason given'})"
            log.warning("%s; the hub logs in again and reconciles", message)
            await self._runner.run(
                self._journal.add_event, EventKind.GATEWAY_LOGOUT, message, level=EventLevel.WARNING
            )
        return True

    async def _apply_fill(self, fill: Fill) -> bool:
        row = await self._runner.run(
            self._journal.order_for_event, fill.account_id, fill.broker_order_id, None
        )
        new = await self._runner.run(self._journal.record_fill, fill, None if row is None else row.id)
        if new:
            self._log_fill(fill)
            self._fill_is_new(fill)
        return bool(new)

    def _position_seen(self, event: PositionEvent) -> None:
        if self.on_position is not None:
            try:
                self.on_position(event)
            except Exception:  # noqa: BLE001 — a reaction must not stop the stream
                log.exception("reacting to position %r failed", event)

    def _fill_is_new(self, fill: Fill) -> None:
        if self._on_fill is None:
            return
        try:
            self._on_fill(fill)
        except Exception:  # noqa: BLE001 — a notice must never stop the event stream
            log.exception("the notice of fill %s failed", fill.trade_id)

    @staticmethod
    def _log_fill(fill: Fill) -> None:
        log.info(
            "fill %s: %s %s %s @ %s (broker order %s)",
            fill.trade_id,
            fill.side,
            fill.size,
            fill.contract_id,
            fill.price,
            fill.broker_order_id,
        )

    async def _park(self, event: OrderEvent) -> None:
        """Keep an event for one of our tags until its row exists; ignore foreign orders."""
        order = event.order
        tag = order.client_order_id
        if self._instance is None:
            self._instance = await self._runner.run(lambda: self._journal.instance)
        if tag is None or not ids.is_ours(tag, self._instance or ""):
            return  # an order placed outside the bridge: its fills are journaled, not the order
        key = (order.account_id, tag)
        held = self._parked.get(key)
        if held is None or _later(order.updated_at, held[0].order.updated_at):
            self._parked[key] = (event, time.monotonic())
        if len(self._parked) > PARKED_LIMIT:
            oldest = min(self._parked, key=lambda k: self._parked[k][1])
            log.warning("order event for tag %s dropped: no journal row appeared for it", oldest[1])
            del self._parked[oldest]

    async def _retry_parked(self) -> None:
        now = time.monotonic()
        for key, (event, parked_at) in list(self._parked.items()):
            order = event.order
            row = await self._runner.run(
                self._journal.order_for_event, order.account_id, order.broker_order_id, order.client_order_id
            )
            if row is not None:
                del self._parked[key]
                await self.apply_to_row(row, event)
            elif now - parked_at > PARKED_FOR_S:
                del self._parked[key]
                log.warning(
                    "order event for tag %s dropped: no journal row after %.0f s", key[1], PARKED_FOR_S
                )

    async def retry_parked(self) -> None:
        """Apply parked events whose rows exist by now (reconciliation calls it). Raises JournalError."""
        if self._parked:
            await self._retry_parked()


def state_for(row: OrderRow, state: OrderState) -> OrderState:
    """The state ``row`` takes for the gateway's ``state``: a close order that filled is DONE."""
    closing = row.leg in (Leg.CLOSE, Leg.PARTIAL_CLOSE)
    return OrderState.DONE if closing and state == OrderState.FILLED else state


def _later(a: datetime | None, b: datetime | None) -> bool:
    return b is None or (a is not None and a >= b)
