"""A User Hub outage never loses a fill: the REST catch-up after the reconnect starts from the
moment the hub was last known good (not from a time a REST read learned during the outage), and
while the hub cannot be reached at all, orders, fills and positions are followed by REST polling."""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import Leg, OrderState
from tests.e2e.conftest import Env
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
MARKET_ALERT = (SHIPPED_ALERTS / "mnq-market.example.json").read_bytes()
MNQ_FEE = Decimal("0.37")  # the simulator's MNQ fee per contract per fill (USD)


async def _bracket_entry(env: Env) -> tuple[int, str, Decimal]:
    reply = (await env.send("mnq-bracket", BRACKET_ALERT)).json()
    assert reply["status"] == "executed", reply
    alert_id, contract_id = reply["alert_id"], reply["orders"][0]["contract_id"]

    async def entry_filled() -> bool:
        return len(env.journal.alert_fills(alert_id)) == 1

    await eventually(entry_filled, timeout_s=3)
    return alert_id, contract_id, env.journal.alert_fills(alert_id)[0].price


async def test_take_profit_filled_in_an_outage_with_a_new_alert_is_journaled_after_the_reconnect(
    env: Env,
) -> None:
    env.runtime.bridge.follower.poll_after_s = 3600  # no REST polling: the catch-up alone must find it
    alert_id, contract_id, entry_price = await _bracket_entry(env)
    take_profit = {o.leg: o for o in env.orders(alert_id)}[Leg.TAKE_PROFIT]
    reconnects = env.runtime.hub.state.reconnects
    env.sim.hub.refuse_for(4.0)
    env.sim.hub.drop_all()
    env.sim.set_price(contract_id, entry_price + Decimal(20))  # the take profit fills unseen

    async def filled_at_the_gateway() -> bool:
        return env.sim.orders[take_profit.broker_order_id].status.name == "FILLED"

    await eventually(filled_at_the_gateway, timeout_s=3)
    # A new alert in the same outage: its REST answers carry gateway times after the fill.
    reply = (await env.send("mnq-market", MARKET_ALERT)).json()
    assert reply["status"] == "executed", reply

    async def new_order_synced() -> bool:
        [row] = env.orders(reply["alert_id"])
        return row.state == OrderState.FILLED

    await eventually(new_order_synced, timeout_s=3)

    async def caught_up() -> bool:
        assert env.runtime.hub.state.reconnects > reconnects
        fills = {f.broker_order_id: f for f in env.journal.alert_fills(alert_id)}
        assert take_profit.broker_order_id in fills, fills
        return True

    await eventually(caught_up, timeout_s=15)
    fill = {f.broker_order_id: f for f in env.journal.alert_fills(alert_id)}[take_profit.broker_order_id]
    assert fill.price == entry_price + Decimal(20)
    assert fill.fees == MNQ_FEE
    assert fill.profit_and_loss == Decimal("40.00")
    legs = {o.leg: o for o in env.orders(alert_id)}
    assert legs[Leg.TAKE_PROFIT].state == OrderState.FILLED
    assert legs[Leg.TAKE_PROFIT].filled_price == entry_price + Decimal(20)
