"""Fills into the journal by REST reconciliation, against the simulator (its REST side only)."""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import Leg, OrderState, Side
from tests.e2e.conftest import Env
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()  # buy 1 MNQ @ 21500.25
TAKE_PROFIT_TICKS = 80  # templates/mnq-bracket.toml
MNQ_TICK = Decimal("0.25")


async def test_take_profit_fill_is_journaled_once_with_latency_and_slippage(env: Env) -> None:
    response = await env.send("mnq-bracket", BRACKET_ALERT)
    assert response.status_code == 200, response.text
    alert_id = response.json()["alert_id"]
    entry_row = next(r for r in env.orders(alert_id) if r.leg == Leg.ENTRY)
    account_id, contract_id = entry_row.account_id, entry_row.contract_id
    reconciler = env.runtime.bridge.reconciler
    [entry_trade] = [t for t in env.sim.trades if t.order_id == entry_row.broker_order_id]

    await reconciler.reconcile_account(account_id)
    [long] = env.journal.positions(account_id)
    assert (long.side, long.size) == (Side.BUY, 1)

    env.sim.set_price(contract_id, entry_trade.price + TAKE_PROFIT_TICKS * MNQ_TICK)
    await reconciler.reconcile_account(account_id)
    await reconciler.reconcile_account(account_id)  # the same again changes nothing

    async def legs_settled() -> bool:
        states = {r.leg: r.state for r in env.orders(alert_id)}
        assert states == {
            Leg.ENTRY: OrderState.FILLED,
            Leg.STOP_LOSS: OrderState.CANCELLED,
            Leg.TAKE_PROFIT: OrderState.FILLED,
        }, states
        return True

    await eventually(legs_settled)  # the bridge's own order sync may still be writing
    rows = {r.leg: r for r in env.orders(alert_id)}
    fills = env.journal.alert_fills(alert_id)
    assert [(f.order_record_id, f.side, f.size) for f in fills] == [
        (rows[Leg.ENTRY].id, Side.BUY, 1),
        (rows[Leg.TAKE_PROFIT].id, Side.SELL, 1),
    ]
    assert fills[0].price == entry_trade.price and fills[0].profit_and_loss is None
    assert fills[1].profit_and_loss == Decimal(TAKE_PROFIT_TICKS) * Decimal("0.50")  # $0.50 a tick
    assert [p.side for p in env.journal.positions(account_id)] == [None]  # flat

    chain = env.journal.alert_latency(alert_id)
    assert chain is not None
    assert chain.received_at <= chain.sent_at <= chain.acknowledged_at
    assert chain.first_fill_at == chain.last_fill_at == fills[0].filled_at  # the entry's own fill
    [slippage] = chain.slippage
    ticks = (entry_trade.price - Decimal("21500.25")) / MNQ_TICK
    assert slippage.reference_price == Decimal("21500.25")
    assert (slippage.ticks, slippage.usd) == (ticks, ticks * Decimal("0.50"))
