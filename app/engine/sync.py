"""Bring an alert's order rows in line with what the gateway reports (Order/search).

Until the User Hub follows every order (a later issue), this is how the journal learns that an
entry filled and that its native stop loss and take profit are working. Native bracket children
stay invisible to Order/search until their entry fills (projectx-api.md §4.8, §8.5).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from app.domain.enums import Leg, OrderState
from app.domain.models import BrokerOrder
from app.engine.ports import Gateway
from app.engine.runner import JournalRunner
from app.errors import GatewayError

log = logging.getLogger("tvbridge.engine")

_SLACK = timedelta(minutes=5)
_FOLLOWED = {Leg.ENTRY, Leg.STOP_LOSS, Leg.TAKE_PROFIT, Leg.CLOSE}


class OrderSync:
    """Update order rows from the gateway's order list."""

    def __init__(self, gateway: Gateway, runner: JournalRunner) -> None:
        self._gateway = gateway
        self._runner = runner
        self._journal = runner.journal

    async def sync_alert(self, alert_id: int) -> int:
        """Refresh the rows of one alert; return how many rows changed. Gateway errors are logged."""
        rows = await self._runner.run(self._journal.alert_orders, alert_id)
        open_rows = [
            r for r in rows if r.leg in _FOLLOWED and r.client_order_id and not r.state.is_final
        ]
        by_account: dict[int, list[Any]] = defaultdict(list)
        for row in open_rows:
            by_account[row.account_id].append(row)
        changed = 0
        for account_id, account_rows in by_account.items():
            since = min(r.created_at for r in account_rows) - _SLACK
            try:
                broker = await self._gateway.search_orders(account_id, since)
            except GatewayError as exc:
                log.warning("order sync for alert %s: %s", alert_id, exc)
                continue
            by_tag = {o.client_order_id: o for o in broker if o.client_order_id}
            entries = {r.id: r for r in account_rows if r.leg == Leg.ENTRY}
            for row in account_rows:
                changed += await self._apply(row, by_tag.get(row.client_order_id), entries)
        return changed

    async def _apply(self, row: Any, broker: BrokerOrder | None, entries: dict[int, Any]) -> int:
        if broker is None:
            parent = entries.get(row.parent_id)
            waiting = parent is not None and parent.state != OrderState.FILLED
            if (
                row.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
                and waiting
                and row.state != OrderState.SUSPENDED
            ):
                await self._runner.run(
                    self._journal.update_order,
                    row.id,
                    OrderState.SUSPENDED,
                    message="held by the gateway until the entry fills",
                )
                return 1
            return 0
        state = broker.state
        if row.leg == Leg.CLOSE and state == OrderState.FILLED:
            state = OrderState.DONE
        if state == row.state and broker.fill_volume == row.fill_volume:
            return 0
        await self._runner.run(
            self._journal.update_order,
            row.id,
            state,
            broker_order_id=broker.broker_order_id,
            filled_price=broker.filled_price,
            fill_volume=broker.fill_volume,
        )
        row.state = state  # so a child sees its entry's new state in this pass
        return 1
