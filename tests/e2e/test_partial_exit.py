"""Partial exits (issue 18, item 4): an exit alert closes a number of contracts or a percentage
of the position with Position/partialCloseContract (no order id: the fill is linked to the
PARTIAL_CLOSE row by the trade), and the stop loss and take profit of what is left are resized
(Order/modify, once each). All of it, or more, is the ordinary exit; a refused partial close
changes nothing; a crash between the close and the resize is finished by the resumed run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import AlertStatus, Leg, OrderState
from app.failpoints import FailpointCrash, arm
from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID
from app.sim.wire import normalize_path
from app.web.preview import dry_run
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_crash_recovery import on_sim, settings_on, simulator
from tests.e2e.test_protection import MANAGED
from tests.e2e.test_stray_legs import BRACKET_ALERT, bracketed, working
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually

PARTIAL = "mnq-exit-partial"
PARTIAL_ALERT = json.loads((SHIPPED_ALERTS / f"{PARTIAL}.example.json").read_text())


def exit_alert(quantity: str) -> str:
    return json.dumps({**PARTIAL_ALERT, "quantity": quantity})


def long_4(body: bytes = BRACKET_ALERT) -> bytes:
    return body.replace(b'"quantity": "1"', b'"quantity": "4"')


def held(env: Env, account_id: int = AUTO_OCO_ACCOUNT_ID) -> int:
    positions = env.sim.open_positions(account_id)
    return sum(abs(p.net) for p in positions)


def leg_sizes(env: Env, alert_id: int) -> dict[Leg, int]:
    """The simulator's size of each bracket leg of the entry alert."""
    rows = [o for o in env.orders(alert_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
    return {r.leg: env.sim.orders[r.broker_order_id].size for r in rows}


def paths(env: Env, *wanted: str) -> list[str]:
    found = [normalize_path(r.path) for r in env.sim.requests]
    return [p for p in found if p in wanted]


def resized(env: Env) -> list[Any]:
    return [e for e in env.journal.events(limit=1000) if e.kind == "bracket.resized"]


async def test_half_of_a_long_4_closes_2_and_resizes_both_legs_to_2(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, contract_id = await bracketed(env, body=long_4())
        assert held(env) == 4 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 4, Leg.TAKE_PROFIT: 4}

        reply = (await env.send(PARTIAL, exit_alert("50%"))).json()

        assert reply["status"] == "executed", reply
        assert held(env) == 2
        [body] = [r.json_body for r in env.sim.requests_to("Position/partialCloseContract")]
        assert body == {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": contract_id, "size": 2}
        assert leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
        # The close first, then one modify per leg; nothing cancelled, nothing closed whole.
        assert paths(
            env, "position/partialclosecontract", "order/modify", "order/cancel", "position/closecontract"
        ) == [
            "position/partialclosecontract",
            "order/modify",
            "order/modify",
        ]
        assert all(r.json_body["size"] == 2 for r in env.sim.requests_to("Order/modify"))
        [row] = env.orders(reply["alert_id"])
        assert (row.leg, row.state, row.size, row.broker_order_id) == (
            Leg.PARTIAL_CLOSE,
            OrderState.DONE,
            2,
            None,
        )
        assert row.request["held"] == 4 and row.request["size"] == 2
        assert len(resized(env)) == 2 and all(e.data["size"] == 2 for e in resized(env))

        async def linked() -> bool:  # the close's fill belongs to its row, by the trade
            fills = env.journal.alert_fills(reply["alert_id"])
            assert [(f.order_record_id, f.size) for f in fills] == [(row.id, 2)], fills
            return True

        await eventually(linked, timeout_s=5)
        [trade] = [t for t in env.journal.trade_fills() if t.alert_id == reply["alert_id"]]
        assert trade.closed_by == "exit"
        assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == {
            env.sim.orders[o.broker_order_id].id
            for o in env.orders(entry_id)
            if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
        }


async def test_one_contract_then_what_is_left_in_full(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, contract_id = await bracketed(env, body=long_4())

        one = (await env.send(PARTIAL, exit_alert("1"))).json()
        assert one["status"] == "executed", one
        assert held(env) == 3 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 3, Leg.TAKE_PROFIT: 3}

        # 25 % of 3 is 0.75: floored, but at least one contract.
        quarter = (await env.send(PARTIAL, exit_alert("25%"))).json()
        assert quarter["status"] == "executed", quarter
        assert held(env) == 2 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
        sizes = [r.json_body["size"] for r in env.sim.requests_to("Position/partialCloseContract")]
        assert sizes == [1, 1]


@pytest.mark.parametrize("quantity", ["100%", "4", "9"])
async def test_all_of_it_or_more_is_the_ordinary_exit(tmp_path: Path, quantity: str) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        _, contract_id = await bracketed(env, body=long_4())

        reply = (await env.send(PARTIAL, exit_alert(quantity))).json()

        assert reply["status"] == "executed", reply
        assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
        assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()
        # The legs are cancelled before the whole position is closed; no partial close.
        assert paths(env, "order/cancel", "position/closecontract", "position/partialclosecontract") == [
            "order/cancel",
            "order/cancel",
            "position/closecontract",
        ]
        assert [o.leg for o in env.orders(reply["alert_id"])] == [Leg.CANCEL, Leg.CANCEL, Leg.CLOSE]


async def test_a_refused_partial_close_leaves_the_legs_and_answers_why(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, contract_id = await bracketed(env, body=long_4())
        env.sim.halted.add(contract_id)  # the gateway answers errorCode 6, errorMessage null

        reply = (await env.send(PARTIAL, exit_alert("50%"))).json()

        assert reply["status"] != "executed", reply
        assert "OrderRejected (errorCode 6)" in reply["reason"]
        assert "market is closed or halted, or the contract has no current price" in reply["reason"]
        assert held(env) == 4
        assert leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 4, Leg.TAKE_PROFIT: 4}
        assert env.sim.requests_to("Order/modify") == [] and resized(env) == []
        [row] = env.orders(reply["alert_id"])
        assert (row.leg, row.state) == (Leg.PARTIAL_CLOSE, OrderState.REJECTED)


async def test_a_partial_close_with_no_answer_is_found_by_its_trades(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, _ = await bracketed(env, body=long_4())
        env.sim.faults.fail_after_next(1, "Position/partialCloseContract")  # done, answered 500

        reply = (await env.send(PARTIAL, exit_alert("50%"))).json()

        assert reply["status"] == "executed", reply
        [row] = env.orders(reply["alert_id"])
        assert (row.state, row.size) == (OrderState.DONE, 2)
        assert "found by its trades" in (row.message or "")
        assert held(env) == 2 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
        assert len(env.sim.requests_to("Position/partialCloseContract")) == 1  # never resent


async def test_a_crash_after_the_partial_close_resizes_the_legs_on_restart(tmp_path: Path) -> None:
    """Between the close and the resize the stop loss is larger than the position: hit then, it
    would sell 4 of a long 2 and open a short 2. The resumed run resizes it, and the stop
    loss that fills afterwards leaves the account flat, never short."""
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            entry_id, contract_id = await bracketed(env, body=long_4())
            with arm("partial_exit.closed"), pytest.raises(FailpointCrash):
                await env.send(PARTIAL, exit_alert("50%"))
            [exit_row] = env.journal.recent_alerts(limit=1)
            assert exit_row.status == AlertStatus.RECEIVED
            assert held(env) == 2 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 4, Leg.TAKE_PROFIT: 4}
        async with on_sim(settings, tmp_path, sim) as env:

            async def finished() -> bool:
                alert = env.journal.get_alert(exit_row.id)
                assert alert.status == AlertStatus.EXECUTED, (alert.status, alert.reason)
                return True

            await eventually(finished, timeout_s=20)
            assert leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
            assert len(sim.state.requests_to("Position/partialCloseContract")) == 1  # closed once
            assert held(env) == 2
            # The stop loss is hit: the long 2 is closed, nothing opened the other way.
            [stop] = [o for o in env.orders(entry_id) if o.leg == Leg.STOP_LOSS]
            stop_price = sim.state.orders[stop.broker_order_id].stop_price
            assert stop_price is not None
            sim.state.set_price(contract_id, stop_price - 1)

            async def flat() -> bool:
                assert sim.state.open_positions(AUTO_OCO_ACCOUNT_ID) == []
                return True

            await eventually(flat, timeout_s=5)


async def test_managed_legs_are_resized_and_their_review_keeps_them_so(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    (tmp_path / "templates" / "mnq-managed.toml").write_text(MANAGED)
    managed_exit = (
        (SHIPPED_TEMPLATES / f"{PARTIAL}.toml").read_text().replace("SIM-AUTO-OCO", "SIM-POSITION-BRACKETS")
    )
    (tmp_path / "templates" / "mnq-managed-exit.toml").write_text(managed_exit)
    async with running(make_settings(tmp_path), tmp_path) as env:
        body = long_4(BRACKET_ALERT.replace(b"Long-", b"Managed-"))
        entry_id, contract_id = await bracketed(env, "mnq-managed", body)

        reply = (await env.send("mnq-managed-exit", exit_alert("50%"))).json()

        assert reply["status"] == "executed", reply
        assert held(env, POSITION_BRACKETS_ACCOUNT_ID) == 2
        [row] = env.orders(reply["alert_id"])
        assert row.leg == Leg.PARTIAL_CLOSE and row.oco_group_id is not None  # the bracket's cap

        async def two() -> bool:
            assert leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
            return True

        await eventually(two, timeout_s=5)
        # The group's review (on the modify's events, and on a resume) never sizes them back up.
        await env.runtime.bridge.protection.resume(POSITION_BRACKETS_ACCOUNT_ID)
        assert leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
        assert all(r.json_body["size"] == 2 for r in env.sim.requests_to("Order/modify"))
        assert working(env, POSITION_BRACKETS_ACCOUNT_ID, contract_id)  # still protected


async def test_render_shows_the_partial_close_and_the_resizes(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, contract_id = await bracketed(env, body=long_4())
        bridge = env.runtime.bridge
        raw = (SHIPPED_ALERTS / f"{PARTIAL}.example.json").read_bytes()

        template = bridge.templates.get(PARTIAL)
        assert template is not None
        status, reason, calls = await dry_run(bridge, template, raw)

        assert status == AlertStatus.EXECUTED, reason
        legs = sorted(
            o.broker_order_id for o in env.orders(entry_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
        )
        assert calls[0] == {
            "endpoint": "Position/partialCloseContract",
            "body": {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": contract_id, "size": 2},
        }
        assert sorted(c["body"]["orderId"] for c in calls[1:]) == legs
        assert all(c["endpoint"] == "Order/modify" and c["body"]["size"] == 2 for c in calls[1:])
        assert held(env) == 4 and env.sim.requests_to("Position/partialCloseContract") == []  # nothing sent


async def test_a_crash_with_the_close_sent_and_unanswered_is_settled_by_its_trades(tmp_path: Path) -> None:
    """Killed after the gateway took the partial close, before its answer was journaled: the row
    is SUBMITTING. At restart the trades show it done (the gateway gives no order id to look
    for); the resumed run does not close again and resizes the legs."""
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            entry_id, _ = await bracketed(env, body=long_4())
            with arm("order.sent"), pytest.raises(FailpointCrash):
                await env.send(PARTIAL, exit_alert("50%"))
            [exit_row] = env.journal.recent_alerts(limit=1)
            [row] = env.orders(exit_row.id)
            assert (row.leg, row.state) == (Leg.PARTIAL_CLOSE, OrderState.SUBMITTING)
            assert held(env) == 2
        async with on_sim(settings, tmp_path, sim) as env:

            async def finished() -> bool:
                alert = env.journal.get_alert(exit_row.id)
                assert alert.status == AlertStatus.EXECUTED, (alert.status, alert.reason)
                return True

            await eventually(finished, timeout_s=20)
            [row] = env.orders(exit_row.id)
            assert row.state == OrderState.DONE and "found by its trades" in (row.message or "")
            assert len(sim.state.requests_to("Position/partialCloseContract")) == 1
            assert held(env) == 2 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}


async def test_two_brackets_on_one_position_cover_no_more_than_is_left(tmp_path: Path) -> None:
    """Two entries of 2, each with its native bracket, make a long 4; closing 2 leaves 2: the
    older bracket keeps its 2, the newer one's legs are cancelled, so the stops together never
    sell more than is held."""
    async with running(make_settings(tmp_path), tmp_path) as env:
        two = BRACKET_ALERT.replace(b'"quantity": "1"', b'"quantity": "2"')
        first, contract_id = await bracketed(env, body=two)
        second, _ = await bracketed(env, body=two.replace(b"Long-", b"Long2-"))
        assert held(env) == 4

        reply = (await env.send(PARTIAL, exit_alert("2"))).json()

        assert reply["status"] == "executed", reply
        assert held(env) == 2
        assert leg_sizes(env, first) == {Leg.STOP_LOSS: 2, Leg.TAKE_PROFIT: 2}
        newer = {o.broker_order_id for o in env.orders(second) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)}
        assert not newer & working(env, AUTO_OCO_ACCOUNT_ID, contract_id)  # cancelled
        assert env.sim.requests_to("Order/modify") == []
        rows = env.orders(reply["alert_id"])
        assert [r.leg for r in rows] == [Leg.PARTIAL_CLOSE, Leg.CANCEL, Leg.CANCEL]


async def test_a_native_stop_the_gateway_will_not_shrink_is_reported_critical_with_the_numbers(
    tmp_path: Path,
) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        entry_id, _ = await bracketed(env, body=long_4())
        env.sim.faults.reject_next(2, path="Order/modify")  # both legs' resizes refused

        reply = (await env.send(PARTIAL, exit_alert("50%"))).json()

        assert reply["status"] == "executed", reply  # the close itself went through
        assert held(env) == 2 and leg_sizes(env, entry_id) == {Leg.STOP_LOSS: 4, Leg.TAKE_PROFIT: 4}
        levels = {e.data["size"]: e.level for e in resized(env)}
        [stop_event] = [e for e in resized(env) if e.level == "critical"]
        assert "may still be 4 contracts for 2 open" in stop_event.message
        assert "resize it to 2 in TopstepX or flatten" in stop_event.message
        assert sorted(e.level for e in resized(env)) == ["critical", "warning"], levels  # the target: warned
