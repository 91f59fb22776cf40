"""The shipped stop-move templates posted as TradingView sends them, on the simulator with its
Market Hub: ``alerts/mnq-trail-live.example.json`` (a managed stop loss moved to break-even after
20 ticks in favour, then trailed 20 ticks behind the best price from 30) and
``alerts/mnq-breakeven.example.json`` (``action: "breakeven"``: the position's stop loss to its
average entry price). Asserts the orders at the simulator and the journal.

The simulator's price walk is stilled, so prices move only by ``set_price``. MNQ: tick 0.25.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from app.domain.enums import Leg, OrderState
from app.sim.market_hub import market_hub_faults
from app.sim.models import OrderType
from app.sim.server import SimServer
from tests.e2e import test_live_stops
from tests.e2e.conftest import Env
from tests.e2e.test_live_stops import quoted_at, settings_for, stop
from tests.e2e.test_protection import group_of, on_sim
from tests.e2e.test_protection_restart import AUTO_OCO, one, position_size, working
from tests.helpers import SHIPPED_ALERTS, eventually

TICK = Decimal("0.25")


sim = test_live_stops.sim  # the fixture: a simulator that outlives the bridge, its walk stilled


async def trail_live_entry(env: Env) -> tuple[int, str, Decimal]:
    """Post the shipped mnq-trail-live example; wait for the fill and its plain stop loss.
    Returns the alert id, the contract and the fill price."""
    reply = (
        await env.send("mnq-trail-live", (SHIPPED_ALERTS / "mnq-trail-live.example.json").read_bytes())
    ).json()
    assert reply["status"] == "executed", reply
    alert_id = reply["alert_id"]

    async def protected() -> tuple[str, Decimal]:
        [entry] = [o for o in env.orders(alert_id) if o.leg == Leg.ENTRY]
        assert entry.state == OrderState.FILLED and entry.filled_price is not None
        [msl] = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
        assert msl.broker_order_id is not None
        assert stop(env.sim_server).size == 1
        return entry.contract_id, entry.filled_price

    contract, fill = await eventually(protected, timeout_s=20)
    return alert_id, contract, fill


def events(env: Env, alert_id: int) -> list[str]:
    return [e.kind for e in sorted(env.journal.events(alert_id=alert_id), key=lambda e: e.id)]


async def journaled(env: Env, alert_id: int, kind: str) -> None:
    async def there() -> bool:
        assert kind in events(env, alert_id)
        return True

    await eventually(there, timeout_s=10)


async def stop_at(sim: SimServer, price: Decimal) -> None:
    async def there() -> bool:
        assert stop(sim).stop_price == price
        return True

    await eventually(there, timeout_s=10)


async def test_mnq_trail_live_example_moves_its_stop_to_break_even_then_trails(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await trail_live_entry(env)
        assert stop(sim).stop_price == fill - 40 * TICK  # a plain stop (type 4), 40 ticks below
        assert working(sim, AUTO_OCO, OrderType.TRAILING_STOP) == []
        assert group_of(env, alert_id).kind == "managed_bracket"
        await quoted_at(env, contract, fill + 19 * TICK)  # one tick short of break-even
        assert stop(sim).stop_price == fill - 40 * TICK

        sim.state.set_price(contract, fill + 20 * TICK)
        await stop_at(sim, fill + TICK)  # break-even: the fill + 1 tick
        await journaled(env, alert_id, "scale_out.break_even")  # its answer, journaled last
        kinds = events(env, alert_id)
        assert kinds.index("scale_out.modify") < kinds.index("oco.modify")  # written ahead
        assert "scale_out.break_even" in kinds

        sim.state.set_price(contract, fill + 30 * TICK)  # the trail's activation
        await stop_at(sim, fill + 10 * TICK)  # the best price less 20 ticks
        await quoted_at(env, contract, fill + 12 * TICK)  # falls back: never loosened
        assert stop(sim).stop_price == fill + 10 * TICK and stop(sim).size == 1
        assert len(sim.state.requests_to("Order/modify")) == 2  # one per move
        assert events(env, alert_id).count("oco.modify") == 2

        sim.state.set_price(contract, fill + 10 * TICK)  # down to the stop: out 10 ticks up

        async def flat() -> bool:
            assert position_size(sim, AUTO_OCO) == 0
            [msl] = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
            assert msl.state == OrderState.FILLED and msl.filled_price == fill + 10 * TICK
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=10)


async def test_mnq_breakeven_example_moves_a_managed_stop_to_the_entry(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        entry_id, contract, fill = await trail_live_entry(env)
        await quoted_at(env, contract, fill + 8 * TICK)  # in profit, short of the live break-even

        raw = (SHIPPED_ALERTS / "mnq-breakeven.example.json").read_bytes()
        reply = (await env.send("mnq-breakeven", raw)).json()

        assert reply["status"] == "executed", reply
        assert one(working(sim, AUTO_OCO, OrderType.STOP)).stop_price == fill  # the same order, moved
        assert stop(sim).size == 1 and position_size(sim, AUTO_OCO) == 1
        [moved] = [r.json_body for r in sim.state.requests_to("Order/modify")]
        assert Decimal(str(moved["stopPrice"])) == fill
        kinds = events(env, reply["alert_id"])
        assert kinds.index("break_even.modify") < kinds.index("break_even.result")

        sim.state.set_price(contract, fill + 20 * TICK)  # then the live break-even: one tick better
        await stop_at(sim, fill + TICK)
        await journaled(env, entry_id, "scale_out.break_even")  # the answer, after the gateway's

        second = raw.replace(b'"action"', b'"comment": "again", "action"')  # not a duplicate
        again = (await env.send("mnq-breakeven", second)).json()
        assert again["status"] == "noop", again  # already better than break-even: never loosened
        assert stop(sim).stop_price == fill + TICK


async def test_a_breakeven_waits_for_a_live_move_in_flight_and_never_undoes_it(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        entry_id, contract, fill = await trail_live_entry(env)
        await quoted_at(env, contract, fill + 8 * TICK)
        # a live stop move holds the group's lock (live_stops.py): the breakeven alert must wait
        # for it and read the stop again, not send the price it read before
        lock = env.runtime.bridge.protection.ctx.locks[group_of(env, entry_id).id]
        await lock.acquire()
        reads = len(sim.state.requests_to("Order/searchOpen"))
        raw = (SHIPPED_ALERTS / "mnq-breakeven.example.json").read_bytes()
        sent = asyncio.create_task(env.send("mnq-breakeven", raw))
        try:

            async def read_once() -> bool:  # the alert found the stop at fill − 40 ticks
                assert len(sim.state.requests_to("Order/searchOpen")) > reads
                return True

            await eventually(read_once, timeout_s=10)
            msl = stop(sim)
            sim.state.modify_order(AUTO_OCO, msl.id, stop_price=fill + 2 * TICK)  # the live move lands
        finally:
            lock.release()
        reply = (await sent).json()

        assert reply["status"] == "noop", reply  # already better than break-even (the fill)
        assert stop(sim).stop_price == fill + 2 * TICK  # never set back to the fill
        assert sim.state.requests_to("Order/modify") == []  # the bridge sent none


async def test_mnq_trail_live_with_the_market_hub_down_keeps_its_stop_until_quotes_return(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await trail_live_entry(env)
        await quoted_at(env, contract, fill + 5 * TICK)
        market = env.runtime.market
        assert market is not None
        faults = market_hub_faults(sim.state)
        faults.refuse_for(600)
        faults.drop_all()

        async def down() -> bool:
            return not market.hub.book.live

        await eventually(down, timeout_s=10)
        sim.state.set_price(contract, fill + 25 * TICK)  # past break-even, but no quote says so
        assert stop(sim).stop_price == fill - 40 * TICK  # the stop stays, still working
        assert position_size(sim, AUTO_OCO) == 1 and sim.state.requests_to("Order/modify") == []

        faults.refuse_for(0)  # the hub is back: its first quote decides

        await stop_at(sim, fill + TICK)
        assert market.hub.book.live
        await journaled(env, alert_id, "scale_out.break_even")
