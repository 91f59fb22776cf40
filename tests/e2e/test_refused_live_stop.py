"""A live stop move the gateway REFUSES (HTTP 200 ``success: false``: the sim's ``reject`` fault):
the stop stays where the gateway has it, the refusal is journaled, the same price is not asked
again at once, and a better price later is sent and taken (app/engine/live_stops.py's ``refused``).
The rig is test_live_stops.py's: a managed bracket trailing 20 ticks in steps of 1, prices moved
only by ``set_price`` and quoted by the simulator's Market Hub."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from app.engine import live_stops
from app.sim.server import SimServer
from tests.e2e.test_live_stops import TICK, entered, modifies, quoted_at, settings_for, sim, stop
from tests.e2e.test_protection import group_of, on_sim
from tests.helpers import eventually

__all__ = ["sim"]  # the fixture (its price walk stilled), shared with test_live_stops.py


async def test_a_refused_move_leaves_the_stop_and_a_better_price_is_sent_and_taken(
    tmp_path: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "not asked again at once" must not turn into "asked again after 10 s" on a slow machine
    monkeypatch.setattr(live_stops, "RETRY_SAME_S", 600.0)
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await entered(env, "live-every", "refused-1")
        start = fill - 20 * TICK
        assert stop(sim).stop_price == start
        sim.state.faults.reject_next(1, path="Order/modify")  # code 3 Rejected, not performed
        await quoted_at(env, contract, fill + 25 * TICK)  # wants the stop at fill + 5 ticks

        async def refused() -> bool:
            [said] = modifies(env, alert_id)
            assert ": refused (" in said and f"→ {fill + 5 * TICK}" in said, said
            return True

        await eventually(refused, timeout_s=20)
        assert stop(sim).stop_price == start  # where the gateway has it: never believed moved
        assert len(sim.state.requests_to("Order/modify")) == 1

        await quoted_at(env, contract, fill + 20 * TICK)  # the best is still +25: the same price
        assert len(sim.state.requests_to("Order/modify")) == 1  # not asked again at once
        assert stop(sim).stop_price == start

        sim.state.set_price(contract, fill + 26 * TICK)  # a better price: sent and taken

        async def moved() -> bool:
            assert stop(sim).stop_price == fill + 6 * TICK
            assert len(modifies(env, alert_id)) == 2  # its answer journaled too
            return True

        await eventually(moved, timeout_s=20)
        taken = modifies(env, alert_id)[0]  # newest first
        assert ": refused (" not in taken, taken
        decided = re.search(r"\): stop (\S+) → (\S+) →", taken)
        assert decided is not None, taken
        # decided from where the gateway had the stop, not from the refused price
        assert (Decimal(decided[1]), Decimal(decided[2])) == (start, fill + 6 * TICK), taken
        assert len(sim.state.requests_to("Order/modify")) == 2
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert kinds.count("scale_out.modify") == 2  # each written ahead, then sent once
        assert group_of(env, alert_id).state == "working"
