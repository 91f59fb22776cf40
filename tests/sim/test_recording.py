"""The request log and the event listeners (app/sim/state.py, exchange.py; §7.3 payloads)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from app.sim.state import REQUEST_LOG_LIMIT
from tests.sim.conftest import MNQ, START, Api


async def test_every_request_is_recorded_with_its_body_and_headers(api: Api, state: SimState) -> None:
    await api.place(type=1, limitPrice=21490.25, customTag="rec-1", isAutomated=True)
    await api.call("Order/place", {"accountId": "bad"})
    await api.client.get("/api/Status/ping")

    [first, second] = state.requests_to("order/PLACE")
    assert first.method == "POST"
    assert first.path == "/api/Order/place"
    assert first.json_body["customTag"] == "rec-1"
    assert first.json_body["isAutomated"] is True
    assert first.json_body["limitPrice"] == Decimal("21490.25")  # exact, not a float
    assert first.headers["authorization"] == f"Bearer {api.token}"
    assert first.at == START
    assert second.json_body == {"accountId": "bad"}
    assert [r.path for r in state.requests_to("Status/ping")] == ["/api/Status/ping"]
    assert [r.path for r in state.requests][0] == "/api/Auth/loginKey"


def test_the_log_keeps_only_the_newest_requests(state: SimState) -> None:
    for n in range(REQUEST_LOG_LIMIT + 5):
        state.record("POST", "/api/Order/place", {"n": n}, {})

    assert len(state.requests) == REQUEST_LOG_LIMIT
    assert state.requests[0].json_body == {"n": 5}


async def test_listeners_get_hub_shaped_events_for_a_bracket_fill_and_a_close(
    api: Api, state: SimState
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    state.add_listener(lambda name, payload: events.append((name, payload)))

    await api.place(
        customTag="ev",
        stopLossBracket={"ticks": -8, "type": 4},
        takeProfitBracket={"ticks": 8, "type": 1},
    )

    orders = [(p["data"]["customTag"], p["data"]["status"]) for n, p in events if n == "GatewayUserOrder"]
    assert orders == [("ev-SL", 8), ("ev", 6), ("ev-TP", 8), ("ev", 2), ("ev-SL", 1), ("ev-TP", 1)]
    names = [name for name, _ in events]
    assert names.index("GatewayUserTrade") < names.index("GatewayUserPosition")
    assert {name for name in names} == {
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserAccount",
    }
    for name, payload in events:
        assert set(payload) == {"action", "data"}
        assert None not in payload["data"].values(), (name, payload)  # nulls omitted (§7.3)
    trade = next(p for n, p in events if n == "GatewayUserTrade")
    assert trade["action"] == 0
    assert "profitAndLoss" not in trade["data"]  # an opening fill
    position = next(p for n, p in events if n == "GatewayUserPosition")
    assert position["action"] == 1
    assert (position["data"]["type"], position["data"]["size"]) == (1, 1)
    account = next(p for n, p in events if n == "GatewayUserAccount")
    assert account == {
        "action": 1,
        "data": {
            "id": AUTO_OCO_ACCOUNT_ID,
            "name": "SIM-AUTO-OCO",
            "balance": Decimal("49999.63"),
            "canTrade": True,
            "isVisible": True,
            "simulated": True,
        },
    }

    events.clear()
    await api.ok("Position/closeContract", {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ})

    closed = next(p for n, p in events if n == "GatewayUserPosition")
    assert closed["action"] == 2
    assert (closed["data"]["type"], closed["data"]["size"]) == (0, 0)  # §7.3: closed = 0/0


async def test_a_failing_listener_does_not_break_the_fill(api: Api, state: SimState) -> None:
    def broken(name: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    seen: list[str] = []
    state.add_listener(broken)
    state.add_listener(lambda name, payload: seen.append(name))

    assert (await api.place())["success"] is True

    assert len(await api.positions()) == 1
    assert "GatewayUserTrade" in seen
    state.remove_listener(broken)
