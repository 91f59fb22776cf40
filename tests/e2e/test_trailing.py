"""A native trailing stop loss end to end on the simulator (issue 18, item 3): the shipped mnq-trail
template enters at market, the bridge places the stop loss as an Order/place type 5 whose
trailPrice is the fill price less 20 ticks (projectx-api.md §6.2), the simulator trails it up
with the price and fills it when the price turns; a trail the gateway would refuse is refused
before anything is sent; an exit and the stray-leg sweep treat it as the stop loss it is; and a
crash between the entry's fill and the trailing stop leaves the position protected on restart."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import Leg, OrderState, OrderType
from app.failpoints import arm
from app.sim import AUTO_OCO_ACCOUNT_ID
from app.sim.models import OrderStatus, Side
from app.sim.models import OrderType as SimOrderType
from app.sim.server import SimServer
from app.sim.wire import normalize_path
from tests.e2e.conftest import Env, hub_dropped, make_settings, running
from tests.e2e.test_protection import group_of, on_sim
from tests.e2e.test_protection_restart import crashed, one, position_size
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually, tvbridge

TRAIL_ALERT = (SHIPPED_ALERTS / "mnq-trail.example.json").read_bytes()
EXIT_ALERT = (SHIPPED_ALERTS / "mnq-exit.example.json").read_bytes()
TICK = Decimal("0.25")  # MNQ
TRAIL = 20  # the example's trail_ticks


def trailing_stops(env_sim: Any) -> list[Any]:
    """The simulator's working trailing stops on the Auto OCO account (mnq-trail's account)."""
    return [
        o
        for o in env_sim.orders.values()
        if o.account_id == AUTO_OCO_ACCOUNT_ID
        and o.type == SimOrderType.TRAILING_STOP
        and o.status == OrderStatus.OPEN
    ]


def stop_row(env: Env, alert_id: int) -> Any:
    """The alert's newest stop loss row (a second one only when the first never reached the gateway)."""
    rows = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
    assert rows, "no stop loss row yet"
    return rows[-1]


async def entered(env: Env, body: bytes = TRAIL_ALERT) -> tuple[int, str, Decimal]:
    """Send the mnq-trail alert; return its id, the contract and the entry's fill price once the
    trailing stop works on the gateway and in the journal."""
    reply = (await env.send("mnq-trail", body)).json()
    assert reply["status"] == "executed", reply
    alert_id, contract_id = reply["alert_id"], reply["orders"][0]["contract_id"]

    async def stop_working() -> bool:
        assert stop_row(env, alert_id).state == OrderState.WORKING
        one(trailing_stops(env.sim))
        return True

    await eventually(stop_working, timeout_s=5)
    entry = next(o for o in env.orders(alert_id) if o.leg == Leg.ENTRY)
    return alert_id, contract_id, entry.filled_price


async def test_the_trailing_stop_follows_the_price_up_and_fills_when_it_falls(env: Env) -> None:
    env.sim.walk_ticks = 0  # prices move only by set_price
    alert_id, contract_id, filled = await entered(env)

    # The exact body sent: a sell trailing stop starting 20 ticks below the fill (an absolute
    # price, not a distance), no stopPrice; journaled with that trailPrice and distance.
    [entry_body, stop_body] = env.place_requests()
    assert entry_body["type"] == 2 and entry_body["stopLossBracket"] is None
    start = filled - TRAIL * TICK
    assert (stop_body["type"], stop_body["side"], stop_body["size"]) == (5, 1, 1)
    assert (Decimal(str(stop_body["trailPrice"])), stop_body["stopPrice"]) == (start, None)
    row = stop_row(env, alert_id)
    assert (row.order_type, row.stop_price, row.stop_loss_ticks) == (OrderType.TRAILING_STOP, start, TRAIL)
    order = one(trailing_stops(env.sim))
    assert (order.trail_distance, order.stop_price) == (TRAIL * TICK, start)

    env.sim.set_price(contract_id, filled + 10)  # up 10 points: the stop follows to fill + 5
    assert order.stop_price == filled + 5
    env.sim.set_price(contract_id, filled + 7)  # down 3 points: the stop stays
    assert (order.status, order.stop_price) == (OrderStatus.OPEN, filled + 5)
    env.sim.set_price(contract_id, filled + 5)  # down to the stop: it fills, 5 points of profit

    async def stopped_out() -> bool:
        row = stop_row(env, alert_id)
        assert (row.state, row.filled_price) == (OrderState.FILLED, filled + 5)
        assert group_of(env, alert_id).state == "done"
        return True

    await eventually(stopped_out, timeout_s=5)
    assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
    assert len(env.place_requests()) == 2  # the bridge never touched the trail: no modify, no re-place
    assert env.sim.requests_to("Order/modify") == []


async def test_a_trail_over_1000_ticks_is_refused_before_anything_is_sent(env: Env) -> None:
    body = TRAIL_ALERT.replace(b'"trail_ticks": "20"', b'"trail_ticks": "1001"')

    reply = await env.send("mnq-trail", body)

    assert reply.status_code == 422, reply.text
    reason = reply.json()["reason"]
    assert "'bracket.stop_loss.trail_ticks' is '1001'" in reason
    assert "at most 1000 ticks" in reason and "got 1001 ticks" in reason
    assert env.place_requests() == []  # not even the entry
    assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []


async def test_an_exit_cancels_the_trailing_stop_before_it_closes(env: Env) -> None:
    env.sim.walk_ticks = 0  # prices move only by set_price
    alert_id, contract_id, _ = await entered(env)
    [stop] = trailing_stops(env.sim)

    reply = (await env.send("mnq-exit", EXIT_ALERT)).json()

    assert reply["status"] == "executed", reply
    paths = [normalize_path(r.path) for r in env.sim.requests]
    assert [p for p in paths if p in ("order/cancel", "position/closecontract")] == [
        "order/cancel",
        "position/closecontract",
    ]
    assert [int(r.json_body["orderId"]) for r in env.sim.requests_to("Order/cancel")] == [stop.id]
    assert stop.status == OrderStatus.CANCELLED
    assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
    assert env.sim.open_orders(AUTO_OCO_ACCOUNT_ID) == []


async def test_a_position_closed_on_the_platform_has_its_trailing_stop_swept(env: Env) -> None:
    env.sim.walk_ticks = 0  # prices move only by set_price
    alert_id, contract_id, _ = await entered(env)
    [stop] = trailing_stops(env.sim)

    env.sim.close_position(AUTO_OCO_ACCOUNT_ID, contract_id)  # the trader closes by hand

    async def swept() -> bool:
        assert stop.status == OrderStatus.CANCELLED
        events = [e for e in env.journal.events() if e.kind == "bracket.stray_leg_cancelled"]
        assert [e.data["broker_order_id"] for e in events] == [stop.id]
        return True

    await eventually(swept, timeout_s=5)
    assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []  # nothing re-opened


# The crash between the entry's fill and the trailing stop on the gateway: its row written and
# nothing sent; or sent, its answer never journaled.
CRASH_STEPS = [("managed.leg_written", 1), ("managed.leg_sent", 1)]


@pytest.mark.parametrize(("point", "nth"), CRASH_STEPS, ids=[p for p, _ in CRASH_STEPS])
async def test_a_crash_before_the_trailing_stop_is_placed_leaves_the_position_protected_on_restart(
    tmp_path: Path, sim: SimServer, point: str, nth: int
) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    settings = make_settings(
        tmp_path,
        kind="custom",
        api_url=sim.url,
        user_hub_url=f"{sim.url}/hubs/user",
        username="trader",
        api_key="key",
    )
    with arm(point, nth):
        async with on_sim(settings, tmp_path, sim) as env:
            reply = (await env.send("mnq-trail", TRAIL_ALERT)).json()
            assert reply["status"] == "executed", reply
            alert_id = reply["alert_id"]

            async def at_the_failpoint() -> bool:
                assert any(o.leg == Leg.STOP_LOSS for o in env.orders(alert_id))
                return True

            await crashed(env, at_the_failpoint)
            if point == "managed.leg_written":
                assert trailing_stops(sim.state) == []  # the fill is naked on the gateway
    assert position_size(sim, AUTO_OCO_ACCOUNT_ID) == 1

    async with on_sim(settings, tmp_path, sim) as env:  # the restart

        async def protected() -> bool:
            stop = one(trailing_stops(sim.state))  # one: never a second copy of a sent leg
            assert (stop.side, stop.size, stop.trail_distance) == (Side.ASK, 1, TRAIL * TICK)
            # journaled: after a leg never sent, the row of the one placed again (attempt 2)
            rows = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
            assert rows[-1].broker_order_id == stop.id
            assert rows[-1].state == OrderState.WORKING
            return True

        await eventually(protected, timeout_s=5)
        entry = next(o for o in env.orders(alert_id) if o.leg == Leg.ENTRY)
        bodies = [b for b in env.place_requests() if b["type"] == 5]
        assert {Decimal(str(b["trailPrice"])) for b in bodies} == {entry.filled_price - TRAIL * TICK}
        if point == "managed.leg_written":
            kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
            assert "bracket.managed_restored" in kinds, kinds
        assert group_of(env, alert_id).state == "working"

        # and the restored trailing stop works: the price turns, it fills, the position is flat
        sim.state.set_price(entry.contract_id, entry.filled_price - 10)

        async def flat() -> bool:
            assert position_size(sim, AUTO_OCO_ACCOUNT_ID) == 0
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=5)


def test_render_shows_the_entry_and_the_trailing_stop_it_places_after_the_fill(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")

    result = tvbridge("render", "mnq-trail", str(SHIPPED_ALERTS / "mnq-trail.example.json"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [entry, stop] = json.loads(result.stdout)
    assert entry["endpoint"] == stop["endpoint"] == "Order/place"
    assert (entry["body"]["type"], entry["body"]["stopLossBracket"]) == (2, None)
    tag = entry["body"]["customTag"]
    assert stop["when"] == f"after entry {tag} fills (shown filled at 21500.25)"
    body = stop["body"]
    assert (body["type"], body["side"], body["size"], body["trailPrice"]) == (5, 1, 1, 21495.25)
    assert (body["stopPrice"], body["limitPrice"]) == (None, None)


def fault_the_leg(env: Env, arm_fault: Any) -> None:
    """Arm ``arm_fault`` on the simulator when the entry fills, so it hits the next Order/place:
    the trailing stop's (the listener runs inside the entry's own place, before its answer)."""
    armed: list[bool] = []

    def on_fill(event: str, payload: dict[str, Any]) -> None:
        if event == "GatewayUserOrder" and payload["data"]["status"] == OrderStatus.FILLED and not armed:
            armed.append(True)
            arm_fault(1, path="Order/place")

    env.sim.add_listener(on_fill)


async def test_a_trailing_stop_placed_but_answered_500_is_found_by_its_tag_not_sent_twice(env: Env) -> None:
    env.sim.walk_ticks = 0  # prices move only by set_price
    fault_the_leg(env, env.sim.faults.fail_after_next)  # performed, then HTTP 500: outcome unknown

    alert_id, contract_id, filled = await entered(env)

    assert len([b for b in env.place_requests() if b["type"] == 5]) == 1  # never resent
    stop = one(trailing_stops(env.sim))
    assert stop_row(env, alert_id).broker_order_id == stop.id  # reconciled by its tag
    env.sim.set_price(contract_id, filled - TRAIL * TICK)

    async def stopped_out() -> bool:
        assert stop_row(env, alert_id).state == OrderState.FILLED
        assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
        return True

    await eventually(stopped_out, timeout_s=5)


async def test_a_trailing_stop_the_gateway_never_took_is_placed_again(env: Env) -> None:
    env.sim.walk_ticks = 0
    fault_the_leg(env, env.sim.faults.fail_next)  # HTTP 500, not performed: NOT_PLACED by its tag

    alert_id, contract_id, filled = await entered(env)

    first, again = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
    assert first.state == OrderState.NOT_PLACED and first.broker_order_id is None
    stop = one(trailing_stops(env.sim))
    assert (again.broker_order_id, again.client_order_id) == (stop.id, first.client_order_id + "2")
    assert (stop.size, stop.stop_price) == (1, filled - TRAIL * TICK)
    kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
    assert "bracket.managed_restored" in kinds, kinds
    assert group_of(env, alert_id).state == "working"


async def test_an_entry_filled_while_the_hub_was_down_gets_its_trailing_stop_after_the_reconnect(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    limit = (SHIPPED_TEMPLATES / "mnq-trail.toml").read_text()
    limit = limit.replace('type = "market"', 'type = "limit"\nlimit_price = "{{ alert.price }}"')
    (tmp_path / "templates" / "mnq-trail-limit.toml").write_text(limit)
    async with running(settings, tmp_path) as env:
        env.sim.walk_ticks = 0
        contract = await env.runtime.bridge.gateway.contract("MNQ1!")
        below = env.sim.price(contract.contract_id) - 50
        body = TRAIL_ALERT.replace(b'"21500.25"', f'"{below}"'.encode())
        reply = (await env.send("mnq-trail-limit", body)).json()
        assert reply["status"] == "executed", reply
        hub = env.hub
        await hub_dropped(env)
        env.sim.set_price(contract.contract_id, below)  # the entry fills while the bridge is deaf
        assert trailing_stops(env.sim) == []

        async def protected() -> bool:
            assert hub.state.connected
            stop = one(trailing_stops(env.sim))
            assert (stop.side, stop.size, stop.stop_price) == (Side.ASK, 1, below - TRAIL * TICK)
            return True

        await eventually(protected, timeout_s=10)
        assert group_of(env, reply["alert_id"]).state == "working"
