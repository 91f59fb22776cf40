"""The legs of a group against their cap: cancel what is no longer needed, shrink, settle a race.

The legs share a cap (an OCO pair: the larger leg's size; a managed bracket: the entry's
filled size): once the legs' fills reach it, the legs still working are cancelled; a partial
fill shrinks the others (Order/modify, an absolute size); fills beyond the cap (both legs filled
in a race) follow the group's policy: "flatten" (or "close") takes back the later leg's excess
with an opposite market order, "keep" only journals it. Every decision is an event row.

A resize the gateway refuses is not believed (the gateway's report decides the leg's size): it is
asked again as a new decision at most MODIFY_ATTEMPTS times, spaced (refusals.py); then a CRITICAL
``oco.modify_refused`` gives the numbers, and a managed bracket follows its ``on_failure`` (``fail``:
"close" cancels the legs and closes what is open, "keep" leaves the leg for the trader).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType
from app.domain.kinds import EventKind, EventLevel, OcoState
from app.domain.models import OrderRequest
from app.engine.protection_context import (
    PROTECTIVE,
    LegView,
    ProtectionContext,
    account_of,
    id_of,
    side_of,
    tag_of,
)
from app.engine.refusals import MODIFY_ATTEMPTS, Refusal, Refusals
from app.engine.trailing import on_failure
from app.errors import GatewayError, OrderRejected

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from app.domain.records import OcoGroupRow, OrderRow

log = logging.getLogger(__name__)

# A managed bracket's failure policy: fail(group, legs, why) cancels the legs and closes or keeps.
Fail = Callable[["OcoGroupRow", list[LegView], str], Awaitable[None]]


class OcoReview:
    """Review a group's legs against their cap (OCO pairs and managed brackets alike)."""

    def __init__(self, ctx: ProtectionContext, refusals: Refusals | None = None) -> None:
        self.ctx = ctx
        self.refusals = refusals or Refusals(ctx.spawn)

    async def review_legs(
        self,
        group: OcoGroupRow,
        legs: list[LegView],
        cap: int,
        *,
        entry_done: bool = True,
        managed: bool = False,
        fail: Fail | None = None,
    ) -> bool:
        """One pass over a group's legs against their cap; True when something was sent.
        ``fail``: the managed bracket's failure policy, for a resize the gateway keeps refusing."""
        total = sum(v.filled for v in legs)
        if total > cap and sum(1 for v in legs if v.filled) > 1:
            await self._race(group, legs, total - cap)
            return True
        acted = False
        for leg in legs:
            if not leg.working or leg.state.is_open or leg.broker_order_id is None:
                continue  # finished, or its placement is still being settled
            target = min(cap if leg.row.leg in PROTECTIVE else leg.row.size or 0, cap - total + leg.filled)
            if target <= leg.filled:
                if leg.id not in self.ctx.cancel_asked:
                    await self.cancel_leg(group, leg, legs)
                    acted = True
            elif leg.filled == 0 and leg.size != target:
                if (given_up := self.refusals.given_up(leg.id, (target, None))) is not None:
                    if await self._given_up(group, leg, legs, given_up, fail):
                        return True  # the group failed per its policy: nothing more to do here
                    continue
                acted |= await self._resize(group, leg, legs, target)
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
        await self.ctx.finish(group, OcoState.DONE, note, legs, EventLevel.INFO)
        return acted

    async def _race(self, group: OcoGroupRow, legs: list[LegView], excess: int) -> None:
        """Both legs filled: cancel what still works, then apply the policy to the excess."""
        for leg in legs:
            if leg.working and not leg.state.is_open and leg.broker_order_id is not None:
                await self.cancel_leg(group, leg, legs)
        later = max((v for v in legs if v.filled), key=_fill_order)
        filled = " and ".join(f"{v.name} {v.broker_order_id} filled {v.filled}" for v in legs if v.filled)
        note = f"both legs filled ({filled}): {excess} contract(s) over"
        if on_failure(group.policy) in ("flatten", "close"):
            tag, state = await self.take_back(group, later.row, excess)
            note += f" → took back {excess} of the later {later.name} with {tag} ({state})"
        else:
            note += " → kept (on_both_filled = keep): check the position"
        await self.ctx.finish(group, OcoState.RACED, note, legs, EventLevel.CRITICAL)

    async def take_back(self, group: OcoGroupRow, row: OrderRow, size: int) -> tuple[str, OrderState]:
        """Send ``size`` contracts opposite to ``row``'s side at market, tagged ``<tag>-FL``, once:
        a row with that tag already journaled means it was sent. Return the tag and its state."""
        tag = ids.flatten_tag(tag_of(row))
        held = await self.ctx.runner.run(self.ctx.journal.order_by_client_id, group.account_id, tag)
        if held is not None:
            return tag, held.state
        request = OrderRequest(
            group.account_id, group.contract_id, side_of(row).opposite, OrderType.MARKET, size, tag
        )
        outcome = await (await self.ctx.session(group)).place(
            account_of(row), Leg.CLOSE, Action.EXIT, request, parent_id=row.id, oco_group_id=group.id
        )
        return tag, outcome.state

    async def cancel_leg(self, group: OcoGroupRow, leg: LegView, legs: list[LegView]) -> None:
        assert leg.broker_order_id is not None
        outcome = await (await self.ctx.session(group)).cancel(
            account_of(leg.row), group.contract_id, leg.broker_order_id
        )
        if outcome.state in (OrderState.DONE, OrderState.UNKNOWN):
            self.ctx.cancel_asked.add(leg.id)
        why = ", ".join(f"{v.name} filled {v.filled}" for v in legs if v.filled) or "the cap was reached"
        message = f"OCO group {group.id}: {why} → cancel {leg.name} {leg.broker_order_id}: {outcome.state}"
        if outcome.message:
            message += f" ({outcome.message})"
        await self.ctx.record(group, EventKind.OCO_CANCEL, message, EventLevel.INFO, legs)

    async def _resize(self, group: OcoGroupRow, leg: LegView, legs: list[LegView], size: int) -> bool:
        """Resize the leg unless the gateway refused this very size just now (asked again later,
        refusals.py); True when something was sent."""
        attempt = self.refusals.attempt(leg.id, (size, None), id_of(group))
        if attempt is None:
            return False
        await self._modify_leg(group, leg, legs, size, attempt)
        return True

    async def _given_up(
        self, group: OcoGroupRow, leg: LegView, legs: list[LegView], refusal: Refusal, fail: Fail | None
    ) -> bool:
        """The gateway refused resizing the leg every attempt: say so once (CRITICAL, with the
        numbers), then a managed bracket's ``fail`` when its policy closes; True when it did."""
        if refusal.reported:
            return False
        refusal.reported = True
        numbers = f"{leg.name} {leg.broker_order_id} is {leg.size} contracts for {refusal.size}"
        head = (
            f"OCO group {group.id}: the gateway refused resizing {leg.name} {leg.broker_order_id} "
            f"{leg.size} → {refusal.size} {refusal.attempts} times ({refusal.message}): {numbers}"
        )
        closing = fail is not None and on_failure(group.policy) == "close"
        if closing:
            message = f"{head} → closing the position and its legs (on_failure = close)"
        else:
            message = f"{head} → kept: resize it to {refusal.size} in TopstepX or flatten the position"
        await self.ctx.record(group, EventKind.OCO_MODIFY_REFUSED, message, EventLevel.CRITICAL, legs)
        if fail is not None and closing:
            await fail(group, legs, f"{numbers}; the gateway refused the resize")
            return True
        return False

    async def _modify_leg(
        self, group: OcoGroupRow, leg: LegView, legs: list[LegView], size: int, attempt: int = 1
    ) -> None:
        """Order/modify the leg to ``size`` contracts; sent once (an absolute size, so a later
        review that sends it again after an unknown answer changes nothing). A refusal is not
        believed: the size is forgotten and the refusal kept (refusals.py)."""
        assert leg.broker_order_id is not None
        self.ctx.sizes[leg.id] = size
        why = ", ".join(f"{v.name} filled {v.filled}" for v in legs if v.filled) or "entry filled"
        if (before := self.refusals.before(leg.id, (size, None))) is not None:
            why = f"{why}; the gateway refused it {before.attempts} time(s), asking again"
        message = (
            f"OCO group {group.id}: {why} → {leg.name} {leg.broker_order_id} resized {leg.size} → {size}"
        )
        if attempt > 1:
            message += f" (attempt {attempt} of {MODIFY_ATTEMPTS})"
        level = EventLevel.INFO
        try:
            await self.ctx.gateway.modify_order(group.account_id, leg.broker_order_id, size=size)
            self.refusals.settled(leg.id)
        except OrderRejected as exc:
            # A definite "no": the leg is as it was (or filled or cancelled meanwhile: its event
            # settles that). Never believe the refused size: the gateway's report decides.
            message, level = (
                f"{message}: refused ({exc})" + ("" if attempt > 1 else f" (attempt 1 of {MODIFY_ATTEMPTS})"),
                EventLevel.WARNING,
            )
            self.ctx.sizes.pop(leg.id, None)
            self.refusals.refused(leg.id, (size, None), attempt, str(exc), id_of(group))
        except GatewayError as exc:
            message, level = (
                f"{message}: no answer ({exc}); not resent, checked over REST",
                EventLevel.WARNING,
            )
        await self.ctx.record(group, EventKind.OCO_MODIFY, message, level, legs)


def _fill_order(view: LegView) -> tuple[float, int]:
    """Sort key: when the leg last filled (else its last report), then its row id."""
    at = view.row.last_fill_at or view.updated_at
    return (at.timestamp() if at is not None else 0.0, view.id)
