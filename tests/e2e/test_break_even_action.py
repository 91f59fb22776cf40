"""A breakeven alert (TradersPost ``action: "breakeven"``) on the simulator: the native bracket's
stop loss moved to the entry's fill price once, a second one a noop, never moved past the market,
a stop placed at break-even where none protects the position, and a crash after the move was
written ahead sends it once (app/engine/break_even.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.failpoints import FailpointCrash, arm
from app.sim.models import OrderType
from app.sim.server import SimServer
from tests.e2e.conftest import Env
from tests.e2e.test_protection import on_sim
from tests.e2e.test_protection_restart import AUTO_OCO, on_the_sim, one, position_size, working
from tests.helpers import SHIPPED_ALERTS, eventually

TICK = Decimal("0.25")


def entry_body(key: str, **fields: Any) -> str:
    data = json.loads((SHIPPED_ALERTS / "traderspost.example.json").read_text())
    data.update(id=key, **fields)
    return json.dumps(data)


def breakeven_body(key: str) -> str:
    return json.dumps({"ticker": "MNQ1!", "action": "breakeven", "id": key})


def stops(sim: SimServer) -> list[Any]:
    return working(sim, AUTO_OCO, OrderType.STOP)


async def long_with_bracket(env: Env, key: str) -> tuple[str, Decimal, Decimal]:
    """Buy 1 with a native bracket (stop 10 points below); wait for the stop loss. Returns the
    contract, the fill price and the stop's price."""
    reply = (await env.send("traderspost", entry_body(key))).json()
    assert reply["status"] == "executed", reply
    sim = env.sim_server

    async def protected() -> bool:
        assert position_size(sim, AUTO_OCO) == 1
        one(stops(sim))
        return True

    await eventually(protected, timeout_s=5)
    [position] = sim.state.open_positions(AUTO_OCO)
    stop = one(stops(sim))
    return position.contract_id, Decimal(str(position.average_price)), stop.stop_price


def modifies(sim: SimServer) -> list[dict[str, Any]]:
    return [r.json_body for r in sim.state.requests_to("Order/modify")]


async def test_breakeven_moves_the_stop_to_the_fill_then_a_second_is_a_noop(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        contract, fill, before = await long_with_bracket(env, "be-1")
        assert before < fill
        sim.state.set_price(contract, fill + 8 * TICK)  # in profit, short of the take profit

        reply = (await env.send("traderspost", breakeven_body("be-1a"))).json()
        assert reply["status"] == "executed", reply
        stop = one(stops(sim))
        assert stop.stop_price == fill and stop.size == 1  # at the fill, the same order
        assert len(modifies(sim)) == 1
        kinds = [e.kind for e in sorted(env.journal.events(alert_id=reply["alert_id"]), key=lambda e: e.id)]
        assert kinds.index("break_even.modify") < kinds.index("break_even.result")  # written ahead

        again = (await env.send("traderspost", breakeven_body("be-1b"))).json()
        assert again["status"] == "noop", again
        assert "already at or better than break-even" in again["reason"], again
        assert len(modifies(sim)) == 1 and one(stops(sim)).stop_price == fill


async def test_breakeven_with_the_market_below_the_entry_leaves_the_stop(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        contract, fill, before = await long_with_bracket(env, "be-2")
        sim.state.set_price(contract, fill - 4 * TICK)  # under water, above the stop

        reply = (await env.send("traderspost", breakeven_body("be-2a"))).json()
        assert reply["status"] == "noop", reply
        assert "would fill at once" in reply["reason"], reply
        assert modifies(sim) == []
        assert one(stops(sim)).stop_price == before and position_size(sim, AUTO_OCO) == 1
        results = [e for e in env.journal.events(alert_id=reply["alert_id"]) if e.kind == "break_even.result"]
        assert len(results) == 1 and "stays at" in results[0].message


async def test_breakeven_when_flat_is_a_noop(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        reply = (await env.send("traderspost", breakeven_body("be-3"))).json()
        assert reply["status"] == "noop", reply
        assert "no open position" in reply["reason"], reply


async def test_breakeven_without_a_stop_places_one_at_the_entry(tmp_path: Path, sim: SimServer) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        body = json.loads(entry_body("be-4", quantity="2"))
        del body["stopLoss"], body["takeProfit"]
        assert (await env.send("traderspost", json.dumps(body))).json()["status"] == "executed"

        async def filled() -> bool:
            assert position_size(sim, AUTO_OCO) == 2
            return True

        await eventually(filled, timeout_s=5)
        [position] = sim.state.open_positions(AUTO_OCO)
        fill = Decimal(str(position.average_price))
        sim.state.set_price(position.contract_id, fill + 8 * TICK)
        assert stops(sim) == []

        reply = (await env.send("traderspost", breakeven_body("be-4a"))).json()
        assert reply["status"] == "executed", reply
        stop = one(stops(sim))
        assert (stop.stop_price, stop.size) == (fill, 2)  # sized to the position
        assert stop.custom_tag.endswith("-BSL")


@pytest.mark.parametrize("point", ["break_even.modify_written", "break_even.modify_sent"])
async def test_a_crash_after_the_write_ahead_moves_the_stop_once(
    tmp_path: Path, sim: SimServer, point: str
) -> None:
    settings = on_the_sim(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        contract, fill, before = await long_with_bracket(env, "be-5")
    sim.state.set_price(contract, fill + 8 * TICK)
    async with on_sim(settings, tmp_path, sim) as env:
        with arm(point), pytest.raises(FailpointCrash):
            await env.send("traderspost", breakeven_body("be-5a"))
        [alert] = env.journal.recent_alerts(limit=1)
        alert_id = alert.id
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert "break_even.modify" in kinds and "break_even.result" not in kinds
    sent_before = len(modifies(sim))
    assert sent_before == (0 if point == "break_even.modify_written" else 1)
    assert one(stops(sim)).stop_price == (before if sent_before == 0 else fill)

    async with on_sim(settings, tmp_path, sim) as env:  # the restart resumes the alert

        async def moved_once() -> bool:
            assert one(stops(sim)).stop_price == fill
            assert len(modifies(sim)) == 1  # never sent twice
            alert = env.journal.get_alert(alert_id)
            assert alert.status in ("executed", "noop") and alert.settled_at is not None, alert
            return True

        await eventually(moved_once, timeout_s=5)
        assert position_size(sim, AUTO_OCO) == 1
