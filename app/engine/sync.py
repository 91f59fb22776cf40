"""Bring alerts' order rows in line with what the gateway reports (Order/search).

Until the User Hub follows every order, this is how the journal learns soon after an alert that
its entry filled and that its native stop loss and take profit are working. What Order/search
lists goes through the EventApplier (newest state by updateTimestamp, like the hub's events);
native bracket children stay invisible to Order/search until their entry fills
(projectx-api.md §4.8, §8.5), so a leg the gateway does not list is marked SUSPENDED while its
entry is listed and not filled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

from app.domain.enums import Leg, OrderState
from app.domain.events import OrderEvent
from app.domain.models import BrokerOrder
from app.domain.records import OrderUpdate
from app.engine.events import EventApplier, OrderRow, row_id, state_for
from app.engine.ports import Gateway
from app.engine.runner import JournalRunner
from app.errors import GatewayError

if TYPE_CHECKING:
    from app.journal import OrderRecord

log = logging.getLogger(__name__)

# The batch's own time span, widened a little for clock skew between this machine and the
# gateway. Kept narrow: Order/search returns every order in the window, and this runs after every
# burst. When the narrow window holds none of the batch's orders (a clock further off), the search
# is made once more over the wide window. (Reconciliation, which guards against duplicates,
# always searches the wide window.)
_SLACK = timedelta(seconds=1)
# Updates are written in chunks with a yield between, so a webhook arriving meanwhile waits for
# one chunk, not the whole batch (a local journal runs on the event loop).
_CHUNK = 10
_WIDE = timedelta(minutes=5)
_FOLLOWED = {Leg.ENTRY, Leg.STOP_LOSS, Leg.TAKE_PROFIT, Leg.CLOSE}


class OrderSync:
    """Update order rows from the gateway's order list."""

    def __init__(self, gateway: Gateway, runner: JournalRunner, applier: EventApplier | None = None) -> None:
        self._gateway = gateway
        self._runner = runner
        self._journal = runner.journal
        self.applier = applier or EventApplier(runner)

    async def sync_alerts(self, alert_ids: list[int]) -> int:
        """Refresh the rows of several alerts: one journal read, one Order/search per account, a
        few journal writes. Return how many rows changed. Gateway errors are logged, not raised
        (the next sync tries again)."""
        rows = await self._runner.run(self._journal.orders_of_alerts, alert_ids)
        by_account: dict[int, list[OrderRecord]] = defaultdict(list)
        for row in rows:
            if row.leg in _FOLLOWED and row.client_order_id and not row.state.is_final:
                by_account[row.account_id].append(row)
        events: list[tuple[OrderRow, OrderEvent]] = []
        suspended: list[OrderUpdate] = []
        for account_id, account_rows in by_account.items():
            broker = await self._search(account_id, account_rows)
            if broker is None:
                continue
            by_tag = {o.client_order_id: o for o in broker if o.client_order_id}
            entries = {r.id: r for r in account_rows if r.leg == Leg.ENTRY and r.client_order_id in by_tag}
            for row in account_rows:  # entries first (lower ids): a child sees its entry's news
                listed = by_tag.get(row.client_order_id or "")
                if listed is None:
                    update = _held_leg(row, entries)
                    if update is not None:
                        suspended.append(update)
                elif _news(row, listed):
                    events.append((row, OrderEvent(listed)))
                    row.state = state_for(row, listed.state)
        changed = 0
        for start in range(0, len(events), _CHUNK):
            changed += await self.applier.apply_to_rows(events[start : start + _CHUNK])
            await asyncio.sleep(0)
        if suspended:
            await self._runner.run(self._journal.update_orders, suspended)
        return changed + len(suspended)

    async def _search(self, account_id: int, rows: list[OrderRecord]) -> list[BrokerOrder] | None:
        """The account's orders around the rows' creation: the narrow window, else the wide one."""
        first = min(r.created_at for r in rows)
        last = max(r.created_at for r in rows)
        tags = {r.client_order_id for r in rows}
        try:
            broker = await self._gateway.search_orders(account_id, first - _SLACK, last + _SLACK)
            if not any(o.client_order_id in tags for o in broker):
                broker = await self._gateway.search_orders(account_id, first - _WIDE, last + _WIDE)
        except GatewayError as exc:
            log.warning("order sync for account %s: %s", account_id, exc)
            return None
        return broker


def _news(row: OrderRecord, broker: BrokerOrder) -> bool:
    """True when the listed order may change the row (the applier decides what is newest)."""
    return (
        state_for(row, broker.state) != row.state
        or broker.fill_volume != row.fill_volume
        or row.broker_order_id is None
        or (broker.updated_at is not None and broker.updated_at != row.broker_updated_at)
    )


def _held_leg(row: OrderRecord, entries: dict[int | None, OrderRecord]) -> OrderUpdate | None:
    """A leg the gateway does not list is held back while its entry (listed) has not filled.

    ``entries``: the batch's entry rows that the gateway listed (by row id).
    """
    parent = entries.get(row.parent_id)
    waiting = parent is not None and parent.state != OrderState.FILLED
    if row.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and waiting and row.state != OrderState.SUSPENDED:
        return OrderUpdate(
            row_id(row), OrderState.SUSPENDED, message="held by the gateway until the entry fills"
        )
    return None
