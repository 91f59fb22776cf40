"""A stop loss resize the gateway REFUSES (HTTP 200 ``success: false``, nothing changed: the sim's
``reject`` fault): the bridge forgets the refused size, tries again a bounded number of times, and
when the gateway still says no, follows the template's ``on_failure`` (app/engine/scale_out.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import Leg, OrderState
from app.failpoints import arm
from app.sim import POSITION_BRACKETS_ACCOUNT_ID
from app.sim.server import SimServer
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_partial_exit import PARTIAL, exit_alert, held, leg_sizes, long_4
from tests.e2e.test_protection import MANAGED, group_of, on_sim
from tests.e2e.test_protection_restart import crashed, on_the_sim, one, position_size
from tests.e2e.test_scale_out import ACCOUNT, TICK, body, legs, placed, stops, targets
from tests.e2e.test_stray_legs import BRACKET_ALERT, bracketed, working
from tests.helpers import SHIPPED_TEMPLATES, eventually

RETRY_S = 0.3  # the bridge's spacing between attempts, short for the tests


def modifies(env: Env, alert_id: int) -> list[str]:
    """The answers to the stop's Order/modify calls, oldest first."""
    return [e.message for e in reversed(env.journal.events(alert_id=alert_id)) if e.kind == "oco.modify"]


def modify_asks(sim: SimServer) -> list[object]:
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
            assert len(modifies(env, alert_id)) == 2  # the taken one's answer journaled too
            return True

        await eventually(resized, timeout_s=10)
        said = modifies(env, alert_id)
        assert len(said) == 2, said  # refused once, then taken: never sent a third time
        assert ": refused (" in said[0] and "size 3 → 2" in said[0] and "attempt 1 of 3" in said[0]
        assert ": refused (" not in said[1] and "attempt 2 of 3" in said[1]
        assert "the gateway refused it 1 time(s), asking again" in said[1]  # a new decision, said so
        # each attempt written ahead, then sent once: two asks at the simulator, the same change
        asks = modify_asks(sim)
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
        assert len(modify_asks(sim)) == 3  # bounded: three attempts, then no more
        said = modifies(env, alert_id)
        assert len(said) == 3 and all(": refused (" in m and "Order is locked" in m for m in said), said
        events = env.journal.events(alert_id=alert_id)
        [critical] = [e for e in events if e.kind == "oco.modify_refused"]
        assert critical.level == "critical"
        assert "stop loss" in critical.message and "3 contracts for 2 open" in critical.message
        assert "closing" in critical.message
        assert legs(env, alert_id)["T1"].state == OrderState.FILLED


@pytest.mark.parametrize("policy", ["close", "keep"])
async def test_a_managed_bracket_s_resize_refused_every_time_follows_on_failure(
    tmp_path: Path, policy: str
) -> None:
    """Long 4 with a managed bracket, half closed by a partial exit: the legs must shrink to 2
    and the gateway refuses every Order/modify. The bridge never believes 2: it asks again, at
    most 3 times a leg, then CRITICAL and the template's on_failure (close: flat; keep: the legs
    left for the trader, never asked again, even on a resume)."""
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    managed = MANAGED.replace('mode = "managed"', f'mode = "managed"\non_failure = "{policy}"')
    assert f'on_failure = "{policy}"' in managed
    (tmp_path / "templates" / "mnq-managed.toml").write_text(managed)
    managed_exit = (
        (SHIPPED_TEMPLATES / f"{PARTIAL}.toml").read_text().replace("SIM-AUTO-OCO", "SIM-POSITION-BRACKETS")
    )
    (tmp_path / "templates" / "mnq-managed-exit.toml").write_text(managed_exit)
    async with running(make_settings(tmp_path), tmp_path) as env:
        protection = env.runtime.bridge.protection
        protection.refusals.retry_s = RETRY_S
        entry_id, contract_id = await bracketed(
            env, "mnq-managed", long_4(BRACKET_ALERT.replace(b"Long-", b"Managed-"))
        )
        env.sim.faults.reject_next(100, path="Order/modify", message="Order is locked")

        reply = (await env.send("mnq-managed-exit", exit_alert("50%"))).json()
        assert reply["status"] == "executed", reply
        assert held(env, POSITION_BRACKETS_ACCOUNT_ID) == 2
        # The partial exit's own resizes were refused (reported, not resent: partial_exit.py) and
        # no event of the legs follows a refusal: the group's next review (here a reconnect's)
        # finds 4 for 2 and resizes, asking again as the gateway keeps refusing.
        await protection.resume(POSITION_BRACKETS_ACCOUNT_ID)

        async def given_up() -> list[Any]:
            events = env.journal.events(limit=1000)
            found = [e for e in events if e.kind == "oco.modify_refused"]
            assert found, [e.kind for e in events][:30]
            return found

        found = await eventually(given_up, timeout_s=15)
        critical = found[-1]  # the first leg given up (newest first)
        assert critical.level == "critical" and "Order is locked" in critical.message
        assert "is 4 contracts for 2" in critical.message, critical.message
        if policy == "close":

            async def flat() -> bool:
                assert held(env, POSITION_BRACKETS_ACCOUNT_ID) == 0
                assert not working(env, POSITION_BRACKETS_ACCOUNT_ID, contract_id)
                return True

            await eventually(flat, timeout_s=10)
            assert "closing" in critical.message
        else:
            assert "resize it to 2 in TopstepX or flatten" in critical.message

            async def both_legs() -> bool:
                said = " ".join(e.message for e in await given_up())
                assert "stop_loss" in said and "take_profit" in said
                return True

            await eventually(both_legs, timeout_s=10)
            asked = len(env.sim.requests_to("Order/modify"))
            await protection.resume(POSITION_BRACKETS_ACCOUNT_ID)  # a reconnect: not asked again
            assert len(env.sim.requests_to("Order/modify")) == asked
            assert held(env, POSITION_BRACKETS_ACCOUNT_ID) == 2
            assert leg_sizes(env, entry_id) == {
                Leg.STOP_LOSS: 4,
                Leg.TAKE_PROFIT: 4,
            }  # as the gateway has them
        # bounded: the partial exit's own resize of each leg, then at most 3 attempts a leg
        assert len(env.sim.requests_to("Order/modify")) <= 2 + 3 * 2


async def test_a_crash_between_a_retry_s_write_ahead_and_its_send_resizes_once_on_restart(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    with arm("scale_out.modify_written", 2):  # the retry's write-ahead: the first attempt was refused
        async with on_sim(settings, tmp_path, sim) as env:
            env.runtime.bridge.protection.refusals.retry_s = RETRY_S
            alert_id = (await env.send("mnq-scale-out", body("so-refused-crash"))).json()["alert_id"]
            entry, fill = await placed(env, alert_id)
            sim.state.faults.reject_next(1, path="Order/modify")
            sim.state.set_price(entry.contract_id, fill + 20 * TICK)  # TP1 fills: resize 3 → 2

            async def at_the_failpoint() -> bool:
                asked = [e for e in env.journal.events(alert_id=alert_id) if e.kind == "scale_out.modify"]
                assert len(asked) == 2  # the refused attempt and the retry, both written ahead
                return True

            await crashed(env, at_the_failpoint)
    # the bridge is gone with the retry written, never sent: the stop is as the gateway has it
    assert len(modify_asks(sim)) == 1
    assert one(stops(sim)).size == 3 and position_size(sim, ACCOUNT) == 2

    async with on_sim(settings, tmp_path, sim) as env:  # the restart decides afresh, once

        async def resized() -> bool:
            stop = one(stops(sim))  # never a second stop loss
            assert (stop.size, stop.stop_price) == (2, fill + TICK)
            return True

        await eventually(resized, timeout_s=10)
        assert len(modify_asks(sim)) == 2
        assert group_of(env, alert_id).state == "working"
