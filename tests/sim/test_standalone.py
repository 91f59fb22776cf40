"""A standalone ``tvbridge sim`` as tests and traders run it: its state file across restarts
(kill -9 included) and the fault control endpoint of ``--faults``."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.sim import AUTO_OCO_ACCOUNT_ID
from tests.helpers import eventually, start_sim, tvbridge

pytestmark = pytest.mark.xdist_group("standalone-sim")  # its module-scoped fixture starts once

RS = "\x1e"


class Client:
    """A logged-in REST caller of a running simulator."""

    def __init__(self, url: str) -> None:
        self.url = url
        login = httpx.post(f"{url}/api/Auth/loginKey", json={"userName": "t", "apiKey": "k"})
        self.token: str = login.json()["token"]

    def call(self, path: str, body: dict[str, Any], timeout_s: float = 10.0) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.post(f"{self.url}/api/{path}", json=body, headers=headers, timeout=timeout_s)

    def contract(self) -> str:
        contracts = self.call("Contract/search", {"searchText": "MNQ", "live": False}).json()["contracts"]
        return str(next(c["id"] for c in contracts if c["activeContract"]))

    def place(self, tag: str, timeout_s: float = 10.0, **fields: Any) -> httpx.Response:
        body = {
            "accountId": AUTO_OCO_ACCOUNT_ID,
            "contractId": self.contract(),
            "type": 2,
            "side": 0,
            "size": 1,
        }
        return self.call("Order/place", {**body, "customTag": tag, **fields}, timeout_s)

    def orders(self) -> list[dict[str, Any]]:
        body = {"accountId": AUTO_OCO_ACCOUNT_ID, "startTimestamp": "2000-01-01T00:00:00Z"}
        return list(self.call("Order/search", body).json()["orders"])

    def tags(self) -> set[str]:
        return {order["customTag"] for order in self.orders() if order.get("customTag")}

    def trades(self) -> list[dict[str, Any]]:
        return list(self.call("Trade/search", {"accountId": AUTO_OCO_ACCOUNT_ID}).json()["trades"])

    def positions(self) -> list[dict[str, Any]]:
        return list(self.call("Position/searchOpen", {"accountId": AUTO_OCO_ACCOUNT_ID}).json()["positions"])

    def balance(self) -> str:
        accounts = self.call("Account/search", {"onlyActiveAccounts": True}).json()["accounts"]
        return str(next(a["balance"] for a in accounts if a["id"] == AUTO_OCO_ACCOUNT_ID))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``tvbridge sim --faults`` for the module (faults cleared before each test)."""
    workdir = tmp_path_factory.mktemp("faulty-sim")
    process, url = start_sim(workdir, "--faults", "--state", ":memory:", "--walk-interval", "0")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def sim(faulty: str) -> Client:
    assert httpx.delete(f"{faulty}/_faults").status_code == 200
    return Client(faulty)


def test_orders_positions_balances_and_ids_survive_kill_9(tmp_path: Path) -> None:
    process, url = start_sim(tmp_path, "--walk-interval", "0")
    before = Client(url)
    before.place("entry-1")
    limit = float(before.orders()[0]["filledPrice"]) - 50
    before.place("working-1", type=1, limitPrice=limit)
    placed = before.place("entry-2")
    assert placed.json()["success"] is True
    process.send_signal(signal.SIGKILL)  # right after the answer: the order must be on disk
    process.wait(timeout=10)

    restarted, url = start_sim(tmp_path, "--walk-interval", "0")
    try:
        after = Client(url)  # a new login: sessions are not kept
        assert after.tags() == {"entry-1", "working-1", "entry-2"}
        trades, positions, balance = after.trades(), after.positions(), after.balance()
        assert len(trades) == 2 and len({t["id"] for t in trades}) == 2
        [position] = positions
        assert position["size"] == 2 and position["type"] == 1
        assert balance != "50000"  # fees were paid
        [working] = [o for o in after.orders() if o["customTag"] == "working-1"]
        assert working["status"] == 1  # still working

        after.place("entry-3")  # ids go on from where they were: nothing collides

        orders = after.orders()
        assert len({o["id"] for o in orders}) == 4
        assert max(o["id"] for o in orders) == next(o["id"] for o in orders if o["customTag"] == "entry-3")
        new_trades = after.trades()
        assert len({t["id"] for t in new_trades}) == 3
        assert max(t["id"] for t in new_trades) > max(t["id"] for t in trades)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)

    fresh, url = start_sim(tmp_path, "--walk-interval", "0", "--fresh")
    try:
        assert Client(url).orders() == []  # --fresh: a new simulator
    finally:
        fresh.terminate()
        fresh.wait(timeout=10)


def test_a_second_simulator_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    process, _ = start_sim(tmp_path, "--walk-interval", "0")
    try:
        second = tvbridge("sim", "--port", "1", "--state", "tvbridge-sim.db", cwd=tmp_path)
        assert second.returncode == 2
        assert "tvbridge-sim.db" in second.stderr and "Traceback" not in second.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_without_faults_the_endpoint_is_404(tmp_path: Path) -> None:
    process, url = start_sim(tmp_path, "--state", ":memory:")
    try:
        assert httpx.get(f"{url}/_faults").status_code == 404
        assert httpx.post(f"{url}/_faults/rest", json={"kind": "error"}).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_faults_are_refused_on_a_non_loopback_host(tmp_path: Path) -> None:
    result = tvbridge("sim", "--host", "0.0.0.0", "--faults", cwd=tmp_path)  # noqa: S104 (refused)

    assert result.returncode == 2
    assert "loopback" in result.stderr and "Traceback" not in result.stderr


def test_performed_then_500_leaves_the_order_on_the_sim(sim: Client) -> None:
    armed = httpx.post(f"{sim.url}/_faults/rest", json={"kind": "error_after", "path": "Order/place"})
    assert armed.json()["rest"] == [{"kind": "error_after", "calls": 1, "path": "order/place"}]

    answer = sim.place("performed-500")

    assert answer.status_code == 500
    assert "performed-500" in sim.tags()
    assert httpx.get(f"{sim.url}/_faults").json()["rest"] == []  # one-shot


def test_held_never_performed_leaves_nothing(sim: Client) -> None:
    body = {"kind": "hold", "path": "Order/place", "timeout_s": 0.5}
    assert httpx.post(f"{sim.url}/_faults/rest", json=body).status_code == 200

    with pytest.raises(httpx.TimeoutException):
        sim.place("held", timeout_s=0.2)  # the caller gives up first, as the bridge would

    assert "held" not in sim.tags()
    assert sim.place("after-hold").json()["success"] is True  # only the next call was held


def test_every_rest_fault_kind_and_a_bad_one(sim: Client) -> None:
    for kind, status in (("error", 500), ("throttle", 429), ("unauthorized", 401)):
        httpx.post(f"{sim.url}/_faults/rest", json={"kind": kind, "path": "Order/place"})
        assert sim.place(f"{kind}-1").status_code == status
        assert f"{kind}-1" not in sim.tags()

    bad = httpx.post(f"{sim.url}/_faults/rest", json={"kind": "explode"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]


async def test_hub_drop_and_refuse(sim: Client) -> None:
    hub = sim.url.replace("http", "ws") + f"/hubs/user?access_token={sim.token}"
    async with connect(hub) as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        assert await socket.recv() == "{}" + RS

        shown = httpx.post(f"{sim.url}/_faults/hub", json={"drop": True}).json()

        with pytest.raises(ConnectionClosed):
            while True:
                await socket.recv()
    assert shown["hub"]["connections_made"] >= 1

    refusing = httpx.post(f"{sim.url}/_faults/hub", json={"refuse_s": 60}).json()
    assert refusing["hub"]["refusing"] is True
    with pytest.raises(InvalidStatus) as refused:
        async with connect(hub):
            pass
    assert refused.value.response.status_code == 503

    assert httpx.delete(f"{sim.url}/_faults").json()["hub"]["refusing"] is False
    async with connect(hub) as socket:  # clear lets it in again
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        assert await socket.recv() == "{}" + RS


async def test_hub_silence_and_price_control(sim: Client) -> None:
    shown = httpx.post(f"{sim.url}/_faults/hub", json={"silent": True, "duplicate": True}).json()
    assert shown["hub"]["silent"] is True and shown["hub"]["duplicate"] is True

    contract = sim.contract()
    placed = sim.place("limit-far", type=1, limitPrice=100)
    assert placed.json()["success"] is True
    moved = httpx.post(f"{sim.url}/_faults/price", json={"contractId": contract, "price": "99.75"})
    assert moved.status_code == 200

    async def filled() -> bool:
        [order] = [o for o in sim.orders() if o["customTag"] == "limit-far"]
        return bool(order["status"] == 2)

    await eventually(filled)
    httpx.post(f"{sim.url}/_faults/price", json={"contractId": contract, "price": "21500"})
    assert httpx.post(f"{sim.url}/_faults/hub", json={"nonsense": 1}).status_code == 400
