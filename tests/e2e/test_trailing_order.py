"""A trailing stop order on its own (issue 18 item 3: "as an entry's protection or on its own"), on
the simulator with its Market Hub: ``order.type = "trailing_stop"`` with ``trail_ticks`` places
one Order/place type 5 whose trailPrice is the last price less (a sell) or plus (a buy) that many
ticks (projectx-api.md §6.2): the Market Hub's quote when it has one, else the alert's price; with
neither it is refused with what to add, nothing sent. The simulator trails it and fills it; a
crash after its send leaves exactly one on the gateway.

The simulator outlives the bridge (the crash test restarts on it); its price walk is stilled.
MNQ: tick 0.25.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.domain.enums import Leg, OrderState, OrderType
from app.failpoints import FailpointCrash, arm
from app.sim.models import OrderStatus
from app.sim.models import OrderType as SimOrderType
from app.sim.server import SimServer
from app.sim.wire import normalize_path
from tests.e2e import test_live_stops
from tests.e2e.conftest import Env
from tests.e2e.test_live_stops import quoted_at, sim_settings
from tests.e2e.test_protection import on_sim
from tests.e2e.test_protection_restart import AUTO_OCO, one, position_size
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually, tvbridge

TICK = Decimal("0.25")
TEMPLATE = """description = "an order from the alert; a trailing stop when it says so"

[alert]
format = "json"
id_field = "id"
time_field = "time"

[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "{{ alert.type }}"
price = "{{ alert.price | default('') }}"
trail_ticks = "{{ alert.trail_ticks | default('') }}"
"""


sim = test_live_stops.sim  # the fixture: a simulator that outlives the bridge, its walk stilled


def settings_for(root: Path, sim: SimServer, *, market_hub: bool = True) -> Settings:
    return sim_settings(root, sim, {"trail-order": TEMPLATE}, market_hub=market_hub)


def alert(key: str, action: str, order_type: str, **more: str) -> str:
    body = {
        "id": key,
        "ticker": "MNQ1!",
        "action": action,
        "quantity": "1",
        "type": order_type,
        "time": "2026-03-02T14:30:00Z",
        **more,
    }
    return json.dumps(body)


def trailing(sim: SimServer) -> list[Any]:
    return [
        o
        for o in sim.state.orders.values()
        if o.account_id == AUTO_OCO and o.type == SimOrderType.TRAILING_STOP and o.status == OrderStatus.OPEN
    ]


async def long_one(env: Env, key: str) -> tuple[str, Decimal]:
    """Buy 1 at market; return the contract and the fill once the position is open."""
    reply = (await env.send("trail-order", alert(key, "buy", "market"))).json()
    assert reply["status"] == "executed", reply
    alert_id = reply["alert_id"]

    async def filled() -> tuple[str, Decimal]:
        [entry] = env.orders(alert_id)
        assert entry.filled_price is not None and position_size(env.sim_server, AUTO_OCO) == 1
        return entry.contract_id, entry.filled_price

    return await eventually(filled, timeout_s=10)


async def test_a_sell_trailing_stop_starts_20_ticks_under_the_live_price_follows_it_and_fills(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        contract, fill = await long_one(env, "long-1")
        last = fill + 8 * TICK  # the market moved since the fill: the trail is measured from here
        await quoted_at(env, contract, last)
        # the alert's own price is older: the live quote is what the gateway measures from
        body = alert("trail-1", "sell", "trailing_stop", trail_ticks="20", price=str(fill))
        reply = (await env.send("trail-order", body)).json()
        assert reply["status"] == "executed", reply

        [*_, place] = env.place_requests()
        assert (place["type"], place["side"], place["size"]) == (5, 1, 1)
        assert Decimal(str(place["trailPrice"])) == last - 20 * TICK and place["stopPrice"] is None
        [row] = env.orders(reply["alert_id"])
        # it only reduces the long: journaled as its stop loss (an exit and the sweep cancel it)
        assert (row.leg, row.order_type, row.stop_price) == (Leg.STOP_LOSS, OrderType.TRAILING_STOP, last - 5)
        order = one(trailing(sim))
        assert (order.trail_distance, order.stop_price) == (20 * TICK, last - 5)

        sim.state.set_price(contract, last + 10)  # up 10 points: the stop follows
        assert order.stop_price == last + 5
        sim.state.set_price(contract, last + 5)  # down to it: filled, flat at 5 points over `last`

        async def flat() -> bool:
            [row] = env.orders(reply["alert_id"])
            assert (row.state, row.filled_price) == (OrderState.FILLED, last + 5)
            assert position_size(sim, AUTO_OCO) == 0
            return True

        await eventually(flat, timeout_s=10)
        assert sim.state.requests_to("Order/modify") == []  # the gateway trails it, not the bridge


async def test_without_a_live_quote_the_alert_s_price_is_the_last_price(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim, market_hub=False), tmp_path, sim) as env:
        contract, fill = await long_one(env, "long-2")
        body = alert("trail-2", "sell", "trailing_stop", trail_ticks="12", price=str(fill))
        reply = (await env.send("trail-order", body)).json()
        assert reply["status"] == "executed", reply
        [*_, place] = env.place_requests()
        assert Decimal(str(place["trailPrice"])) == fill - 12 * TICK
        assert one(trailing(sim)).trail_distance == 12 * TICK


async def test_with_no_last_price_at_all_it_is_refused_with_what_to_add(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim, market_hub=False), tmp_path, sim) as env:
        await long_one(env, "long-3")
        placed = len(env.place_requests())
        reply = (
            await env.send("trail-order", alert("trail-3", "sell", "trailing_stop", trail_ticks="20"))
        ).json()
        assert reply["status"] == "refused", reply
        assert "no order.price" in reply["reason"] and 'price = "{{ alert.close }}"' in reply["reason"]
        assert len(env.place_requests()) == placed and trailing(sim) == []


async def test_a_crash_after_the_send_leaves_exactly_one_trailing_stop(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = settings_for(tmp_path, sim)
    async with on_sim(settings, tmp_path, sim) as env:
        contract, fill = await long_one(env, "long-4")
        await quoted_at(env, contract, fill)
        body = alert("trail-4", "sell", "trailing_stop", trail_ticks="20")  # priced by the live quote
        # on the gateway, its answer not journaled: the bridge dies there
        with arm("order.sent", 1), pytest.raises(FailpointCrash):
            await env.send("trail-order", body)
        [alert_row] = env.journal.recent_alerts(limit=1)
    one(trailing(sim))

    # The restart, with no live quote and an alert with no price: the order sent before is found
    # by its tag, never priced (nor refused) again.
    restart = settings_for(tmp_path, sim, market_hub=False)
    async with on_sim(restart, tmp_path, sim) as env:

        async def settled() -> bool:
            stored = env.journal.get_alert(alert_row.id)
            assert stored.status == "executed", stored.status
            return True

        await eventually(settled, timeout_s=10)
        one(trailing(sim))  # never a second one
        assert len([p for p in env.place_requests() if p["type"] == 5]) == 1


async def protected_long(env: Env, key: str) -> tuple[str, Any]:
    """A long of 1 with a sell trailing stop of 20 ticks placed on its own; the contract and it."""
    contract, fill = await long_one(env, f"long-{key}")
    await quoted_at(env, contract, fill)
    body = alert(f"trail-{key}", "sell", "trailing_stop", trail_ticks="20", price=str(fill))
    reply = (await env.send("trail-order", body)).json()
    assert reply["status"] == "executed", reply
    return contract, one(trailing(env.sim_server))


async def test_an_exit_cancels_the_trailing_stop_before_it_closes(tmp_path: Path, sim: SimServer) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        _, stop = await protected_long(env, "exit")
        exit_body = (SHIPPED_ALERTS / "mnq-exit.example.json").read_bytes()

        reply = (await env.send("mnq-exit", exit_body)).json()

        assert reply["status"] == "executed", reply
        paths = [normalize_path(r.path) for r in sim.state.requests]
        assert [p for p in paths if p in ("order/cancel", "position/closecontract")] == [
            "order/cancel",
            "position/closecontract",
        ]
        assert stop.status == OrderStatus.CANCELLED and position_size(sim, AUTO_OCO) == 0


async def test_a_position_closed_on_the_platform_has_its_trailing_stop_swept(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        contract, stop = await protected_long(env, "sweep")

        sim.state.close_position(AUTO_OCO, contract)  # the trader closes by hand

        async def swept() -> bool:
            assert stop.status == OrderStatus.CANCELLED
            return True

        await eventually(swept, timeout_s=10)
        assert position_size(sim, AUTO_OCO) == 0  # nothing re-opened


async def test_a_trailing_stop_that_would_open_a_position_is_an_entry_and_stays(
    tmp_path: Path, sim: SimServer
) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        body = alert("trail-flat", "buy", "trailing_stop", trail_ticks="8", price="21500.00")
        reply = (await env.send("trail-order", body)).json()
        assert reply["status"] == "executed", reply
        [row] = env.orders(reply["alert_id"])
        assert (row.leg, row.order_type) == (Leg.ENTRY, OrderType.TRAILING_STOP)
        assert one(trailing(sim)).status == OrderStatus.OPEN  # flat: nothing sweeps an entry


def test_render_shows_the_shipped_trailing_stop_order_measured_from_the_alert_s_price(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    example = str(SHIPPED_ALERTS / "mnq-trail-stop.example.json")

    result = tvbridge("render", "mnq-trail-stop", example, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [place] = json.loads(result.stdout)
    body = place["body"]
    assert (place["endpoint"], body["type"], body["side"], body["size"]) == ("Order/place", 5, 1, 1)
    assert (body["trailPrice"], body["stopPrice"], body["stopLossBracket"]) == (21495.25, None, None)


async def test_the_shipped_alert_protects_a_long_on_the_simulator(tmp_path: Path, sim: SimServer) -> None:
    async with on_sim(settings_for(tmp_path, sim), tmp_path, sim) as env:
        contract, fill = await long_one(env, "long-5")
        await quoted_at(env, contract, fill)
        raw = (SHIPPED_ALERTS / "mnq-trail-stop.example.json").read_bytes()
        reply = (await env.send("mnq-trail-stop", raw)).json()
        assert reply["status"] == "executed", reply
        assert one(trailing(sim)).trail_distance == 20 * TICK  # from the live quote, 20 ticks
