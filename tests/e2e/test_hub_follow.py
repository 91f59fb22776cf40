"""Fills and order states arrive through the User Hub, within a second, without polling."""

from __future__ import annotations

import time
from decimal import Decimal

from app.domain.enums import Leg, OrderState
from tests.e2e.conftest import Env
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()


async def test_entry_and_take_profit_fills_reach_the_journal_within_a_second(env: Env) -> None:
    sync_searches = len(env.sim.requests_to("Order/search"))
    response = await env.send("mnq-bracket", BRACKET_ALERT)
    reply = response.json()
    assert reply["status"] == "executed", response.text
    alert_id = reply["alert_id"]
    sent = time.monotonic()

    async def entry_filled() -> bool:
        fills = env.journal.alert_fills(alert_id)
        return len(fills) == 1

    await eventually(entry_filled, timeout_s=1.0)
    assert time.monotonic() - sent < 1.0
    [entry_fill] = env.journal.alert_fills(alert_id)

    contract_id = reply["orders"][0]["contract_id"]
    target = entry_fill.price + Decimal(80) * Decimal("0.25")  # the 80-tick take profit of a buy
    env.sim.set_price(contract_id, target)  # the simulator fills the take profit and sends it
    moved = time.monotonic()

    async def target_filled() -> bool:
        legs = {o.leg: o for o in env.orders(alert_id)}
        fills = env.journal.alert_fills(alert_id)
        return (
            len(fills) == 2
            and legs[Leg.TAKE_PROFIT].state == OrderState.FILLED
            and legs[Leg.STOP_LOSS].state == OrderState.CANCELLED
        )

    await eventually(target_filled, timeout_s=1.0)
    assert time.monotonic() - moved < 1.0
    take_profit_fill = env.journal.alert_fills(alert_id)[1]
    assert take_profit_fill.price == target and take_profit_fill.profit_and_loss == Decimal("40.00") - 0
    positions = {p.contract_id: p for p in env.journal.positions(70000001)}
    assert positions[contract_id].size == 0
    # The hub, not REST polling, delivered the take profit: no Order/search ran after the price move.
    assert len(env.sim.requests_to("Order/search")) <= sync_searches + 1  # the after-burst sync only


async def test_hub_dropped_while_orders_fill_loses_no_fill(env: Env) -> None:
    response = await env.send("mnq-bracket", BRACKET_ALERT)
    alert_id = response.json()["alert_id"]
    contract_id = response.json()["orders"][0]["contract_id"]

    async def entry_filled() -> bool:
        return len(env.journal.alert_fills(alert_id)) == 1

    await eventually(entry_filled, timeout_s=2.0)
    [entry_fill] = env.journal.alert_fills(alert_id)
    reconnects = env.hub.state.reconnects
    env.sim.hub.refuse_for(1.0)
    env.sim.hub.drop_all()  # the take profit fills while the bridge is disconnected
    env.sim.set_price(contract_id, entry_fill.price + Decimal(20))

    async def caught_up() -> bool:
        legs = {o.leg: o.state for o in env.orders(alert_id)}
        return (
            env.hub.state.reconnects > reconnects
            and len(env.journal.alert_fills(alert_id)) == 2
            and legs[Leg.TAKE_PROFIT] == OrderState.FILLED
            and legs[Leg.STOP_LOSS] == OrderState.CANCELLED
        )

    await eventually(caught_up, timeout_s=8.0)  # found by the REST catch-up after reconnecting
    trade_ids = [f.trade_id for f in env.journal.alert_fills(alert_id)]
    assert len(trade_ids) == len(set(trade_ids)) == 2  # every fill exactly once


async def test_duplicated_and_reordered_events_change_nothing_twice(env: Env) -> None:
    env.sim.hub.duplicate = True
    env.sim.hub.reorder_batch = 3  # hold three events, deliver them newest first
    env.sim.hub.reorder_hold_s = 0.05
    response = await env.send("mnq-bracket", BRACKET_ALERT)
    alert_id = response.json()["alert_id"]
    contract_id = response.json()["orders"][0]["contract_id"]

    async def entry_filled() -> bool:
        return len(env.journal.alert_fills(alert_id)) == 1

    await eventually(entry_filled, timeout_s=3.0)
    [entry_fill] = env.journal.alert_fills(alert_id)
    env.sim.set_price(contract_id, entry_fill.price - Decimal(10))  # the 40-tick stop loss fills

    async def stopped_out() -> bool:
        legs = {o.leg: o.state for o in env.orders(alert_id)}
        return legs == {
            Leg.ENTRY: OrderState.FILLED,
            Leg.STOP_LOSS: OrderState.FILLED,
            Leg.TAKE_PROFIT: OrderState.CANCELLED,
        }

    await eventually(stopped_out, timeout_s=3.0)
    fills = env.journal.alert_fills(alert_id)
    assert len(fills) == 2 and len({f.trade_id for f in fills}) == 2  # each fill exactly once
    for row in env.orders(alert_id):
        history = [h.state for h in env.journal.order_history(row.id)]
        assert len(history) == len(set(history)), (row.leg, history)  # no state recorded twice
