"""One alert to several accounts (copy trading across a trader's accounts): the accounts' orders
leave at once, each written ahead, sent once and journaled; one account's rejection stops none of
the others; a crash in the middle of the fan-out leaves no account doubled and none missing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import AlertStatus, Leg, OrderState
from app.engine.entries import PLACED  # on the gateway: accepted, pending, working or filled
from app.failpoints import FailpointCrash, arm
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_crash_recovery import on_sim, settings_on, settled, simulator

STRATEGY = "mnq-fan"
ACCOUNTS = ["SIM-AUTO-OCO", "SIM-EXTRA-1", "SIM-EXTRA-2", "SIM-EXTRA-3", "SIM-EXTRA-4"]


def fan_template(root: Path) -> None:
    """templates/mnq-fan.toml: the shipped market template, sent to five accounts."""
    shipped = (root / "templates" / "mnq-market.toml").read_text()
    names = ", ".join(f'"{name}"' for name in ACCOUNTS)
    (root / "templates" / f"{STRATEGY}.toml").write_text(
        shipped.replace('accounts = ["SIM-AUTO-OCO"]', f"accounts = [{names}]")
    )


def alert_body(action: str, n: int) -> bytes:
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": action,
            "quantity": "1",
            "price": f"{21500 + n * 0.25:.2f}",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    ).encode()


def account_ids(env: Env) -> dict[str, int]:
    return {a.name: a.id for a in env.sim.accounts.values()}


def places_of(sim: Any, alert_tags: set[str]) -> list[Any]:
    return [r for r in sim.requests_to("Order/place") if r.json_body.get("customTag") in alert_tags]


def gateway_orders(sim: Any, alert_tags: set[str]) -> list[int]:
    """The accounts of the entries the simulator holds with these tags, one per order made."""
    return sorted(o.account_id for o in sim.orders.values() if o.custom_tag in alert_tags)


def tags_of(journal: Any, alert_id: int) -> set[str]:
    return {f"tvb-{journal.instance}-{alert_id}-{n}" for n in range(len(ACCOUNTS))}


async def fan_env(tmp_path: Path) -> running:
    settings = make_settings(tmp_path, timeout_s=5.0)  # the test's slow answers are not timeouts
    fan_template(tmp_path)
    return running(settings, tmp_path)


async def test_an_alert_to_five_accounts_sends_their_orders_at_once_each_once_and_journaled(
    tmp_path: Path,
) -> None:
    async with await fan_env(tmp_path) as env:
        env.sim.add_practice_accounts(4)
        warm = (await env.send(STRATEGY, alert_body("buy", 1))).json()  # accounts and contract read
        assert warm["status"] == "executed", warm
        # Every gateway answer now leaves 1.5 s after its call: sent in turn, the fifth order
        # would arrive 6 s after the first; sent at once, all five arrive before any is answered.
        env.sim.faults.latency_s = 1.5
        answer = (await env.send(STRATEGY, alert_body("sell", 2))).json()
        env.sim.faults.latency_s = 0.0
        assert answer["status"] == "executed", answer
        alert_id = answer["alert_id"]
        places = places_of(env.sim, tags_of(env.journal, alert_id))
        arrived = sorted(r.at for r in places)
        assert (arrived[-1] - arrived[0]).total_seconds() < 1.5, arrived  # overlapping
        ids = account_ids(env)
        # one place per account, its own tag; the answer lists them in the template's order
        assert sorted(r.json_body["accountId"] for r in places) == sorted(ids[n] for n in ACCOUNTS)
        assert len({r.json_body["customTag"] for r in places}) == len(ACCOUNTS)
        assert gateway_orders(env.sim, tags_of(env.journal, alert_id)) == sorted(ids[n] for n in ACCOUNTS)
        assert [o["account_id"] for o in answer["orders"]] == [ids[n] for n in ACCOUNTS]
        assert [o["client_order_id"] for o in answer["orders"]] == [
            f"tvb-{env.journal.instance}-{alert_id}-{n}" for n in range(len(ACCOUNTS))
        ]
        rows = env.orders(alert_id)
        assert sorted(r.account_id for r in rows) == sorted(ids[n] for n in ACCOUNTS)
        assert all(r.leg == Leg.ENTRY and r.state in PLACED for r in rows), rows
        assert {r.client_order_id for r in rows} == {r.json_body["customTag"] for r in places}
        assert env.journal.get_alert(alert_id).status == AlertStatus.EXECUTED


async def test_one_account_rejected_while_the_others_fill(tmp_path: Path) -> None:
    async with await fan_env(tmp_path) as env:
        env.sim.add_practice_accounts(4)
        assert (await env.send(STRATEGY, alert_body("buy", 1))).json()["status"] == "executed"
        ids = account_ids(env)
        gone = ids["SIM-EXTRA-2"]
        # The gateway no longer knows the account the bridge read a minute ago: AccountNotFound.
        del env.sim.accounts[gone]
        answer = (await env.send(STRATEGY, alert_body("sell", 2))).json()
        assert answer["status"] == "partial", answer
        by_account = {o["account_id"]: o for o in answer["orders"]}
        assert by_account[gone]["state"] == "REJECTED"
        others = [ids[n] for n in ACCOUNTS if ids[n] != gone]
        assert all(by_account[a]["state"] in ("ACCEPTED", "FILLED") for a in others), answer
        alert_id = answer["alert_id"]
        places = places_of(env.sim, tags_of(env.journal, alert_id))
        assert sorted(r.json_body["accountId"] for r in places) == sorted(ids[n] for n in ACCOUNTS)
        rows = {r.account_id: r for r in env.orders(alert_id)}
        assert rows[gone].state == OrderState.REJECTED
        assert all(rows[a].state in PLACED for a in others)


async def test_killed_after_the_first_accounts_order_is_sent_no_account_doubled_none_lost(
    tmp_path: Path,
) -> None:
    async with simulator() as sim:
        sim.state.add_practice_accounts(4)
        settings = settings_on(sim, tmp_path).model_copy(deep=True)
        settings.gateway.timeout_s = 5.0  # a loaded machine's slow answer is not a timeout here
        fan_template(tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            with arm("order.sent"), pytest.raises(FailpointCrash):
                await env.send(STRATEGY, alert_body("buy", 1))
            [alert] = env.journal.recent_alerts(limit=1)
            assert any(r.state == OrderState.SUBMITTING for r in env.orders(alert.id))
        async with on_sim(settings, tmp_path, sim) as env:
            assert (await settled(env, alert.id, timeout_s=30)).status == AlertStatus.EXECUTED
            ids = account_ids(env)
            # each account's order on the gateway once, its row settled from it
            expected = sorted(ids[n] for n in ACCOUNTS)
            assert gateway_orders(sim.state, tags_of(env.journal, alert.id)) == expected
            rows = env.orders(alert.id)
            assert sorted(r.account_id for r in rows) == sorted(ids[n] for n in ACCOUNTS)
            assert all(r.state in PLACED for r in rows), [(r.account_id, r.state, r.message) for r in rows]


async def test_one_accounts_unknown_outcome_is_reconciled_while_the_others_fill(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # answers after 0.5 s are timeouts: outcome unknown
    fan_template(tmp_path)
    async with running(settings, tmp_path) as env:
        env.sim.add_practice_accounts(4)
        assert (await env.send(STRATEGY, alert_body("buy", 1))).json()["status"] == "executed"
        env.sim.faults.timeout_s = 1.0
        env.sim.faults.timeout_next(1, path="Order/place")  # performed, its answer never in time
        answer = (await env.send(STRATEGY, alert_body("sell", 2))).json()
        alert_id = answer["alert_id"]
        stored = await settled(env, alert_id, timeout_s=30)
        assert stored.status == AlertStatus.EXECUTED, stored.reason
        ids = account_ids(env)
        # the unknown one found by its tag, never made twice; every account once
        assert gateway_orders(env.sim, tags_of(env.journal, alert_id)) == sorted(ids[n] for n in ACCOUNTS)
        rows = env.orders(alert_id)
        assert sorted(r.account_id for r in rows) == sorted(ids[n] for n in ACCOUNTS)
        assert all(r.state in PLACED for r in rows), rows
        unknown = [
            r for r in rows if OrderState.UNKNOWN in [h.state for h in env.journal.order_history(r.id)]
        ]
        assert len(unknown) == 1


async def test_every_accounts_risk_gate_answers_before_the_first_order_leaves(tmp_path: Path) -> None:
    async with await fan_env(tmp_path) as env:
        env.sim.add_practice_accounts(4)
        assert (await env.send(STRATEGY, alert_body("buy", 1))).json()["status"] == "executed"
        ids = account_ids(env)
        locked = "SIM-EXTRA-4"  # the last account of the template: its lane starts last
        until = datetime.now(UTC) + timedelta(hours=1)
        env.journal.lock_account(ids[locked], locked, reason="test lockout", until=until, by="test")
        bridge = env.runtime.bridge
        await bridge.gate.refresh_lockouts()
        steps: list[str] = []
        check, place = bridge.gate.check, bridge.gateway.place_order

        async def slow_check(account: Any, *args: Any, **kwargs: Any) -> str | None:
            if account.name == locked:
                await asyncio.sleep(0.3)  # a slow journal: per lane, the others' orders would leave now
            refusal = await check(account, *args, **kwargs)
            steps.append(f"gate {account.name}")
            return refusal

        async def recorded_place(request: Any) -> int:
            steps.append(f"place {request.account_id}")
            return await place(request)

        bridge.gate.check = slow_check  # type: ignore[method-assign]
        bridge.gateway.place_order = recorded_place  # type: ignore[method-assign]

        answer = (await env.send(STRATEGY, alert_body("sell", 2))).json()

        assert answer["status"] == "partial", answer
        assert answer["reason"].count(f"{locked}: account {locked} is locked") == 1, answer
        first_place = next(i for i, s in enumerate(steps) if s.startswith("place"))
        assert sorted(steps[:first_place]) == sorted(f"gate {n}" for n in ACCOUNTS), steps
        assert all(s.startswith("place") for s in steps[first_place:]), steps  # each gate asked once
        placed = sorted(int(s.split()[1]) for s in steps[first_place:])
        assert placed == sorted(ids[n] for n in ACCOUNTS if n != locked)  # the others, once each
