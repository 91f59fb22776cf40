"""An alert through the webhook, the template and the gateway, against the built-in simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.enums import AlertStatus, Leg, OrderState
from tests.e2e.conftest import Env
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()


def _alert(**fields: object) -> str:
    body: dict[str, object] = {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25"}
    body.update({k: v for k, v in fields.items()})
    return json.dumps(body)


async def test_bracket_alert_places_entry_with_stop_loss_and_take_profit(env: Env) -> None:
    response = await env.send("mnq-bracket", BRACKET_ALERT)

    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "executed"
    assert [o["leg"] for o in reply["orders"]] == ["entry", "stop_loss", "take_profit"]
    entry = reply["orders"][0]
    assert entry["state"] == "ACCEPTED" and entry["broker_order_id"]

    [body] = env.place_requests()
    assert body["isAutomated"] is True
    assert body["customTag"] == entry["client_order_id"]
    assert body["customTag"].startswith(f"tvb-{env.journal.instance}-{reply['alert_id']}-")
    assert body["side"] == 0 and body["type"] == 2 and body["size"] == 1
    # buy: stop loss below (negative ticks), take profit above (positive), projectx-api.md §6.4
    assert body["stopLossBracket"] == {"ticks": -40, "type": 4}
    assert body["takeProfitBracket"] == {"ticks": 80, "type": 1}

    async def legs_followed() -> bool:
        rows = env.orders(reply["alert_id"])
        states = {r.leg: r.state for r in rows}
        assert states == {
            Leg.ENTRY: OrderState.FILLED,
            Leg.STOP_LOSS: OrderState.WORKING,
            Leg.TAKE_PROFIT: OrderState.WORKING,
        }, states
        return all(r.broker_order_id for r in rows)

    await eventually(legs_followed)
    rows = {r.leg: r for r in env.orders(reply["alert_id"])}
    fill = rows[Leg.ENTRY].filled_price
    assert rows[Leg.ENTRY].fill_volume == 1 and fill is not None
    assert rows[Leg.STOP_LOSS].client_order_id == entry["client_order_id"] + "-SL"
    assert rows[Leg.TAKE_PROFIT].client_order_id == entry["client_order_id"] + "-TP"


async def test_sell_bracket_signs_ticks_the_other_way(env: Env) -> None:
    response = await env.send("mnq-bracket", _alert(action="sell", id="sell-1"))

    assert response.json()["status"] == "executed", response.text
    [body] = env.place_requests()
    assert body["side"] == 1
    assert body["stopLossBracket"] == {"ticks": 40, "type": 4}
    assert body["takeProfitBracket"] == {"ticks": -80, "type": 1}


async def test_every_order_carries_is_automated_and_a_unique_tag(env: Env) -> None:
    for n in range(3):
        response = await env.send("mnq-market", _alert(price=str(21500 + n)))
        assert response.json()["status"] == "executed", response.text
    bodies = env.place_requests()
    assert len(bodies) == 3
    assert all(b["isAutomated"] is True for b in bodies)
    assert len({b["customTag"] for b in bodies}) == 3


async def test_resent_alert_is_a_duplicate_and_places_nothing(env: Env) -> None:
    first = await env.send("mnq-bracket", BRACKET_ALERT)
    second = await env.send("mnq-bracket", BRACKET_ALERT)

    assert first.json()["status"] == "executed"
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert second.json()["duplicate_of"] == first.json()["alert_id"]
    assert len(env.place_requests()) == 1
    row = env.journal.get_alert(second.json()["alert_id"])
    assert row.status == AlertStatus.DUPLICATE


async def test_limit_entry_from_a_text_alert(env: Env) -> None:
    response = await env.send("nq-text", (SHIPPED_ALERTS / "nq-text.example.txt").read_bytes())

    assert response.json()["status"] == "executed", response.text
    [body] = env.place_requests()
    assert body["type"] == 1 and body["side"] == 0 and body["size"] == 2
    assert Decimal(str(body["limitPrice"])) == Decimal("21500.25")
    assert body["contractId"].startswith("CON.F.US.ENQ.")


async def test_exit_closes_the_position_and_cancels_working_orders(env: Env) -> None:
    entry = await env.send("mnq-bracket", BRACKET_ALERT)
    assert entry.json()["status"] == "executed"
    contract_id = env.place_requests()[0]["contractId"]

    response = await env.send("mnq-exit", _alert(action="exit"))

    reply = response.json()
    assert reply["status"] == "executed", response.text
    legs = [o["leg"] for o in reply["orders"]]
    # The bracket legs are cancelled first: Position/closeContract leaves them working (issue 17).
    assert legs == ["cancel", "cancel", "close"], legs
    assert all(o["state"] == "DONE" for o in reply["orders"])
    assert len(env.sim.requests_to("Position/closeContract")) == 1
    positions = await env.runtime.bridge.gateway.open_positions(70000001)
    assert all(p.contract_id != contract_id for p in positions)
    assert await env.runtime.bridge.gateway.open_orders(70000001) == []


async def test_exit_with_nothing_open_is_a_noop(env: Env) -> None:
    response = await env.send("mnq-exit", _alert(action="exit"))

    reply = response.json()
    assert reply["status"] == "noop"
    assert "no open position or working order" in reply["reason"]
    assert env.sim.requests_to("Position/closeContract") == []


async def test_unknown_ticker_is_a_422_naming_it(env: Env) -> None:
    response = await env.send("mnq-market", _alert(ticker="ZZQ1!"))

    assert response.status_code == 422
    assert "ZZQ1!" in response.json()["reason"]
    assert env.place_requests() == []
    row = env.journal.get_alert(response.json()["alert_id"])
    assert row.status == AlertStatus.INVALID and "ZZQ1!" in row.reason


async def test_template_error_is_a_422_with_field_and_value(env: Env) -> None:
    response = await env.send("mnq-market", _alert(quantity="abc"))

    assert response.status_code == 422
    reason = response.json()["reason"]
    assert "quantity" in reason and "abc" in reason
    assert env.place_requests() == []


async def test_position_brackets_account_gets_advice_and_no_unprotected_position(
    env: Env, tmp_path: Path
) -> None:
    template = (env.settings.server.templates_dir / "mnq-bracket.toml").read_text()
    (env.settings.server.templates_dir / "pb-bracket.toml").write_text(
        template.replace('accounts = ["SIM-AUTO-OCO"]', 'accounts = ["SIM-POSITION-BRACKETS"]')
    )
    from app.ingest.auth import ensure_secrets, load_secrets
    from app.strategies import load_templates

    ensure_secrets(env.settings.server.secrets_file, ["pb-bracket"])
    env.runtime.bridge.templates = load_templates(env.settings.server.templates_dir)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)

    response = await env.send("pb-bracket", BRACKET_ALERT)

    reply = response.json()
    entry = reply["orders"][0]
    assert entry["state"] == "REJECTED" and entry["broker_order_id"]
    assert "Auto OCO" in entry["message"] and "SIM-POSITION-BRACKETS" in entry["message"]
    assert await env.runtime.bridge.gateway.open_positions(70000002) == []
    assert await env.runtime.bridge.gateway.open_orders(70000002) == []
    events = env.journal.events(alert_id=reply["alert_id"])
    assert any(e.level == "critical" and e.kind == "bracket.unprotected_entry" for e in events)


async def test_journal_failure_is_503_and_nothing_is_sent(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.errors import JournalError

    def broken(**kwargs: object) -> None:
        raise JournalError("journal write failed: disk I/O error")

    monkeypatch.setattr(env.journal, "record_alert", broken)

    response = await env.send("mnq-market", _alert())

    assert response.status_code == 503  # TradingView re-sends a 5xx: welcome, nothing was done
    assert "nothing was done" in response.json()["error"]
    assert env.place_requests() == []


async def test_an_internal_error_after_journaling_is_never_a_5xx(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = env.runtime.bridge.templates["mnq-market"]

    def exploding(alert: object, contract: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(type(template), "render", lambda self, alert, contract: exploding(alert, contract))

    response = await env.send("mnq-market", _alert())

    assert response.status_code == 200  # a 5xx would make TradingView send the alert again
    reply = response.json()
    assert reply["status"] == "failed" and "RuntimeError" in reply["reason"]
    row = env.journal.get_alert(reply["alert_id"])
    assert row.status == AlertStatus.FAILED
    assert any(e.kind == "alert.failed" for e in env.journal.events(alert_id=reply["alert_id"]))
    assert env.place_requests() == []


async def test_exit_while_the_gateway_cannot_be_read_fails_cleanly(env: Env) -> None:
    env.sim.faults.fail_next(3, path="Position/searchOpen")  # every read attempt fails

    response = await env.send("mnq-exit", _alert(action="exit"))

    reply = response.json()
    assert response.status_code == 200
    assert reply["status"] == "failed"
    assert "gateway not reachable, nothing more sent" in reply["reason"]
    assert "internal error" not in reply["reason"]
    assert env.sim.requests_to("Position/closeContract") == []
