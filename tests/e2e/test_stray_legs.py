"""Stray bracket legs: Position/closeContract leaves a position's stop loss and take profit working
(projectx-api.md §13.1, and so does the simulator); the bridge cancels them before its own closes,
and sweeps those left where an account went flat some other way (issue 17, item 5)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.enums import Leg, OrderState
from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID
from app.sim.models import OrderTicket
from app.sim.wire import normalize_path
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_protection import MANAGED
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
EXIT_ALERT = (SHIPPED_ALERTS / "mnq-exit.example.json").read_bytes()
STRAY_EVENT = "bracket.stray_leg_cancelled"
REASON = "position flat: stray bracket leg"


async def bracketed(env: Env, strategy: str = "mnq-bracket", body: bytes = BRACKET_ALERT) -> tuple[int, str]:
    """Enter with a bracket; return the alert id and contract once both legs work on the gateway."""
    reply = (await env.send(strategy, body)).json()
    assert reply["status"] == "executed", reply
    alert_id, contract_id = reply["alert_id"], reply["orders"][0]["contract_id"]

    async def legs_working() -> bool:
        legs = [o for o in env.orders(alert_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
        assert len(legs) == 2 and all(o.state == OrderState.WORKING for o in legs), legs
        return True

    await eventually(legs_working, timeout_s=5)
    return alert_id, contract_id


def working(env: Env, account_id: int, contract_id: str) -> set[int]:
    """The broker ids the simulator lists as working (status Open) in ``contract_id``."""
    return {o.id for o in env.sim.open_orders(account_id) if o.contract_id == contract_id}


def leg_ids(env: Env, alert_id: int) -> set[int]:
    return {o.broker_order_id for o in env.orders(alert_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)}


def stray_events(env: Env) -> list[Any]:
    return [e for e in env.journal.events() if e.kind == STRAY_EVENT]


def cancels(env: Env) -> list[int]:
    return [int(r.json_body["orderId"]) for r in env.sim.requests_to("Order/cancel")]


def manual_limit(env: Env, contract_id: str, price: Decimal) -> int:
    """A buy limit the trader places by hand on the platform, far below the market."""
    ticket = OrderTicket(AUTO_OCO_ACCOUNT_ID, contract_id, type=1, side=0, size=1, limit_price=price)
    return int(env.sim.place_order(ticket))


async def test_exit_alert_cancels_the_bracket_legs_before_it_closes(env: Env) -> None:
    alert_id, contract_id = await bracketed(env)
    legs = leg_ids(env, alert_id)

    reply = (await env.send("mnq-exit", EXIT_ALERT)).json()

    assert reply["status"] == "executed", reply
    assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
    assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()  # no leg left behind
    # The legs' cancels were sent (and journaled) before the close, each once.
    paths = [normalize_path(r.path) for r in env.sim.requests]
    paths = [p for p in paths if p in ("order/cancel", "position/closecontract")]
    assert paths == ["order/cancel", "order/cancel", "position/closecontract"], paths
    assert sorted(cancels(env)) == sorted(legs)
    rows = env.orders(reply["alert_id"])
    assert [o.leg for o in rows] == [Leg.CANCEL, Leg.CANCEL, Leg.CLOSE]
    assert {o.broker_order_id for o in rows if o.leg == Leg.CANCEL} == legs
    assert all(o.state == OrderState.DONE for o in rows)


async def test_manual_flatten_on_the_platform_sweeps_the_legs_and_leaves_a_manual_order(env: Env) -> None:
    alert_id, contract_id = await bracketed(env)
    legs = leg_ids(env, alert_id)
    price = env.sim.price(contract_id)
    mine = manual_limit(env, contract_id, price - 50)

    env.sim.close_position(AUTO_OCO_ACCOUNT_ID, contract_id)  # the trader closes on the platform
    assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == legs | {mine}  # the legs stay (§13.1)

    async def swept() -> bool:
        assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == {mine}
        assert {e.data["broker_order_id"] for e in stray_events(env)} == legs
        states = {o.broker_order_id: o.state for o in env.orders(alert_id)}
        assert {states[i] for i in legs} == {OrderState.CANCELLED}  # the hub's cancel events
        return True

    await eventually(swept, timeout_s=5)
    events = stray_events(env)
    assert all(REASON in e.message and e.data["reason"] == REASON for e in events)
    assert sorted(cancels(env)) == sorted(legs)  # each leg once; the manual limit never
    # A repeated flat snapshot (the next catch-up) sweeps nothing again.
    await env.runtime.bridge.reconciler.reconcile_account(AUTO_OCO_ACCOUNT_ID)
    await env.runtime.bridge.sweeper.sweep(AUTO_OCO_ACCOUNT_ID, contract_id)
    assert sorted(cancels(env)) == sorted(legs)
    assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == {mine}


async def test_flat_while_the_hub_is_down_is_swept_by_the_catch_up(env: Env) -> None:
    alert_id, contract_id = await bracketed(env)
    legs = leg_ids(env, alert_id)
    reconnects = env.hub.state.reconnects
    env.sim.hub.refuse_for(1.0)
    env.sim.hub.drop_all()  # the flat event is lost with the connection
    env.sim.close_position(AUTO_OCO_ACCOUNT_ID, contract_id)

    async def swept() -> bool:
        assert env.hub.state.reconnects > reconnects
        assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()
        assert {e.data["broker_order_id"] for e in stray_events(env)} == legs
        return True

    await eventually(swept, timeout_s=10)  # found by the REST catch-up after reconnecting
    assert sorted(cancels(env)) == sorted(legs)  # once each: no double cancel


async def test_managed_legs_are_swept_by_their_journal_rows(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    (tmp_path / "templates" / "mnq-managed.toml").write_text(MANAGED)
    async with running(make_settings(tmp_path), tmp_path) as env:
        body = BRACKET_ALERT.replace(b"Long-", b"Managed-")
        alert_id, contract_id = await bracketed(env, "mnq-managed", body)
        legs = leg_ids(env, alert_id)
        # The bridge's own legs carry no parentOrderId: known by their journal rows.
        assert all(env.sim.orders[i].parent_order_id is None for i in legs)

        env.sim.close_position(POSITION_BRACKETS_ACCOUNT_ID, contract_id)

        async def swept() -> bool:
            assert working(env, POSITION_BRACKETS_ACCOUNT_ID, contract_id) == set()
            assert {e.data["broker_order_id"] for e in stray_events(env)} == legs
            return True

        await eventually(swept, timeout_s=5)
        assert sorted(cancels(env)) == sorted(legs)
        assert env.sim.open_positions(POSITION_BRACKETS_ACCOUNT_ID) == []  # nothing re-opened
