"""The simulator behind httpx.ASGITransport, on a manual clock, with a logged-in client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState, create_sim_app

START = datetime(2025, 11, 3, 14, 30, tzinfo=UTC)  # front months: MNQ/ES Z25, CL Z25, GC Z25
MNQ = "CON.F.US.MNQ.Z25"  # tick 0.25 points = 0.50 USD
ES = "CON.F.US.EP.Z25"  # tick 0.25 points = 12.50 USD
MNQ_START = Decimal("21500.00")


class ManualClock:
    """The sim's clock: stands still until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Api:
    """A logged-in caller of the sim's REST API."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def call(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return await self.client.post(f"/api/{path}", json=body, headers=headers)

    async def result(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The envelope of a call answered HTTP 200 (success or business failure)."""
        response = await self.call(path, body)
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The envelope of a successful call."""
        envelope = await self.result(path, body)
        assert envelope["success"] is True, envelope
        assert envelope["errorCode"] == 0
        return envelope

    async def place(self, **fields: Any) -> dict[str, Any]:
        """Order/place with defaults: buy 1 MNQ at market on the Auto OCO account."""
        body = {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
        body.update(fields)
        return await self.result("Order/place", body)

    async def orders(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> list[dict[str, Any]]:
        body = {"accountId": account_id, "startTimestamp": "2025-01-01T00:00:00Z"}
        return (await self.ok("Order/search", body))["orders"]

    async def open_orders(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> list[dict[str, Any]]:
        return (await self.ok("Order/searchOpen", {"accountId": account_id}))["orders"]

    async def positions(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> list[dict[str, Any]]:
        return (await self.ok("Position/searchOpen", {"accountId": account_id}))["positions"]

    async def trades(self, account_id: int = AUTO_OCO_ACCOUNT_ID) -> list[dict[str, Any]]:
        return (await self.ok("Trade/search", {"accountId": account_id}))["trades"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state(clock: ManualClock) -> SimState:
    return SimState(clock=clock)


@pytest.fixture
async def client(state: SimState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sim_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as http:
        yield http


@pytest.fixture
async def api(client: httpx.AsyncClient) -> Api:
    response = await client.post("/api/Auth/loginKey", json={"userName": "trader", "apiKey": "k"})
    return Api(client, response.json()["token"])
