"""Size by risk on the simulator: an alert's risk in USD (or a share of the balance) becomes the
contracts at Order/place, per account; 0 contracts is refused with the numbers and nothing is
sent; the size is capped at max_order_size; a crash after the sizing sends the entry once."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import AlertStatus
from app.failpoints import FailpointCrash, arm
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_crash_recovery import on_sim, placed_tags, settings_on, settled, simulator, tag
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, eventually, tvbridge

STRATEGY = "mnq-risk"  # the shipped template: risk_usd from the alert, a 20-tick stop loss


def body(risk: str, **extra: Any) -> bytes:
    fields = {
        "id": f"risk-{risk}-{datetime.now(UTC).timestamp()}",
        "ticker": "MNQ1!",
        "action": "buy",
        "risk": risk,
        "price": "21500.25",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        **extra,
    }
    return json.dumps(fields).encode()


def places(env: Env, alert_id: int) -> list[dict[str, Any]]:
    prefix = f"tvb-{env.journal.instance}-{alert_id}-"
    return [b for b in env.place_requests() if str(b.get("customTag", "")).startswith(prefix)]


def sized_lines(env: Env, alert_id: int) -> list[str]:
    return [
        e.message
        for e in env.journal.events(limit=1000)
        if e.kind == "alert.sized" and e.alert_id == alert_id
    ]


def edit_template(root: Path, old: str, new: str, name: str = STRATEGY) -> None:
    path = root / "templates" / f"{name}.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


async def test_a_risk_of_100_usd_over_a_20_tick_mnq_stop_is_10_contracts(env: Env) -> None:
    answer = (await env.send(STRATEGY, body("100"))).json()

    assert answer["status"] == "executed", answer
    [place] = places(env, answer["alert_id"])
    assert place["size"] == 10
    assert place["stopLossBracket"] == {"ticks": -20, "type": 4}
    assert sized_lines(env, answer["alert_id"]) == [
        "SIM-AUTO-OCO: size by risk: 100.00 USD ÷ (20 ticks × 0.50 USD/tick) = 10 → 10 contracts"
    ]


async def test_a_risk_that_rounds_to_0_contracts_is_refused_with_the_numbers_and_nothing_sent(
    env: Env,
) -> None:
    answer = (await env.send(STRATEGY, body("9.99"))).json()

    assert answer["status"] == "refused", answer
    assert answer["reason"] == (
        "SIM-AUTO-OCO: size by risk: 9.99 USD ÷ (20 ticks × 0.50 USD/tick) = 0.999 → 0 contracts: "
        "refused, not even one contract; risk at least 10.00 USD or a stop loss of at most 19 ticks"
    )
    assert places(env, answer["alert_id"]) == []
    assert env.orders(answer["alert_id"]) == []  # nothing written ahead either
    assert env.journal.get_alert(answer["alert_id"]).status == AlertStatus.REFUSED
    # exactly one contract's risk is sent, as 1 contract
    one = (await env.send(STRATEGY, body("10"))).json()
    assert [p["size"] for p in places(env, one["alert_id"])] == [1]


async def test_the_size_is_capped_at_max_order_size(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, risk={"max_order_size": 5})
    async with running(settings, tmp_path) as env:
        answer = (await env.send(STRATEGY, body("100000"))).json()

        assert answer["status"] == "executed", answer
        assert [p["size"] for p in places(env, answer["alert_id"])] == [5]
        assert sized_lines(env, answer["alert_id"]) == [
            "SIM-AUTO-OCO: size by risk: 100000.00 USD ÷ (20 ticks × 0.50 USD/tick) = 10000 → capped at "
            "max_order_size 5"
        ]


async def test_the_strategy_s_own_max_order_size_caps_when_stricter(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    (tmp_path / "templates" / f"{STRATEGY}.toml").write_text(
        (tmp_path / "templates" / f"{STRATEGY}.toml").read_text() + "\n[risk]\nmax_order_size = 3\n"
    )
    async with running(settings, tmp_path) as env:
        answer = (await env.send(STRATEGY, body("100"))).json()

        assert [p["size"] for p in places(env, answer["alert_id"])] == [3]
        [line] = sized_lines(env, answer["alert_id"])
        assert line.endswith("= 10 → capped at strategy 'mnq-risk' max_order_size 3")


async def test_risk_percent_sizes_on_the_sim_account_s_balance(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    edit_template(tmp_path, 'risk_usd = "{{ alert.risk }}"', "risk_percent = 0.1")
    async with running(settings, tmp_path) as env:
        answer = (await env.send(STRATEGY, body("ignored"))).json()

        assert answer["status"] == "executed", answer
        # 0.1 % of the simulator's 50,000 USD = 50 USD; 50 ÷ 10 USD a contract = 5
        assert [p["size"] for p in places(env, answer["alert_id"])] == [5]
        assert sized_lines(env, answer["alert_id"]) == [
            "SIM-AUTO-OCO: size by risk: 0.1 % of balance 50000.00 USD = 50.00 USD ÷ (20 ticks × "
            "0.50 USD/tick) = 5 → 5 contracts"
        ]


async def test_a_fan_out_sizes_each_account_by_its_own_balance_and_multiplier(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    edit_template(
        tmp_path,
        'accounts = ["SIM-AUTO-OCO"]',
        'accounts = ["SIM-AUTO-OCO", "SIM-EXTRA-1", { account = "SIM-EXTRA-2", multiplier = 2 }]',
    )
    edit_template(tmp_path, 'risk_usd = "{{ alert.risk }}"', "risk_percent = 0.1")
    async with running(settings, tmp_path) as env:
        extra_1, extra_2 = env.sim.add_practice_accounts(2)
        extra_1.balance = Decimal("20000")
        extra_2.balance = Decimal("30000")
        await env.runtime.bridge.accounts.all(fresh=True)  # the balances as the gateway has them now

        answer = (await env.send(STRATEGY, body("ignored"))).json()

        assert answer["status"] == "executed", answer
        sizes = {p["accountId"]: p["size"] for p in places(env, answer["alert_id"])}
        ids = {a.name: a.id for a in env.sim.accounts.values()}
        # 50 USD → 5; 20 USD → 2; 30 USD × 2 = 60 USD → 6
        assert sizes == {ids["SIM-AUTO-OCO"]: 5, ids["SIM-EXTRA-1"]: 2, ids["SIM-EXTRA-2"]: 6}
        lines = sized_lines(env, answer["alert_id"])
        assert len(lines) == 3
        assert any(
            line.startswith(
                "SIM-EXTRA-2: size by risk: 0.1 % of balance 30000.00 USD × multiplier 2 = 60.00 USD"
            )
            for line in lines
        ), lines


async def test_one_account_sized_to_0_is_refused_while_the_other_trades(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    edit_template(tmp_path, 'accounts = ["SIM-AUTO-OCO"]', 'accounts = ["SIM-AUTO-OCO", "SIM-EXTRA-1"]')
    edit_template(tmp_path, 'risk_usd = "{{ alert.risk }}"', "risk_percent = 0.1")
    async with running(settings, tmp_path) as env:
        (poor,) = env.sim.add_practice_accounts(1)
        poor.balance = Decimal("9000")  # 9 USD of risk: not one contract
        await env.runtime.bridge.accounts.all(fresh=True)

        answer = (await env.send(STRATEGY, body("ignored"))).json()

        assert answer["status"] == "partial", answer
        rich = next(a.id for a in env.sim.accounts.values() if a.name == "SIM-AUTO-OCO")
        assert [p["accountId"] for p in places(env, answer["alert_id"])] == [rich]
        assert answer["reason"].startswith("SIM-EXTRA-1: size by risk: 0.1 % of balance 9000.00 USD")


async def test_a_crash_after_the_sizing_sends_the_sized_entry_once_after_the_restart(tmp_path: Path) -> None:
    raw = body("100")
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            with arm("sizing.sized"), pytest.raises(FailpointCrash):
                await env.send(STRATEGY, raw, fresh_time=False)
            [alert] = env.journal.recent_alerts(limit=1)
            assert placed_tags(sim) == []
            assert env.orders(alert.id) == []
        async with on_sim(settings, tmp_path, sim) as env:
            assert (await settled(env, alert.id)).status == AlertStatus.EXECUTED
            assert placed_tags(sim) == [tag(env.journal, alert.id)]
            [place] = [r.json_body for r in sim.state.requests_to("Order/place")]
            assert place["size"] == 10


def test_render_shows_the_computation_and_the_exact_order(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")

    result = tvbridge("render", STRATEGY, str(SHIPPED_ALERTS / "mnq-risk.example.json"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    sizing, place = json.loads(result.stdout)
    assert sizing == {
        "endpoint": None,
        "body": None,
        "note": "SIM-AUTO-OCO: size by risk: 100.00 USD ÷ (20 ticks × 0.50 USD/tick) = 10 → 10 contracts",
    }
    assert place["endpoint"] == "Order/place"
    assert (place["body"]["size"], place["body"]["stopLossBracket"]) == (10, {"ticks": -20, "type": 4})


async def test_a_resumed_entry_keeps_the_size_its_first_run_wrote(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        edit_template(tmp_path, 'risk_usd = "{{ alert.risk }}"', "risk_percent = 0.1")
        raw = body("ignored")
        async with on_sim(settings, tmp_path, sim) as env:
            with arm("order.written"), pytest.raises(FailpointCrash):
                await env.send(STRATEGY, raw, fresh_time=False)
            [alert] = env.journal.recent_alerts(limit=1)
            [row] = env.orders(alert.id)
            assert (row.size, placed_tags(sim)) == (5, [])  # 0.1 % of 50,000 USD over 10 USD a contract
        # The balance doubles while the bridge is down: the entry written as 5 is still sent as 5.
        for account in sim.state.accounts.values():
            account.balance *= 2
        async with on_sim(settings, tmp_path, sim) as env:
            assert (await settled(env, alert.id)).status == AlertStatus.EXECUTED
            assert placed_tags(sim) == [tag(env.journal, alert.id)]
            assert [r.json_body["size"] for r in sim.state.requests_to("Order/place")] == [5]


async def test_scale_out_targets_in_percent_are_sized_from_the_risk_sized_entry(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    edit_template(
        tmp_path,
        "stop_loss = { ticks = 20 }  # 5 points on MNQ: 10 USD a contract\n"
        "take_profit = { ticks = 40 }  # 10 points",
        'mode = "managed"\nstop_loss = { ticks = 20 }\n'
        "targets = [ { ticks = 20, percent = 50 }, { ticks = 40, percent = 50 } ]\n"
        "break_even = { after_target = 1, offset_ticks = 1 }",
    )
    async with running(settings, tmp_path) as env:
        env.sim.walk_ticks = 0
        answer = (await env.send(STRATEGY, body("70"))).json()  # 70 USD ÷ 10 USD a contract = 7

        assert answer["status"] == "executed", answer
        [entry] = places(env, answer["alert_id"])
        assert entry["size"] == 7 and entry["stopLossBracket"] is None  # managed: placed after the fill

        async def legs() -> bool:
            bodies = places(env, answer["alert_id"])[1:]
            stops = [b["size"] for b in bodies if b["type"] == 4]
            targets = sorted((b["limitPrice"], b["size"]) for b in bodies if b["type"] == 1)
            assert stops == [7]
            assert [size for _, size in targets] == [3, 4]  # 50 % of 7 rounded down, the rest last
            return True

        await eventually(legs, timeout_s=10)
