"""A User Hub outage never loses a fill: the REST catch-up after the reconnect starts from the
moment the hub was last known good (not from a time a REST read learned during the outage), and
while the hub cannot be reached at all, orders, fills and positions are followed by REST polling."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from app.domain.enums import Leg, OrderState
from app.sim import AUTO_OCO_ACCOUNT_ID
from app.sim.server import SimServer
from app.web.status import status_snapshot
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_protection import group_of, mnq, oco_alert
from tests.helpers import SHIPPED_ALERTS, eventually, free_port

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
    reconnects = env.hub.state.reconnects
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
        assert env.hub.state.reconnects > reconnects
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


class without_hub(running):
    """A bridge on a standalone simulator whose User Hub URL points nowhere (nothing listens)."""

    def __init__(self, root: Path, sim: SimServer) -> None:
        settings = make_settings(
            root,
            kind="custom",
            api_url=sim.url,
            user_hub_url=f"http://127.0.0.1:{free_port()}/hubs/user",
            username="trader",
            api_key="key",
        )
        settings.engine.unreachable_alarm_s = 5.0
        super().__init__(settings, root)
        self.sim_server = sim

    async def _settled(self) -> None:
        self.runtime.sim = self.sim_server  # so env.sim works; never stopped by this runtime
        follower = self.runtime.bridge.follower

        async def polling() -> bool:
            return follower.following().by == "rest polling" and follower.following().last_pass_at is not None

        await eventually(polling, timeout_s=10)

    async def __aexit__(self, *exc: object) -> None:
        self.runtime.sim = None
        await super().__aexit__(*exc)


async def test_with_the_hub_unreachable_a_take_profit_fill_reaches_the_journal_within_5_s(
    tmp_path: Path, sim: SimServer
) -> None:
    async with without_hub(tmp_path, sim) as env:
        ready = await env.client.get("/readyz")
        body = ready.json()
        assert ready.status_code == 200, body
        assert body["status"] == "degraded" and body["checks"]["hub"]["ok"] is False
        assert body["checks"]["following"]["by"] == "rest polling"
        status = await status_snapshot(env.runtime)  # what /api/status and the status page show
        assert status["hub"]["connected"] is False and status["hub"]["following"]["by"] == "rest polling"

        alert_id, contract_id, entry_price = await _bracket_entry(env)

        async def protected_and_alarmed() -> bool:
            events = env.journal.events(alert_id=alert_id)
            assert [e for e in events if e.kind == "bracket.verified"], [e.kind for e in events]
            assert env.runtime.watchdog is not None
            await env.runtime.watchdog.check()
            alarm = env.runtime.watchdog.alarm
            assert alarm is not None and alarm.polled and "by REST polling" in alarm.message
            return True

        await eventually(protected_and_alarmed, timeout_s=10)
        assert not [e for e in env.journal.events(alert_id=alert_id) if e.level == "critical"]

        env.sim.set_price(contract_id, entry_price + Decimal(20))  # the take profit fills

        async def take_profit_journaled() -> bool:
            legs = {o.leg: o.state for o in env.orders(alert_id)}
            assert legs == {
                Leg.ENTRY: OrderState.FILLED,
                Leg.STOP_LOSS: OrderState.CANCELLED,
                Leg.TAKE_PROFIT: OrderState.FILLED,
            }, legs
            fills = env.journal.alert_fills(alert_id)
            assert len(fills) == 2 and fills[1].profit_and_loss == Decimal("40.00"), fills
            return True

        await eventually(take_profit_journaled, timeout_s=5)
        assert env.journal.positions(AUTO_OCO_ACCOUNT_ID)[0].size == 0


async def test_with_the_hub_unreachable_an_oco_leg_fill_cancels_the_other(
    tmp_path: Path, sim: SimServer
) -> None:
    async with without_hub(tmp_path, sim) as env:
        contract_id, price = await mnq(env)
        reply = (await env.send("mnq-oco", oco_alert(price, "no-hub-1"))).json()
        assert reply["status"] == "executed", reply
        alert_id = reply["alert_id"]
        sell_stop = reply["orders"][1]["broker_order_id"]
        env.sim.set_price(contract_id, price + 5)  # the buy stop fills; only polling can tell

        async def resolved() -> bool:
            group = group_of(env, alert_id)
            assert group.state == "done", group
            return True

        await eventually(resolved, timeout_s=8)
        assert env.sim.orders[sell_stop].status.name == "CANCELLED"
        assert len(env.journal.alert_fills(alert_id)) == 1
