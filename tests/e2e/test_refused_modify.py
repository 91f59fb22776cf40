"""A stop loss resize the gateway REFUSES (HTTP 200 ``success: false``, nothing changed: the sim's
``reject`` fault): the bridge forgets the refused size, tries again a bounded number of times, and
when the gateway still says no, follows the template's ``on_failure`` (app/engine/scale_out.py)."""

from __future__ import annotations

from pathlib import Path

from app.domain.enums import OrderState
from app.sim.server import SimServer
from tests.e2e.conftest import Env
from tests.e2e.test_protection import group_of, on_sim
from tests.e2e.test_protection_restart import on_the_sim, one, position_size
from tests.e2e.test_scale_out import ACCOUNT, TICK, body, legs, placed, sim, stops, targets
from tests.helpers import eventually

__all__ = ["sim"]  # the fixture, shared with test_scale_out.py

RETRY_S = 0.3  # the bridge's spacing between attempts, short for the tests


def modifies(env: Env, alert_id: int) -> list[str]:
    """The answers to the stop's Order/modify calls, oldest first."""
    return [e.message for e in reversed(env.journal.events(alert_id=alert_id)) if e.kind == "oco.modify"]


def refused_at_sim(sim: SimServer) -> list[object]:
    """The Order/modify bodies the simulator received."""
    return [r.json_body for r in sim.state.requests_to("Order/modify")]


async def test_a_refused_resize_is_tried_again_and_taken(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        env.runtime.bridge.protection.refusals.retry_s = RETRY_S
        alert_id = (await env.send("mnq-scale-out", body("so-refused-once"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        sim.state.faults.reject_next(1, path="Order/modify")  # code 3 Rejected, not performed
        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1 fills: resize 3 → 2

        async def resized() -> bool:
            stop = one(stops(sim))
            assert (stop.size, stop.stop_price) == (2, fill + TICK)  # resized, at break-even + 1 tick
            assert position_size(sim, ACCOUNT) == 2
            return True

        await eventually(resized, timeout_s=10)
        said = modifies(env, alert_id)
        assert len(said) == 2, said  # refused once, then taken: never sent a third time
        assert ": refused (" in said[0] and "size 3 → 2" in said[0] and "attempt 1 of 3" in said[0]
        assert ": refused (" not in said[1] and "attempt 2 of 3" in said[1]
        assert "the gateway refused it 1 time(s), asking again" in said[1]  # a new decision, said so
        # each attempt written ahead, then sent once: two asks at the simulator, the same change
        asks = refused_at_sim(sim)
        assert len(asks) == 2 and asks[0] == asks[1], asks
        assert group_of(env, alert_id).state == "working"
        assert [t.size for t in targets(sim)] == [1, 1]


async def test_a_resize_refused_every_time_closes_per_on_failure(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        env.runtime.bridge.protection.refusals.retry_s = RETRY_S
        alert_id = (await env.send("mnq-scale-out", body("so-refused"))).json()["alert_id"]
        entry, fill = await placed(env, alert_id)
        sim.state.faults.reject_next(10, path="Order/modify", code=3, message="Order is locked")
        sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1 fills: resize 3 → 2

        async def closed() -> bool:
            assert group_of(env, alert_id).state == "failed"
            assert position_size(sim, ACCOUNT) == 0  # on_failure = close (the template's default)
            assert stops(sim) == [] and targets(sim) == []
            return True

        await eventually(closed, timeout_s=15)
        assert len(refused_at_sim(sim)) == 3  # bounded: three attempts, then no more
        said = modifies(env, alert_id)
        assert len(said) == 3 and all(": refused (" in m and "Order is locked" in m for m in said), said
        events = env.journal.events(alert_id=alert_id)
        [critical] = [e for e in events if e.kind == "oco.modify_refused"]
        assert critical.level == "critical"
        assert "stop loss" in critical.message and "3 contracts for 2 open" in critical.message
        assert "closing" in critical.message
        assert legs(env, alert_id)["T1"].state == OrderState.FILLED
