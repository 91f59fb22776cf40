"""The kill switch over HTTP: forms from a logged-in page (CSRF) and the command line's signed header."""

from __future__ import annotations

import base64
import html
import json
import time

import httpx
from itsdangerous import TimestampSigner

from app.engine.flatten import KILL_SWITCH
from app.web.access import CONTROL_HEADER, CONTROL_SALT, load_auth, sign_control
from app.web.login import SESSION_COOKIE
from tests.helpers import SHIPPED_ALERTS, eventually
from tests.web.conftest import CLIENT_ADDRESS, Web

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
LIMIT_ALERT = b"buy 2 NQ1! @ 15000.25"  # a limit far below the market: it stays working
ACCOUNT_ID = 70000001  # the simulator's SIM-AUTO-OCO, which the shipped templates trade


async def logged_in_token(web: Web) -> str:
    """Log in; return the CSRF token the pages' forms then carry."""
    assert (await web.login()).status_code == 303
    payload = web.client.cookies[SESSION_COOKIE].split(".")[0]
    session = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return str(session["csrf_token"])


def kill_events(web: Web) -> list[str]:
    return [e.kind for e in web.env.journal.events() if e.kind.startswith("kill.")]


def header(web: Web, action: str, *, key: str | None = None, age_s: float = 0) -> dict[str, str]:
    control_key = key or load_auth(web.auth_file, create=False).control_key
    if not age_s:
        return {CONTROL_HEADER: sign_control(control_key, action), "Accept": "application/json"}

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age_s)

    signed = Earlier(control_key, salt=CONTROL_SALT).sign(action).decode()
    return {CONTROL_HEADER: signed, "Accept": "application/json"}


def cookieless(web: Web) -> httpx.AsyncClient:
    """The command line: no session, only the signed header."""
    return web.browser()


async def open_everything(web: Web) -> tuple[set[int], set[str]]:
    """A filled bracket entry (a position and its two working legs) and a working limit order;
    return the working broker order ids and the contracts with a position."""
    assert (await web.env.send("mnq-bracket", BRACKET_ALERT)).json()["status"] == "executed"
    assert (await web.env.send("nq-text", LIMIT_ALERT)).json()["status"] == "executed"
    gateway = web.env.runtime.bridge.gateway

    async def all_working() -> tuple[set[int], set[str]]:
        orders = await gateway.open_orders(ACCOUNT_ID)
        positions = await gateway.open_positions(ACCOUNT_ID)
        assert len(orders) == 3 and len(positions) == 1, (orders, positions)
        return {o.broker_order_id for o in orders}, {p.contract_id for p in positions}

    return await eventually(all_working)


# Pause and resume from the page


async def test_pause_and_resume_from_the_page_are_journaled(web: Web) -> None:
    token = await logged_in_token(web)
    referer = {"Referer": "http://localhost/webhooks?strategy=mnq-bracket"}

    paused = await web.client.post("/control/pause", data={"csrf_token": token}, headers=referer)

    assert paused.status_code == 303
    assert paused.headers["location"] == "/webhooks?strategy=mnq-bracket"
    state = web.env.runtime.bridge.paused
    assert state is not None and state.by == f"web page {CLIENT_ADDRESS}"
    assert web.env.journal.pause_state() == state
    alert = await web.env.send("mnq-bracket", BRACKET_ALERT)
    assert alert.json()["status"] == "paused"
    assert web.env.place_requests() == []

    resumed = await web.client.post("/control/resume", data={"csrf_token": token}, headers=referer)

    assert resumed.status_code == 303
    assert web.env.runtime.bridge.paused is None and web.env.journal.pause_state() is None
    assert kill_events(web) == ["kill.resume", "kill.pause"]  # newest first


async def test_control_forms_without_the_csrf_token_change_nothing(web: Web) -> None:
    await open_everything(web)
    token = await logged_in_token(web)
    sim = web.env.sim
    cancels = len(sim.requests_to("Order/cancel"))

    for path in ("/control/pause", "/control/flatten"):
        missing = await web.client.post(path, data={"pause": "1"})
        wrong = await web.client.post(path, data={"pause": "1", "csrf_token": token[:-2] + "xx"})
        assert (missing.status_code, wrong.status_code) == (403, 403), path

    assert web.env.runtime.bridge.paused is None
    assert kill_events(web) == []
    assert len(sim.requests_to("Order/cancel")) == cancels
    assert sim.requests_to("Position/closeContract") == []


async def test_back_to_another_site_goes_to_the_journal_instead(web: Web) -> None:
    token = await logged_in_token(web)

    response = await web.client.post(
        "/control/pause", data={"csrf_token": token}, headers={"Referer": "https://evil.example/x"}
    )

    assert response.status_code == 303 and response.headers["location"] == "/"


# The command line's signed header


async def test_a_fresh_signed_header_pauses_without_a_login(web: Web) -> None:
    async with cookieless(web) as cli:
        response = await cli.post("/control/pause", headers=header(web, "pause"))

        assert response.status_code == 200
        body = response.json()
        assert body["paused"] is True and body["by"] == "command line" and body["since"]
        assert web.env.runtime.bridge.paused is not None
        again = await cli.post("/control/pause", headers=header(web, "pause"))  # within the same second
        assert again.status_code == 200 and again.json()["since"] == body["since"]

        resumed = await cli.post("/control/resume", headers=header(web, "resume"))
        assert resumed.json()["paused"] is False
    assert kill_events(web) == ["kill.resume", "kill.pause"]


async def test_stale_foreign_misdirected_or_replayed_headers_are_refused(web: Web) -> None:
    replayed = header(web, "pause")
    async with cookieless(web) as cli:
        assert (await cli.post("/control/pause", headers=replayed)).status_code == 200
        await cli.post("/control/resume", headers=header(web, "resume"))
        refused = {
            "stale": header(web, "pause", age_s=31),
            "wrong key": header(web, "pause", key="not-this-bridge's-control-key"),
            "wrong action": header(web, "resume"),
            "replayed": replayed,
            "garbage": {CONTROL_HEADER: "pause", "Accept": "application/json"},
        }
        for name, headers in refused.items():
            response = await cli.post("/control/pause", headers=headers)
            assert response.status_code == 401, name
            assert "refused" in response.json()["error"], name

    assert web.env.runtime.bridge.paused is None
    assert kill_events(web) == ["kill.resume", "kill.pause"]  # only the one accepted pause


async def test_the_signed_plan_and_flatten_answer_json(web: Web) -> None:
    working, contracts = await open_everything(web)
    async with cookieless(web) as cli:
        plan = (await cli.get("/control/flatten", headers=header(web, "plan"))).json()

        [account] = [a for a in plan["accounts"] if a["account_id"] == ACCOUNT_ID]
        assert {o["broker_order_id"] for o in account["orders"]} == working
        assert {p["contract_id"] for p in account["positions"]} == contracts
        assert plan["order_count"] == 3 and plan["position_count"] == 1 and not plan["empty"]
        assert all(o["text"] for o in account["orders"])

        done = await cli.post("/control/flatten", headers=header(web, "flatten"), data={"pause": "0"})

    report = done.json()
    assert done.status_code == 200 and report["ok"] is True, report
    assert "Everything is flat" in report["summary"]
    assert web.env.runtime.bridge.paused is None  # pause "0": not paused
    assert web.env.journal.get_alert(report["alert_id"]).strategy == KILL_SWITCH


# Flatten from the page


async def test_the_confirmation_lists_what_flatten_then_closes(web: Web) -> None:
    working, contracts = await open_everything(web)
    token = await logged_in_token(web)

    page = await web.client.get("/control/flatten")

    assert page.status_code == 200
    text = html.unescape(page.text)
    for broker_order_id in working:
        assert str(broker_order_id) in text
    for contract_id in contracts:
        assert contract_id in text
    assert "Cancel 3 orders and close 1 position" in text
    assert 'name="pause" value="1" checked' in page.text
    assert 'href="/"' in page.text  # Back

    done = await web.client.post("/control/flatten", data={"csrf_token": token, "pause": "1"})

    assert done.status_code == 303 and done.headers["location"] == "/"
    gateway = web.env.runtime.bridge.gateway
    assert await gateway.open_orders(ACCOUNT_ID) == []
    assert await gateway.open_positions(ACCOUNT_ID) == []
    paused = web.env.runtime.bridge.paused
    assert paused is not None and paused.by == f"web page {CLIENT_ADDRESS}"
    [kill_alert] = [a for a in web.env.journal.recent_alerts() if a.strategy == KILL_SWITCH]
    assert kill_alert.status == "executed"

    after = html.unescape((await web.client.get("/control/flatten")).text)
    assert f"(alert {kill_alert.id})" in after and "Everything is flat" in after  # the flash
    assert "Nothing to flatten" in after and "flatten-button" not in after
