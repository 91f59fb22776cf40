"""Stop moves from live quotes (issue 18 items 2 and 3, app/engine/live_stops.py), on the simulator
with its Market Hub: break-even once the price went X ticks in favour, a bridge-managed trail that
follows the best price in steps and never loosens, one Order/modify per stop per second, a native
trailing stop never touched, and a crash between a move's write-ahead and its send.

The simulator outlives the bridge (the crash test restarts on it); its price walk is stilled, so
prices move only by ``set_price``. MNQ: tick 0.25.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.domain.enums import Leg, OrderState
from app.domain.scale_out import read_best
from app.failpoints import arm
from app.sim.models import OrderType
from app.sim.server import SimServer
from app.strategies.loader import check_templates
from tests.e2e.conftest import Env, make_settings
from tests.e2e.test_protection import group_of, on_sim
from tests.e2e.test_protection_restart import AUTO_OCO, crashed, one, position_size, working
from tests.helpers import SHIPPED_TEMPLATES, eventually

TICK = Decimal("0.25")
HEAD = """description = "live stop moves"

[alert]
format = "json"
id_field = "id"
time_field = "time"

[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "market"
price = "{{ alert.price }}"

[bracket]
mode = "managed"
"""
# A managed bracket: a stop loss 40 ticks away, moved to the fill + 1 tick after 20 ticks.
BREAK_EVEN = (
    HEAD
    + """stop_loss = { ticks = 40 }
break_even = { after_ticks = 20, offset_ticks = 1 }
"""
)
# A scale-out group (one far target): the stop trails 20 ticks behind after 10, in steps of 4.
TRAIL = (
    HEAD
    + """stop_loss = { ticks = 40 }
targets = [ { ticks = 400, size = 1 } ]
trail = { ticks = 20, activation_ticks = 10, step_ticks = 4 }
"""
)
# Steps of one tick: every quote in favour asks for a move (the rate limit's test). The stop
# loss is as far as the trail, so nothing moves at the fill price (a move there would race the
# faults the tests arm after the entry).
TRAIL_EVERY_TICK = (
    HEAD
    + """stop_loss = { ticks = 20 }
trail = { ticks = 20, step_ticks = 1 }
"""
)
NATIVE_TRAILING = (
    HEAD
    + """stop_loss = { trail_ticks = 20 }
"""
)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = SimServer()
    await server.start()
    server.state.walk_ticks = 0
    yield server
    await server.stop()


def sim_settings(
    root: Path, sim: SimServer, templates: dict[str, str], *, market_hub: bool = True
) -> Settings:
    """Settings for a bridge on ``sim`` (which outlives it) with the shipped templates and
    ``templates`` (name → TOML text) beside them; the Market Hub on unless ``market_hub`` is False."""
    folder = root / "templates"
    if not folder.exists():
        shutil.copytree(SHIPPED_TEMPLATES, folder)
    for name, text in templates.items():
        (folder / f"{name}.toml").write_text(text)
    return make_settings(
        root,
        kind="custom",
        api_url=sim.url,
        user_hub_url=f"{sim.url}/hubs/user",
        username="trader",
        api_key="key",
        market_hub=market_hub,
    )


def settings_for(root: Path, sim: SimServer) -> Settings:
    live = {
        "live-be": BREAK_EVEN,
        "live-trail": TRAIL,
        "live-every": TRAIL_EVERY_TICK,
        "live-native": NATIVE_TRAILING,
    }
    return sim_settings(root, sim, live)


def alert(key: str, quantity: int = 1) -> str:
    return json.dumps(
        {
            "id": key,
            "ticker": "MNQ1!",
            "action": "buy",
            "quantity": str(quantity),
            "price": "21500.00",
            "time": "2026-03-02T14:30:00Z",
        }
    )


def stop(sim: SimServer, order_type: OrderType = OrderType.STOP) -> Any:
    return one(working(sim, AUTO_OCO, order_type))


async def entered(env: Env, strategy: str, key: str, quantity: int = 1) -> tuple[int, str, Decimal]:
    """Send a buy, wait for its stop loss; return the alert id, the contract and the fill price."""
    reply = (await env.send(strategy, alert(key, quantity))).json()
    assert reply["status"] == "executed", reply
    alert_id = reply["alert_id"]

    async def protected() -> tuple[str, Decimal]:
        [entry] = [o for o in env.orders(alert_id) if o.leg == Leg.ENTRY]
        assert entry.filled_price is not None
        assert working(env.sim_server, AUTO_OCO, OrderType.STOP) or working(
            env.sim_server, AUTO_OCO, OrderType.TRAILING_STOP
        )
        return entry.contract_id, entry.filled_price

    contract, fill = await eventually(protected, timeout_s=15)
    return alert_id, contract, fill


async def quoted_at(env: Env, contract: str, price: Decimal) -> None:
    """Move the price and wait until the Market Hub's quote is in the book and a pass of the live
    stop moves has run after it."""
    env.sim_server.state.set_price(contract, price)
    market = env.runtime.market
    assert market is not None

    async def in_book() -> bool:
        quote = market.hub.book.get(contract)
        assert quote is not None and quote.last_price == price
        return True

    await eventually(in_book, timeout_s=10)
    moves = env.runtime.bridge.live_stops

    async def looked() -> bool:
        return moves.looked.get(contract) == price

    await eventually(looked, timeout_s=15)


def modifies(env: Env, alert_id: int) -> list[str]:
    return [e.message for e in env.journal.events(alert_id=alert_id) if e.kind == "oco.modify"]


async def test_break_even_after_x_ticks_moves_the_stop_and_a_fall_leaves_it_there(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await entered(env, "live-be", "be-1")
        assert stop(sim).stop_price == fill - 40 * TICK
        await quoted_at(env, contract, fill + 19 * TICK)  # not yet
        assert stop(sim).stop_price == fill - 40 * TICK

        async def kept() -> bool:  # the best since the fill outlives the process
            assert read_best(group_of(env, alert_id).note) == fill + 19 * TICK
            return True

        await eventually(kept, timeout_s=10)

        sim.state.set_price(contract, fill + 20 * TICK)

        async def at_break_even() -> bool:
            assert stop(sim).stop_price == fill + TICK
            return True

        await eventually(at_break_even, timeout_s=10)
        await quoted_at(env, contract, fill + 5 * TICK)  # falls back: the stop stays
        assert stop(sim).stop_price == fill + TICK
        [moved] = modifies(env, alert_id)
        assert "20 ticks in favour" in moved and "break-even after 20" in moved, moved
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert kinds.count("scale_out.modify") == 1 and "scale_out.break_even" in kinds

        sim.state.set_price(contract, fill + TICK)  # down to the stop: it fills at break-even

        async def flat() -> bool:
            assert position_size(sim, AUTO_OCO) == 0
            [msl] = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
            assert msl.state == OrderState.FILLED and msl.filled_price == fill + TICK
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=10)


async def test_the_trail_follows_the_price_in_steps_never_down_then_fills(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await entered(env, "live-trail", "trail-1", quantity=2)
        assert stop(sim).stop_price == fill - 40 * TICK
        await quoted_at(env, contract, fill + 9 * TICK)  # below the activation: nothing
        assert stop(sim).stop_price == fill - 40 * TICK
        seen: list[Decimal] = []
        for ticks, expected in ((10, -10), (12, -10), (16, -4), (24, 4)):
            sim.state.set_price(contract, fill + ticks * TICK)

            async def followed(expected: int = expected) -> bool:
                assert stop(sim).stop_price == fill + expected * TICK
                return True

            await eventually(followed, timeout_s=10)
            await quoted_at(env, contract, fill + ticks * TICK)
            assert stop(sim).stop_price == fill + expected * TICK  # +12: a 2-tick gain, under a step
            seen.append(stop(sim).stop_price)
        await quoted_at(env, contract, fill + 10 * TICK)  # falls back: never loosened
        assert stop(sim).stop_price == fill + 4 * TICK
        assert seen == sorted(seen)
        assert len(modifies(env, alert_id)) == 3  # -10, -4, +4: one modify per step

        sim.state.set_price(contract, fill + 3 * TICK)

        async def flat() -> bool:
            assert position_size(sim, AUTO_OCO) == 0
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=10)


async def test_a_burst_of_quotes_makes_at_most_one_modify_a_second(tmp_path: Path, sim: SimServer) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        _, contract, fill = await entered(env, "live-every", "burst-1")
        await quoted_at(env, contract, fill)
        started = time.monotonic()
        for ticks in range(1, 31):  # 30 quotes, each asking for a move
            await quoted_at(env, contract, fill + ticks * TICK)

        async def caught_up() -> bool:
            assert stop(sim).stop_price == fill + 10 * TICK  # the best (+30) less 20 ticks
            return True

        await eventually(caught_up, timeout_s=10)
        elapsed = time.monotonic() - started
        sent = len(sim.state.requests_to("Order/modify"))  # counted as the simulator received them
        assert 1 <= sent <= int(elapsed) + 1, (sent, elapsed)


async def test_a_native_trailing_stop_is_never_modified(tmp_path: Path, sim: SimServer) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await entered(env, "live-native", "native-1")
        for ticks in (10, 30, 60):
            await quoted_at(env, contract, fill + ticks * TICK)
        assert modifies(env, alert_id) == []
        assert env.runtime.bridge.live_stops.modifies == 0


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("stop_loss = { trail_ticks = 20 }\ntrail = { ticks = 10 }\n", "never moves"),
        ("stop_loss = { trail_ticks = 20 }\nbreak_even = { after_ticks = 10 }\n", "never moves"),
        ("stop_loss = { ticks = 40 }\nbreak_even = { after_ticks = 10, after_target = 1 }\n", "not both"),
    ],
)
def test_the_schema_refuses_moves_the_bridge_cannot_make(tmp_path: Path, extra: str, words: str) -> None:
    (tmp_path / "bad.toml").write_text(HEAD + extra)
    problems = [p.message for p in check_templates(tmp_path)]
    assert any(words in m for m in problems), problems


def test_the_schema_refuses_a_trail_in_native_mode(tmp_path: Path) -> None:
    native = HEAD.replace('mode = "managed"', 'mode = "native"')
    (tmp_path / "bad.toml").write_text(native + "stop_loss = { ticks = 40 }\ntrail = { ticks = 10 }\n")
    problems = [p.message for p in check_templates(tmp_path)]
    assert any('use mode = "managed"' in m for m in problems), problems


async def crashed_before_break_even(
    tmp_path: Path, sim: SimServer, key: str
) -> tuple[Settings, int, str, Decimal]:
    """Enter (live-be), move the price 20 ticks in favour and kill the bridge between the
    break-even move's write-ahead and its send; return the settings, alert, contract and fill."""
    settings = settings_for(tmp_path, sim)
    with arm("scale_out.modify_written", 1):
        async with on_sim(settings, tmp_path, sim) as env:
            alert_id, contract, fill = await entered(env, "live-be", key)
            sim.state.set_price(contract, fill + 20 * TICK)

            async def at_the_failpoint() -> bool:
                kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
                assert "scale_out.modify" in kinds
                return True

            await crashed(env, at_the_failpoint)
            # the best that decided the move was kept before its write-ahead
            assert read_best(group_of(env, alert_id).note) == fill + 20 * TICK
    # the bridge is gone with the move written, never sent: the stop is where it was
    assert stop(sim).stop_price == fill - 40 * TICK
    return settings, alert_id, contract, fill


async def test_a_crash_between_a_move_s_write_ahead_and_its_send_leaves_one_stop(
    tmp_path: Path, sim: SimServer
) -> None:
    settings, alert_id, contract, fill = await crashed_before_break_even(tmp_path, sim, "be-crash")
    # the price comes back to 15 ticks in favour while the bridge is down: from the price alone
    # nothing would move (break-even after 20), from the kept best the move is still made
    sim.state.set_price(contract, fill + 15 * TICK)

    async with on_sim(settings, tmp_path, sim) as env:  # the restart: best goes on from the kept one

        async def moved_once() -> bool:
            assert stop(sim).stop_price == fill + TICK  # never a second stop loss
            assert len(modifies(env, alert_id)) == 1  # the one answered modify
            return True

        await eventually(moved_once, timeout_s=10)
        assert group_of(env, alert_id).state == "working"
        await quoted_at(env, contract, fill + 21 * TICK)
        assert stop(sim).stop_price == fill + TICK and len(modifies(env, alert_id)) == 1


async def test_a_stop_the_price_is_already_through_is_asked_for_once_the_price_is_back(
    tmp_path: Path, sim: SimServer
) -> None:
    settings, alert_id, contract, fill = await crashed_before_break_even(tmp_path, sim, "be-through")
    # while the bridge is down the price falls below the break-even stop (the fill + 1 tick)
    sim.state.set_price(contract, fill)

    async with on_sim(settings, tmp_path, sim) as env:
        await quoted_at(env, contract, fill - TICK)  # a pass judged the price: nothing asked
        assert stop(sim).stop_price == fill - 40 * TICK and modifies(env, alert_id) == []

        sim.state.set_price(contract, fill + 3 * TICK)  # back above it: moved, from the kept best

        async def moved() -> bool:
            assert stop(sim).stop_price == fill + TICK
            assert len(modifies(env, alert_id)) == 1
            return True

        await eventually(moved, timeout_s=10)


async def test_a_move_the_gateway_did_not_take_is_journaled_and_the_stop_stays(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        alert_id, contract, fill = await entered(env, "live-every", "fault-1")
        sim.state.faults.fail_next(1, path="Order/modify")  # HTTP 500: not performed
        await quoted_at(env, contract, fill + 25 * TICK)

        async def journaled() -> bool:
            kinds = [(e.kind, e.message[:120]) for e in env.journal.events(alert_id=alert_id)]
            [failed] = modifies(env, alert_id) or [str(kinds)]
            assert "no answer" in failed, failed
            return True

        await eventually(journaled, timeout_s=10)
        assert stop(sim).stop_price == fill - 20 * TICK  # where it was, never loosened

        sim.state.set_price(contract, fill + 26 * TICK)  # a better price: moved

        async def moved() -> bool:
            assert stop(sim).stop_price == fill + 6 * TICK
            return True

        await eventually(moved, timeout_s=10)
