"""Scale-out on the simulator: three targets filled one by one, the stop loss resized to what is left
and moved to break-even, the last contract stopped out; and a crash between a target's fill and the
stop loss's resize, resumed on restart (app/engine/scale_out.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import Leg, OrderState
from app.failpoints import FailpointCrash, arm
from app.sim.models import OrderStatus, OrderType
from app.sim.server import SimServer
from tests.e2e.conftest import Env, hub_dropped
from tests.e2e.test_protection import group_of, on_sim
from tests.e2e.test_protection_restart import (
    AUTO_OCO,
    crashed,
    on_the_sim,
    one,
    position_size,
    working,
)
from tests.helpers import SHIPPED_ALERTS, eventually

ACCOUNT = AUTO_OCO  # the shipped mnq-scale-out's account (SIM-AUTO-OCO)


ALERT = (SHIPPED_ALERTS / "mnq-scale-out.example.json").read_text()
TICK = Decimal("0.25")


def body(key: str) -> str:
    data = json.loads(ALERT)
    data.update(id=key)
    return json.dumps(data)


def legs(env: Env, alert_id: int) -> dict[str, Any]:
    """The alert's rows by tag suffix: entry, MSL (stop loss), T1, T2, T3."""
    return {
        (o.client_order_id.rsplit("-", 1)[-1] if o.leg != Leg.ENTRY else "entry"): o
        for o in env.orders(alert_id)
        if o.client_order_id  # not the cancels' rows
    }


def stops(sim: SimServer) -> list[Any]:
    return working(sim, ACCOUNT, OrderType.STOP)


def targets(sim: SimServer) -> list[Any]:
    return sorted(working(sim, ACCOUNT, OrderType.LIMIT), key=lambda o: o.limit_price)


async def placed(env: Env, alert_id: int) -> tuple[Any, Decimal]:
    """Wait for the stop loss (3) and the three targets (1 each); return the entry and its fill."""

    async def all_working() -> bool:
        stop = one(stops(env.sim_server))
        assert stop.size == 3
        assert [t.size for t in targets(env.sim_server)] == [1, 1, 1]
        return True

    await eventually(all_working, timeout_s=5)
    entry = legs(env, alert_id)["entry"]
    return entry, entry.filled_price


async def test_three_targets_one_by_one_then_the_stop_at_break_even(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        reply = (await env.send("mnq-scale-out", body("so-1"))).json()
        assert reply["status"] == "executed", reply
        alert_id = reply["alert_id"]
        entry, fill = await placed(env, alert_id)
        stop = one(stops(sim))
        assert stop.stop_price == fill - 40 * TICK
        assert [t.limit_price for t in targets(sim)] == [fill + 20 * TICK, fill + 40 * TICK, fill + 80 * TICK]
        group = group_of(env, alert_id)
        assert (group.kind, group.state) == ("scale_out", "working")

        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1

        async def after_tp1() -> bool:
            stop = one(stops(sim))
            assert (stop.size, stop.stop_price) == (2, fill + TICK)  # resized, at break-even + 1 tick
            assert position_size(sim, ACCOUNT) == 2
            return True

        await eventually(after_tp1, timeout_s=5)

        sim.state.set_price(entry.contract_id, fill + 40 * TICK)  # TP2

        async def after_tp2() -> bool:
            stop = one(stops(sim))
            assert (stop.size, stop.stop_price) == (1, fill + TICK)
            assert [t.size for t in targets(sim)] == [1]  # TP3 still working
            return True

        await eventually(after_tp2, timeout_s=5)

        sim.state.set_price(entry.contract_id, fill)  # back below break-even: the stop fills

        async def flat() -> bool:
            assert position_size(sim, ACCOUNT) == 0
            assert stops(sim) == [] and targets(sim) == []
            assert group_of(env, alert_id).state == "done"
            rows = legs(env, alert_id)
            states = {k: (o.state, o.fill_volume or 0) for k, o in rows.items()}
            assert states["T1"] == (OrderState.FILLED, 1) and states["T2"] == (OrderState.FILLED, 1)
            assert states["MSL"] == (OrderState.FILLED, 1)
            assert states["T3"][0] == OrderState.CANCELLED
            return True

        await eventually(flat, timeout_s=5)
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert kinds.count("scale_out.placed") == 4
        assert "scale_out.break_even" in kinds and "oco.done" in kinds
        modifies = [e.message for e in env.journal.events(alert_id=alert_id) if e.kind == "oco.modify"]
        assert any("size 3 → 2" in m and "break-even" in m for m in modifies), modifies
        assert any("size 2 → 1" in m for m in modifies), modifies
        # every modify was journaled before it was sent (its "sending" row first)
        asked = [e for e in env.journal.events(alert_id=alert_id) if e.kind == "scale_out.modify"]
        assert len(asked) == len(modifies) == 2


async def test_a_stop_tightened_by_hand_is_resized_but_never_loosened_to_break_even(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        alert_id = (await env.send("mnq-scale-out", body("so-hand"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        stop = one(stops(sim))
        sim.state.set_price(entry.contract_id, fill + 10 * TICK)
        sim.state.modify_order(ACCOUNT, stop.id, stop_price=fill + 5 * TICK)  # the trader, in TopstepX
        row_id = legs(env, alert_id)["MSL"].id
        reports = env.runtime.bridge.protection.ctx.reports

        async def reported() -> bool:
            assert reports[row_id].stop_price == fill + 5 * TICK
            return True

        await eventually(reported, timeout_s=10)
        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1: break-even would be fill + 1

        async def resized() -> bool:
            assert (one(stops(sim)).size, one(stops(sim)).stop_price) == (2, fill + 5 * TICK)
            modifies = [e.message for e in env.journal.events(alert_id=alert_id) if e.kind == "oco.modify"]
            assert len(modifies) == 1 and "size 3 → 2" in modifies[0], modifies  # its answer journaled
            assert "stop price" not in modifies[0]
            return True

        await eventually(resized, timeout_s=10)


async def test_a_partial_exit_shrinks_the_group_and_its_review_never_sizes_the_stop_back_up(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        alert_id = (await env.send("mnq-scale-out", body("so-part"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        raw = (SHIPPED_ALERTS / "mnq-exit-partial.example.json").read_text().replace("50%", "1")
        reply = (await env.send("mnq-exit-partial", raw)).json()
        assert reply["status"] == "executed", reply

        async def shrunk() -> bool:
            assert position_size(sim, ACCOUNT) == 2
            assert one(stops(sim)).size == 2  # the stop covers what is left, no more
            assert [t.size for t in targets(sim)] == [1, 1]  # target 3 has nothing left to take
            return True

        await eventually(shrunk, timeout_s=10)
        await env.runtime.bridge.protection.review(group_of(env, alert_id).id)  # a review now
        await eventually(shrunk, timeout_s=10)  # the group counts the closed contract
        assert not [e for e in env.journal.events(alert_id=alert_id) if e.level == "critical"]

        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1: 1 left, at break-even

        async def after_tp1() -> bool:
            assert position_size(sim, ACCOUNT) == 1
            assert (one(stops(sim)).size, one(stops(sim)).stop_price) == (1, fill + TICK)
            return True

        await eventually(after_tp1, timeout_s=10)


@pytest.mark.parametrize("point", ["scale_out.before_resize", "scale_out.modify_written"])
async def test_a_crash_between_a_target_s_fill_and_the_resize_resizes_on_restart(
    tmp_path: Path, sim: SimServer, point: str
) -> None:
    settings = on_the_sim(tmp_path, sim)
    with arm(point, 1):
        async with on_sim(settings, tmp_path, sim) as env:
            alert_id = (await env.send("mnq-scale-out", body("so-crash"))).json()["alert_id"]
            entry, fill = await placed(env, alert_id)
            sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1 fills, then the crash

            async def at_the_failpoint() -> bool:
                assert legs(env, alert_id)["T1"].state == OrderState.FILLED
                return True

            await crashed(env, at_the_failpoint)
    # the bridge is gone: the stop still covers 3 against a position of 2
    assert position_size(sim, ACCOUNT) == 2
    assert one(stops(sim)).size == 3

    async with on_sim(settings, tmp_path, sim) as env:  # the restart

        async def resized() -> bool:
            stop = one(stops(sim))  # never a second stop loss
            assert (stop.size, stop.stop_price) == (2, fill + TICK)
            assert [t.size for t in targets(sim)] == [1, 1]  # TP2, TP3: never placed again
            return True

        await eventually(resized, timeout_s=5)
        assert group_of(env, alert_id).state == "working"
        sim.state.set_price(entry.contract_id, fill - 40 * TICK)  # the stop fills at break-even

        async def flat() -> bool:
            assert position_size(sim, ACCOUNT) == 0
            assert stops(sim) == [] and targets(sim) == []
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=5)
        assert not [o for o in sim.state.orders.values() if o.status == OrderStatus.OPEN]


async def test_a_crash_before_the_legs_places_them_on_restart(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    with arm("managed.leg_written", 1):  # the stop loss's row written, nothing of it sent
        async with on_sim(settings, tmp_path, sim) as env:
            alert_id = (await env.send("mnq-scale-out", body("so-legs"))).json()["alert_id"]

            async def at_the_failpoint() -> bool:
                assert "MSL" in legs(env, alert_id)
                return True

            await crashed(env, at_the_failpoint)
    assert position_size(sim, ACCOUNT) == 3 and stops(sim) == []

    async with on_sim(settings, tmp_path, sim) as env:
        await placed(env, alert_id)
        assert group_of(env, alert_id).state == "working"


async def test_a_crash_between_the_group_and_its_entry_sends_one_entry_and_closes_the_empty_group(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        # the group journaled, its entry not written: nothing sent
        with arm("group.written", 1), pytest.raises(FailpointCrash):
            await env.send("mnq-scale-out", body("so-group"))
        assert len(env.journal.oco_groups("working")) == 1
    assert position_size(sim, ACCOUNT) == 0 and stops(sim) == []

    async with on_sim(settings, tmp_path, sim) as env:  # the alert is resumed: one entry, protected
        [alert_id] = {g.alert_id for g in env.journal.oco_groups("working") + env.journal.oco_groups("done")}
        await placed(env, alert_id)
        assert position_size(sim, ACCOUNT) == 3  # one entry of 3, not two

        async def the_empty_group_is_done() -> bool:
            [done] = env.journal.oco_groups("done")
            assert done.note is not None and "never written" in done.note, done.note
            [working_group] = env.journal.oco_groups("working")
            assert working_group.alert_id == alert_id and working_group.id != done.id
            return True

        await eventually(the_empty_group_is_done, timeout_s=10)


async def test_a_resize_the_gateway_did_not_answer_is_sent_again_after_reading_the_order(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        alert_id = (await env.send("mnq-scale-out", body("so-fault"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        sim.state.faults.fail_next(1, path="Order/modify")  # HTTP 500: not performed
        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1

        async def resized() -> bool:
            stop = one(stops(sim))
            assert (stop.size, stop.stop_price) == (2, fill + TICK)
            modifies = [e.message for e in env.journal.events(alert_id=alert_id) if e.kind == "oco.modify"]
            # the unanswered one, then the same change sent again once Order/search showed size 3
            # (each answer journaled after the gateway has the change: waited for too)
            assert sorted("no answer" in m for m in modifies) == [False, True], modifies
            return True

        await eventually(resized, timeout_s=10)


async def test_a_target_filled_while_the_hub_was_down_resizes_the_stop_after_the_reconnect(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        alert_id = (await env.send("mnq-scale-out", body("so-hub"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        hub = env.hub
        await hub_dropped(env)
        sim.state.set_price(entry.contract_id, fill + 40 * TICK)  # TP1 and TP2 fill, the bridge deaf
        assert one(stops(sim)).size == 3

        async def resized() -> bool:
            assert hub.state.connected
            stop = one(stops(sim))
            assert (stop.size, stop.stop_price) == (1, fill + TICK)  # what is left, at break-even
            assert [t.size for t in targets(sim)] == [1]
            return True

        await eventually(resized, timeout_s=10)
        assert group_of(env, alert_id).state == "working"


async def test_the_stop_loss_first_cancels_every_target(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        alert_id = (await env.send("mnq-scale-out", body("so-stop"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        sim.state.set_price(entry.contract_id, fill - 40 * TICK)  # the stop loss, 3 contracts

        async def flat() -> bool:
            assert position_size(sim, ACCOUNT) == 0
            assert stops(sim) == [] and targets(sim) == []
            assert group_of(env, alert_id).state == "done"
            rows = legs(env, alert_id)
            assert (rows["MSL"].state, rows["MSL"].fill_volume) == (OrderState.FILLED, 3)
            assert {rows[t].state for t in ("T1", "T2", "T3")} == {OrderState.CANCELLED}
            return True

        await eventually(flat, timeout_s=5)
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert "oco.modify" not in kinds and "scale_out.break_even" not in kinds
