"""UserHub (signalrcore + supervisor) against the simulator's User Hub on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.domain.events import Fill, GatewayEvent, LogoutEvent, OrderEvent, PositionEvent
from app.gateway.hub import (
    SIGNALRCORE_LOGGER,
    URGENT_BACKOFF_S,
    UserHub,
    guard_signalrcore_logging,
    hub_url,
    redact,
)
from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID, SimServer, SimState
from app.sim.hub import HubFaults, hub_faults
from tests.helpers import eventually
from tests.sim.conftest import MNQ, ManualClock

SILENCE_TIMEOUT_S = 1.5  # the simulator pings every 0.1 s: only a real silence reaches it


class Tokens:
    """The token source: whatever the test last logged in with."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.current = ""
        self.asked = 0

    async def login(self) -> str:
        response = await self.http.post("/api/Auth/loginKey", json={"userName": "trader", "apiKey": "k"})
        return str(response.json()["token"])

    async def __call__(self) -> str:
        self.asked += 1
        return self.current


class Engine:
    """What the engine would do: keep the events, count the (re)connects."""

    def __init__(self) -> None:
        self.events: list[GatewayEvent] = []
        self.connected = 0
        self.previous_good_at: list[datetime | None] = []
        self.fail_events = False

    async def on_event(self, event: GatewayEvent) -> None:
        if self.fail_events:
            raise RuntimeError("engine bug")
        self.events.append(event)

    async def on_connected(self, previous_good_at: datetime | None) -> None:
        self.connected += 1
        self.previous_good_at.append(previous_good_at)


class Rig:
    def __init__(self, server: SimServer, tokens: Tokens, engine: Engine, hub: UserHub) -> None:
        self.server, self.tokens, self.engine, self.hub = server, tokens, engine, hub
        self.faults: HubFaults = hub_faults(server.state)

    async def place_market(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> int:
        body = {"accountId": account_id, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
        response = await self.tokens.http.post(
            "/api/Order/place", json=body, headers={"Authorization": f"Bearer {self.tokens.current}"}
        )
        assert response.json()["success"] is True, response.text
        return int(response.json()["orderId"])

    async def connected(self, times: int, *, exactly: bool = True) -> None:
        """Wait until on_connected ran ``times`` times (at least, unless ``exactly``) and the hub
        says connected."""

        async def check() -> bool:
            return self.engine.connected >= times and self.hub.state.connected

        await eventually(check)
        if exactly:
            assert self.engine.connected == times

    async def order_events_for(self, broker_order_id: int) -> list[OrderEvent]:
        async def check() -> list[OrderEvent]:
            return [
                event
                for event in self.engine.events
                if isinstance(event, OrderEvent) and event.order.broker_order_id == broker_order_id
            ]

        return await eventually(check)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with (
        SimServer(SimState(clock=ManualClock())) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        hub_faults(server.state).ping_interval_s = 0.1
        tokens = Tokens(http)
        tokens.current = await tokens.login()
        engine = Engine()
        hub = UserHub(
            server.url + "/hubs/user",
            tokens,
            engine.on_event,
            engine.on_connected,
            silence_timeout_s=SILENCE_TIMEOUT_S,
            backoff_s=(0.05, 0.3),
            token_check_s=0.1,
            connect_timeout_s=2.0,
            keep_alive_s=0.1,
        )
        await hub.start([AUTO_OCO_ACCOUNT_ID])
        yield Rig(server, tokens, engine, hub)
        await hub.stop()
        assert not hub.state.connected


async def _true(value: bool) -> bool:
    return value


async def test_events_of_a_market_order_arrive_as_gateway_events(rig: Rig) -> None:
    await rig.connected(1)

    broker_order_id = await rig.place_market()
    orders = await rig.order_events_for(broker_order_id)

    async def filled() -> bool:
        kinds = {type(event) for event in rig.engine.events}
        return (
            Fill in kinds and PositionEvent in kinds and len(await rig.order_events_for(broker_order_id)) == 2
        )

    await eventually(filled)
    assert orders[0].order.account_id == AUTO_OCO_ACCOUNT_ID
    fill = next(event for event in rig.engine.events if isinstance(event, Fill))
    assert fill.broker_order_id == broker_order_id and fill.size == 1
    state = rig.hub.state
    assert state.since is not None and state.last_event_at is not None
    assert state.reconnects == 0 and state.last_error is None
    await eventually(lambda: _true(rig.faults.pings_received >= 2))  # the bridge keeps alive


async def test_dropped_hub_is_reconnected_and_resubscribed(rig: Rig) -> None:
    await rig.connected(1)

    rig.faults.drop_all()
    await rig.connected(2)

    assert rig.hub.state.reconnects == 1
    assert rig.faults.connections_made == 2
    await rig.order_events_for(await rig.place_market())  # subscribed again


async def test_refused_hub_is_retried_until_it_is_back(rig: Rig) -> None:
    await rig.connected(1)

    rig.faults.refuse_for(0.6)
    rig.faults.drop_all()
    await eventually(lambda: _true("503" in (rig.hub.state.last_error or "")))
    await rig.connected(2)

    await rig.order_events_for(await rig.place_market())


async def test_silent_hub_is_detected_within_the_silence_timeout_and_rebuilt(rig: Rig) -> None:
    await rig.connected(1)
    rig.faults.silent = True
    went_silent = time.monotonic()

    # Detected by the silence timeout: not before it (less the last ping's age), and soon after.
    await eventually(lambda: _true(not rig.hub.state.connected), timeout_s=SILENCE_TIMEOUT_S + 4.0)
    detected_after = time.monotonic() - went_silent
    rig.faults.silent = False
    await rig.connected(2, exactly=False)

    assert detected_after >= SILENCE_TIMEOUT_S - 0.2
    assert "no message from the hub" in (rig.hub.state.last_error or "")


async def test_a_changed_token_rebuilds_the_connection_with_it(rig: Rig) -> None:
    await rig.connected(1)
    old = rig.tokens.current

    new = await rig.tokens.login()
    rig.server.state.logout(old)  # only the new token can connect from now on
    rig.tokens.current = new
    await rig.connected(2)

    assert rig.faults.connections_made == 2
    await rig.order_events_for(await rig.place_market())


async def test_expired_token_reconnects_once_token_gives_a_fresh_one(rig: Rig) -> None:
    await rig.connected(1)

    rig.faults.expire_tokens()
    await eventually(lambda: _true("401" in (rig.hub.state.last_error or "")))
    assert rig.engine.connected == 1
    rig.tokens.current = await rig.tokens.login()
    await rig.connected(2)


async def test_gateway_logout_rebuilds_the_connection_and_reaches_the_engine(rig: Rig) -> None:
    await rig.connected(1)
    asked = rig.tokens.asked

    rig.faults.logout_all()
    await rig.connected(2)

    assert any(isinstance(event, LogoutEvent) for event in rig.engine.events)
    assert rig.tokens.asked > asked


async def test_a_failing_on_event_does_not_drop_the_connection(rig: Rig) -> None:
    await rig.connected(1)
    rig.engine.fail_events = True

    await rig.place_market()
    await eventually(lambda: _true(rig.hub.state.handler_errors >= 5))
    rig.engine.fail_events = False
    await rig.order_events_for(await rig.place_market())

    assert rig.faults.connections_made == 1
    assert rig.hub.state.reconnects == 0


async def test_set_accounts_subscribes_a_new_account_at_once(rig: Rig) -> None:
    await rig.connected(1)

    await rig.hub.set_accounts([POSITION_BRACKETS_ACCOUNT_ID])
    orders = await rig.order_events_for(await rig.place_market(POSITION_BRACKETS_ACCOUNT_ID))

    assert orders[0].order.account_id == POSITION_BRACKETS_ACCOUNT_ID
    assert rig.engine.connected == 1


async def test_start_twice_is_refused(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="set_accounts"):
        await rig.hub.start([1])


async def test_the_token_never_reaches_the_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=SIGNALRCORE_LOGGER)  # even if someone turns DEBUG on
    # An earlier test's uvicorn server (its logging config) may have raised uvicorn.error's level
    # and stopped "uvicorn" propagating to the root, where caplog listens: undo both for this test.
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    first = rig.tokens.current
    await rig.connected(1, exactly=False)

    rig.faults.expire_tokens()  # reconnect refused with 401, then a fresh token
    await eventually(lambda: _true("401" in (rig.hub.state.last_error or "")), timeout_s=10)
    rig.tokens.current = await rig.tokens.login()
    connections = rig.engine.connected
    await rig.connected(connections + 1, exactly=False)  # however many rebuilds a loaded machine adds
    await rig.order_events_for(await rig.place_market())

    async def both_sides_logged() -> bool:  # the simulator's server and the bridge's hub client
        return {"uvicorn.error", "app.gateway.hub"} <= {record.name for record in caplog.records}

    await eventually(both_sides_logged)
    for token in (first, rig.tokens.current):
        assert token not in caplog.text
        assert all(token not in record.getMessage() for record in caplog.records)


def test_redact_blanks_tokens_in_urls_headers_and_jwts() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
    text = f"start url:ws://h/hubs/user?access_token=abc&x=1 Authorization: Bearer xyz {jwt}"

    assert redact(text) == "start url:ws://h/hubs/user?access_token=***&x=1 Authorization: Bearer *** ***"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://rtc.topstepx.com/hubs/user", "wss://rtc.topstepx.com/hubs/user?access_token=t%2Bk"),
        ("http://127.0.0.1:5/hubs/user?x=1", "ws://127.0.0.1:5/hubs/user?x=1&access_token=t%2Bk"),
        ("wss://h/hubs/user?access_token=old", "wss://h/hubs/user?access_token=t%2Bk"),
    ],
)
def test_hub_url_puts_the_token_in_the_query_with_a_websocket_scheme(url: str, expected: str) -> None:
    assert hub_url(url, "t+k") == expected


def test_backoff_must_be_a_positive_range() -> None:
    async def nothing(*_: Any) -> None:
        return None

    async def token() -> str:
        return "t"

    with pytest.raises(ValueError, match="backoff_s"):
        UserHub("http://127.0.0.1:1/hubs/user", token, nothing, nothing, backoff_s=(1.0, 0.5))


def test_the_backoff_grows_but_is_capped_at_urgent_backoff_s_while_positions_are_open() -> None:
    async def nothing(*_: Any) -> None:
        return None

    async def token() -> str:
        return "t"

    hub = UserHub("http://127.0.0.1:1/hubs/user", token, nothing, nothing, backoff_s=(0.5, 30.0))

    relaxed = [hub._backoff(10) for _ in range(50)]
    urgent = [hub._backoff(10, urgent=True) for _ in range(50)]

    assert max(relaxed) > URGENT_BACKOFF_S and all(0.5 <= wait <= 30.0 for wait in relaxed)
    assert all(0.5 <= wait <= URGENT_BACKOFF_S <= 2.0 for wait in urgent)
    assert all(hub._backoff(0) == 0.5 for _ in range(5))  # no failure yet: the lowest wait


async def test_a_refusing_hub_is_reconnected_within_2_s_of_answering_once_positions_are_open() -> None:
    exposed = False
    async with (
        SimServer(SimState(clock=ManualClock())) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        faults = hub_faults(server.state)
        faults.ping_interval_s = 0.1
        tokens = Tokens(http)
        tokens.current = await tokens.login()
        engine = Engine()
        hub = UserHub(
            server.url + "/hubs/user",
            tokens,
            engine.on_event,
            engine.on_connected,
            urgent=lambda: exposed,
            backoff_s=(0.5, 30.0),
            connect_timeout_s=2.0,
            keep_alive_s=0.1,
        )
        faults.refuse_for(4.0)  # refused long enough for the backoff to grow past 4 s
        await hub.start([AUTO_OCO_ACCOUNT_ID])
        try:
            await eventually(lambda: _true("503" in (hub.state.last_error or "")))
            await eventually(lambda: _true(not faults.refusing), timeout_s=6)
            exposed = True  # e.g. an alert opened a position during the outage

            async def reconnected() -> bool:
                return engine.connected == 1 and hub.state.connected

            # Within 2 s (URGENT_BACKOFF_S and a connect), with slack for a loaded machine; the
            # backoff grown by 4 s of refusals would wait up to 16 s.
            await eventually(reconnected, timeout_s=4)
            assert engine.previous_good_at == [None]  # the first connection: no earlier good moment
        finally:
            await hub.stop()


async def test_on_connected_gets_the_moment_the_hub_was_last_good(rig: Rig) -> None:
    await rig.connected(1, exactly=False)
    connections = rig.engine.connected
    rig.faults.refuse_for(0.5)
    rig.faults.drop_all()
    dropped_at = datetime.now(UTC)

    await rig.connected(connections + 1, exactly=False)

    good_at = rig.engine.previous_good_at[connections]
    assert good_at is not None and good_at <= dropped_at
    assert (dropped_at - good_at).total_seconds() < SILENCE_TIMEOUT_S  # a ping shortly before


def test_signalrcore_lines_are_redacted_even_when_debug_is_turned_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard_signalrcore_logging()
    caplog.set_level(logging.DEBUG, logger=SIGNALRCORE_LOGGER)
    signalrcore_log = logging.getLogger(SIGNALRCORE_LOGGER)

    signalrcore_log.debug("auth function result " + "eyJhbGci.eyJzdWIi.c2ln")
    signalrcore_log.debug("start url:%s", "ws://h/hubs/user?access_token=secret-token")

    assert "eyJhbGci" not in caplog.text and "secret-token" not in caplog.text
    assert "access_token=***" in caplog.text
