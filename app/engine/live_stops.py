"""Stop moves from live quotes: break-even after X ticks in favour, and a bridge-managed trail.

A managed bracket or scale-out group whose plan has live stop moves (app/domain/scale_out.py's
``live``, from [bracket] break_even.after_ticks and trail) has its plain stop loss (type 4,
never a native trailing stop, type 5: a "+trailing" group is skipped) moved as the Market Hub
quotes its contract:

- best: the most favourable live price seen since the entry filled. It is kept in the group's
  note (app/domain/scale_out.py ``best``): written before any move it decides (so a crash between
  a move's write-ahead and its send leaves the best that decided it, and the restart makes that
  move even if the price has come back meanwhile), else at most once per SAVE_GAP_S while it
  improves. A restart goes on from the kept best (at most SAVE_GAP_S of improvement unkept)
  and the price now, whichever is better; prices while the bridge was down are not seen.
- break-even: once best is ``be_after_ticks`` or more in favour of the average fill, the stop goes
  to the fill ± ``be_offset_ticks`` (scale_out.break_even_price); a stop already better stays.
- trail: once best is ``trail_activation_ticks`` or more in favour, the wanted stop is best ∓
  ``trail_ticks``, moved only when it improves the stop by ``trail_step_ticks`` or more.

The stop only moves in the trade's favour. Each move is ScaleOut._modify's Order/modify: written
ahead (``scale_out.modify``, with the numbers), sent once, its answer journaled (``oco.modify``);
a stop the last price is already at or through is not asked for until the price is back past it;
a refused one (e.g. the price passed the new stop) is journaled and the stop stays where the
gateway has it (that same price is asked again only after RETRY_SAME_S; a better one at once).
At most one modify per stop per ``gap_s`` (1 s), one at a time (one task, under the group's
lock, so a review and a move never race). The quote handler only marks and wakes.
A crash between the write-ahead and the send leaves the stop where it was: nothing sends it
again after the restart; the next quote decides afresh from the kept best (one stop, at most one
modify).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.enums import Leg, OrderType, Side
from app.domain.kinds import OcoKind, OcoState
from app.domain.scale_out import read_best, read_live, with_best
from app.domain.ticks import round_in_favour
from app.engine.loops import Passes
from app.engine.protection_context import id_of, side_of
from app.engine.scale_out import break_even_price, past
from app.engine.trailing import trails
from app.errors import JournalError

if TYPE_CHECKING:
    from app.domain.models import LiveStops as Plan
    from app.domain.records import OcoGroupRow
    from app.engine.protection import Protection

log = logging.getLogger(__name__)

MODIFY_GAP_S = 1.0  # at most one Order/modify per stop this often
RETRY_SAME_S = 10.0  # a price refused (or unanswered) is asked again only after this long
PASS_GAP_S = 0.1  # at most one pass over the quoted contracts this often
RELOOK_S = 0.5  # a group skipped while its stop is placed or settled is looked at again this soon
SAVE_GAP_S = 1.0  # an improving best is written to the journal at most this often (and before a move)
KINDS = (OcoKind.MANAGED_BRACKET, OcoKind.SCALE_OUT)


def trail_stop(best: Decimal, side: Side, ticks: int, tick: Decimal) -> Decimal:
    """The trail's stop loss ``ticks`` behind ``best`` (points) for a trade on ``side``, on the
    tick grid and never nearer than ``ticks`` (rounded down for a long, up for a short)."""
    sign = 1 if side is Side.BUY else -1
    return round_in_favour(best - sign * ticks * tick, tick, long=side is Side.SELL)


class LiveStops:
    """Move managed stop losses from live quotes (see the module docstring).

    ``prices()``: contract id → the Market Hub's last price (points).
    """

    def __init__(
        self,
        protection: Protection,
        prices: Callable[[], Mapping[str, Decimal]],
        *,
        gap_s: float = MODIFY_GAP_S,
    ) -> None:
        self.protection = protection
        self.prices = prices
        self.gap_s = gap_s
        self.best: dict[int, Decimal] = {}  # group id → the most favourable price since the fill
        self.saved: dict[int, tuple[Decimal, float]] = {}  # group id → best kept in its note, when
        self._later: dict[str, float] = {}  # contract id → when its next scheduled look is due
        self.asked: dict[int, Decimal] = {}  # stop row id → the stop price the gateway took
        self.sent_at: dict[int, float] = {}  # stop row id → monotonic time of its last modify
        self.refused: dict[int, tuple[Decimal, float]] = {}  # stop row id → price refused, when
        self.modifies = 0  # Order/modify sent (for tests)
        self.looked: dict[str, Decimal] = {}  # contract id → the price its last pass judged (tests)
        self._passes: Passes[str] = Passes("live stop moves", self._pass, PASS_GAP_S)

    @property
    def passes(self) -> int:
        """Passes over the quoted contracts (for tests)."""
        return self._passes.passes

    def start(self) -> None:
        self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()

    def on_quote(self, contract_id: str) -> None:
        """A quote of ``contract_id`` arrived: look at its groups soon. Cheap: marks and wakes."""
        self._passes.mark((contract_id,))

    async def _pass(self, contracts: set[str]) -> None:
        runner = self.protection.runner
        groups = await runner.run(self.protection.journal.oco_groups, OcoState.WORKING)
        prices = self.prices()
        working = {id_of(g) for g in groups}
        for gone in [gid for gid in self.best if gid not in working]:  # done: forget its best
            self.best.pop(gone, None)
            self.saved.pop(gone, None)
        for contract in contracts:
            if (last := prices.get(contract)) is not None:
                self.looked[contract] = last
        for group in groups:
            if group.contract_id not in contracts or group.kind not in KINDS:
                continue
            plan = read_live(group.note)
            price = prices.get(group.contract_id)
            if plan is None or price is None or trails(group.policy):
                continue
            async with self.protection.ctx.locks[id_of(group)]:
                await self._group(group, plan, price)

    async def _group(self, group: OcoGroupRow, plan: Plan, price: Decimal) -> None:
        ctx = self.protection.ctx
        rows = await ctx.rows(id_of(group))
        entry = next((ctx.view(r) for r in rows if r.leg == Leg.ENTRY), None)
        if entry is None or not entry.filled or entry.price is None:
            return
        stops = [ctx.view(r) for r in rows if r.leg == Leg.STOP_LOSS]
        live = [v for v in stops if v.working]
        if len(live) != 1 or live[0].row.order_type != OrderType.STOP:
            if not stops or any(v.working for v in stops):  # placed or replaced soon
                self._look_later(group.contract_id, RELOOK_S)
            return  # none yet, or being replaced: protection's review settles it first
        stop = live[0]
        if stop.state.is_open or stop.broker_order_id is None or stop.id in ctx.cancel_asked:
            self._look_later(group.contract_id, RELOOK_S)  # its placement or cancel is being settled
            return
        side = side_of(entry.row)
        sign = 1 if side is Side.BUY else -1
        tick = entry.row.tick_size
        if tick is None:  # never guess a tick: a wrong one would put the stop anywhere
            log.warning("group %s: the entry's tick size is not journaled; its stop is not moved", group.id)
            return
        held = self.best.get(id_of(group))
        if held is None and (kept := read_best(group.note)) is not None:  # after a restart
            held = kept
            self.saved[id_of(group)] = (kept, float("-inf"))
        best = price if held is None or (price - held) * sign > 0 else held
        self.best[id_of(group)] = best
        favour = int((best - entry.price) * sign / tick)
        current = self.protection.scale_out.stop_price(stop, self.asked.get(stop.id))
        wanted: list[tuple[Decimal, str, str]] = []
        if plan.be_after_ticks is not None and favour >= plan.be_after_ticks:
            be = break_even_price(entry.price, side, plan.be_offset_ticks, tick)
            why = (
                f"best {best} is {favour} ticks in favour of the fill {entry.price} (break-even after "
                f"{plan.be_after_ticks}): stop {current} → {be} (the fill "
                f"{'+' if sign > 0 else '-'} {plan.be_offset_ticks} tick(s))"
            )
            wanted.append((be, why, "break-even"))
        if plan.trail_ticks is not None and favour >= plan.trail_activation_ticks:
            trail = trail_stop(best, side, plan.trail_ticks, tick)
            if current is None or (trail - current) * sign >= plan.trail_step_ticks * tick:
                why = (
                    f"best {best} is {favour} ticks in favour of the fill {entry.price} (trail "
                    f"{plan.trail_ticks} ticks after {plan.trail_activation_ticks}, steps of "
                    f"{plan.trail_step_ticks}): stop {current} → {trail}"
                )
                wanted.append((trail, why, "trail"))
        better = [w for w in wanted if current is None or (w[0] - current) * sign > 0]
        if not better:
            await self._keep(group, best, now=False)
            return
        target, why, label = max(better, key=lambda w: w[0] * sign)
        if past(price, target, side):
            # the price is back at or through the wanted stop: asked now it would be refused (or
            # fill at once); it is asked when the price is on the right side of it again
            await self._keep(group, best, now=False)
            return
        no = self.refused.get(stop.id)
        if no is not None and no[0] == target and time.monotonic() - no[1] < RETRY_SAME_S:
            await self._keep(group, best, now=False)
            return  # the gateway said no to this very price just now: a better one may come
        wait = self.sent_at.get(stop.id, float("-inf")) + self.gap_s - time.monotonic()
        if wait > 0:  # rate limit: look again when this stop may be moved
            await self._keep(group, best, now=False)
            self._look_later(group.contract_id, wait)
            return
        await self._keep(group, best, now=True)  # the best that decides the move, before its write-ahead
        self.sent_at[stop.id] = time.monotonic()
        self.modifies += 1
        legs = [ctx.view(r) for r in rows if r.leg != Leg.ENTRY]
        took = await self.protection.scale_out._modify(  # noqa: SLF001 — the one journaled modify path
            group, stop, legs, why, size=None, stop_price=target, label=label
        )
        if took:
            self.asked[stop.id] = target
        else:  # refused or unanswered (forgotten by _modify: the gateway's report decides)
            self.refused[stop.id] = (target, time.monotonic())

    async def _keep(self, group: OcoGroupRow, best: Decimal, *, now: bool) -> None:
        """Write ``best`` into the group's note when it is not kept yet: at once when ``now`` (a
        move is decided on it), else at most once per SAVE_GAP_S (a later look is scheduled so the
        last improvement is kept even when no quote follows)."""
        gid = id_of(group)
        kept = self.saved.get(gid)
        if kept is not None and kept[0] == best:
            return
        wait = 0.0 if now or kept is None else kept[1] + SAVE_GAP_S - time.monotonic()
        if wait > 0:
            self._look_later(group.contract_id, wait)
            return
        note = with_best(group.note or "", best)
        if note is None:
            return
        runner = self.protection.runner
        try:
            await runner.run(self.protection.journal.set_working_group_note, gid, note)
        except JournalError as exc:  # the move itself still goes on: it is journaled on its own
            log.warning("group %s: the best price %s since the fill was not kept: %s", gid, best, exc)
            return
        self.saved[gid] = (best, time.monotonic())

    def _look_later(self, contract_id: str, delay_s: float) -> None:
        """Look at ``contract_id``'s groups again in ``delay_s`` seconds: a move held back (rate
        limit, a stop being placed or settled) or a best not kept yet must not wait for a quote a
        quiet market may never send. One pending look per contract, the earliest one asked."""
        due = time.monotonic() + delay_s
        if self._later.get(contract_id, float("inf")) <= due:
            return  # an earlier look is already due: it decides again, and asks again if need be

        def look() -> None:
            if self._later.get(contract_id) == due:
                del self._later[contract_id]
            self.on_quote(contract_id)

        self._later[contract_id] = due
        asyncio.get_running_loop().call_later(delay_s, look)
