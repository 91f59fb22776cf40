"""Connection trouble on the User Hub while orders fill: the journal ends right every time
(every fill exactly once, correct order states, correct OCO outcome)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from app.domain.enums import Leg, OrderState
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_protection import group_of, mnq, oco_alert
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
SILENCE_S = 1.5


async def _bracket_entry(env: Env) -> tuple[int, str, Decimal]:
    reply = (await env.send("mnq-bracket", BRACKET_ALERT)).json()
    alert_id, contract_id = reply["alert_id"], reply["orders"][0]["contract_id"]

    async def entry_filled() -> bool:
        return len(env.journal.alert_fills(alert_id)) == 1

    await eventually(entry_filled, timeout_s=3)
    return alert_id, contract_id, env.journal.alert_fills(alert_id)[0].price


def _assert_take_profit_outcome(env: Env, alert_id: int) -> None:
    legs = {o.leg: o.state for o in env.orders(alert_id)}
    assert legs == {
        Leg.ENTRY: OrderState.FILLED,
        Leg.STOP_LOSS: OrderState.CANCELLED,
        Leg.TAKE_PROFIT: OrderState.FILLED,
    }
    trade_ids = [f.trade_id for f in env.journal.alert_fills(alert_id)]
    assert len(trade_ids) == len(set(trade_ids)) == 2


async def test_silent_hub_is_rebuilt_and_the_fill_made_meanwhile_is_found(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hub_silence_timeout_s=SILENCE_S)
    async with running(settings, tmp_path) as env:
        alert_id, contract_id, entry_price = await _bracket_entry(env)
        reconnects = env.hub.state.reconnects
        env.sim.hub.silent = True  # the socket stays open; nothing more arrives, pings included
        env.sim.set_price(contract_id, entry_price + Decimal(20))  # the take profit fills unseen

        async def detected() -> bool:
            return env.hub.state.reconnects > reconnects or not env.hub.state.connected

        await eventually(detected, timeout_s=SILENCE_S + 2)
        env.sim.hub.silent = False

        async def caught_up() -> bool:
            _assert_take_profit_outcome(env, alert_id)
            return env.hub.state.connected

        await eventually(caught_up, timeout_s=8)


async def test_token_refreshed_while_connected_loses_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hub_token_check_s=0.2)
    async with running(settings, tmp_path) as env:
        alert_id, contract_id, entry_price = await _bracket_entry(env)
        made = env.sim.hub.connections_made
        await env.runtime.bridge.gateway.start()  # a new session token, as a refresh gives

        async def rebuilt_with_it() -> bool:
            return env.sim.hub.connections_made > made and env.hub.state.connected

        await eventually(rebuilt_with_it, timeout_s=5)
        env.sim.set_price(contract_id, entry_price + Decimal(20))

        async def filled() -> bool:
            _assert_take_profit_outcome(env, alert_id)
            return True

        await eventually(filled, timeout_s=3)


async def test_oco_leg_filled_while_the_hub_was_down_cancels_the_other_after_reconnect(env: Env) -> None:
    contract_id, price = await mnq(env)
    reply = (await env.send("mnq-oco", oco_alert(price, "dropped-1"))).json()
    assert reply["status"] == "executed", reply
    alert_id = reply["alert_id"]
    sell_stop = reply["orders"][1]["broker_order_id"]
    env.sim.hub.refuse_for(1.0)
    env.sim.hub.drop_all()
    env.sim.set_price(contract_id, price + 5)  # the buy stop fills while the bridge is deaf

    async def resolved() -> bool:
        group = group_of(env, alert_id)
        assert group.state == "done", group
        return True

    await eventually(resolved, timeout_s=8)  # reconnect → REST catch-up → protection acts
    assert env.sim.orders[sell_stop].status.name == "CANCELLED"
    fills = env.journal.alert_fills(alert_id)
    assert len(fills) == 1 and len({f.trade_id for f in fills}) == 1
