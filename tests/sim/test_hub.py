"""The simulator's User Hub over a real socket, driven by a raw WebSocket client (signalr.md §1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID, SimServer, SimState
from app.sim.hub import HubFaults, hub_faults
from tests.helpers import eventually
from tests.sim.conftest import MNQ, ManualClock

RS = "\x1e"
QUIET_S = 0.4  # how long "nothing arrives" is watched for


class HubClient:
    """A raw SignalR JSON client: sends records, reads them back one at a time."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.pending: list[dict[str, Any]] = []

    async def send(self, *messages: dict[str, Any]) -> None:
        """Send the messages in one frame."""
        await self.websocket.send("".join(json.dumps(message) + RS for message in messages))

    async def next(self, timeout_s: float = 3.0, *, pings: bool = False) -> dict[str, Any]:
        """The next message (skipping Pings unless ``pings``); TimeoutError when none comes."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            while not self.pending:
                left = deadline - asyncio.get_running_loop().time()
                frame = await asyncio.wait_for(self.websocket.recv(), max(left, 0))
                assert isinstance(frame, str)
                assert frame.endswith(RS), frame
                self.pending += [json.loads(record) for record in frame.split(RS) if record]
            message = self.pending.pop(0)
            if pings or message.get("type") != 6:
                return message

    async def nothing_within(self, seconds: float = QUIET_S, *, pings: bool = False) -> None:
        with pytest.raises(TimeoutError):
            message = await self.next(seconds, pings=pings)
            pytest.fail(f"expected no message, got {message}")

    async def invoke(self, target: str, *arguments: Any, invocation_id: str = "1") -> dict[str, Any]:
        await self.send(
            {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(arguments)}
        )
        return await self.next()

    async def subscribe(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> None:
        for number, target in enumerate(("SubscribeOrders", "SubscribePositions", "SubscribeTrades")):
            completion = await self.invoke(target, account_id, invocation_id=str(number))
            assert completion == {"type": 3, "invocationId": str(number)}


class Sim:
    def __init__(self, server: SimServer, http: httpx.AsyncClient, token: str) -> None:
        self.server = server
        self.http = http
        self.token = token
        self.hub: HubFaults = hub_faults(server.state)

    @property
    def ws_url(self) -> str:
        return self.server.url.replace("http://", "ws://") + "/hubs/user"

    async def login(self) -> str:
        response = await self.http.post("/api/Auth/loginKey", json={"userName": "trader", "apiKey": "k"})
        return response.json()["token"]

    async def place_market(self, account_id: int = AUTO_OCO_ACCOUNT_ID, side: int = 0) -> int:
        body = {"accountId": account_id, "contractId": MNQ, "type": 2, "side": side, "size": 1}
        response = await self.http.post(
            "/api/Order/place", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        envelope = response.json()
        assert envelope["success"] is True, envelope
        return envelope["orderId"]

    async def client(self, query: str | None = None, version: int = 1) -> HubClient:
        """Connect with ``query`` (default: the token), handshake, return the client."""
        websocket = await connect(f"{self.ws_url}?{query or 'access_token=' + self.token}")
        client = HubClient(websocket)
        await client.send({"protocol": "json", "version": version})
        assert await client.next() == {}
        return client


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with (
        SimServer(SimState(clock=ManualClock())) as server,
        httpx.AsyncClient(base_url=server.url, timeout=5) as http,
    ):
        login = await http.post("/api/Auth/loginKey", json={"userName": "trader", "apiKey": "k"})
        yield Sim(server, http, login.json()["token"])


# -- connection and handshake ------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1])
async def test_handshake_version_0_and_1_are_answered_with_an_empty_object(sim: Sim, version: int) -> None:
    client = await sim.client(version=version)  # signalrcore sends 0 when it skips negotiate

    assert sim.hub.connections_made == 1
    await eventually(lambda: _true(sim.hub.open_connections == 1))
    await client.websocket.close()


async def test_unknown_protocol_gets_an_error_and_the_socket_is_closed(sim: Sim) -> None:
    async with connect(f"{sim.ws_url}?access_token={sim.token}") as websocket:
        client = HubClient(websocket)
        await client.send({"protocol": "messagepack", "version": 1})

        assert await client.next() == {"error": "Requested protocol 'messagepack' is not available."}
        with pytest.raises(ConnectionClosed):
            await client.next()


@pytest.mark.parametrize("query", ["", "access_token=not-a-token"])
async def test_upgrade_without_a_valid_token_is_refused_with_401(sim: Sim, query: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{sim.ws_url}?{query}")

    assert refused.value.response.status_code == 401
    assert sim.hub.connections_made == 0


@pytest.mark.parametrize("version", [0, 1])
async def test_negotiate_then_connect_with_the_id(sim: Sim, version: int) -> None:
    response = await sim.http.post(
        f"/hubs/user/negotiate?negotiateVersion={version}", headers={"Authorization": f"Bearer {sim.token}"}
    )
    body = response.json()

    assert response.status_code == 200
    assert body["negotiateVersion"] == version
    assert body["availableTransports"][0]["transport"] == "WebSockets"
    connection_id = body["connectionToken"] if version == 1 else body["connectionId"]
    first = await sim.client(f"id={connection_id}")
    with pytest.raises(InvalidStatus) as second:
        await connect(f"{sim.ws_url}?id={connection_id}")
    assert second.value.response.status_code == 409
    await first.subscribe()  # the negotiated connection works like any other
    await first.websocket.close()


async def test_negotiate_refuses_a_bad_token_and_an_unknown_id_gets_404(sim: Sim) -> None:
    refused = await sim.http.post("/hubs/user/negotiate", headers={"Authorization": "Bearer nope"})
    with pytest.raises(InvalidStatus) as unknown:
        await connect(f"{sim.ws_url}?id=stale-connection-id")

    assert refused.status_code == 401
    assert unknown.value.response.status_code == 404


# -- invocations --------------------------------------------------------------------------------


async def test_subscribe_calls_complete_void_and_bad_calls_complete_with_an_error(sim: Sim) -> None:
    client = await sim.client()

    assert await client.invoke("SubscribeAccounts") == {"type": 3, "invocationId": "1"}
    await client.subscribe(POSITION_BRACKETS_ACCOUNT_ID)
    unknown = await client.invoke("SubscribeQuotes", 1, invocation_id="7")
    stranger = await client.invoke("SubscribeOrders", 12345, invocation_id="8")
    no_account = await client.invoke("SubscribeTrades", invocation_id="9")

    assert unknown == {"type": 3, "invocationId": "7", "error": "Unknown hub method 'SubscribeQuotes'"}
    assert stranger["invocationId"] == "8" and "account 12345" in stranger["error"]
    assert no_account["invocationId"] == "9" and "integer account id" in no_account["error"]


async def test_several_records_in_one_frame_and_calls_without_id_get_no_answer(sim: Sim) -> None:
    async with connect(f"{sim.ws_url}?access_token={sim.token}") as websocket:
        client = HubClient(websocket)
        await client.send(
            {"protocol": "json", "version": 1},
            {"type": 1, "target": "SubscribeOrders", "arguments": [AUTO_OCO_ACCOUNT_ID]},  # no id
            {"type": 1, "invocationId": "a", "target": "SubscribeTrades", "arguments": [AUTO_OCO_ACCOUNT_ID]},
        )

        assert await client.next() == {}
        assert await client.next() == {"type": 3, "invocationId": "a"}
        order_id = await sim.place_market()
        order = await client.next()
        assert order["target"] == "GatewayUserOrder"  # the id-less subscribe took effect
        assert order["arguments"][0]["data"]["id"] == order_id


# -- pushes -------------------------------------------------------------------------------------


async def test_events_go_only_to_connections_subscribed_to_that_account(sim: Sim) -> None:
    auto_oco = await sim.client()
    other = await sim.client()
    await auto_oco.subscribe(AUTO_OCO_ACCOUNT_ID)
    await other.subscribe(POSITION_BRACKETS_ACCOUNT_ID)

    order_id = await sim.place_market(AUTO_OCO_ACCOUNT_ID)
    first = await auto_oco.next()
    await sim.place_market(POSITION_BRACKETS_ACCOUNT_ID)
    other_first = await other.next()

    assert "invocationId" not in first
    assert first["type"] == 1 and first["target"] == "GatewayUserOrder"
    assert first["arguments"][0]["action"] == 1  # the live {action, data} envelope (§7.3)
    assert first["arguments"][0]["data"]["id"] == order_id
    assert first["arguments"][0]["data"]["accountId"] == AUTO_OCO_ACCOUNT_ID
    assert "stopPrice" not in first["arguments"][0]["data"]  # nulls omitted
    # Had the AUTO_OCO events leaked, they would have come first.
    assert other_first["arguments"][0]["data"]["accountId"] == POSITION_BRACKETS_ACCOUNT_ID


async def test_a_market_order_pushes_order_trade_position_and_account_events(sim: Sim) -> None:
    client = await sim.client()
    await client.invoke("SubscribeAccounts")
    await client.subscribe()

    await sim.place_market()
    targets = [(await client.next())["target"] for _ in range(5)]

    assert targets == [
        "GatewayUserOrder",  # Pending
        "GatewayUserOrder",  # Filled
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserAccount",
    ]


async def test_unsubscribe_stops_the_pushes_and_subscriptions_end_with_the_connection(sim: Sim) -> None:
    client = await sim.client()
    await client.subscribe()
    assert await client.invoke("UnsubscribeOrders", AUTO_OCO_ACCOUNT_ID) == {"type": 3, "invocationId": "1"}
    await sim.place_market()
    assert (await client.next())["target"] == "GatewayUserTrade"  # no order events any more
    await client.websocket.close()

    again = await sim.client()
    await sim.place_market()
    await again.nothing_within()  # a new connection starts with no subscriptions


async def test_the_hub_pings_when_idle(sim: Sim) -> None:
    sim.hub.ping_interval_s = 0.05
    client = await sim.client()

    assert await client.next(pings=True) == {"type": 6}
    await client.send({"type": 6})
    await eventually(lambda: _true(sim.hub.pings_received == 1))


# -- fault switches -----------------------------------------------------------------------------


async def test_drop_all_closes_every_socket_without_a_close_message(sim: Sim) -> None:
    clients = [await sim.client(), await sim.client()]
    await eventually(lambda: _true(sim.hub.open_connections == 2))

    assert sim.hub.drop_all() == 2
    for client in clients:
        with pytest.raises(ConnectionClosed):
            message = await client.next(pings=True)
            pytest.fail(f"expected the socket closed, got {message}")
    await eventually(lambda: _true(sim.hub.open_connections == 0))


async def test_refuse_for_answers_503_until_the_time_is_up(sim: Sim) -> None:
    sim.hub.refuse_for(0.3)

    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{sim.ws_url}?access_token={sim.token}")
    assert refused.value.response.status_code == 503

    async def accepted() -> bool:
        try:
            await (await sim.client()).websocket.close()
        except InvalidStatus:
            return False
        return True

    await eventually(accepted)
    with pytest.raises(ValueError):
        sim.hub.refuse_for(-1)


async def test_silent_hub_sends_nothing_and_loses_the_events_meanwhile(sim: Sim) -> None:
    sim.hub.ping_interval_s = 0.05
    client = await sim.client()
    await client.subscribe()

    sim.hub.silent = True
    await sim.place_market()
    await client.nothing_within(pings=True)  # no events, not even pings
    sim.hub.silent = False
    assert await client.next(pings=True) == {"type": 6}  # alive again ...
    await client.nothing_within()  # ... and the events sent while silent are gone


async def test_duplicate_sends_every_event_twice(sim: Sim) -> None:
    client = await sim.client()
    await client.subscribe()
    sim.hub.duplicate = True

    await sim.place_market()
    first, second = await client.next(), await client.next()

    assert first == second
    assert first["target"] == "GatewayUserOrder"


async def test_reorder_reverses_small_batches(sim: Sim) -> None:
    client = await sim.client()
    assert await client.invoke("SubscribeOrders", AUTO_OCO_ACCOUNT_ID) == {"type": 3, "invocationId": "1"}
    sim.hub.reorder_batch = 2

    await sim.place_market()  # two order events: Pending, then Filled
    first, second = await client.next(), await client.next()

    assert first["arguments"][0]["data"]["status"] == 2  # Filled arrives before ...
    assert second["arguments"][0]["data"]["status"] == 6  # ... Pending


async def test_expire_tokens_closes_with_a_close_message_and_the_old_token_gets_401(sim: Sim) -> None:
    client = await sim.client()

    assert sim.hub.expire_tokens() == 1
    close = await client.next()
    assert close["type"] == 7 and close["allowReconnect"] is True
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{sim.ws_url}?access_token={sim.token}")
    assert refused.value.response.status_code == 401
    sim.token = await sim.login()
    await (await sim.client()).websocket.close()  # a fresh token connects


async def test_logout_all_sends_gateway_logout(sim: Sim) -> None:
    client = await sim.client()
    await eventually(lambda: _true(sim.hub.open_connections == 1))

    assert sim.hub.logout_all() == 1
    assert await client.next() == {"type": 1, "target": "GatewayLogout", "arguments": []}


async def _true(value: bool) -> bool:
    return value
