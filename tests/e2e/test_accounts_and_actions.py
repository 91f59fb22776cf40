"""Several accounts per template, and the exit / reverse / cancel actions, on the simulator."""

from __future__ import annotations

import json

from app.ingest.auth import ensure_secrets, load_secrets
from app.strategies import load_templates
from tests.e2e.conftest import Env

AUTO_OCO, POSITION_BRACKETS = 70000001, 70000002


def _template(env: Env, name: str, text: str) -> None:
    templates = env.settings.server.templates_dir
    (templates / f"{name}.toml").write_text(text)
    ensure_secrets(env.settings.server.secrets_file, [name])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)


MULTI = """
[order]
accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "market"
"""


def _body(**fields: str) -> str:
    return json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", **fields})


async def test_one_alert_orders_on_every_account_with_its_multiplier(env: Env) -> None:
    _template(env, "multi", MULTI)

    response = await env.send("multi", _body(quantity="2"))

    assert response.json()["status"] == "executed", response.text
    bodies = env.place_requests()
    assert [(b["accountId"], b["size"]) for b in bodies] == [(AUTO_OCO, 2), (POSITION_BRACKETS, 4)]
    assert len({b["customTag"] for b in bodies}) == 2


async def test_an_unknown_account_refuses_the_alert_before_any_order(env: Env) -> None:
    _template(env, "typo", MULTI.replace("SIM-POSITION-BRACKETS", "SIM-POSITON-BRACKETS"))

    response = await env.send("typo", _body())

    assert response.status_code == 422
    reason = response.json()["reason"]
    assert "SIM-POSITON-BRACKETS" in reason and "SIM-POSITION-BRACKETS" in reason  # names what exists
    assert env.place_requests() == []  # not even on the first, correct account


async def test_reverse_closes_the_position_then_enters_the_other_way(env: Env) -> None:
    _template(env, "flip", MULTI.replace(', { account = "SIM-POSITION-BRACKETS", multiplier = 2 }', ""))
    entry = await env.send("flip", _body(quantity="2"))
    assert entry.json()["status"] == "executed"

    response = await env.send("flip", _body(action="reverse", quantity="1"))

    reply = response.json()
    assert reply["status"] == "executed", response.text
    legs = [(o["leg"], o["side"], o["size"]) for o in reply["orders"]]
    assert legs == [("close", "sell", 2), ("entry", "sell", 1)]
    [position] = await env.runtime.bridge.gateway.open_positions(AUTO_OCO)
    assert (position.side.value, position.size) == ("sell", 1)


async def test_reverse_with_nothing_open_does_nothing(env: Env) -> None:
    _template(env, "flip", MULTI.replace(', { account = "SIM-POSITION-BRACKETS", multiplier = 2 }', ""))

    response = await env.send("flip", _body(action="reverse"))

    assert response.json()["status"] == "noop"
    assert "nothing to reverse" in response.json()["reason"]
    assert env.place_requests() == []


async def test_cancel_cancels_working_orders_and_keeps_the_position(env: Env) -> None:
    limit = MULTI.replace(', { account = "SIM-POSITION-BRACKETS", multiplier = 2 }', "").replace(
        'type = "market"', 'type = "limit"\nlimit_price = "{{ alert.price }}"'
    )
    _template(env, "resting", limit)
    contract_id = (await env.runtime.bridge.gateway.contract("MNQ1!")).contract_id
    price = env.sim.price(contract_id)
    placed = await env.send("resting", _body(price=str(price - 50)))  # a buy limit well below
    assert placed.json()["status"] == "executed"
    assert len(await env.runtime.bridge.gateway.open_orders(AUTO_OCO)) == 1

    response = await env.send("resting", _body(action="cancel"))

    reply = response.json()
    assert reply["status"] == "executed", response.text
    assert [(o["leg"], o["state"]) for o in reply["orders"]] == [("cancel", "DONE")]
    assert await env.runtime.bridge.gateway.open_orders(AUTO_OCO) == []
