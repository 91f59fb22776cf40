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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.events import Fill, GatewayEvent, OrderEvent
from app.domain.models import Account, BrokerOrder, OrderRequest
from app.engine.accounts import AccountDirectory
from app.engine.events import EventApplier
from app.engine.ports import Gateway
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.engine.sender import OrderSender, OrderSession
from app.errors import GatewayError, JournalError, OrderRejected
from app.failpoints import failpoint

log = logging.getLogger("tvbridge.engine")

# Order/search window before a group's creation: the gateway's clock may differ from ours.
SEARCH_SLACK = timedelta(minutes=5)
POLL_S = 0.05  # how often a verification looks at the journal
_SEEN = (OrderState.WORKING, OrderState.FILLED, OrderState.CANCELLED, OrderState.EXPIRED)
_PROTECTIVE = (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
# How often a managed leg that never reached the gateway is placed again before the bracket fails.
MAX_ATTEMPTS = 3
# How far back native entries are checked at start and after a reconnect (Order/search window).
NATIVE_LOOKBACK = timedelta(days=7)
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True)
class LegView:
    """One order row of a group as the bridge knows it now: the journal row merged with the
    newest broker report (hub or REST) that the journal may not hold yet.

    ``filled`` and ``size`` in contracts; ``price`` the average fill price (points).
    """

    row: Any
    state: OrderState
    filled: int
    price: Decimal | None
    size: int
    broker_order_id: int | None
    updated_at: datetime | None

    @property
    def working(self) -> bool:
        return not self.state.is_final

    @property
    def name(self) -> str:
        """How the trader reads the leg: ``stop_loss``, ``take_profit`` or ``buy stop``."""
        if self.row.leg in _PROTECTIVE:
            return str(self.row.leg)
        return f"{self.row.side} {self.row.order_type}"

    def describe(self) -> dict[str, Any]:
        return {
            "order_record_id": self.row.id,
            "leg": self.name,
            "client_order_id": self.row.client_order_id,
            "broker_order_id": self.broker_order_id,
            "state": str(self.state),
            "filled": self.filled,
            "size": self.size,
        }


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
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.journal = runner.journal
        self.accounts = accounts
        self.reconciler = reconciler
        self.applier = applier
        self.verify_s = verify_s
        self._spawn = spawn or self._own_spawn
        self._tasks: set[asyncio.Task[None]] = set()
        self.sender = OrderSender(gateway, runner, reconciler)
        self._reports: dict[int, BrokerOrder] = {}  # order row id → newest broker report
        self._sizes: dict[int, int] = {}  # order row id → size last asked for (Order/modify)
        self._cancel_asked: set[int] = set()  # order row ids whose cancel the gateway took
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._native_checked: set[int] = set()  # native entries whose children are checked
        self._reported: set[tuple[int, int]] = set()  # (group, leg row) a critical event named
        self._verifying: set[int] = set()  # managed groups whose legs are being verified
        # Rows written before this moment belong to an earlier run: nothing of theirs is in flight.
        self._started_at = datetime.now(UTC)

    # -- entry points ------------------------------------------------------------------------

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
            groups = await self.runner.run(self.journal.oco_groups, "working")
        except Exception:  # noqa: BLE001
            log.exception("could not read the working OCO groups")
            groups = []
        for group in groups:
            if account_id is not None and group.account_id != account_id:
                continue
            try:
                async with self._locks[group.id]:
                    await self._settle_earlier_legs(await self._rows(group.id))
                    await self._refresh(group.account_id, group.created_at, await self._rows(group.id))
                await self.review(group.id, resumed=True)
                group_now = await self.runner.run(self.journal.oco_group, group.id)
                if group_now is not None and group_now.state == "working":
                    await self._log(
                        group_now, "oco.resumed", "resumed after a restart or a hub reconnect", "info"
                    )
                    await self._verify_later(group_now)
            except Exception:  # noqa: BLE001 — one group must not stop the others
                log.exception("could not resume OCO group %s", group.id)
        await self._resume_native(account_id)

    async def ensure_protected(self, account_id: int) -> None:
        """The protection invariant for one account (``resume`` of that account). Never raises."""
        await self.resume(account_id)

    async def review(self, oco_group_id: int, *, resumed: bool = False) -> None:
        """Bring one group in line with its legs' states (see the module docstring).

        ``resumed``: at start or after a reconnect, so legs are placed again only as far as the
        gateway's position goes. Raises GatewayError (reads) and JournalError; order-changing
        calls are settled inside.
        """
        async with self._locks[oco_group_id]:
            for _ in range(3):  # act, read back the gateway's answer, look again
                group = await self.runner.run(self.journal.oco_group, oco_group_id)
                if group is None or group.state != "working":
                    return
                rows = await self._rows(oco_group_id)
                if group.kind == "managed_bracket":
                    acted = await self._review_managed(group, rows, resumed=resumed)
                else:
                    legs = [self._view(r) for r in rows if r.leg == Leg.ENTRY]
                    acted = await self._review_legs(group, legs, max(v.row.size or 0 for v in legs))
                if not acted:
                    return
                await self._refresh(group.account_id, group.created_at, await self._rows(oco_group_id))

    # -- events --------------------------------------------------------------------------------

    async def _on_event(self, event: GatewayEvent) -> None:
        if isinstance(event, OrderEvent):
            order = event.order
            row = await self.runner.run(
                self.journal.order_for_event, order.account_id, order.broker_order_id, order.client_order_id
            )
            if row is not None:
                self._remember(row.id, order)
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
        elif self._native_entry(row) and self._view(row).filled and row.id not in self._native_checked:
            self._native_checked.add(row.id)
            self._spawn(self._verify_native(row.id, row.alert_id))

    def _remember(self, row_id: int, order: BrokerOrder) -> None:
        held = self._reports.get(row_id)
        if (
            held is None
            or held.updated_at is None
            or (order.updated_at or held.updated_at) >= held.updated_at
        ):
            self._reports[row_id] = order

    def _view(self, row: Any) -> LegView:
        report = self._reports.get(row.id)
        state, filled, price = row.state, row.fill_volume or 0, row.filled_price
        size = row.size or 0
        broker_order_id, updated_at = row.broker_order_id, row.broker_updated_at
        if report is not None:
            if not state.is_final:  # the journal may not have taken the report yet
                state = report.state
            if report.fill_volume > filled:
                filled, price = report.fill_volume, report.filled_price or price
            size = report.size
            broker_order_id = broker_order_id or report.broker_order_id
            updated_at = report.updated_at or updated_at
        size = self._sizes.get(row.id, size)
        return LegView(row, state, filled, price, size, broker_order_id, updated_at)

    @staticmethod
    def _native_entry(row: Any) -> bool:
        return (
            row.leg == Leg.ENTRY
            and row.oco_group_id is None
            and bool(row.stop_loss_ticks or row.take_profit_ticks)
            and row.state != OrderState.REJECTED
        )

    # -- reviews -------------------------------------------------------------------------------

    async def _review_managed(self, group: Any, rows: list[Any], *, resumed: bool = False) -> bool:
        entry = next(r for r in rows if r.leg == Leg.ENTRY)
        view = self._view(entry)
        legs = [self._view(r) for r in rows if r.leg in _PROTECTIVE]
        if not view.filled:
            if view.state.is_final and not any(v.working for v in legs):
                note = f"entry {entry.client_order_id} {view.state} without a fill: nothing to protect"
                await self._finish(group, "done", note, [view], "info")
            return False
        if legs:
            if await self._cancel_duplicates(group, legs):
                return True
            acted = await self._review_legs(
                group, legs, view.filled, entry_done=view.state.is_final, managed=True
            )
            if acted:
                return True  # read the gateway's answer back before deciding more
            group = await self.runner.run(self.journal.oco_group, group.id)
            if group is None or group.state != "working":
                return False
        return await self._restore(group, view, legs, resumed=resumed)

    async def _review_legs(
        self,
        group: Any,
        legs: list[LegView],
        cap: int,
        *,
        entry_done: bool = True,
        managed: bool = False,
    ) -> bool:
        """One pass over a group's legs against their cap; True when something was sent."""
        total = sum(v.filled for v in legs)
        if total > cap and sum(1 for v in legs if v.filled) > 1:
            await self._race(group, legs, total - cap)
            return True
        acted = False
        for leg in legs:
            if not leg.working or leg.state.is_open or leg.broker_order_id is None:
                continue  # finished, or its placement is still being settled
            target = min(cap if leg.row.leg in _PROTECTIVE else leg.row.size, cap - total + leg.filled)
            if target <= leg.filled:
                if leg.row.id not in self._cancel_asked:
                    await self._cancel_leg(group, leg, legs)
                    acted = True
            elif leg.filled == 0 and leg.size != target:
                await self._modify_leg(group, leg, legs, target)
                acted = True
        if any(v.working for v in legs) or not entry_done:
            return acted
        if managed and total < cap:
            return acted  # contracts still open: never done, _restore protects them
        winners = [v for v in legs if v.filled]
        gone = [v for v in legs if not v.filled]
        if winners:
            note = " and ".join(f"{v.name} filled {v.filled}" for v in winners)
            if gone:
                note += " → " + ", ".join(f"{v.state.lower()} {v.name} {v.broker_order_id}" for v in gone)
        else:
            note = "no leg filled: " + ", ".join(f"{v.name} {v.state.lower()}" for v in legs)
        await self._finish(group, "done", note, legs, "info")
        return acted

    async def _race(self, group: Any, legs: list[LegView], excess: int) -> None:
        """Both legs filled: cancel what still works, then apply the policy to the excess."""
        for leg in legs:
            if leg.working and not leg.state.is_open and leg.broker_order_id is not None:
                await self._cancel_leg(group, leg, legs)
        later = max((v for v in legs if v.filled), key=_fill_order)
        filled = " and ".join(f"{v.name} {v.broker_order_id} filled {v.filled}" for v in legs if v.filled)
        note = f"both legs filled ({filled}): {excess} contract(s) over"
        if group.policy in ("flatten", "close"):
            tag, state = await self._take_back(group, later.row, excess)
            note += f" → took back {excess} of the later {later.name} with {tag} ({state})"
        else:
            note += " → kept (on_both_filled = keep): check the position"
        await self._finish(group, "raced", note, legs, "critical")

    async def _take_back(self, group: Any, row: Any, size: int) -> tuple[str, OrderState]:
        """Send ``size`` contracts opposite to ``row``'s side at market, tagged ``<tag>-FL``, once:
        a row with that tag already journaled means it was sent. Return the tag and its state."""
        tag = ids.flatten_tag(row.client_order_id)
        held = await self.runner.run(self.journal.order_by_client_id, group.account_id, tag)
        if held is not None:
            return tag, held.state
        request = OrderRequest(
            group.account_id, group.contract_id, Side(row.side).opposite, OrderType.MARKET, size, tag
        )
        outcome = await (await self._session(group)).place(
            _account(row), Leg.CLOSE, Action.EXIT, request, parent_id=row.id, oco_group_id=group.id
        )
        return tag, outcome.state

    async def _cancel_leg(self, group: Any, leg: LegView, legs: list[LegView]) -> None:
        assert leg.broker_order_id is not None
        outcome = await (await self._session(group)).cancel(
            _account(leg.row), group.contract_id, leg.broker_order_id
        )
        if outcome.state in (OrderState.DONE, OrderState.UNKNOWN):
            self._cancel_asked.add(leg.row.id)
        why = ", ".join(f"{v.name} filled {v.filled}" for v in legs if v.filled) or "the cap was reached"
        message = f"OCO group {group.id}: {why} → cancel {leg.name} {leg.broker_order_id}: {outcome.state}"
        if outcome.message:
            message += f" ({outcome.message})"
        await self._log(group, "oco.cancel", message, "info", legs)

    async def _modify_leg(self, group: Any, leg: LegView, legs: list[LegView], size: int) -> None:
        """Order/modify the leg to ``size`` contracts; sent once (an absolute size, so a later
        review that sends it again after an unknown answer changes nothing)."""
        assert leg.broker_order_id is not None
        self._sizes[leg.row.id] = size
        why = ", ".join(f"{v.name} filled {v.filled}" for v in legs if v.filled) or "entry filled"
        message = (
            f"OCO group {group.id}: {why} → {leg.name} {leg.broker_order_id} resized {leg.size} → {size}"
        )
        level = "info"
        try:
            await self.gateway.modify_order(group.account_id, leg.broker_order_id, size=size)
        except OrderRejected as exc:  # filled or cancelled meanwhile: its event settles it
            message, level = f"{message}: refused ({exc})", "warning"
        except GatewayError as exc:
            message, level = f"{message}: no answer ({exc}); not resent, checked over REST", "warning"
        await self._log(group, "oco.modify", message, level, legs)

    # -- managed brackets ----------------------------------------------------------------------

    async def _restore(self, group: Any, entry: LegView, legs: list[LegView], *, resumed: bool) -> bool:
        """Give the contracts the bracket still holds a live stop loss and take profit (those the
        template asks for); True when something was sent.

        A kind with no leg yet, or whose last leg never reached the gateway (NOT_PLACED), is
        placed (again, up to MAX_ATTEMPTS), sized to the contracts still held, never more than
        the gateway's position when legs went wrong before or after a restart (``resumed``); a
        closed position ends the group. A stop loss that is otherwise gone (rejected,
        cancelled, expired) fails the bracket per ``on_failure``; a take profit is reported as a
        critical event (the stop loss still protects the position).
        """
        row = entry.row
        open_size = entry.filled - sum(v.filled for v in legs)
        if open_size <= 0 or entry.price is None:
            return False
        wanted = [(Leg.STOP_LOSS, row.stop_loss_ticks), (Leg.TAKE_PROFIT, row.take_profit_ticks)]
        missing = [
            (leg, ticks)
            for leg, ticks in wanted
            if ticks and not any(v.row.leg == leg and v.working for v in legs)
        ]
        if not missing:
            return False
        size = open_size
        if resumed or legs:
            held = await self._held(group, Side(row.side))
            if held <= 0:
                for view in legs:
                    if view.working and not view.state.is_open and view.broker_order_id is not None:
                        await self._cancel_leg(group, view, legs)
                note = (
                    f"the position in {group.contract_id} is closed (not by this bracket's legs): "
                    "nothing left to protect"
                )
                await self._finish(group, "done", note, legs, "warning")
                return True
            size = min(open_size, held)
        plan: list[tuple[Leg, int, int]] = []
        gone: list[LegView] = []
        for leg, ticks in missing:
            tries = [v for v in legs if v.row.leg == leg]
            if not tries or (tries[-1].state == OrderState.NOT_PLACED and len(tries) < MAX_ATTEMPTS):
                plan.append((leg, ticks, len(tries) + 1))
            else:
                gone.append(tries[-1])
        if any(v.row.leg == Leg.STOP_LOSS for v in gone):
            await self._fail_managed(group, legs)
            return True
        for view in gone:  # a take profit
            if (group.id, view.row.id) not in self._reported:
                self._reported.add((group.id, view.row.id))
                message = (
                    f"entry {row.client_order_id}: take profit {view.row.client_order_id} is "
                    f"{view.state} and not placed again; the stop loss protects the {open_size} "
                    "contract(s), set a take profit by hand if you want one"
                )
                await self._log(group, "bracket.take_profit_missing", message, "critical", legs)
        if not plan:
            return False
        await self._place_managed(group, entry, size, plan, restored=resumed or bool(legs))
        return True

    async def _cancel_duplicates(self, group: Any, legs: list[LegView]) -> bool:
        """Two working legs of one kind (a leg placed again after a restart, whose first copy
        turned up on the gateway after all): cancel all but the newest, so two stop losses can
        never both fill against one position. True when a cancel was sent."""
        acted = False
        for kind in _PROTECTIVE:
            live = [
                v
                for v in legs
                if v.row.leg == kind and v.working and not v.state.is_open and v.broker_order_id
            ]
            for extra in sorted(live, key=lambda v: v.row.id)[:-1]:
                if extra.filled or extra.row.id in self._cancel_asked:
                    continue
                assert extra.broker_order_id is not None
                outcome = await (await self._session(group)).cancel(
                    _account(extra.row), group.contract_id, extra.broker_order_id
                )
                if outcome.state in (OrderState.DONE, OrderState.UNKNOWN):
                    self._cancel_asked.add(extra.row.id)
                message = (
                    f"OCO group {group.id}: two working {kind} legs → cancel the older "
                    f"{extra.row.client_order_id} {extra.broker_order_id}: {outcome.state}"
                )
                await self._log(group, "bracket.duplicate_leg", message, "warning", legs)
                acted = True
        return acted

    async def _held(self, group: Any, side: Side) -> int:
        """The contracts the gateway holds on ``side`` in the group's contract (Position/searchOpen)."""
        positions = await self.gateway.open_positions(group.account_id)
        position = next((p for p in positions if p.contract_id == group.contract_id), None)
        return position.size if position is not None and position.side == side else 0

    async def _place_managed(
        self,
        group: Any,
        entry: LegView,
        size: int,
        plan: list[tuple[Leg, int, int]],
        *,
        restored: bool = False,
    ) -> None:
        """Place the stop loss (stop) and take profit (limit) at the entry's fill price ∓/± the
        template's ticks, ``size`` contracts (``plan``: leg, ticks, attempt), then verify them
        in the background. ``restored``: legs missing after a crash or a failed placement."""
        row = entry.row
        assert entry.price is not None
        side = Side(row.side)
        sign = 1 if side is Side.BUY else -1
        tick = row.tick_size or Decimal("0.25")
        session = await self._session(group)
        placed = []
        for leg, ticks, attempt in plan:
            if leg == Leg.STOP_LOSS:
                tag, order_type, away = ids.managed_stop_loss_tag, OrderType.STOP, -sign
            else:
                tag, order_type, away = ids.managed_take_profit_tag, OrderType.LIMIT, sign
            price = (entry.price + away * ticks * tick).quantize(tick)
            request = OrderRequest(
                row.account_id,
                row.contract_id,
                side.opposite,
                order_type,
                size,
                tag(row.client_order_id, attempt),
                limit_price=price if order_type is OrderType.LIMIT else None,
                stop_price=price if order_type is OrderType.STOP else None,
            )
            outcome = await session.place(
                _account(row),
                leg,
                Action(row.action),
                request,
                parent_id=row.id,
                oco_group_id=group.id,
                **{f"{leg}_ticks": ticks},
            )
            failpoint("managed.leg_answered")  # journaled; the next leg not yet written
            again = " (placed again)" if attempt > 1 else ""
            placed.append(f"{leg}{again} {order_type} {price} × {size} ({outcome.state})")
        message = f"entry {row.client_order_id} filled {entry.filled} @ {entry.price} → " + ", ".join(placed)
        if restored:
            kind, level = "bracket.managed_restored", "warning"
            message = "protection restored: " + message
        else:
            kind, level = "bracket.managed_placed", "info"
        await self._log(group, kind, message, level)
        self._spawn(self._verify_managed(group.id))

    async def _verify_managed(self, oco_group_id: int) -> None:
        """Both legs must be WORKING (or the group settled) within ``verify_s``; else the policy
        (a take profit alone not working is a critical event: the stop loss protects)."""
        if oco_group_id in self._verifying:
            return  # one verification per group at a time (start and the first reconnect both ask)
        self._verifying.add(oco_group_id)
        try:
            deadline = time.monotonic() + self.verify_s
            refreshed = False
            while True:
                group = await self.runner.run(self.journal.oco_group, oco_group_id)
                if group is None or group.state != "working":
                    return
                rows = await self._rows(oco_group_id)
                legs = _current([self._view(r) for r in rows if r.leg in _PROTECTIVE])
                if legs and all(v.state in _SEEN for v in legs):
                    await self._log(
                        group, "bracket.verified", "stop loss and take profit working", "info", legs
                    )
                    return
                if time.monotonic() >= deadline:
                    if refreshed:
                        break
                    await self._refresh(group.account_id, group.created_at, rows)  # the gateway's word
                    refreshed = True
                    continue
                await asyncio.sleep(POLL_S)
            async with self._locks[oco_group_id]:
                stop_loss = [v for v in legs if v.row.leg == Leg.STOP_LOSS]
                if not stop_loss or any(v.state not in _SEEN for v in stop_loss):
                    await self._fail_managed(group, legs)
                    return
                for view in legs:  # the stop loss works; a take profit that does not is reported
                    if view.state not in _SEEN and (group.id, view.row.id) not in self._reported:
                        self._reported.add((group.id, view.row.id))
                        message = (
                            f"take profit {view.row.client_order_id} not working within "
                            f"{self.verify_s:g} s ({view.state}); the stop loss protects the position"
                        )
                        await self._log(group, "bracket.take_profit_missing", message, "critical", legs)
        except Exception:  # noqa: BLE001 — a background check logs, it never kills the bridge
            log.exception("verifying the managed bracket of OCO group %s failed", oco_group_id)
        finally:
            self._verifying.discard(oco_group_id)

    async def _fail_managed(self, group: Any, legs: list[LegView]) -> None:
        """The legs are not working in time: cancel what is left, then close or keep."""
        group = await self.runner.run(self.journal.oco_group, group.id)
        if group is None or group.state != "working":
            return
        rows = await self._rows(group.id)
        entry = self._view(next(r for r in rows if r.leg == Leg.ENTRY))
        legs = [self._view(r) for r in rows if r.leg in _PROTECTIVE]
        states = ", ".join(f"{v.name} {v.state}" for v in _current(legs)) or "no legs"
        note = (
            f"managed bracket of entry {entry.row.client_order_id} not working within "
            f"{self.verify_s:g} s ({states})"
        )
        session = await self._session(group)
        if group.policy == "close":
            for view in [entry, *legs]:
                if view.working and not view.state.is_open and view.broker_order_id is not None:
                    await session.cancel(_account(view.row), group.contract_id, view.broker_order_id)
            size = entry.filled - sum(v.filled for v in legs)
            if size > 0:
                tag, state = await self._take_back(group, entry.row, size)
                note += f" → closed {size} contract(s) with {tag} ({state})"
            else:
                note += " → nothing left to close"
        else:
            note += " → kept (on_failure = keep): the position is NOT protected"
        await self._finish(group, "failed", note, [entry, *legs], "critical")

    # -- native brackets -----------------------------------------------------------------------

    async def _verify_native(self, entry_id: int, alert_id: int) -> None:
        """After a native entry fills, its -SL/-TP children must be seen within ``verify_s``;
        else a critical event and managed protection (projectx-api.md §6.4)."""
        try:
            deadline = time.monotonic() + self.verify_s
            refreshed = False
            while True:
                rows = await self.runner.run(self.journal.alert_orders, alert_id)
                entry = next(r for r in rows if r.id == entry_id)
                if not self._native_entry(entry):
                    return  # refused by the gateway: the executor took it back
                children = [r for r in rows if r.parent_id == entry_id and r.leg in _PROTECTIVE]
                expected = bool(entry.stop_loss_ticks) + bool(entry.take_profit_ticks)
                views = [self._view(r) for r in children]
                if len(views) >= expected and all(v.state in _SEEN for v in views):
                    message = f"entry {entry.client_order_id} filled: native stop loss / take profit working"
                    await self.runner.run(
                        self.journal.add_event,
                        "bracket.verified",
                        message,
                        alert_id=alert_id,
                        order_record_id=entry_id,
                        data={"legs": [v.describe() for v in views]},
                    )
                    return
                if time.monotonic() >= deadline:
                    if refreshed:
                        break
                    orders = await self.gateway.search_orders(
                        entry.account_id, entry.created_at - SEARCH_SLACK
                    )
                    await self._adopt_children(entry, children, orders)
                    refreshed = True
                    continue
                await asyncio.sleep(POLL_S)
            await self._native_fallback(entry, views)
        except Exception:  # noqa: BLE001
            log.exception("verifying the native bracket of order row %s failed", entry_id)

    async def _native_fallback(self, entry: Any, children: list[LegView], *, resumed: bool = False) -> None:
        """The native legs do not protect the filled entry: a managed bracket of the same ticks
        takes over (sized to the gateway's position when ``resumed``)."""
        seen = ", ".join(f"{v.name} {v.state}" for v in children) or "none"
        group_id = await self.runner.run(
            self.journal.add_oco_group,
            alert_id=entry.alert_id,
            account_id=entry.account_id,
            contract_id=entry.contract_id,
            kind="managed_bracket",
            policy="close",
            note="native bracket not seen: managed protection instead",
        )
        await self.runner.run(self.journal.set_order_group, entry.id, group_id)
        group = await self.runner.run(self.journal.oco_group, group_id)
        when = "at start or after a reconnect" if resumed else f"within {self.verify_s:g} s"
        message = (
            f"entry {entry.client_order_id} filled but its native stop loss / take profit were not "
            f"seen working {when} (children: {seen}); the bridge places its own now"
        )
        await self._log(group, "bracket.native_missing", message, "critical")
        await self.review(group_id, resumed=resumed)

    async def _resume_native(self, account_id: int | None) -> None:
        """Native entries of the last NATIVE_LOOKBACK whose legs the journal lacks or still holds
        open: their legs are read from the gateway (one Order/search per account) and journaled;
        a filled entry whose position is open without a working stop loss gets managed
        protection at once. Never raises."""
        try:
            since = datetime.now(UTC) - NATIVE_LOOKBACK
            entries = [
                e
                for e in await self.runner.run(self.journal.bracket_entries, since)
                if account_id is None or e.account_id == account_id
            ]
            alert_ids = sorted({e.alert_id for e in entries})
            rows = await self.runner.run(self.journal.orders_of_alerts, alert_ids) if alert_ids else []
        except Exception:  # noqa: BLE001
            log.exception("could not read the native bracket entries to check")
            return
        children: defaultdict[int, list[Any]] = defaultdict(list)
        for row in rows:
            if row.parent_id is not None and row.leg in _PROTECTIVE:
                children[row.parent_id].append(row)
        by_account: defaultdict[int, list[Any]] = defaultdict(list)
        for entry in entries:
            if _native_unsettled(entry, children[entry.id]):
                by_account[entry.account_id].append(entry)
        for account, todo in by_account.items():
            try:
                oldest = min(e.created_at for e in todo)
                orders = await self.gateway.search_orders(account, oldest - SEARCH_SLACK)
                if any(not e.state.is_final for e in todo):  # legs held until the entry fills
                    listed = {o.broker_order_id for o in orders}
                    orders += [o for o in await self._suspended(account) if o.broker_order_id not in listed]
                for entry in todo:
                    await self._check_native(entry, children[entry.id], orders)
            except Exception:  # noqa: BLE001 — one account must not stop the others
                log.exception("could not check the native brackets of account %s", account)

    async def _check_native(self, entry: Any, children: list[Any], orders: list[BrokerOrder]) -> None:
        """Journal what the gateway says of one native entry and its legs; protect it when it
        is filled and no stop loss works while the gateway holds its position."""
        children = await self._adopt_children(entry, children, orders)
        rows = await self.runner.run(self.journal.alert_orders, entry.alert_id)
        entry = next(r for r in rows if r.id == entry.id)
        filled = self._view(entry).filled
        if not self._native_entry(entry) or not filled or entry.id in self._native_checked:
            return  # not filled, or its verification after the fill is running already
        views = [self._view(r) for r in rows if r.parent_id == entry.id and r.leg in _PROTECTIVE]
        if sum(v.filled for v in views) >= filled:
            return  # a leg took the whole position back: nothing of this entry is open
        stop_loss = [v for v in views if v.row.leg == Leg.STOP_LOSS]
        protected = any(v.working for v in stop_loss) or (not entry.stop_loss_ticks and bool(views))
        if protected or await self._held_for(entry) <= 0:
            return
        self._native_checked.add(entry.id)
        await self._native_fallback(entry, views, resumed=True)

    async def _held_for(self, entry: Any) -> int:
        positions = await self.gateway.open_positions(entry.account_id)
        position = next((p for p in positions if p.contract_id == entry.contract_id), None)
        return position.size if position is not None and position.side == Side(entry.side) else 0

    async def _adopt_children(self, entry: Any, children: list[Any], orders: list[BrokerOrder]) -> list[Any]:
        """Journal the gateway's reports of a native entry and its -SL/-TP legs (``orders``: an
        Order/search answer), adding the leg rows the journal lacks: those the alert's
        settlement would have written, when that settlement was lost (the entry is from an
        earlier run, or its alert is settled). Return the entry's leg rows."""
        by_id = {o.broker_order_id: o for o in orders}
        by_tag = {o.client_order_id: o for o in orders if o.client_order_id}
        broker = by_id.get(entry.broker_order_id) if entry.broker_order_id else None
        broker = broker or by_tag.get(entry.client_order_id)
        if broker is None:
            return children  # not listed: reconciliation settles the entry itself
        children = list(children)
        held = {r.leg for r in children}
        if await self._settled_elsewhere(entry):
            adopted = []
            for leg, ticks, tag, order_type in (
                (Leg.STOP_LOSS, entry.stop_loss_ticks, ids.stop_loss_tag, OrderType.STOP),
                (Leg.TAKE_PROFIT, entry.take_profit_ticks, ids.take_profit_tag, OrderType.LIMIT),
            ):
                if not ticks or leg in held:
                    continue
                found = by_tag.get(tag(entry.client_order_id)) or next(
                    (
                        o
                        for o in orders
                        if o.parent_broker_order_id == broker.broker_order_id and o.order_type == order_type
                    ),
                    None,
                )
                if found is None:
                    continue
                row = await self._journal_child(entry, leg, order_type, ticks, found)
                if row is not None:
                    children.append(row)
                    adopted.append(f"{leg} {found.broker_order_id} {found.state}")
            if adopted:
                message = (
                    f"entry {entry.client_order_id}: native " + ", ".join(adopted) + " read from the "
                    "gateway and journaled (the alert's settlement was lost)"
                )
                log.warning("%s", message)
                await self.runner.run(
                    self.journal.add_event,
                    "bracket.native_adopted",
                    message,
                    level="warning",
                    alert_id=entry.alert_id,
                    order_record_id=entry.id,
                )
        pairs = [(entry, OrderEvent(broker))]
        for row in children:
            found = by_id.get(row.broker_order_id) if row.broker_order_id else None
            found = found or by_tag.get(row.client_order_id)
            if found is not None:
                self._remember(row.id, found)
                pairs.append((row, OrderEvent(found)))
        self._remember(entry.id, broker)
        await self.applier.apply_to_rows(pairs)
        return children

    async def _suspended(self, account_id: int) -> list[BrokerOrder]:
        """The account's suspended bracket children (Order/v2/query); none when the gateway
        cannot say (an older gateway without v2/query): they are read once their entry fills."""
        try:
            return await self.gateway.suspended_orders(account_id)
        except GatewayError as exc:
            log.warning("could not read the suspended bracket legs of account %s: %s", account_id, exc)
            return []

    async def _settled_elsewhere(self, entry: Any) -> bool:
        """True when no alert settlement of this run may still write the entry's legs."""
        if entry.created_at < self._started_at:
            return True
        alert = await self.runner.run(self.journal.get_alert, entry.alert_id)
        return alert is not None and alert.settled_at is not None

    async def _journal_child(
        self, entry: Any, leg: Leg, order_type: OrderType, ticks: int, order: BrokerOrder
    ) -> Any:
        """Add the row of a native leg the gateway made with ``entry``; None when it cannot."""
        made = ids.stop_loss_tag if leg == Leg.STOP_LOSS else ids.take_profit_tag
        tag = order.client_order_id or made(entry.client_order_id)
        try:
            await self.runner.run(
                self.journal.add_order,
                alert_id=entry.alert_id,
                account_id=entry.account_id,
                account_name=entry.account_name,
                contract_id=entry.contract_id,
                leg=leg,
                action=entry.action,
                side=Side(entry.side).opposite,
                order_type=order_type,
                size=entry.size,
                client_order_id=tag,
                broker_order_id=order.broker_order_id,
                parent_id=entry.id,
                state=OrderState.ACCEPTED,
                message="created by the gateway with the entry (native bracket); journaled from the gateway",
                **{f"{leg}_ticks": ticks},
            )
        except JournalError:  # journaled meanwhile (e.g. by alert recovery): read it back
            log.info("native %s %s of entry %s already journaled", leg, tag, entry.client_order_id)
        return await self.runner.run(self.journal.order_by_client_id, entry.account_id, tag)

    async def _verify_later(self, group: Any) -> None:
        """Verify a resumed managed bracket whose legs are not all seen working yet."""
        if group.kind != "managed_bracket":
            return
        rows = await self._rows(group.id)
        legs = _current([self._view(r) for r in rows if r.leg in _PROTECTIVE])
        if legs and not all(v.state in _SEEN for v in legs):
            self._spawn(self._verify_managed(group.id))

    async def _settle_earlier_legs(self, rows: list[Any]) -> None:
        """Settle the group's orders an earlier run left SUBMITTING or UNKNOWN: that run is gone,
        so nothing of theirs is in flight and one Order/search by tag is conclusive."""
        for row in rows:
            if row.state.is_open and row.created_at < self._started_at:
                await self.reconciler.settle(row, attempts=1)

    # -- plumbing ------------------------------------------------------------------------------

    async def _rows(self, oco_group_id: int) -> list[Any]:
        return await self.runner.run(self.journal.oco_group_orders, oco_group_id)

    async def _refresh(self, account_id: int, since: datetime, rows: list[Any]) -> None:
        """Ask the gateway (Order/search) for ``rows``' orders; journal and remember its answer."""
        orders = await self.gateway.search_orders(account_id, since - SEARCH_SLACK)
        by_id = {o.broker_order_id: o for o in orders}
        by_tag = {o.client_order_id: o for o in orders if o.client_order_id}
        pairs = []
        for row in rows:
            found = by_id.get(row.broker_order_id) if row.broker_order_id else None
            found = found or by_tag.get(row.client_order_id)
            if found is not None:
                self._remember(row.id, found)
                pairs.append((row, OrderEvent(found)))
        if pairs:
            await self.applier.apply_to_rows(pairs)

    async def _session(self, group: Any) -> OrderSession:
        return self.sender.session(group.alert_id)

    async def _finish(self, group: Any, state: str, note: str, legs: list[LegView], level: str) -> None:
        await self.runner.run(self.journal.set_oco_group, group.id, state, note=note)
        await self._log(group, f"oco.{state}", f"{_kind(group)} {group.id} {state}: {note}", level, legs)

    async def _log(
        self, group: Any, kind: str, message: str, level: str, legs: list[LegView] | None = None
    ) -> None:
        log.log(_LOG_LEVELS.get(level, logging.INFO), "%s", message)
        data = {"oco_group_id": group.id, "legs": [v.describe() for v in legs or []]}
        await self.runner.run(
            self.journal.add_event, kind, message, level=level, alert_id=group.alert_id, data=data
        )

    def _own_spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_LOG_LEVELS = {"critical": logging.ERROR, "error": logging.ERROR, "warning": logging.WARNING}


def _current(legs: list[LegView]) -> list[LegView]:
    """The newest leg of each kind: a leg placed again stands for the one that never was."""
    newest: dict[str, LegView] = {}
    for view in legs:
        held = newest.get(view.row.leg)
        if held is None or view.row.id > held.row.id:
            newest[view.row.leg] = view
    return sorted(newest.values(), key=lambda v: v.row.id)


def _account(row: Any) -> Account:
    """The account an order row is on, as much as sending needs (id and name)."""
    return Account(row.account_id, row.account_name, Decimal(0), True)


def _native_unsettled(entry: Any, children: list[Any]) -> bool:
    """A native entry worth a look at start: still working, or filled with a leg the journal
    lacks or still holds open (whose state the gateway may have moved on)."""
    if entry.state in (OrderState.CANCELLED, OrderState.EXPIRED) and not entry.fill_volume:
        return False
    if not entry.state.is_final:
        return True
    held = {r.leg for r in children}
    expected = {
        leg
        for leg, ticks in ((Leg.STOP_LOSS, entry.stop_loss_ticks), (Leg.TAKE_PROFIT, entry.take_profit_ticks))
        if ticks
    }
    return bool(expected - held) or any(not r.state.is_final for r in children)


def _fill_order(view: LegView) -> tuple[float, int]:
    """Sort key: when the leg last filled (else its last report), then its row id."""
    at = view.row.last_fill_at or view.updated_at
    return (at.timestamp() if at is not None else 0.0, view.row.id)


def _kind(group: Any) -> str:
    return "managed bracket" if group.kind == "managed_bracket" else "OCO pair"
