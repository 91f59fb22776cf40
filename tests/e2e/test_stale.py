"""Stale alerts on the simulator: an entry older than the template's max_age_s is refused and
journaled; exits (and a reverse's close) are still executed, whatever their age."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.enums import AlertStatus
from app.ingest.auth import ensure_secrets, load_secrets
from app.strategies import load_templates
from tests.e2e.conftest import Env

AUTO_OCO = 70000001

TIMED = """
[alert]
time_field = "time"
{extra}
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{{{ alert.ticker }}}}"
action = "{{{{ alert.action }}}}"
quantity = "{{{{ alert.quantity }}}}"
type = "market"
"""


def _template(env: Env, name: str, extra: str = "") -> None:
    templates = env.settings.server.templates_dir
    (templates / f"{name}.toml").write_text(TIMED.format(extra=extra))
    ensure_secrets(env.settings.server.secrets_file, [name])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)


def _iso(seconds_ago: float) -> str:
    return f"{datetime.now(UTC) - timedelta(seconds=seconds_ago):%Y-%m-%dT%H:%M:%SZ}"


def _body(time: object, **fields: str) -> str:
    return json.dumps(
        {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25", "time": time, **fields}
    )


async def _send(env: Env, strategy: str, time: object, **fields: str) -> dict[str, Any]:
    """Post as TradingView would have sent it at ``time`` (not refreshed); the JSON reply."""
    response = await env.send(strategy, _body(time, **fields), fresh_time=False)
    assert response.status_code == 200, response.text
    return response.json()


async def _position(env: Env) -> tuple[str, int] | None:
    positions = await env.runtime.bridge.gateway.open_positions(AUTO_OCO)
    return (positions[0].side.value, positions[0].size) if positions else None


async def test_stale_entry_is_refused_journaled_and_nothing_is_sent(env: Env) -> None:
    fired_at = _iso(120)
    reply = await _send(env, "mnq-market", fired_at)

    assert reply["status"] == "stale" and reply["orders"] == []
    reason = reply["reason"]
    # Per account (a plain buy or sell that only closes a position would still be sent).
    assert reason.startswith(f"SIM-AUTO-OCO: alert fired at {fired_at[11:19]} UTC, 12")  # 120 or 121 s
    assert " before it could be executed, older than max_age_s 30 of template 'mnq-market': " in reason
    assert "entry not sent (exits are still executed)" in reason
    assert "tunnel" in reason and "clock" in reason and "raise [alert] max_age_s" in reason
    assert env.place_requests() == []
    alert = env.journal.get_alert(reply["alert_id"])
    assert alert.status == AlertStatus.STALE and alert.reason == reason
    assert alert.alert_time is not None and env.orders(reply["alert_id"]) == []


async def test_fresh_entry_is_executed(env: Env) -> None:
    reply = await _send(env, "mnq-market", _iso(5))

    assert reply["status"] == "executed", reply
    assert len(env.place_requests()) == 1


async def test_stale_oco_pair_sends_neither_order(env: Env) -> None:
    body = {"id": "bar-1", "ticker": "MNQ1!", "high": "21510.75", "low": "21485.50", "quantity": "1"}
    response = await env.send("mnq-oco", json.dumps({**body, "time": _iso(90)}), fresh_time=False)

    reply = response.json()
    assert response.status_code == 200 and reply["status"] == "stale", reply
    assert "OCO pair not sent" in reply["reason"]
    assert env.place_requests() == []


async def test_stale_exit_is_still_executed(env: Env) -> None:
    assert (await _send(env, "mnq-market", _iso(1)))["status"] == "executed"
    assert await _position(env) == ("buy", 1)

    reply = await _send(env, "mnq-exit", _iso(600), action="exit")

    assert reply["status"] == "executed", reply
    assert [(o["leg"], o["state"]) for o in reply["orders"]] == [("close", "DONE")]
    assert await _position(env) is None


async def test_a_stale_plain_sell_that_closes_a_long_is_an_exit_and_runs(env: Env) -> None:
    # TradingView strategies exit with {{strategy.order.action}} "sell": mnq-market sends it as is.
    assert (await _send(env, "mnq-market", _iso(1), quantity="2"))["status"] == "executed"

    closing = await _send(env, "mnq-market", _iso(600), action="sell", quantity="1")
    assert closing["status"] == "executed", closing
    assert await _position(env) == ("buy", 1)

    # More than is held would open a short: an entry, withheld.
    flipping = await _send(env, "mnq-market", _iso(600), action="sell", quantity="3")
    assert flipping["status"] == "stale", flipping
    assert await _position(env) == ("buy", 1)


async def test_stale_reverse_closes_the_position_and_sends_no_new_entry(env: Env) -> None:
    _template(env, "flip")
    assert (await _send(env, "flip", _iso(1), quantity="2"))["status"] == "executed"

    reply = await _send(env, "flip", _iso(300), action="reverse")

    assert reply["status"] == "executed", reply  # the close was executed
    assert [(o["leg"], o["side"], o["size"]) for o in reply["orders"]] == [("close", "sell", 2)]
    assert (
        "reverse on SIM-AUTO-OCO: the position was closed but the new entry was not sent" in reply["reason"]
    )
    assert "older than max_age_s 30 of template 'flip'" in reply["reason"]
    assert len(env.place_requests()) == 1  # only the first entry
    assert await _position(env) is None


async def test_max_age_0_is_never_stale(env: Env) -> None:
    _template(env, "patient", "max_age_s = 0")

    reply = await _send(env, "patient", "2026-03-02T14:30:00Z")

    assert reply["status"] == "executed", reply


async def test_max_age_is_the_templates(env: Env) -> None:
    _template(env, "quick", "max_age_s = 2.5")

    stale = await _send(env, "quick", _iso(10))
    fresh = await _send(env, "quick", _iso(0))

    assert stale["status"] == "stale" and "older than max_age_s 2.5 of template 'quick'" in stale["reason"]
    assert fresh["status"] == "executed", fresh


@pytest.mark.parametrize("as_text", [False, True])
async def test_epoch_milliseconds_are_read(env: Env, as_text: bool) -> None:
    def ms(seconds_ago: float) -> object:
        value = int((datetime.now(UTC) - timedelta(seconds=seconds_ago)).timestamp() * 1000)
        return str(value) if as_text else value

    stale = await _send(env, "mnq-market", ms(45))
    fresh = await _send(env, "mnq-market", ms(1))

    assert stale["status"] == "stale" and "older than max_age_s 30" in stale["reason"]
    assert fresh["status"] == "executed", fresh


@pytest.mark.parametrize(("ahead_s", "warned"), [(120, True), (10, False)])
async def test_a_time_ahead_is_not_stale_and_beyond_max_age_warns_of_this_computers_clock(
    env: Env, caplog: pytest.LogCaptureFixture, ahead_s: int, warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="tvbridge.engine")

    reply = await _send(env, "mnq-market", _iso(-ahead_s))

    assert reply["status"] == "executed", reply
    warnings = [r.getMessage() for r in caplog.records if "clock looks behind" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0), warnings
    if warned:
        assert "this computer's clock looks behind by 1" in warnings[0] and "mnq-market" in warnings[0]


def _unchecked_events(env: Env) -> list[str]:
    return [e.message for e in env.journal.events(limit=1000) if e.kind == "alert.time_unchecked"]


async def test_an_unreadable_time_is_not_refused_but_warned(env: Env) -> None:
    """Issue 12: the stale check says it did not run, in the alert's reason and a journal event."""
    reply = await _send(env, "mnq-market", "yesterday")

    assert reply["status"] == "executed", reply
    assert "stale check not done: 'time' is 'yesterday', not a time" in reply["reason"]
    [event] = _unchecked_events(env)
    assert f"alert {reply['alert_id']} of strategy 'mnq-market' executed without its age checked" in event
    row = env.journal.get_alert(reply["alert_id"])
    assert row is not None and row.reason == reply["reason"]


async def test_a_missing_time_is_warned_once_per_ten_minutes_per_strategy_and_every_reason_says_it(
    env: Env,
) -> None:
    bodies = [
        json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25", "n": n})
        for n in range(3)
    ]
    first, second = [(await env.send("mnq-market", b, fresh_time=False)).json() for b in bodies[:2]]

    for reply in (first, second):
        assert reply["status"] == "executed", reply
        assert reply["reason"].startswith("stale check not done: the alert has no 'time' (time_field of")
        assert 'send "time": "{{timenow}}" in the alert message (alerts/mnq-market.txt)' in reply["reason"]
    assert len(_unchecked_events(env)) == 1  # a flood of such alerts is one event
    # Ten minutes later it is said again.
    assert env.runtime.bridge._executor is not None
    warned = env.runtime.bridge._executor.time_warned
    warned["mnq-market"] -= timedelta(seconds=601)
    third = (await env.send("mnq-market", bodies[2], fresh_time=False)).json()
    assert third["status"] == "executed" and "stale check not done" in third["reason"]
    assert len(_unchecked_events(env)) == 2


async def test_a_time_far_in_the_future_is_executed_and_warned(env: Env) -> None:
    reply = await _send(env, "mnq-market", "2099-01-01T00:00:00Z")

    assert reply["status"] == "executed", reply
    assert "stale check not done: the alert is dated 2099-01-01 00:00:00 UTC" in reply["reason"]
    assert "this computer's clock looks behind by" in reply["reason"]
    assert len(_unchecked_events(env)) == 1


async def test_a_fresh_time_says_nothing(env: Env) -> None:
    reply = await _send(env, "mnq-market", _iso(1))

    assert reply["status"] == "executed" and not reply.get("reason"), reply
    assert _unchecked_events(env) == []


async def test_an_old_alert_with_a_nested_time_is_refused_as_stale(env: Env) -> None:
    """Issue 14: with time_field = "metadata.timestamp", a 14-day-old entry was executed."""
    templates = env.settings.server.templates_dir
    (templates / "nested.toml").write_text(TIMED.format(extra="").replace('"time"', '"metadata.timestamp"'))
    ensure_secrets(env.settings.server.secrets_file, ["nested"])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)
    body = {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "metadata": {"timestamp": _iso(14 * 86400)}}

    response = await env.send("nested", json.dumps(body), fresh_time=False)

    reply = response.json()
    assert reply["status"] == "stale" and reply["orders"] == [], reply
    assert "older than max_age_s 30 of template 'nested'" in reply["reason"]
    assert env.place_requests() == []
    fresh = {**body, "metadata": {"timestamp": _iso(1)}}
    response = await env.send("nested", json.dumps(fresh), fresh_time=False)
    assert response.json()["status"] != "stale", response.text
