"""Protection the bridge keeps itself: OCO pairs, managed brackets, native bracket checks.

An OCO group (journal table ``oco_group``) is either a template's two orders (kind "oco") or a
managed bracket (kind "managed_bracket": its entry, then the stop loss and take profit the
bridge places after the entry fills, sized to the fill). The group's state lives in the journal,
so a restart resumes it: ``resume`` reads the working groups and the orders' real states over
REST, then acts.

The protection invariant (DESIGN.md "Always protected"), at start and after every hub reconnect
(``resume``): a managed leg that never reached the gateway (NOT_PLACED, or never written: the
process died between the entry's fill and the leg's Order/place) is placed again, sized to what
the bracket still holds and never more than the gateway's position; a stop loss that cannot be
placed closes the position per the template's ``on_failure``; a take profit that cannot is a
critical event. A managed group is never ``done`` while the contracts it protects are open. A
native entry whose legs the journal never learned (its alert's settlement was lost) has them read
from the gateway by tag (``<entry>-SL``/``-TP``, or their parentOrderId) and journaled; when none
works while the position is open, the bridge protects it itself (managed fallback).

Every review is level-triggered: it reads the group's rows (with the newest broker report seen
for each) and does what the state calls for. The legs share a cap (an OCO: the larger leg's
size; a managed bracket: the entry's filled size): once the legs' fills reach it, the legs still
working are cancelled; a partial fill shrinks the others (Order/modify); fills beyond the cap
(both legs filled in a race) follow the group's policy: "flatten" (or "close") takes back the
later leg's excess with an opposite market order, "keep" only journals it. Every decision is an
``event`` row naming the group and its legs. Order-changing calls are sent once, never retried
(DESIGN.md; projectx-api.md §4.6–4.7); UNKNOWN places are reconciled by tag (Reconciler).

The work is in four modules, each given one ProtectionContext (protection_context.py): the
legs' cap and races (oco_review.py), managed brackets (managed_brackets.py), native brackets
(native_brackets.py); this one routes events and runs the resume.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app.domain.enums import Leg
from app.domain.events import Fill, GatewayEvent, OrderEvent
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.engine.accounts import AccountDirectory
from app.engine.events import EventApplier
from app.engine.managed_brackets import MAX_ATTEMPTS, ManagedBrackets
from app.engine.native_brackets import NATIVE_LOOKBACK, NativeBrackets
from app.engine.oco_review import OcoReview
from app.engine.ports import Gateway, Notifier
from app.engine.protection_context import (
    POLL_S,
    SEARCH_SLACK,
    LegView,
    ProtectionContext,
    Spawn,
    id_of,
    native_entry,
)
from app.engine.reconcile import Reconciler
from app.engine.refusals import Refusals
from app.engine.runner import JournalRunner
from app.engine.scale_out import ScaleOut

__all__ = [  # the names other modules and tests used from here before the split
    "MAX_ATTEMPTS",
    "NATIVE_LOOKBACK",
    "POLL_S",
    "SEARCH_SLACK",
    "LegView",
    "Protection",
    "Spawn",
]

if TYPE_CHECKING:
    from app.domain.records import OcoGroupRow, OrderRow
    from app.journal import Journal

log = logging.getLogger(__name__)


class Protection:
    """Keep OCO pairs and managed brackets, and check native brackets after their entry fills.

    ``verify_s``: how long placed protection has to be seen working (seconds). ``spawn`` runs
    background checks (the bridge's task set, so they stop with it).
    """

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        accounts: AccountDirectory,
        reconciler: Reconciler,
        applier: EventApplier,
        *,
        verify_s: float = 5.0,
        spawn: Spawn | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.journal: Journal = runner.journal
        self.accounts = accounts
        self.reconciler = reconciler
        self.applier = applier
        self.verify_s = verify_s
        self.ctx = ProtectionContext(
            gateway, runner, reconciler, applier, verify_s=verify_s, spawn=spawn, notifier=notifier
        )
        # Changes of a leg the gateway refused: asked again later by a review of the group.
        self.refusals = Refusals(self.ctx.spawn, self.review)
        self.legs = OcoReview(self.ctx, self.refusals)
        self.managed = ManagedBrackets(self.ctx, self.legs)
        self.native = NativeBrackets(self.ctx, self.review)
        self.scale_out = ScaleOut(self.ctx, self.legs, self.managed, self.refusals)

    async def on_event(self, event: GatewayEvent) -> None:
        """Act on one gateway event already applied to the journal. Never raises."""
        try:
            await self._on_event(event)
        except Exception:  # noqa: BLE001 — protection must never stop the event stream
            log.exception("protection could not act on %r", event)

    async def resume(self, account_id: int | None = None) -> None:
        """At start and after every hub reconnect, after reconciliation (of ``account_id`` only,
        or of every account): bring every working group up to date over REST (Order/search),
        act on what happened while the bridge was away, and restore the protection of every open
        position the bridge opened (the module docstring). Never raises."""
        try:
            groups = await self.runner.run(self.journal.oco_groups, OcoState.WORKING)
        except Exception:  # noqa: BLE001
            log.exception("could not read the working OCO groups")
            groups = []
        for group in groups:
            if account_id is not None and group.account_id != account_id:
                continue
            try:
                group_id = id_of(group)
                async with self.ctx.locks[group_id]:
                    await self._settle_earlier_legs(await self.ctx.rows(group_id))
                    await self.ctx.refresh(group.account_id, group.created_at, await self.ctx.rows(group_id))
                await self.review(group_id, resumed=True)
                group_now = await self.runner.run(self.journal.oco_group, group_id)
                if group_now is not None and group_now.state == OcoState.WORKING:
                    await self.ctx.record(
                        group_now,
                        EventKind.OCO_RESUMED,
                        "resumed after a restart or a hub reconnect",
                        EventLevel.INFO,
                    )
                    await self.managed.verify_later(group_now)
            except Exception:  # noqa: BLE001 — one group must not stop the others
                log.exception("could not resume OCO group %s", group.id)
        await self.native.resume(account_id)

    async def ensure_protected(self, account_id: int) -> None:
        """The protection invariant for one account (``resume`` of that account). Never raises."""
        await self.resume(account_id)

    async def review(self, oco_group_id: int, *, resumed: bool = False) -> None:
        """Bring one group in line with its legs' states (see the module docstring).

        ``resumed``: at start or after a reconnect, so legs are placed again only as far as the
        gateway's position goes. Raises GatewayError (reads) and JournalError; order-changing
        calls are settled inside.
        """
        async with self.ctx.locks[oco_group_id]:
            for _ in range(3):  # act, read back the gateway's answer, look again
                group = await self.runner.run(self.journal.oco_group, oco_group_id)
                if group is None or group.state != OcoState.WORKING:
                    return
                rows = await self.ctx.rows(oco_group_id)
                if await self._orphan(group, rows):
                    return
                if group.kind == OcoKind.MANAGED_BRACKET:
                    acted = await self.managed.review(group, rows, resumed=resumed)
                elif group.kind == OcoKind.SCALE_OUT:
                    acted = await self.scale_out.review(group, rows, resumed=resumed)
                else:
                    legs = [self.ctx.view(r) for r in rows if r.leg == Leg.ENTRY]
                    acted = await self.legs.review_legs(group, legs, max(v.row.size or 0 for v in legs))
                if not acted:
                    return
                await self.ctx.refresh(group.account_id, group.created_at, await self.ctx.rows(oco_group_id))

    async def _orphan(self, group: OcoGroupRow, rows: list[OrderRow]) -> bool:
        """A managed group with no entry row: True (nothing to review). One an earlier run made
        (it stopped between journaling the group and writing its entry, so nothing was sent; the
        resumed alert makes a new group) is done; one of this run is an entry about to be written."""
        if group.kind not in (OcoKind.MANAGED_BRACKET, OcoKind.SCALE_OUT) or any(
            r.leg == Leg.ENTRY for r in rows
        ):
            return False
        if group.created_at < self.ctx.started_at:
            note = "its entry was never written (the bridge stopped first): nothing was sent for it"
            await self.ctx.finish(group, OcoState.DONE, note, [], EventLevel.INFO)
        return True

    async def _on_event(self, event: GatewayEvent) -> None:
        if isinstance(event, OrderEvent):
            order = event.order
            row = await self.runner.run(
                self.journal.order_for_event, order.account_id, order.broker_order_id, order.client_order_id
            )
            if row is not None:
                self.ctx.remember(row, order)
        elif isinstance(event, Fill):
            row = await self.runner.run(
                self.journal.order_for_event, event.account_id, event.broker_order_id, None
            )
        else:
            return
        if row is None:
            return
        if row.oco_group_id is not None:
            await self.review(row.oco_group_id)
        elif native_entry(row) and self.ctx.view(row).filled and id_of(row) not in self.native.checked:
            self.native.checked.add(id_of(row))
            self.ctx.spawn(self.native.verify(id_of(row), row.alert_id))

    async def _settle_earlier_legs(self, rows: list[OrderRow]) -> None:
        """Settle the group's orders an earlier run left SUBMITTING or UNKNOWN: that run is gone,
        so nothing of theirs is in flight and one Order/search by tag is conclusive."""
        for row in rows:
            if row.state.is_open and row.created_at < self.ctx.started_at:
                await self.reconciler.settle(row, attempts=1)
