"""SimServer on a real socket (127.0.0.1, ephemeral port)."""

from __future__ import annotations

import httpx
import pytest

from app.sim import SimServer, SimState
from tests.helpers import eventually


async def test_sim_server_serves_on_an_ephemeral_port_and_walks_prices() -> None:
    state = SimState()
    start_price = dict(state.prices)
    async with SimServer(state, walk_interval_s=0.01) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert sim.port != 0
        async with httpx.AsyncClient(base_url=sim.url, timeout=5) as client:
            assert (await client.get("/api/Status/ping")).json() == "pong"
            login = await client.post("/api/Auth/loginKey", json={"userName": "u", "apiKey": "k"})
            token = login.json()["token"]
            accounts = await client.post(
                "/api/Account/search",
                json={"onlyActiveAccounts": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert len(accounts.json()["accounts"]) == 2

        async def moved() -> bool:
            return state.prices != start_price

        await eventually(moved)
    assert sim.state is state
    assert len(state.requests_to("Account/search")) == 1
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/api/Status/ping")  # stopped: the port is closed
