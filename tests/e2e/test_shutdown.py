"""Laptop life on the simulator: stopping with positions open warns (or flattens), the next start
shows what was left, and positions unwatched while the hub or the gateway is away raise the alarm."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.sim.server
from app.config import Settings
from app.engine.shutdown import SHUTDOWN_EVENT
from app.engine.watchdog import ALARM_CLEARED_EVENT, ALARM_EVENT, Watchdog
from app.errors import GatewayUnavailable
from app.journal import Journal
from app.web.access import set_password
from app.web.app import create_app
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_kill_switch import AUTO_OCO, POSITION_BRACKETS, hold_everything
from tests.helpers import eventually

MARKET = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25"})
PASSWORD = "correct horse battery"


def last_shutdown(settings: Settings) -> Any:
    """The newest shutdown event of any gateway (latest_event reads only its own gateway's)."""
    journal = Journal(settings.journal.url)
    try:
        return next((e for e in journal.events(limit=1000) if e.kind == SHUTDOWN_EVENT), None)
    finally:
        journal.close()


async def open_a_position(env: Env) -> str:
    """Buy 1 MNQ at market on SIM-AUTO-OCO; return the contract id."""
    reply = (await env.send("mnq-market", MARKET)).json()
    assert reply["status"] == "executed", reply
    [position] = env.sim.open_positions(AUTO_OCO)

    async def journaled() -> bool:  # the hub reported it
        return any(p.size for p in env.journal.positions(AUTO_OCO))

    await eventually(journaled)
    return str(position.contract_id)


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    engine = ("app.engine.", "tvbridge.engine")  # a logger per module (app.engine.shutdown, …)
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name.startswith(engine)]


async def test_stopping_with_a_position_open_warns_journals_and_leaves_it_at_the_broker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine")
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as env:
        contract_id = await open_a_position(env)
        sim = env.sim

    warned = messages(caplog, logging.WARNING)
    assert f"left open: position long 1 {contract_id}" in "\n".join(warned)
    assert any(
        m.startswith(
            "stopping with 1 open position on SIM-AUTO-OCO: they stay at the broker, unwatched, "
            "until tvbridge runs again"
        )
        for m in warned
    ), warned
    assert [(p.contract_id, p.net) for p in sim.open_positions(AUTO_OCO)] == [(contract_id, 1)]
    event = last_shutdown(settings)
    assert event is not None and event.level == "warning"
    assert [(p["contract_id"], p["side"], p["size"]) for p in event.data["positions"]] == [
        (contract_id, "long", 1)
    ]
    assert event.data["flatten"] is None and event.data["on_shutdown"] == "warn"


async def test_stopping_while_the_gateway_fails_reports_the_journals_view_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine")
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as env:
        contract_id = await open_a_position(env)
        env.sim.faults.fail_next(50, "Position/searchOpen")  # HTTP 500: the position is unreadable

    summary = next(m for m in messages(caplog, logging.WARNING) if m.startswith("stopping with"))
    assert "1 open position on SIM-AUTO-OCO" in summary
    assert "the gateway could not be read for SIM-AUTO-OCO" in summary and "journal's view" in summary
    event = last_shutdown(settings)
    assert event is not None and event.data["journal_view"] == ["SIM-AUTO-OCO"]
    assert [p["contract_id"] for p in event.data["positions"]] == [contract_id]


async def test_stopping_with_nothing_open_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine")
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path):
        pass

    assert "stopping: nothing is open on the followed accounts" in messages(caplog, logging.INFO)
    event = last_shutdown(settings)
    assert event is not None and event.level == "info" and event.data["positions"] == []


async def test_on_shutdown_flatten_closes_every_position_and_cancels_every_order_unpaused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine")
    settings = make_settings(tmp_path)
    settings.engine.on_shutdown = "flatten"
    async with running(settings, tmp_path) as env:
        await hold_everything(env)
        sim = env.sim

    for account_id in (AUTO_OCO, POSITION_BRACKETS):
        assert (sim.open_orders(account_id), sim.open_positions(account_id)) == ([], [])
    assert any(
        "Flatten by shutdown" in m and "Everything is flat." in m for m in messages(caplog, logging.WARNING)
    )
    event = last_shutdown(settings)
    assert event is not None and event.level == "info"
    assert event.data["flatten"]["ok"] is True and event.data["positions"] == event.data["orders"] == []
    journal = Journal(settings.journal.url)
    try:
        assert journal.pause_state() is None  # the next start executes alerts
    finally:
        journal.close()


@asynccontextmanager
async def same_broker(monkeypatch: pytest.MonkeyPatch, state: Any) -> AsyncIterator[None]:
    """The next start's built-in simulator keeps ``state``: the broker outlives the bridge."""
    original = app.sim.server.SimServer

    def keep(*args: Any, walk_interval_s: float | None = None, **kwargs: Any) -> Any:
        return original(state, walk_interval_s=walk_interval_s)

    monkeypatch.setattr(app.sim.server, "SimServer", keep)
    yield
    monkeypatch.setattr(app.sim.server, "SimServer", original)


async def logged_in(settings: Settings, env: Env) -> httpx.AsyncClient:
    """A browser on the bridge's pages, logged in."""
    web = create_app(settings)
    web.state.runtime, web.state.bridge = env.runtime, env.runtime.bridge
    transport = httpx.ASGITransport(app=web, client=("203.0.113.7", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://localhost")
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    await client.post("/login", data={"csrf_token": token, "password": PASSWORD})
    return client


def with_password(tmp_path: Path) -> Settings:
    from tests.web.conftest import FAST_HASHER

    settings = make_settings(tmp_path)
    set_password(settings.server.auth_file, PASSWORD, hasher=FAST_HASHER)
    return settings


async def test_the_next_start_shows_the_last_stop_and_warns_while_its_position_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = with_password(tmp_path)
    async with running(settings, tmp_path) as env:
        contract_id = await open_a_position(env)
        sim = env.sim

    async with same_broker(monkeypatch, sim), running(settings, tmp_path) as env:
        client = await logged_in(settings, env)
        status = (await client.get("/api/status")).json()
        down = status["last_shutdown"]
        assert down["on_shutdown"] == "warn" and down["flatten"] is None
        assert [p["contract_id"] for p in down["positions"]] == [contract_id]

        async def warned() -> str:
            page = (await client.get("/")).text
            return page if 'id="left-open-banner"' in page else ""

        page = await eventually(warned)
        assert f"position long 1 {contract_id} @ 21" in page and "Left open at the last stop" in page
        shown = (await client.get("/status")).text
        assert 'id="last-shutdown"' in shown and "still open" in shown and contract_id in shown

        await env.runtime.bridge.flatten(by="test", pause=False)  # closed: the banner goes
        watchdog = env.runtime.watchdog
        assert watchdog is not None

        async def gone() -> bool:
            await watchdog.check()  # its next check, without waiting interval_s for it
            return 'id="left-open-banner"' not in (await client.get("/")).text

        await eventually(gone)  # once the hub reported the position flat
        await client.aclose()


def fast_watchdog(env: Env) -> Watchdog:
    bridge = env.runtime.bridge
    return Watchdog(
        bridge.runner,
        bridge.gateway,
        env.runtime.hub,
        lambda: bridge.followed,
        alarm_s=0.2,
        interval_s=0.02,
    )


async def alarm_of(client: httpx.AsyncClient) -> Any:
    return (await client.get("/api/status")).json()["alarm"]


async def test_the_alarm_sounds_while_the_hub_is_down_or_the_gateway_fails_with_a_position_open(
    tmp_path: Path,
) -> None:
    settings = with_password(tmp_path)
    async with running(settings, tmp_path) as env:
        runtime = env.runtime
        assert runtime.watchdog is not None and runtime.hub is not None
        await runtime.watchdog.stop()
        runtime.watchdog = fast_watchdog(env)
        runtime.watchdog.start()
        client = await logged_in(settings, env)
        contract_id = await open_a_position(env)

        await runtime.hub.stop()

        async def sounding() -> Any:
            return await alarm_of(client)

        alarm = await eventually(sounding)
        assert "the User Hub disconnected" in alarm["message"] and contract_id in alarm["message"]
        page = (await client.get("/")).text
        assert 'id="alarm-banner"' in page and "manage them on the platform" in page

        await runtime.hub.start(runtime.bridge.followed)

        async def silent() -> bool:
            return await alarm_of(client) is None

        await eventually(silent)
        assert 'id="alarm-banner"' not in (await client.get("/")).text

        env.sim.faults.fail_next(20)  # HTTP 500 to everything: the gateway does not answer
        with pytest.raises(GatewayUnavailable):
            await runtime.bridge.gateway.open_positions(AUTO_OCO)
        alarm = await eventually(sounding)
        assert "the gateway not answering" in alarm["message"]

        env.sim.faults.clear()
        await runtime.bridge.gateway.open_positions(AUTO_OCO)  # answered: cleared
        await eventually(silent)
        kinds = [e.kind for e in reversed(env.journal.events()) if e.kind.startswith("alarm.")]
        assert kinds == [ALARM_EVENT, ALARM_CLEARED_EVENT] * 2
        await client.aclose()
