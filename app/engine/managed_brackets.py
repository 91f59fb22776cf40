"""Managed brackets: the stop loss and take profit the bridge places after its entry fills, sized to the fill.

A managed bracket is a group (kind ``managed_bracket``): its entry, then the legs placed at the
fill price ∓/± the template's ticks. They must be seen working within ``verify_s``, else the
template's ``on_failure`` ("close" takes the position back, "keep" journals it). After a
restart or a reconnect, a leg that never reached the gateway (NOT_PLACED, or never written) is
placed again (up to MAX_ATTEMPTS), never larger than the gateway's position; a group is never
``done`` while the contracts it protects are open (DESIGN.md "Always protected").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.domain.models import OrderRequest
from app.domain.notices import NoticeLevel
from app.domain.ticks import round_in_favour
from app.engine.oco_review import OcoReview
from app.engine.protection_context import (
    POLL_S,
    PROTECTIVE,
    SEEN,
    LegView,
    ProtectionContext,
    account_of,
    current,
    id_of,
    protection_key,
    side_of,
    tag_of,
    tick_of,
)
from app.engine.trailing import on_failure, trail_price, trails
from app.failpoints import failpoint

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from app.domain.records import OcoGroupRow, OrderRow

log = logging.getLogger(__name__)

# How often a managed leg that never reached the gateway is placed again before the bracket fails.
MAX_ATTEMPTS = 3


def leg_request(
    row: OrderRow, policy: str, fill_price: Decimal, leg: Leg, ticks: int, size: int, attempt: int
) -> OrderRequest:
    """The Order/place of a managed bracket's ``leg`` for the entry ``row`` filled at
    ``fill_price`` (points): the stop loss a stop ``ticks`` below a long's fill (above a
    short's), or a trailing stop starting there when the group's ``policy`` trails
    (app/engine/trailing.py); the take profit a limit ``ticks`` the other way. ``size``
    contracts, ``attempt`` numbers the tag. Raises ValueError for a trail over 1000 ticks."""
    side = side_of(row)
    tick = tick_of(row)
    if leg == Leg.STOP_LOSS:
        tag, order_type = ids.managed_stop_loss_tag, OrderType.STOP
        if trails(policy):
            order_type = OrderType.TRAILING_STOP
    else:
        tag, order_type = ids.managed_take_profit_tag, OrderType.LIMIT
    price = leg_price(fill_price, side, leg, ticks, tick)
    return OrderRequest(
        row.account_id,
        row.contract_id,
        side.opposite,
        order_type,
        size,
        tag(tag_of(row), attempt),
        limit_price=price if order_type is OrderType.LIMIT else None,
        stop_price=price if order_type is OrderType.STOP else None,
        # trailPrice: the start level, measured from the fill price (trailing.py)
        trail_price=trail_price(fill_price, side, ticks, tick)
        if order_type is OrderType.TRAILING_STOP
        else None,
    )


def leg_price(fill_price: Decimal, side: Side, leg: Leg, ticks: int, tick: Decimal) -> Decimal:
    """A managed leg's price ``ticks`` from the average ``fill_price`` (points) of an entry on
    ``side``: the stop loss below a long's fill (above a short's), the take profit the other way;
    on the tick grid, rounded in the trade's favour (an average fill may be off the grid)."""
    sign = 1 if side is Side.BUY else -1
    away = -sign if leg == Leg.STOP_LOSS else sign
    return round_in_favour(fill_price + away * ticks * tick, tick, long=side is Side.BUY)


class ManagedBrackets:
    """Place, verify and restore the legs of managed brackets."""

    def __init__(self, ctx: ProtectionContext, legs: OcoReview) -> None:
        self.ctx = ctx
        self.legs = legs
        self.reported: set[tuple[int, int]] = set()  # (group, leg row) a critical event named
        self.verifying: set[int] = set()  # managed groups whose legs are being verified

    async def review(self, group: OcoGroupRow, rows: list[OrderRow], *, resumed: bool = False) -> bool:
        entry = next(r for r in rows if r.leg == Leg.ENTRY)
        view = self.ctx.view(entry)
        legs = [self.ctx.view(r) for r in rows if r.leg in PROTECTIVE]
        closed = partly_closed(rows)
        if not view.filled:
            if view.state.is_final and not any(v.working for v in legs):
                note = f"entry {entry.client_order_id} {view.state} without a fill: nothing to protect"
                await self.ctx.finish(group, OcoState.DONE, note, [view], EventLevel.INFO)
            return False
        if legs:
            if await self._cancel_duplicates(group, legs):
                return True
            acted = await self.legs.review_legs(
                group,
                legs,
                view.filled - closed,
                entry_done=view.state.is_final,
                managed=True,
                fail=lambda g, failed, why: self._fail(g, failed, why=why),
            )
            if acted:
                return True  # read the gateway's answer back before deciding more
            fresh = await self.ctx.runner.run(self.ctx.journal.oco_group, id_of(group))
            if fresh is None or fresh.state != OcoState.WORKING:
                return False
            group = fresh
        return await self._restore(group, view, legs, resumed=resumed, closed=closed)

    async def _restore(
        self, group: OcoGroupRow, entry: LegView, legs: list[LegView], *, resumed: bool, closed: int = 0
    ) -> bool:
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
        open_size = entry.filled - closed - sum(v.filled for v in legs)
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
            held = await self._held(group, side_of(row))
            if held <= 0:
                for view in legs:
                    if view.working and not view.state.is_open and view.broker_order_id is not None:
                        await self.legs.cancel_leg(group, view, legs)
                note = (
                    f"the position in {group.contract_id} is closed (not by this bracket's legs): "
                    "nothing left to protect"
                )
                await self.ctx.finish(group, OcoState.DONE, note, legs, EventLevel.WARNING)
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
            await self._fail(group, legs)
            return True
        for view in gone:  # a take profit
            if (group.id, view.id) not in self.reported:
                self.reported.add((id_of(group), view.id))
                message = (
                    f"entry {row.client_order_id}: take profit {view.row.client_order_id} is "
                    f"{view.state} and not placed again; the stop loss protects the {open_size} "
                    "contract(s), set a take profit by hand if you want one"
                )
                await self.ctx.record(
                    group, EventKind.BRACKET_TAKE_PROFIT_MISSING, message, EventLevel.CRITICAL, legs
                )
        if not plan:
            return False
        await self._place(group, entry, size, plan, restored=resumed or bool(legs))
        return True

    async def _cancel_duplicates(self, group: OcoGroupRow, legs: list[LegView]) -> bool:
        """Two working legs of one kind (a leg placed again after a restart, whose first copy
        turned up on the gateway after all): cancel all but the newest, so two stop losses can
        never both fill against one position. True when a cancel was sent."""
        acted = False
        for kind in PROTECTIVE:
            live = [
                v
                for v in legs
                if v.row.leg == kind and v.working and not v.state.is_open and v.broker_order_id
            ]
            for extra in sorted(live, key=lambda v: v.id)[:-1]:
                if extra.filled or extra.id in self.ctx.cancel_asked:
                    continue
                assert extra.broker_order_id is not None
                outcome = await (await self.ctx.session(group)).cancel(
                    account_of(extra.row), group.contract_id, extra.broker_order_id
                )
                if outcome.state in (OrderState.DONE, OrderState.UNKNOWN):
                    self.ctx.cancel_asked.add(extra.id)
                message = (
                    f"OCO group {group.id}: two working {kind} legs → cancel the older "
                    f"{extra.row.client_order_id} {extra.broker_order_id}: {outcome.state}"
                )
                await self.ctx.record(
                    group, EventKind.BRACKET_DUPLICATE_LEG, message, EventLevel.WARNING, legs
                )
                acted = True
        return acted

    async def _held(self, group: OcoGroupRow, side: Side) -> int:
        """The contracts the gateway holds on ``side`` in the group's contract (Position/searchOpen)."""
        positions = await self.ctx.gateway.open_positions(group.account_id)
        position = next((p for p in positions if p.contract_id == group.contract_id), None)
        return position.size if position is not None and position.side == side else 0

    async def _place(
        self,
        group: OcoGroupRow,
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
        session = await self.ctx.session(group)
        placed = []
        unplaced = []  # stop losses the gateway did not take: the position is unprotected now
        for leg, ticks, attempt in plan:
            request = leg_request(row, group.policy, entry.price, leg, ticks, size, attempt)
            price = request.limit_price or request.stop_price or request.trail_price
            shown = f"{request.order_type} {price}"
            if request.order_type is OrderType.TRAILING_STOP:
                shown = f"trailing_stop from {price}, {ticks} ticks behind the price"
            outcome = await session.place(
                account_of(row),
                leg,
                Action(row.action),
                request,
                parent_id=row.id,
                oco_group_id=group.id,
                **{f"{leg}_ticks": ticks},
            )
            failpoint("managed.leg_answered")  # journaled; the next leg not yet written
            again = " (placed again)" if attempt > 1 else ""
            placed.append(f"{leg}{again} {shown} × {size} ({outcome.state})")
            if leg == Leg.STOP_LOSS and outcome.state in (OrderState.REJECTED, OrderState.NOT_PLACED):
                unplaced.append(f"stop loss {price} × {size} {outcome.state}: {outcome.message}")
        message = f"entry {row.client_order_id} filled {entry.filled} @ {entry.price} → " + ", ".join(placed)
        if restored:
            kind, level = EventKind.BRACKET_MANAGED_RESTORED, EventLevel.WARNING
            message = "protection restored: " + message
            # Its legs were missing: the PROTECTED notice follows once they are seen working.
            what = f"stop loss missing for entry {row.client_order_id}; placed again"
            self.ctx.watch.expect(await self.ctx.case(group, row, size, what))
        else:
            kind, level = EventKind.BRACKET_MANAGED_PLACED, EventLevel.INFO
        await self.ctx.record(group, kind, message, level)
        if unplaced:
            what = (
                f"entry {row.client_order_id} filled {entry.filled} @ {entry.price}; its "
                + "; ".join(unplaced)
                + " (the bridge places it again after a reconnect or restart, or closes per on_failure)"
            )
            self.ctx.watch.lost(await self.ctx.case(group, row, size, what))
        self.ctx.spawn(self.verify(id_of(group)))

    async def verify(self, oco_group_id: int) -> None:
        """Both legs must be WORKING (or the group settled) within ``verify_s``; else the policy
        (a take profit alone not working is a critical event: the stop loss protects)."""
        if oco_group_id in self.verifying:
            return  # one verification per group at a time (start and the first reconnect both ask)
        self.verifying.add(oco_group_id)
        try:
            deadline = time.monotonic() + self.ctx.verify_s
            refreshed = False
            while True:
                group = await self.ctx.runner.run(self.ctx.journal.oco_group, oco_group_id)
                if group is None or group.state != OcoState.WORKING:
                    return
                rows = await self.ctx.rows(oco_group_id)
                legs = current([self.ctx.view(r) for r in rows if r.leg in PROTECTIVE])
                if legs and all(v.state in SEEN for v in legs):
                    await self.ctx.record(
                        group,
                        EventKind.BRACKET_VERIFIED,
                        "stop loss and take profit working",
                        EventLevel.INFO,
                        legs,
                    )
                    self._protected_again(group, rows, legs)
                    return
                if time.monotonic() >= deadline:
                    if refreshed:
                        break
                    await self.ctx.refresh(group.account_id, group.created_at, rows)  # the gateway's word
                    refreshed = True
                    continue
                await asyncio.sleep(POLL_S)
            async with self.ctx.locks[oco_group_id]:
                stop_loss = [v for v in legs if v.row.leg == Leg.STOP_LOSS]
                if not stop_loss or any(v.state not in SEEN for v in stop_loss):
                    await self._fail(group, legs)
                    return
                for view in legs:  # the stop loss works; a take profit that does not is reported
                    if view.state not in SEEN and (id_of(group), view.id) not in self.reported:
                        self.reported.add((id_of(group), view.id))
                        message = (
                            f"take profit {view.row.client_order_id} not working within "
                            f"{self.ctx.verify_s:g} s ({view.state}); the stop loss protects the position"
                        )
                        await self.ctx.record(
                            group, EventKind.BRACKET_TAKE_PROFIT_MISSING, message, EventLevel.CRITICAL, legs
                        )
        except Exception:  # noqa: BLE001 — a background check logs, it never kills the bridge
            log.exception("verifying the managed bracket of OCO group %s failed", oco_group_id)
        finally:
            self.verifying.discard(oco_group_id)

    def _protected_again(self, group: OcoGroupRow, rows: list[OrderRow], legs: list[LegView]) -> None:
        """The group's legs are seen working: PROTECTED, if its position was reported without."""
        entry = next((r for r in rows if r.leg == Leg.ENTRY), None)
        if entry is None:
            return
        working = ", ".join(
            f"{v.name} {v.row.stop_price or v.row.limit_price or ''} × {v.size}".replace("  ", " ")
            for v in legs
        )
        what = f"working again on the gateway: {working} (entry {entry.client_order_id})"
        self.ctx.watch.restored(protection_key(entry.account_name, group), what)

    async def _fail(self, group: OcoGroupRow, legs: list[LegView], *, why: str | None = None) -> None:
        """The legs are not working in time (or ``why``: what else failed): cancel what is left,
        then close or keep."""
        fresh = await self.ctx.runner.run(self.ctx.journal.oco_group, id_of(group))
        if fresh is None or fresh.state != OcoState.WORKING:
            return
        group = fresh
        rows = await self.ctx.rows(id_of(group))
        entry = self.ctx.view(next(r for r in rows if r.leg == Leg.ENTRY))
        legs = [self.ctx.view(r) for r in rows if r.leg in PROTECTIVE]
        states = ", ".join(f"{v.name} {v.state}" for v in current(legs)) or "no legs"
        note = (
            f"managed bracket of entry {entry.row.client_order_id} not working within "
            f"{self.ctx.verify_s:g} s ({states})"
            if why is None
            else f"{why} ({states})"
        )
        session = await self.ctx.session(group)
        size = entry.filled - partly_closed(rows) - sum(v.filled for v in legs)
        closed = size <= 0  # nothing open is left, or (below) the close was accepted
        if on_failure(group.policy) == "close":
            for view in [entry, *legs]:
                if view.working and not view.state.is_open and view.broker_order_id is not None:
                    await session.cancel(account_of(view.row), group.contract_id, view.broker_order_id)
            if size > 0:
                tag, state = await self.legs.take_back(group, entry.row, size)
                note += f" → closed {size} contract(s) with {tag} ({state})"
                closed = state in (OrderState.ACCEPTED, OrderState.FILLED, OrderState.DONE)
            else:
                note += " → nothing left to close"
        else:
            note += " → kept (on_failure = keep): the position is NOT protected"
        await self.ctx.finish(group, OcoState.FAILED, note, [entry, *legs], EventLevel.CRITICAL)
        # Reported whether or not the group was reported before (native bracket missing): this
        # is its end, and nothing restores it any more.
        case = await self.ctx.case(group, entry.row, size, note[:1].upper() + note[1:])
        self.ctx.watch.forget(case.key)
        failed = replace(case, key=f"{case.key}:failed")
        self.ctx.watch.lost(failed, level=NoticeLevel.WARNING if closed else None)

    async def verify_later(self, group: OcoGroupRow) -> None:
        """Verify a resumed managed bracket whose legs are not all seen working yet."""
        if group.kind != OcoKind.MANAGED_BRACKET:
            return
        rows = await self.ctx.rows(id_of(group))
        legs = current([self.ctx.view(r) for r in rows if r.leg in PROTECTIVE])
        if legs and not all(v.state in SEEN for v in legs):
            self.ctx.spawn(self.verify(id_of(group)))


def partly_closed(rows: list[OrderRow]) -> int:
    """Contracts of the bracket's entry closed by partial exits (the group's PARTIAL_CLOSE rows
    the gateway took, app/engine/partial_exit.py): the legs protect only what is left."""
    return sum(r.size or 0 for r in rows if r.leg == Leg.PARTIAL_CLOSE and r.state == OrderState.DONE)
