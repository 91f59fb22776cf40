"""Keeping the journal in line with the gateway in the background, while alerts run.

Three loops: the User Hub's events journaled in batches (then protection and the risk monitor
react to them), the orders of settled alerts read back from the gateway shortly after (one
Order/search for a burst of alerts), and the periodic pass that settles rows whose outcome is
unknown and resumes alerts nothing in this process runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine

from app.domain.events import GatewayEvent, LogoutEvent
from app.engine.events import EventApplier
from app.engine.ports import Gateway
from app.engine.protection import Protection
from app.engine.reconcile import Reconciler
from app.engine.risk_monitor import RiskMonitor
from app.engine.sync import OrderSync
from app.errors import GatewayError

log = logging.getLogger(__name__)

# How long after settling an alert the journal asks the gateway for its orders' states.
SYNC_DELAY_S = 0.3
RECONCILE_INTERVAL_S = 30.0
# Hub events arriving this soon after the first one of a burst are journaled with it.
EVENT_BATCH_S = 0.005


class Upkeep:
    """The hub's events, the order sync after alerts, the periodic reconcile pass."""

    def __init__(
        self,
        gateway: Gateway,
        events: EventApplier,
        protection: Protection,
        risk_monitor: RiskMonitor,
        sync: OrderSync,
        reconciler: Reconciler,
        *,
        resume_unsettled: Callable[[], Awaitable[None]],
        spawn: Callable[[Coroutine[object, object, object]], None],
        guard: Callable[[list[GatewayEvent]], Awaitable[None]] | None = None,
        journaled: Callable[[list[GatewayEvent]], None] | None = None,
    ) -> None:
        self._gateway = gateway
        self._applier = events
        self._protection = protection
        self._risk_monitor = risk_monitor
        self._sync = sync
        self._reconciler = reconciler
        self._resume_unsettled = resume_unsettled  # AlertTasks.resume_unsettled
        self._spawn = spawn  # a background task, cancelled when the bridge stops
        self._guard = guard  # AccountGuard.on_events: what appears on a locked account
        self._journaled = journaled  # LiveRisk.on_events: the accounts whose numbers moved
        self._to_sync: set[int] = set()
        self._events: asyncio.Queue[GatewayEvent] = asyncio.Queue()

    async def on_gateway_event(self, event: GatewayEvent) -> None:
        """A User Hub event: queued for the journal, which applies queued events in batches.
        GatewayLogout: log in again, so the hub can reconnect with the new token (it rebuilds
        when the token changes). Never raises."""
        if isinstance(event, LogoutEvent):
            try:
                await self._gateway.start()
            except GatewayError as exc:
                log.error("logging in again after GatewayLogout failed: %s", exc)
        self._events.put_nowait(event)

    async def apply_events_forever(self) -> None:
        """Journal hub events in batches: what arrives within EVENT_BATCH_S of the first event of a
        burst goes in one transaction (an order brings several events at once)."""
        while True:
            batch = [await self._events.get()]
            await asyncio.sleep(EVENT_BATCH_S)
            while not self._events.empty():
                batch.append(self._events.get_nowait())
            await self._applier.apply_many(batch)
            await self.after_events(batch)

    async def after_events(self, batch: list[GatewayEvent]) -> None:
        """What reacts to events once they are journaled (each event, in arrival order)."""
        for event in batch:
            await self._protection.on_event(event)  # never raises
        if self._guard is not None:
            await self._guard(batch)  # never raises; its closes run in tasks
        if self._journaled is not None:
            self._journaled(batch)  # never raises: the accounts with fills are checked at once
        self._risk_monitor.poke()  # and every account (the guard's pass) soon after

    def sync_soon(self, alert_id: int) -> None:
        """Ask the gateway for this alert's orders shortly; alerts settled meanwhile share the
        same Order/search (one per account), so a burst of alerts costs one read, not one each."""
        if not self._to_sync:
            self._spawn(self._sync_batch())
        self._to_sync.add(alert_id)

    async def _sync_batch(self) -> None:
        await asyncio.sleep(SYNC_DELAY_S)
        alert_ids, self._to_sync = sorted(self._to_sync), set()
        try:
            await self._sync.sync_alerts(alert_ids)
        except Exception:  # noqa: BLE001 — a failed sync leaves rows as they are; never fatal
            log.exception("order sync of alerts %s failed", alert_ids)

    async def reconcile_forever(self) -> None:
        """Every RECONCILE_INTERVAL_S: settle the rows left unknown, resume the alerts left
        unsettled. Runs until cancelled; an error is logged and the loop goes on."""
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            try:
                await self._reconciler.settle_all_pending()
                await self._resume_unsettled()
            except Exception:  # noqa: BLE001 — keep the loop alive; it is a safety net
                log.exception("periodic reconcile failed")
