"""Bring alerts' order rows in line with what the gateway reports (Order/search).

Until the User Hub follows every order (a later issue), this is how the journal learns that an
entry filled and that its native stop loss and take profit are working. Native bracket children
stay invisible to Order/search until their entry fills (projectx-api.md §4.8, §8.5).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from app.domain.enums import Leg, OrderState
from app.domain.models import BrokerOrder
from app.engine.ports import Gateway
from app.engine.runner import JournalRunner
from app.errors import GatewayError
from app.journal.journal import OrderUpdate

log = logging.getLogger("tvbridge.engine")

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

    def __init__(self, gateway: Gateway, runner: JournalRunner) -> None:
        self._gateway = gateway
        self._runner = runner
        self._journal = runner.journal

    async def sync_alerts(self, alert_ids: list[int]) -> int:
        """Refresh the rows of several alerts: one journal read, one Order/search per account, one
        journal write. Return how many rows changed. Gateway errors are logged, not raised (the
        next sync tries again)."""
        rows = await self._runner.run(self._journal.orders_of_alerts, alert_ids)
        by_account: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            if row.leg in _FOLLOWED and row.client_order_id and not row.state.is_final:
                by_account[row.account_id].append(row)
        updates: list[OrderUpdate] = []
        for account_id, account_rows in by_account.items():
            first = min(r.created_at for r in account_rows)
            last = max(r.created_at for r in account_rows)
            tags = {r.client_order_id for r in account_rows}
            try:
                broker = await self._gateway.search_orders(account_id, first - _SLACK, last + _SLACK)
                if not any(o.client_order_id in tags for o in broker):
                    broker = await self._gateway.search_orders(account_id, first - _WIDE, last + _WIDE)
            except GatewayError as exc:
                log.warning("order sync for account %s: %s", account_id, exc)
                continue
            by_tag = {o.client_order_id: o for o in broker if o.client_order_id}
            entries = {r.id: r for r in account_rows if r.leg == Leg.ENTRY and r.client_order_id in by_tag}
            for row in account_rows:  # entries first (lower ids): a child sees its entry's news
                update = _update_for(row, by_tag.get(row.client_order_id), entries)
                if update is not None:
                    updates.append(update)
                    row.state = update.state
        for start in range(0, len(updates), _CHUNK):
            await self._runner.run(self._journal.update_orders, updates[start : start + _CHUNK])
            await asyncio.sleep(0)
        return len(updates)


def _update_for(row: Any, broker: BrokerOrder | None, entries: dict[int, Any]) -> OrderUpdate | None:
    """``entries``: the batch's entry rows that the gateway listed (by row id)."""
    if broker is None:
        # A leg the gateway does not list is held back while its entry (listed) has not filled.
        parent = entries.get(row.parent_id)
        waiting = parent is not None and parent.state != OrderState.FILLED
        if row.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and waiting and row.state != OrderState.SUSPENDED:
            return OrderUpdate(
                row.id, OrderState.SUSPENDED, message="held by the gateway until the entry fills"
            )
        return None
    state = broker.state
    if row.leg == Leg.CLOSE and state == OrderState.FILLED:
        state = OrderState.DONE
    if state == row.state and broker.fill_volume == row.fill_volume:
        return None
    return OrderUpdate(
        row.id,
        state,
        broker_order_id=broker.broker_order_id,
        filled_price=broker.filled_price,
        fill_volume=broker.fill_volume,
    )
