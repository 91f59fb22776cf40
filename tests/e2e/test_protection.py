"""OCO pairs, managed brackets and native bracket checks against the simulator, restart included."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.config import Settings
from app.domain.enums import Leg, OrderState
from app.sim.server import SimServer
from tests.e2e.conftest import Env, make_settings, running
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
MANAGED = """\
description = "MNQ market entry, stop loss and take profit placed by the bridge"
[alert]
id_field = "id"
[order]
accounts = ["SIM-POSITION-BRACKETS"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
price = "{{ alert.price }}"
[bracket]
mode = "managed"
stop_loss = { ticks = 40 }
take_profit = { ticks = 80 }
"""


async def mnq(env: Env) -> tuple[str, Decimal]:
    contract = await env.runtime.bridge.gateway.contract("MNQ1!")
    return contract.contract_id, env.sim.price(contract.contract_id)


def oco_alert(price: Decimal, key: str) -> str:
    body = json.loads((SHIPPED_ALERTS / "mnq-oco.example.json").read_text())
    body.update(id=key, high=str(price + 5), low=str(price - 5))
    return json.dumps(body)


def group_of(env: Env, alert_id: int) -> Any:
    """The alert's only OCO group as it is now. Read by state, one query each, while the bridge
    may move it (working → done) between two of them: found by id, then read once more."""
    states = ("working", "done", "raced", "failed")
    [group_id] = {g.id for s in states for g in env.journal.oco_groups(s) if g.alert_id == alert_id}
    return env.journal.oco_group(group_id)


async def test_oco_breakout_one_side_triggers_and_cancels_the_other(env: Env) -> None:
    contract_id, price = await mnq(env)
    reply = (await env.send("mnq-oco", oco_alert(price, "breakout-1"))).json()
    assert reply["status"] == "executed", reply
    alert_id = reply["alert_id"]
    buy_stop, sell_stop = (o["broker_order_id"] for o in reply["orders"])

    env.sim.set_price(contract_id, price + 5)  # the buy stop triggers

    async def settled() -> bool:
        group = group_of(env, alert_id)
        assert group.state == "done", group
        # the cancel's report may be journaled just after the group is done
        states = {o.broker_order_id: o.state for o in env.orders(alert_id) if o.leg == Leg.ENTRY}
        assert states == {buy_stop: OrderState.FILLED, sell_stop: OrderState.CANCELLED}
        return True

    await eventually(settled, timeout_s=3)
    assert group_of(env, alert_id).note == f"buy stop filled 1 → cancelled sell stop {sell_stop}"
    assert env.sim.orders[sell_stop].status.name == "CANCELLED"
    assert env.sim.orders[buy_stop].status.name == "FILLED"


async def test_managed_bracket_on_a_position_brackets_account(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    (tmp_path / "templates" / "mnq-managed.toml").write_text(MANAGED)
    async with running(make_settings(tmp_path), tmp_path) as env:
        body = BRACKET_ALERT.replace(b"Long-", b"Managed-")
        reply = (await env.send("mnq-managed", body)).json()
        assert reply["status"] == "executed", reply
        alert_id = reply["alert_id"]

        async def protected() -> dict[Leg, Any]:
            legs = {o.leg: o for o in env.orders(alert_id)}
            assert [e for e in env.journal.events(alert_id=alert_id) if e.kind == "bracket.verified"]
            return legs

        legs = await eventually(protected, timeout_s=3)
        entry = legs[Leg.ENTRY]
        assert entry.request["stopLossBracket"] is None  # sent without a native bracket
        assert (legs[Leg.STOP_LOSS].size, legs[Leg.TAKE_PROFIT].size) == (1, 1)
        fill = entry.filled_price
        assert legs[Leg.STOP_LOSS].stop_price == fill - 10 and legs[Leg.TAKE_PROFIT].limit_price == fill + 20

        env.sim.set_price(entry.contract_id, fill + 20)  # the take profit fills

        async def flat() -> bool:
            states = {o.leg: o.state for o in env.orders(alert_id)}
            assert (
                states[Leg.TAKE_PROFIT] == OrderState.FILLED and states[Leg.STOP_LOSS] == OrderState.CANCELLED
            )
            assert group_of(env, alert_id).state == "done"
            return True

        await eventually(flat, timeout_s=3)
        assert env.sim.open_positions(70000002) == []
        assert group_of(env, alert_id).note.startswith("take_profit filled 1 → cancelled stop_loss ")


async def test_native_bracket_children_are_verified_after_the_fill(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.engine.verify_s = 1.0
    async with running(settings, tmp_path) as env:
        reply = (await env.send("mnq-bracket", BRACKET_ALERT)).json()
        alert_id = reply["alert_id"]

        async def verified() -> bool:
            return any(e.kind == "bracket.verified" for e in env.journal.events(alert_id=alert_id))

        await eventually(verified, timeout_s=3)
        assert not [e for e in env.journal.events(alert_id=alert_id) if e.level == "critical"]
        assert env.journal.oco_groups("working") == []  # no managed fallback was needed


class on_sim(running):
    """A runtime talking to a simulator that outlives it (a process restart, the same market)."""

    def __init__(self, settings: Settings, root: Path, sim: SimServer) -> None:
        super().__init__(settings, root)
        self.sim_server = sim

    async def _settled(self) -> None:
        self.runtime.sim = self.sim_server  # so env.sim works; never stopped by this runtime
        await super()._settled()

    async def __aexit__(self, *exc: object) -> None:
        self.runtime.sim = None
        await super().__aexit__(*exc)


async def test_restart_while_an_oco_pair_is_working(tmp_path: Path) -> None:
    sim = SimServer()
    await sim.start()
    try:
        settings = make_settings(
            tmp_path,
            kind="custom",
            api_url=sim.url,
            user_hub_url=f"{sim.url}/hubs/user",
            username="trader",
            api_key="key",
        )
        async with on_sim(settings, tmp_path, sim) as env:
            contract_id, price = await mnq(env)
            reply = (await env.send("mnq-oco", oco_alert(price, "restart-1"))).json()
            alert_id = reply["alert_id"]
            buy_stop, sell_stop = (o["broker_order_id"] for o in reply["orders"])

            async def working() -> bool:
                states = [o.state for o in env.orders(alert_id)]
                assert states == [OrderState.WORKING, OrderState.WORKING], states
                return True

            await eventually(working, timeout_s=3)

        sim.state.set_price(contract_id, price - 5)  # the sell stop fills while the bridge is down
        assert sim.state.orders[buy_stop].status.name == "OPEN"

        async with on_sim(settings, tmp_path, sim) as env:

            async def resumed() -> bool:  # protection resumes in the background after start
                group = group_of(env, alert_id)
                assert (group.state, group.note) == (
                    "done",
                    f"sell stop filled 1 → cancelled buy stop {buy_stop}",
                )
                assert sim.state.orders[buy_stop].status.name == "CANCELLED"
                states = {o.broker_order_id: o.state for o in env.orders(alert_id) if o.leg == Leg.ENTRY}
                assert states == {buy_stop: OrderState.CANCELLED, sell_stop: OrderState.FILLED}
                kinds = [e.kind for e in env.journal.events(alert_id=alert_id)]
                assert "oco.done" in kinds and "oco.cancel" in kinds
                return True

            await eventually(resumed, timeout_s=5)
            assert len(env.journal.alert_fills(alert_id)) <= 1  # the fill, once (when caught up)
    finally:
        await sim.stop()
