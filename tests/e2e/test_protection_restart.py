"""The protection invariant across a crash: a bridge killed while it protects a fill, then started
again on the same journal and the same simulator (as a process restart would), leaves no open
position without a working stop loss for more than 5 s once it is ready.

The crash is a failpoint raising FailpointCrash in-process (app/failpoints.py): whatever the
killed bridge had not journaled is lost, as with ``kill -9``; the simulator outlives it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.domain.enums import Leg, OrderState
from app.failpoints import ENV, FailpointCrash, arm
from app.ingest.auth import load_secrets, webhook_path
from app.journal.journal import Journal
from app.sim.models import OrderStatus, OrderType, Side
from app.sim.server import SimServer
from tests.e2e.conftest import Env, hub_dropped, make_settings, running
from tests.e2e.test_protection import BRACKET_ALERT, MANAGED, group_of, on_sim
from tests.helpers import SHIPPED_TEMPLATES, eventually, free_port, start_serve

POSITION_BRACKETS = 70000002  # the simulator's account without native brackets
AUTO_OCO = 70000001  # the simulator's account with native brackets (Auto OCO)


def on_the_sim(root: Path, sim: SimServer) -> Settings:
    """Settings for a bridge in ``root`` talking to ``sim`` (which outlives the bridge)."""
    if not (root / "templates").exists():
        shutil.copytree(SHIPPED_TEMPLATES, root / "templates")
    (root / "templates" / "mnq-managed.toml").write_text(MANAGED)
    return make_settings(
        root,
        kind="custom",
        api_url=sim.url,
        user_hub_url=f"{sim.url}/hubs/user",
        username="trader",
        api_key="key",
    )


def working(sim: SimServer, account_id: int, order_type: OrderType) -> list[Any]:
    """The simulator's working (Open) orders of one type on the account."""
    return [
        o
        for o in sim.state.orders.values()
        if o.account_id == account_id and o.type == order_type and o.status == OrderStatus.OPEN
    ]


def one(items: list[Any]) -> Any:
    """The only item (an AssertionError otherwise, so ``eventually`` waits for it)."""
    assert len(items) == 1, items
    return items[0]


def position_size(sim: SimServer, account_id: int) -> int:
    """Signed contracts held on the account (all contracts): > 0 long."""
    return sum(p.net for p in sim.state.open_positions(account_id))


async def crashed(env: Env, check: Any) -> None:
    """Wait until the crash happened (``check`` holds), then let the runtime be stopped."""
    await eventually(check, timeout_s=5)


# The managed bracket's steps: the stop loss's write-ahead row committed (nothing sent), the stop
# loss on the gateway (its answer not journaled), the stop loss answered and journaled (the take
# profit not yet written); then the same for the take profit (the second leg).
MANAGED_STEPS = [
    ("managed.leg_written", 1),
    ("managed.leg_sent", 1),
    ("managed.leg_answered", 1),
    ("managed.leg_written", 2),
    ("managed.leg_sent", 2),
]


@pytest.mark.parametrize(("point", "nth"), MANAGED_STEPS, ids=[f"{p}@{n}" for p, n in MANAGED_STEPS])
async def test_a_managed_bracket_killed_at_each_step_is_protected_within_5_s_of_ready(
    tmp_path: Path, sim: SimServer, point: str, nth: int
) -> None:
    settings = on_the_sim(tmp_path, sim)
    body = BRACKET_ALERT.replace(b"Long-", b"Managed-")
    with arm(point, nth):
        async with on_sim(settings, tmp_path, sim) as env:
            reply = (await env.send("mnq-managed", body)).json()
            assert reply["status"] == "executed", reply
            alert_id = reply["alert_id"]
            legs_written = nth  # the crash comes once this many leg rows exist

            async def at_the_failpoint() -> bool:
                legs = [o for o in env.orders(alert_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
                assert len(legs) == legs_written, legs
                if point == "managed.leg_answered":
                    assert legs[-1].state != OrderState.SUBMITTING
                return True

            await crashed(env, at_the_failpoint)
            if point == "managed.leg_written":
                # nothing of that leg reached the gateway
                assert len(working(sim, POSITION_BRACKETS, OrderType.LIMIT)) == 0
    assert position_size(sim, POSITION_BRACKETS) == 1  # the fill, left behind by the crash

    async with on_sim(settings, tmp_path, sim) as env:  # the restart: ready from here

        async def protected() -> bool:
            stop = one(working(sim, POSITION_BRACKETS, OrderType.STOP))
            target = one(working(sim, POSITION_BRACKETS, OrderType.LIMIT))
            assert (stop.side, stop.size) == (Side.ASK, 1)  # sized to the position (long 1)
            assert (target.side, target.size) == (Side.ASK, 1)
            # journaled after the gateway answered: the journal may lag the simulator a little
            if point == "managed.leg_written" and nth == 1:
                kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
                assert "bracket.managed_restored" in kinds, kinds
            # the journal holds every leg the gateway has, with its broker id
            rows = {o.broker_order_id: o for o in env.orders(alert_id)}
            for order in sim.state.orders.values():
                if order.account_id == POSITION_BRACKETS and order.status == OrderStatus.OPEN:
                    assert order.id in rows, order
            return True

        await eventually(protected, timeout_s=5)
        group = group_of(env, alert_id)
        assert group.state == "working", group.note  # never done while the position is open
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert "oco.done" not in kinds

        # and the restored protection works: the stop loss fills, the take profit is cancelled
        entry = next(o for o in env.orders(alert_id) if o.leg == Leg.ENTRY)
        sim.state.set_price(entry.contract_id, entry.filled_price - 10)

        async def closed() -> bool:
            assert group_of(env, alert_id).state == "done"
            assert position_size(sim, POSITION_BRACKETS) == 0
            assert working(sim, POSITION_BRACKETS, OrderType.LIMIT) == []
            return True

        await eventually(closed, timeout_s=5)


async def test_a_managed_leg_lost_while_the_position_was_closed_places_nothing(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    body = BRACKET_ALERT.replace(b"Long-", b"Managed-")
    with arm("managed.leg_written", 1):
        async with on_sim(settings, tmp_path, sim) as env:
            alert_id = (await env.send("mnq-managed", body)).json()["alert_id"]

            async def at_the_failpoint() -> bool:
                return any(o.leg == Leg.STOP_LOSS for o in env.orders(alert_id))

            await crashed(env, at_the_failpoint)
            contract_id = env.orders(alert_id)[0].contract_id
    sim.state.close_position(POSITION_BRACKETS, contract_id)  # the trader closed it meanwhile

    async with on_sim(settings, tmp_path, sim) as env:

        async def settled() -> bool:
            group = group_of(env, alert_id)
            assert group.state == "done" and "closed" in group.note, group
            return True

        await eventually(settled, timeout_s=5)
        assert working(sim, POSITION_BRACKETS, OrderType.STOP) == []  # no naked stop
        assert working(sim, POSITION_BRACKETS, OrderType.LIMIT) == []


async def test_a_native_bracket_whose_settlement_was_lost_is_journaled_at_start(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    with arm("native.settle"):
        async with on_sim(settings, tmp_path, sim) as env:
            with pytest.raises(FailpointCrash):
                await env.send("mnq-bracket", BRACKET_ALERT)
            [alert] = env.journal.recent_alerts(limit=1)
            alert_id = alert.id
            # the crash lost the settlement: the journal knows the entry, not its legs
            assert [o.leg for o in env.orders(alert_id)] == [Leg.ENTRY]
    stop = one(working(sim, AUTO_OCO, OrderType.STOP))  # the gateway made the legs with the entry
    target = one(working(sim, AUTO_OCO, OrderType.LIMIT))

    async with on_sim(settings, tmp_path, sim) as env:

        async def journaled() -> bool:
            legs = {o.leg: o for o in env.orders(alert_id)}
            assert {Leg.STOP_LOSS, Leg.TAKE_PROFIT} <= legs.keys(), legs  # not read back yet
            assert legs[Leg.STOP_LOSS].broker_order_id == stop.id
            assert legs[Leg.TAKE_PROFIT].broker_order_id == target.id
            assert legs[Leg.STOP_LOSS].state == OrderState.WORKING
            assert legs[Leg.STOP_LOSS].parent_id == legs[Leg.ENTRY].id
            assert legs[Leg.ENTRY].state == OrderState.FILLED
            kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
            assert "bracket.native_adopted" in kinds, kinds  # written just after the legs
            return True

        await eventually(journaled, timeout_s=5)
        kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
        assert "bracket.native_missing" not in kinds  # the native legs protect it: no second stop
        assert working(sim, AUTO_OCO, OrderType.STOP) == [stop]
        assert env.journal.oco_groups("working") == []

        # the journal follows the native legs from here: the take profit fills
        sim.state.set_price(stop.contract_id, target.limit_price)

        async def filled() -> bool:
            legs = {o.leg: o for o in env.orders(alert_id)}
            assert legs[Leg.TAKE_PROFIT].state == OrderState.FILLED
            assert legs[Leg.STOP_LOSS].state == OrderState.CANCELLED
            return True

        await eventually(filled, timeout_s=5)


async def test_a_native_bracket_lost_with_its_legs_gone_is_protected_by_the_bridge(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    with arm("native.settle"):
        async with on_sim(settings, tmp_path, sim) as env:
            with pytest.raises(FailpointCrash):
                await env.send("mnq-bracket", BRACKET_ALERT)
            [alert] = env.journal.recent_alerts(limit=1)
            alert_id = alert.id
    for order in working(sim, AUTO_OCO, OrderType.STOP) + working(sim, AUTO_OCO, OrderType.LIMIT):
        sim.state.cancel_order(AUTO_OCO, order.id)  # the native legs are gone (cancelled by hand)
    assert position_size(sim, AUTO_OCO) == 1

    async with on_sim(settings, tmp_path, sim) as env:

        async def protected() -> bool:
            stop = one(working(sim, AUTO_OCO, OrderType.STOP))
            assert (stop.side, stop.size) == (Side.ASK, 1)
            assert stop.custom_tag.endswith("-MSL")
            return True

        await eventually(protected, timeout_s=5)
        events = env.journal.events(alert_id=alert_id)
        [missing] = [e for e in events if e.kind == "bracket.native_missing"]
        assert missing.level == "critical"


# -- a real kill: `tvbridge serve` killed by SIGKILL beside a standalone `tvbridge sim` ---------


def _start_sim(workdir: Path) -> tuple[subprocess.Popen[Any], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sim", "--port", str(port), "--no-access-log"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/Status/ping", timeout=1)
            return process, port
        except httpx.HTTPError:
            assert process.poll() is None and time.monotonic() < deadline, "tvbridge sim did not start"
            time.sleep(0.1)


def _sim_open_orders(port: int, account_id: int) -> list[dict[str, Any]]:
    """Order/searchOpen on the standalone simulator, as any ProjectX client asks it."""
    base = f"http://127.0.0.1:{port}/api"
    token = httpx.post(f"{base}/Auth/loginKey", json={"userName": "trader1", "apiKey": "key"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(f"{base}/Order/searchOpen", json={"accountId": account_id}, headers=headers)
    return list(answer.json()["orders"])


async def test_serve_killed_after_the_stop_loss_row_is_protected_within_5_s_of_ready(
    tmp_path: Path,
) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    (tmp_path / "templates" / "mnq-managed.toml").write_text(MANAGED)
    sim, port = _start_sim(tmp_path)
    serve: subprocess.Popen[Any] | None = None
    log = (tmp_path / "serve.log").open("a")
    try:
        env = {
            "TVBRIDGE_GATEWAY__KIND": "custom",
            "TVBRIDGE_GATEWAY__API_URL": f"http://127.0.0.1:{port}",
            "TVBRIDGE_GATEWAY__USER_HUB_URL": f"ws://127.0.0.1:{port}/hubs/user",
            "TVBRIDGE_GATEWAY__USERNAME": "trader1",
            "TVBRIDGE_GATEWAY__API_KEY": "key",
            "TVBRIDGE_SERVER__PORT": str(free_port()),
            "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        }
        serve = start_serve(tmp_path, {**env, ENV: "managed.leg_written"}, log)
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-managed"]
        url = f"http://127.0.0.1:{env['TVBRIDGE_SERVER__WEBHOOK_PORT']}{webhook_path('mnq-managed', secret)}"
        with contextlib.suppress(httpx.HTTPError):  # killed before it answered, maybe
            httpx.post(url, content=BRACKET_ALERT.replace(b"Long-", b"Managed-"), timeout=5)
        assert serve.wait(timeout=20) == -signal.SIGKILL  # killed at the failpoint
        assert [o["type"] for o in _sim_open_orders(port, POSITION_BRACKETS)] == []  # unprotected

        serve = start_serve(tmp_path, env, log)  # returns once /readyz answers 200

        async def protected() -> bool:
            orders = _sim_open_orders(port, POSITION_BRACKETS)
            stops = [o for o in orders if o["type"] == 4]  # Stop (§5.1)
            assert [(o["side"], o["size"]) for o in stops] == [(1, 1)], orders  # sell 1: long 1
            assert [(o["side"], o["size"]) for o in orders if o["type"] == 1] == [(1, 1)]
            return True

        await eventually(protected, timeout_s=5)
        journal = Journal(f"sqlite:///{tmp_path / 'tvbridge.db'}")
        try:
            [group] = journal.oco_groups("working")  # not done: the position is open
            kinds = [e.kind for e in journal.events(alert_id=group.alert_id)]
            assert "bracket.managed_restored" in kinds and "oco.done" not in kinds
        finally:
            journal.close()
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
        sim.terminate()
        sim.wait(timeout=10)
        log.close()


NATIVE_LIMIT = """\
description = "MNQ limit entry with a native bracket"
[alert]
id_field = "id"
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "limit"
limit_price = "{{ alert.price }}"
[bracket]
stop_loss = { ticks = 40 }
take_profit = { ticks = 80 }
"""


async def test_a_working_native_entry_whose_settlement_was_lost_has_its_suspended_legs_journaled(
    tmp_path: Path, sim: SimServer
) -> None:
    settings = on_the_sim(tmp_path, sim)
    (tmp_path / "templates" / "mnq-native-limit.toml").write_text(NATIVE_LIMIT)
    with arm("native.settle"):
        async with on_sim(settings, tmp_path, sim) as env:
            contract = await env.runtime.bridge.gateway.contract("MNQ1!")
            below = sim.state.price(contract.contract_id) - 50  # a buy limit that waits
            body = BRACKET_ALERT.replace(b'"21500.25"', f'"{below}"'.encode())
            with pytest.raises(FailpointCrash):
                await env.send("mnq-native-limit", body)
            [alert] = env.journal.recent_alerts(limit=1)
            alert_id = alert.id
    children = [o for o in sim.state.orders.values() if o.status == OrderStatus.SUSPENDED]
    assert len(children) == 2  # invisible to Order/search until the entry fills (§4.8)

    async with on_sim(settings, tmp_path, sim) as env:

        async def journaled() -> bool:
            legs = {o.leg: o for o in env.orders(alert_id)}
            assert {Leg.STOP_LOSS, Leg.TAKE_PROFIT} <= legs.keys(), legs  # not read back yet
            assert {legs[Leg.STOP_LOSS].broker_order_id, legs[Leg.TAKE_PROFIT].broker_order_id} == {
                c.id for c in children
            }
            assert legs[Leg.STOP_LOSS].state == OrderState.SUSPENDED
            assert legs[Leg.ENTRY].state == OrderState.WORKING
            return True

        await eventually(journaled, timeout_s=5)
        sim.state.set_price(contract.contract_id, below)  # the entry fills, its legs start working

        async def working_legs() -> bool:
            legs = {o.leg: o for o in env.orders(alert_id)}
            assert legs[Leg.ENTRY].state == OrderState.FILLED
            assert legs[Leg.STOP_LOSS].state == OrderState.WORKING
            assert legs[Leg.TAKE_PROFIT].state == OrderState.WORKING
            return True

        await eventually(working_legs, timeout_s=5)
        assert len(working(sim, AUTO_OCO, OrderType.STOP)) == 1  # the native one, no second stop


MANAGED_LIMIT = MANAGED.replace(
    'price = "{{ alert.price }}"', 'type = "limit"\nlimit_price = "{{ alert.price }}"'
)


async def test_a_managed_entry_filled_while_the_hub_was_down_is_protected_after_the_reconnect(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    (tmp_path / "templates" / "mnq-managed-limit.toml").write_text(MANAGED_LIMIT)
    async with running(settings, tmp_path) as env:
        contract = await env.runtime.bridge.gateway.contract("MNQ1!")
        below = env.sim.price(contract.contract_id) - 50
        body = BRACKET_ALERT.replace(b'"21500.25"', f'"{below}"'.encode())
        reply = (await env.send("mnq-managed-limit", body)).json()
        assert reply["status"] == "executed", reply
        hub = env.hub
        await hub_dropped(env)
        env.sim.set_price(contract.contract_id, below)  # the entry fills while the bridge is deaf
        assert working(env.sim_server, POSITION_BRACKETS, OrderType.STOP) == []

        async def reconnected() -> bool:
            return bool(hub.state.connected)

        await eventually(reconnected, timeout_s=10)

        async def protected() -> bool:
            stop = one(working(env.sim_server, POSITION_BRACKETS, OrderType.STOP))
            assert (stop.side, stop.size) == (Side.ASK, 1)
            assert len(working(env.sim_server, POSITION_BRACKETS, OrderType.LIMIT)) == 1
            return True

        await eventually(protected, timeout_s=5)
        assert group_of(env, reply["alert_id"]).state == "working"
