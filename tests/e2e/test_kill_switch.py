"""The kill switch on the built-in simulator: pause (across a restart), resume, plan and flatten."""

from __future__ import annotations

import json
from pathlib import Path

from app.domain.enums import AlertStatus, Leg, OrderState
from app.engine.flatten import KILL_SWITCH
from app.ingest.auth import ensure_secrets, load_secrets
from app.strategies import load_templates
from tests.e2e.conftest import Env, make_settings, running
from tests.helpers import SHIPPED_ALERTS

AUTO_OCO, POSITION_BRACKETS = 70000001, 70000002
BY = "web page 127.0.0.1"
MARKET = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25"})
BRACKET = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
# Trades both accounts, so both are followed (and flattened).
BOTH = """
[order]
accounts = ["SIM-AUTO-OCO", "SIM-POSITION-BRACKETS"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "{{ alert.type }}"
limit_price = "{{ alert.limit | default('') }}"
"""


def use_template(env: Env, name: str, text: str) -> None:
    templates = env.settings.server.templates_dir
    (templates / f"{name}.toml").write_text(text)
    ensure_secrets(env.settings.server.secrets_file, [name])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)


async def hold_everything(env: Env) -> None:
    """On both accounts an open position and a working limit order; on SIM-AUTO-OCO also an
    entry with its native bracket (stop loss and take profit working)."""
    use_template(env, "both", BOTH)
    contract_id = (await env.runtime.bridge.gateway.contract("MNQ1!")).contract_id
    below = env.sim.price(contract_id) - 50
    for fields in ({"type": "market"}, {"type": "limit", "limit": str(below)}):
        body = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", **fields})
        assert (await env.send("both", body)).json()["status"] == "executed"
    assert (await env.send("mnq-bracket", BRACKET)).json()["status"] == "executed"


async def test_a_paused_alert_is_journaled_and_never_sent_and_after_resume_alerts_run(env: Env) -> None:
    bridge = env.runtime.bridge
    await bridge.pause(BY)

    response = await env.send("mnq-market", MARKET)

    reply = response.json()
    assert (response.status_code, reply["status"], reply["orders"]) == (200, "paused", []), reply
    assert "paused since" in reply["reason"] and BY in reply["reason"]
    assert env.sim.requests_to("Order/place") == []
    row = env.journal.get_alert(reply["alert_id"])
    assert row is not None and row.status == AlertStatus.PAUSED

    await bridge.resume("cli")
    again = (await env.send("mnq-market", MARKET)).json()  # the same body: not a duplicate of it

    assert again["status"] == "executed", again
    assert len(env.sim.requests_to("Order/place")) == 1
    assert [e.kind for e in env.journal.events() if e.kind.startswith("kill.")] == [
        "kill.resume",
        "kill.pause",
    ]


async def test_the_pause_survives_a_restart_of_the_bridge(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as env:
        state = await env.runtime.bridge.pause("cli")

    async with running(settings, tmp_path) as env:  # same journal file, new bridge and simulator
        assert env.runtime.bridge.paused == state
        reply = (await env.send("mnq-market", MARKET)).json()

        assert reply["status"] == "paused"
        assert env.sim.requests_to("Order/place") == []


async def test_flatten_cancels_every_order_then_closes_every_position_on_both_accounts(env: Env) -> None:
    await hold_everything(env)
    bridge = env.runtime.bridge
    plan = await bridge.flatten_plan()
    planned = {a.account_id: a for a in plan.accounts}
    assert [len(planned[a].orders) for a in (AUTO_OCO, POSITION_BRACKETS)] == [3, 1]  # limit, SL, TP
    assert [len(planned[a].positions) for a in (AUTO_OCO, POSITION_BRACKETS)] == [1, 1]

    report = await bridge.flatten(by=BY)

    assert report.ok and report.status == AlertStatus.EXECUTED, report.summary()
    assert bridge.paused is not None and bridge.paused.by == BY  # paused first
    for account in report.accounts:  # exactly what the plan listed
        shown = planned[account.account_id]
        assert sorted(account.cancelled) == sorted(o.broker_order_id for o in shown.orders)
        assert account.closed == tuple(p.contract_id for p in shown.positions)
        assert (env.sim.open_orders(account.account_id), env.sim.open_positions(account.account_id)) == (
            [],
            [],
        )
    calls = [
        r.path.rsplit("/api/", 1)[-1] for r in env.sim.requests if "cancel" in r.path or "close" in r.path
    ]
    assert calls == ["Order/cancel"] * 4 + ["Position/closeContract"] * 2  # cancels first
    alert = env.journal.get_alert(report.alert_id)
    assert alert is not None and (alert.strategy, alert.status) == (KILL_SWITCH, AlertStatus.EXECUTED)
    rows = env.orders(report.alert_id)
    assert sorted(r.leg for r in rows) == [Leg.CANCEL] * 4 + [Leg.CLOSE] * 2
    assert {r.state for r in rows} == {OrderState.DONE}

    again = await bridge.flatten(by=BY)

    assert again.ok and again.status == AlertStatus.NOOP
    assert all(not a.cancelled and not a.closed for a in again.accounts)
    assert len(env.sim.requests_to("Order/cancel")) == 4  # nothing more sent


async def test_a_cancel_the_gateway_fails_is_named_and_the_rest_is_still_done(env: Env) -> None:
    await hold_everything(env)
    bridge = env.runtime.bridge
    [first, *_] = env.sim.open_orders(AUTO_OCO)
    env.sim.faults.fail_next(1, "Order/cancel")  # HTTP 500 to the first cancel: not performed

    report = await bridge.flatten(by=BY)

    auto = next(a for a in report.accounts if a.account_id == AUTO_OCO)
    assert [o.broker_order_id for o in auto.still_open_orders] == [first.id]
    assert len(auto.cancelled) == 2 and auto.closed  # the other orders and the position
    assert any(f"order {first.id}" in e for e in auto.errors), auto.errors
    assert not report.ok and report.status == AlertStatus.PARTIAL
    summary = report.summary()
    assert f"STILL OPEN: order {first.id}" in summary and "close it on the TopstepX platform" in summary
    other = next(a for a in report.accounts if a.account_id == POSITION_BRACKETS)
    assert other.ok and other.cancelled and other.closed
    alert = env.journal.get_alert(report.alert_id)
    assert alert is not None and alert.status == AlertStatus.PARTIAL and str(first.id) in (alert.reason or "")
