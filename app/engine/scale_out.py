"""Scale-out groups: one managed stop loss and up to three take profits, the stop resized as they fill.

A scale-out group (kind ``scale_out``, its plan in the working group's note: app/domain/scale_out.py)
holds its entry, then after the fill (price P, F contracts):

- the stop loss (``<entry>-MSL``), sized to what is still open, at P ∓ stop_loss_ticks, or at
  break-even once reached;
- target n (``<entry>-T<n>``): a limit at P ± its ticks, its size capped in order so the targets
  never add up to more than F (placed once the entry is final).

The review is level-triggered (the same on an event, at start and after a hub reconnect):
targets filled T, stop filled S, open = F − T − S. The stop's size is kept at F − T (Order/modify,
an absolute size: written ahead as a ``scale_out.modify`` event, then sent once; sent again only
when the gateway did not answer and Order/search still shows the old order); once target
``after_target`` and those before it filled, its price moves to P ± offset ticks, never the wrong
way. When the stop fills the targets are cancelled; when nothing is open the rest is cancelled and
the group is done. Fills beyond F (a target and the stop in a race) are taken back per the policy.
A partial exit's close (a PARTIAL_CLOSE row of the group, partial_exit.py) takes its contracts
out of F: the stop covers what is left and the targets are capped to it.
A leg never placed (crash) is placed on resume, the stop never larger than the gateway's position;
a stop the gateway will not hold fails the group per ``on_failure`` (managed_brackets.py).

A resize or break-even the gateway REFUSES (a definite "no": the order is as it was) is not
believed: the refused size and price are forgotten, so the gateway's report decides. The same
change is a new decision, journaled and sent once each, at most MODIFY_ATTEMPTS times,
``retry_s`` apart (refusals.py). When the gateway still refuses a resize, a
CRITICAL ``oco.modify_refused`` says what and the numbers, and the group follows
``on_failure``: "close" cancels the legs and closes what is open (a stop loss larger than the
position turns into a naked opposite position when it fills; one smaller leaves contracts
unprotected: the trader chose closing over either), "keep" leaves the stop as the gateway has
it for the trader to fix. A refused break-even only is a WARNING: the stop still protects.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel, OcoState
from app.domain.models import BreakEven, OrderRequest, Target
from app.domain.scale_out import read_plan
from app.domain.ticks import round_in_favour
from app.engine.managed_brackets import MAX_ATTEMPTS, ManagedBrackets, leg_price, partly_closed
from app.engine.oco_review import OcoReview
from app.engine.protection_context import (
    LegView,
    ProtectionContext,
    account_of,
    id_of,
    side_of,
    tag_of,
    tick_of,
)
from app.engine.refusals import MODIFY_ATTEMPTS, Refusal, Refusals
from app.engine.trailing import on_failure
from app.errors import GatewayError, OrderRejected
from app.failpoints import failpoint

if TYPE_CHECKING:
    from app.domain.records import OcoGroupRow, OrderRow

log = logging.getLogger(__name__)

GONE = (OrderState.REJECTED, OrderState.CANCELLED, OrderState.EXPIRED)
Answer = Literal["taken", "refused", "unknown"]


def capped(targets: tuple[Target, ...], filled: int) -> list[int]:
    """Each target's size capped in order so that together they never exceed ``filled``."""
    sizes, left = [], filled
    for target in targets:
        size = max(0, min(target.size, left))
        sizes.append(size)
        left -= size
    return sizes


def break_even_price(price: Decimal, side: Side, offset_ticks: int, tick: Decimal) -> Decimal:
    """P ± offset ticks in the trade's favour, on the tick grid (rounded in the trade's favour)."""
    sign = 1 if side is Side.BUY else -1
    return round_in_favour(price + sign * offset_ticks * tick, tick, long=side is Side.BUY)


def at_or_better(stop: Decimal, target: Decimal, side: Side) -> bool:
    """True when a stop at ``stop`` protects a ``side`` position (BUY = long) at least as well
    as one at ``target`` (points)."""
    return stop >= target if side is Side.BUY else stop <= target


def past(last: Decimal | None, target: Decimal, side: Side) -> bool:
    """True when the market ``last`` is at or beyond a ``side`` position's stop at ``target``
    (a long's at or below it): a stop there would fill at once. False when ``last`` is unknown."""
    if last is None:
        return False
    return last <= target if side is Side.BUY else last >= target


class ScaleOut:
    """Review scale-out groups (see the module docstring)."""

    def __init__(
        self,
        ctx: ProtectionContext,
        legs: OcoReview,
        managed: ManagedBrackets,
        refusals: Refusals | None = None,
    ) -> None:
        """``refusals``: the changes the gateway refused (shared with the legs' review)."""
        self.ctx = ctx
        self.legs = legs
        self.managed = managed
        self.refusals = refusals or Refusals(ctx.spawn)
        self.prices: dict[int, Decimal] = {}  # stop loss row id → stop price last asked for
        self.reported: set[int] = set()  # target rows named in a critical event

    async def review(self, group: OcoGroupRow, rows: list[OrderRow], *, resumed: bool = False) -> bool:
        """One pass over a scale-out group; True when something was sent."""
        plan = read_plan(group.note)
        entry = self.ctx.view(next(r for r in rows if r.leg == Leg.ENTRY))
        stops = [self.ctx.view(r) for r in rows if r.leg == Leg.STOP_LOSS]
        targets = [self.ctx.view(r) for r in rows if r.leg == Leg.TAKE_PROFIT]
        legs = stops + targets
        if not entry.filled:
            if entry.state.is_final and not any(v.working for v in legs):
                note = f"entry {entry.row.client_order_id} {entry.state} without a fill: nothing to protect"
                await self.ctx.finish(group, OcoState.DONE, note, [entry], EventLevel.INFO)
            return False
        if plan is None or entry.price is None:
            return False
        # Contracts closed by partial exits (the group's PARTIAL_CLOSE rows, partial_exit.py) are
        # no longer the group's: its legs cover the fill less them, never sized back up.
        filled = entry.filled - partly_closed(rows)
        taken = sum(v.filled for v in targets)
        stopped = sum(v.filled for v in stops)
        open_size = filled - taken - stopped
        if open_size < 0:
            await self._race(group, legs, -open_size)
            return True
        acted = False
        for view in targets if stopped else []:  # the stop filled: the trade is over
            acted |= await self._cancel(group, view, legs)
        for view in legs if open_size == 0 else []:  # nothing open: nothing to protect
            acted |= await self._cancel(group, view, legs)
        if acted:
            return True
        if open_size == 0:
            if entry.state.is_final and not any(v.working for v in legs):
                words = ", ".join(f"{v.row.client_order_id} filled {v.filled}" for v in legs if v.filled)
                await self.ctx.finish(group, OcoState.DONE, f"flat: {words}", legs, EventLevel.INFO)
            return False
        targets_plan, be = plan
        sizes = capped(targets_plan, filled)
        reached = _break_even_reached(be, sizes, taken)
        if await self._stop(group, entry, stops, legs, filled - taken, open_size, reached, resumed=resumed):
            return True
        if entry.state.is_final and not stopped:
            return await self._targets(group, entry, targets, targets_plan, sizes, open_size)
        return False

    async def _stop(
        self,
        group: OcoGroupRow,
        entry: LegView,
        stops: list[LegView],
        legs: list[LegView],
        want: int,
        open_size: int,
        reached: BreakEven | None,
        *,
        resumed: bool,
    ) -> bool:
        """Keep one stop loss of ``want`` contracts (F − targets filled) at its price or break-even."""
        row = entry.row
        assert entry.price is not None
        tick = tick_of(row)
        side = side_of(row)
        live = [v for v in stops if v.working]
        if any(v.state.is_open for v in live):
            return False  # a placement being settled: wait for its answer
        for extra in sorted(live, key=lambda v: v.id)[:-1]:  # a stop placed again after a crash
            if not extra.filled and await self._cancel(group, extra, legs):
                return True
        stop = live[-1] if live else None
        be_price = (
            None if reached is None else break_even_price(entry.price, side, reached.offset_ticks, tick)
        )
        if stop is None:
            last = stops[-1] if stops else None
            if last is not None and (
                last.state in GONE or (last.state == OrderState.NOT_PLACED and len(stops) >= MAX_ATTEMPTS)
            ):
                await self.managed._fail(group, legs)  # noqa: SLF001 — the managed bracket's policy
                return True
            size = open_size
            if resumed or stops:
                held = await self.managed._held(group, side)  # noqa: SLF001
                if held <= 0:
                    for view in legs:
                        await self._cancel(group, view, legs)
                    note = f"the position in {group.contract_id} is closed (not by this group's legs)"
                    await self.ctx.finish(group, OcoState.DONE, note, legs, EventLevel.WARNING)
                    return True
                size = min(size, held)
            ticks = row.stop_loss_ticks or 0
            price = be_price or leg_price(entry.price, side, Leg.STOP_LOSS, ticks, tick)
            if be_price is None and not ticks:
                return False
            await self._place(group, entry, Leg.STOP_LOSS, 0, size, price, len(stops) + 1, ticks)
            return True
        if stop.broker_order_id is None or stop.id in self.ctx.cancel_asked:
            return False
        resize = want if stop.size != want and not stop.filled else None
        current = self.stop_price(stop)
        better = be_price is not None and (current is None or not at_or_better(current, be_price, side))
        if resize is None and not better:
            return False
        why = (
            ", ".join(f"{v.row.client_order_id} filled {v.filled}" for v in legs if v.filled)
            or "entry filled"
        )
        change = (resize, be_price if better else None)
        if (given_up := self.refusals.given_up(stop.id, change)) is not None:
            return await self._refused_for_good(group, stop, legs, open_size, given_up)
        attempt = self.refusals.attempt(stop.id, change, id_of(group))
        if attempt is None:
            return False  # refused just now: asked again later (scheduled), never in a loop
        if (before := self.refusals.before(stop.id, change)) is not None:
            why = f"{why}; the gateway refused it {before.attempts} time(s), asking again"
        if resize is not None:
            failpoint("scale_out.before_resize")  # a target's fill journaled, the stop not yet resized
        answer, reason = await self._change(
            group, stop, legs, why, size=resize, stop_price=change[1], attempt=attempt
        )
        if answer == "refused":
            self.refusals.refused(stop.id, change, attempt, reason, id_of(group))
        else:
            self.refusals.settled(stop.id)
        return True

    def stop_price(self, stop: LegView, *more: Decimal | None) -> Decimal | None:
        """The stop loss's price as the bridge best knows it (points): the most protective of the
        gateway's last report, its row, the price last asked for and ``more``. A stop moved
        tighter elsewhere (by hand in the platform, a breakeven alert) is never taken for the
        looser price asked before, so a move to break-even never loosens it."""
        report = self.ctx.reports.get(stop.id)
        known = [
            p
            for p in (
                report.stop_price if report else None,
                stop.row.stop_price,
                self.prices.get(stop.id),
                *more,
            )
            if p is not None
        ]
        if not known:
            return None
        long = side_of(stop.row) is Side.SELL  # a long's stop loss sells
        return max(known) if long else min(known)

    async def _refused_for_good(
        self, group: OcoGroupRow, stop: LegView, legs: list[LegView], open_size: int, refusal: Refusal
    ) -> bool:
        """The gateway refused the same change MODIFY_ATTEMPTS times: say so once, with the
        numbers, and follow ``on_failure`` when the stop does not match the position (see the
        module docstring). True when something was sent."""
        if refusal.reported:
            return False
        refusal.reported = True
        name = f"stop loss {stop.broker_order_id}"
        asked = []
        if refusal.size is not None:
            asked.append(f"size {stop.size} → {refusal.size}")
        if refusal.price is not None:
            asked.append(f"stop price → {refusal.price}")
        head = (
            f"scale-out {group.id}: the gateway refused {', '.join(asked)} of {name} "
            f"{refusal.attempts} times ({refusal.message})"
        )
        if refusal.size is None or stop.size == open_size:
            # Only the price: the stop still covers the position where the gateway has it.
            message = f"{head}; it stays where it is, protecting {open_size}: move it in TopstepX if you want"
            await self.ctx.record(group, EventKind.OCO_MODIFY_REFUSED, message, EventLevel.WARNING, legs)
            return False
        numbers = f"{name} is {stop.size} contracts for {open_size} open"
        if on_failure(group.policy) == "close":
            message = f"{head}: {numbers} → closing the position and its legs (on_failure = close)"
            await self.ctx.record(group, EventKind.OCO_MODIFY_REFUSED, message, EventLevel.CRITICAL, legs)
            await self.managed._fail(group, legs, why=f"{numbers}; the gateway refused the resize")  # noqa: SLF001
            return True
        message = (
            f"{head}: {numbers} → kept (on_failure = keep): resize it to {open_size} in TopstepX or "
            "flatten the position"
        )
        await self.ctx.record(group, EventKind.OCO_MODIFY_REFUSED, message, EventLevel.CRITICAL, legs)
        return False

    async def _targets(
        self,
        group: OcoGroupRow,
        entry: LegView,
        targets: list[LegView],
        plan: tuple[Target, ...],
        sizes: list[int],
        open_size: int,
    ) -> bool:
        """Place each target never placed (or never reached the gateway), in order, never more
        than what is left open beside the targets working."""
        assert entry.price is not None
        free = open_size - sum(v.size - v.filled for v in targets if v.working)
        acted = False
        for n, (target, size) in enumerate(zip(plan, sizes, strict=True), start=1):
            if size <= 0:  # nothing for it to take (a percentage rounded to 0, a partial exit)
                continue
            tries = [v for v in targets if ids.target_number(v.row.client_order_id) == n]
            if tries and tries[-1].state != OrderState.NOT_PLACED:
                if tries[-1].state in GONE and not tries[-1].filled and tries[-1].id not in self.reported:
                    self.reported.add(tries[-1].id)
                    message = (
                        f"target {n} {tries[-1].row.client_order_id} is {tries[-1].state} and not "
                        "placed again; the stop loss protects what is left"
                    )
                    await self.ctx.record(
                        group, EventKind.BRACKET_TAKE_PROFIT_MISSING, message, EventLevel.CRITICAL
                    )
                continue
            if len(tries) >= MAX_ATTEMPTS:
                continue
            size = min(size, free)
            if size <= 0:
                continue
            tick = tick_of(entry.row)
            price = leg_price(entry.price, side_of(entry.row), Leg.TAKE_PROFIT, target.ticks, tick)
            await self._place(group, entry, Leg.TAKE_PROFIT, n, size, price, len(tries) + 1, target.ticks)
            free -= size
            acted = True
        return acted

    async def _place(
        self,
        group: OcoGroupRow,
        entry: LegView,
        leg: Leg,
        n: int,
        size: int,
        price: Decimal,
        attempt: int,
        ticks: int,
    ) -> None:
        """Place the stop loss (n 0) or target ``n``: written ahead, sent once (sender.py)."""
        row = entry.row
        side = side_of(row)
        stop = leg == Leg.STOP_LOSS
        tag = (
            ids.managed_stop_loss_tag(tag_of(row), attempt)
            if stop
            else ids.scale_target_tag(tag_of(row), n, attempt)
        )
        request = OrderRequest(
            row.account_id,
            row.contract_id,
            side.opposite,
            OrderType.STOP if stop else OrderType.LIMIT,
            size,
            tag,
            limit_price=None if stop else price,
            stop_price=price if stop else None,
        )
        columns = {"stop_loss_ticks": ticks} if stop else {"take_profit_ticks": ticks}
        session = await self.ctx.session(group)
        outcome = await session.place(
            account_of(row),
            leg,
            Action(row.action),
            request,
            parent_id=row.id,
            oco_group_id=group.id,
            **columns,
        )
        if stop:
            self.prices[outcome.order_record_id] = price
        what = "stop loss" if stop else f"target {n}"
        again = " (placed again)" if attempt > 1 else ""
        message = (
            f"scale-out {group.id}: entry {row.client_order_id} filled {entry.filled} @ {entry.price} → "
            f"{what}{again} {request.order_type} {price} × {size} ({outcome.state})"
        )
        level = EventLevel.INFO
        if stop and outcome.state in (OrderState.REJECTED, OrderState.NOT_PLACED):
            level = EventLevel.CRITICAL
            message += f": {outcome.message}; the position is not protected until it is placed"
        await self.ctx.record(group, EventKind.SCALE_OUT_PLACED, message, level)

    async def _modify(
        self,
        group: OcoGroupRow,
        stop: LegView,
        legs: list[LegView],
        why: str,
        *,
        size: int | None,
        stop_price: Decimal | None,
        label: str = "break-even",
    ) -> bool:
        """Order/modify the stop loss: the change is journaled first (``scale_out.modify``), then
        sent once (an absolute size and price: a review after a crash sends it only when the
        gateway's order still differs). ``label`` names a price move ("break-even" also journals
        ``scale_out.break_even``; live_stops.py passes its own). True when the gateway took it;
        a refused or unanswered change is forgotten (the gateway's report decides)."""
        answer, _ = await self._change(group, stop, legs, why, size=size, stop_price=stop_price, label=label)
        return answer == "taken"

    async def _change(
        self,
        group: OcoGroupRow,
        stop: LegView,
        legs: list[LegView],
        why: str,
        *,
        size: int | None,
        stop_price: Decimal | None,
        label: str = "break-even",
        attempt: int | None = None,
    ) -> tuple[Answer, str]:
        """``_modify``, answering how the gateway took it and, when it did not, why;
        ``attempt`` (of MODIFY_ATTEMPTS) is named in the journal when given."""
        assert stop.broker_order_id is not None
        change = []
        if size is not None:
            change.append(f"size {stop.size} → {size}")
            self.ctx.sizes[stop.id] = size
        if stop_price is not None:
            change.append(f"stop price → {stop_price} ({label})")
            self.prices[stop.id] = stop_price
        message = f"scale-out {group.id}: {why} → stop loss {stop.broker_order_id} {', '.join(change)}"
        if attempt is not None:
            message += f" (attempt {attempt} of {MODIFY_ATTEMPTS})"
        await self.ctx.record(group, EventKind.SCALE_OUT_MODIFY, message + ": sending", EventLevel.INFO, legs)
        failpoint("scale_out.modify_written")  # the change journaled, not sent
        level = EventLevel.INFO
        answer: Answer = "taken"
        reason = ""
        try:
            await self.ctx.gateway.modify_order(
                group.account_id, stop.broker_order_id, size=size, stop_price=stop_price
            )
            result = message
        except OrderRejected as exc:
            # A definite "no": the stop is as it was (or filled or cancelled meanwhile: its event
            # settles that). Never believe the refused size or price: the gateway's report decides.
            reason = str(exc)
            result, level, answer = f"{message}: refused ({reason})", EventLevel.WARNING, "refused"
            self._forget(stop.id, size, stop_price)
        except GatewayError as exc:
            reason = str(exc)
            # Not known to be done: forget the change, so the gateway's word (Order/search, read
            # right after) decides; an absolute change sent again where it did land changes nothing.
            result, level, answer = (
                f"{message}: no answer ({exc}); checked over REST",
                EventLevel.WARNING,
                "unknown",
            )
            self._forget(stop.id, size, stop_price)
        await self.ctx.record(group, EventKind.OCO_MODIFY, result, level, legs)
        if stop_price is not None and level == EventLevel.INFO and label == "break-even":
            await self.ctx.record(group, EventKind.SCALE_OUT_BREAK_EVEN, result, EventLevel.INFO, legs)
        return answer, reason

    def _forget(self, stop_id: int, size: int | None, stop_price: Decimal | None) -> None:
        """Forget a size and price asked for and not known to be taken."""
        if size is not None:
            self.ctx.sizes.pop(stop_id, None)
        if stop_price is not None:
            self.prices.pop(stop_id, None)

    async def _cancel(self, group: OcoGroupRow, view: LegView, legs: list[LegView]) -> bool:
        """Cancel a working leg once (True when asked now)."""
        if not view.working or view.state.is_open or view.broker_order_id is None:
            return False
        if view.id in self.ctx.cancel_asked:
            return False
        await self.legs.cancel_leg(group, view, legs)
        return True

    async def _race(self, group: OcoGroupRow, legs: list[LegView], excess: int) -> None:
        """Targets and the stop filled more than the entry: cancel the rest, take back the excess."""
        for view in legs:
            await self._cancel(group, view, legs)
        filled = ", ".join(f"{v.row.client_order_id} filled {v.filled}" for v in legs if v.filled)
        note = f"the legs filled more than the entry ({filled}): {excess} contract(s) over"
        if on_failure(group.policy) == "close":
            later = max((v for v in legs if v.filled), key=lambda v: v.id)
            tag, state = await self.legs.take_back(group, later.row, excess)
            note += f" → took back {excess} with {tag} ({state})"
        else:
            note += " → kept (on_failure = keep): check the position"
        await self.ctx.finish(group, OcoState.RACED, note, legs, EventLevel.CRITICAL)


def _break_even_reached(be: BreakEven | None, sizes: list[int], taken: int) -> BreakEven | None:
    """``be`` once the targets up to ``after_target`` have filled (their capped sizes), else None."""
    if be is None:
        return None
    needed = sum(sizes[: be.after_target])
    return be if needed > 0 and taken >= needed else None
