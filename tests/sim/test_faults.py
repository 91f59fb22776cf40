"""Fault injection and the 200/60 s rate limit (projectx-api.md §3; app/sim/faults.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState, create_sim_app
from app.sim.faults import FaultKind
from tests.sim.conftest import Api, ManualClock

ACCOUNTS = {"onlyActiveAccounts": True}


async def test_fail_next_answers_500_without_placing(api: Api, state: SimState) -> None:
    state.faults.fail_next()

    response = await api.call(
        "Order/place",
        {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": "CON.F.US.MNQ.Z25", "type": 2, "side": 0, "size": 1},
    )

    assert response.status_code == 500
    assert await api.orders() == []
    assert (await api.place())["success"] is True  # one call only


async def test_faults_can_be_restricted_to_one_route(api: Api, state: SimState) -> None:
    state.faults.throttle_next(2, path="Order/place")

    assert (await api.call("Account/search", ACCOUNTS)).status_code == 200
    first = await api.call("order/PLACE", {"accountId": AUTO_OCO_ACCOUNT_ID})
    second = await api.call("Order/place", {"accountId": AUTO_OCO_ACCOUNT_ID})
    third = await api.place()

    assert (first.status_code, second.status_code) == (429, 429)
    assert first.content == b""
    assert third["success"] is True


async def test_unauthorize_next_answers_401_to_a_valid_token(api: Api, state: SimState) -> None:
    state.faults.unauthorize_next()

    assert (await api.call("Account/search", ACCOUNTS)).status_code == 401
    assert (await api.call("Account/search", ACCOUNTS)).status_code == 200


async def test_timeout_places_the_order_then_holds_the_answer(api: Api, state: SimState) -> None:
    state.faults.timeout_next(path="Order/place")  # holds for faults.timeout_s = 30 s

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(api.place(customTag="ghost"), timeout=0.2)

    [order] = await api.orders()  # the client gave up, but the order exists: UNKNOWN outcome
    assert (order["customTag"], order["status"]) == ("ghost", 2)


async def test_timeout_answers_after_the_configured_delay(api: Api, state: SimState) -> None:
    state.faults.timeout_s = 0.01
    state.faults.timeout_next()

    assert (await api.place())["success"] is True


async def test_more_than_the_limit_in_the_window_is_429_per_token(
    api: Api, state: SimState, clock: ManualClock
) -> None:
    state.rate_limit.limit = 3
    for _ in range(3):
        assert (await api.call("Account/search", ACCOUNTS)).status_code == 200

    assert (await api.call("Account/search", ACCOUNTS)).status_code == 429

    other = await api.client.post("/api/Auth/loginKey", json={"userName": "u2", "apiKey": "k"})
    assert other.status_code == 200  # a login is not counted against this token
    clock.advance(60)
    assert (await api.call("Account/search", ACCOUNTS)).status_code == 200


def test_the_default_limit_is_200_in_a_sliding_60_seconds(state: SimState) -> None:
    limit = state.rate_limit
    assert all(limit.allow("t", 1000.0 + i * 0.1) for i in range(200))
    assert not limit.allow("t", 1030.0)
    assert limit.allow("t", 1060.05)  # the first request left the window
    assert limit.allow("other", 1030.0)


async def _stop_order(api: Api) -> int:
    """A working sell stop of 3 MNQ contracts; its order id."""
    placed = await api.place(type=4, side=1, size=3, stopPrice=21400)
    assert placed["success"] is True, placed
    return int(placed["orderId"])


async def test_reject_next_refuses_a_modify_as_the_gateway_does_and_changes_nothing(
    api: Api, state: SimState
) -> None:
    order_id = await _stop_order(api)
    state.faults.reject_next(path="Order/modify")
    modify = {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id, "size": 2, "stopPrice": 21410}

    refused = await api.call("Order/modify", modify)

    assert refused.status_code == 200  # a business refusal, not a transport error (§1.3)
    assert refused.json() == {"success": False, "errorCode": 3, "errorMessage": None}  # 3 Rejected
    [order] = await api.open_orders()
    assert (order["size"], order["stopPrice"]) == (3, 21400)  # not performed
    assert (await api.result("Order/modify", modify))["success"] is True  # one call only
    [order] = await api.open_orders()
    assert (order["size"], order["stopPrice"]) == (2, 21410)


async def test_reject_next_takes_a_code_and_message_and_each_route_its_own_refusal(
    api: Api, state: SimState
) -> None:
    order_id = await _stop_order(api)
    state.faults.reject_next(
        path="Order/modify", code=3, message="Invalid price. Price is not aligned to tick size."
    )
    state.faults.reject_next(path="Order/place")  # Order/place's own refusal: OrderRejected (2)
    state.faults.reject_next(path="Order/cancel", code=2, message=f"Order {order_id} was not found.")

    modify = await api.result("Order/modify", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id})
    place = await api.place()
    cancel = await api.result("Order/cancel", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id})

    assert (modify["errorCode"], modify["errorMessage"]) == (
        3,
        "Invalid price. Price is not aligned to tick size.",
    )
    assert (place["success"], place["errorCode"], place["orderId"]) == (False, 2, None)
    assert (cancel["errorCode"], cancel["errorMessage"]) == (2, f"Order {order_id} was not found.")
    assert [o["id"] for o in await api.open_orders()] == [order_id]  # nothing placed, nothing cancelled
    assert state.faults.armed() == []


def test_only_a_reject_fault_has_a_code(state: SimState) -> None:
    with pytest.raises(ValueError, match="code"):
        state.faults.arm(FaultKind.ERROR, code=3)
    with pytest.raises(ValueError, match="0 is Success"):
        state.faults.reject_next(code=0)
    state.faults.reject_next(2, "Order/modify", code=2, message="gone")
    assert state.faults.armed() == [
        {"kind": "reject", "calls": 2, "path": "order/modify", "code": 2, "message": "gone"}
    ]


async def test_the_control_route_arms_a_refusal(state: SimState) -> None:
    transport = httpx.ASGITransport(app=create_sim_app(state, fault_control=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as http:
        body = {"kind": "reject", "path": "Order/modify", "code": 2, "message": "Order not found"}
        shown = (await http.post("/_faults/rest", json=body)).json()
        bad = await http.post("/_faults/rest", json={"kind": "reject", "code": "three"})

    assert shown["rest"] == [
        {"kind": "reject", "calls": 1, "path": "order/modify", "code": 2, "message": "Order not found"}
    ]
    assert bad.status_code == 400 and "code" in bad.json()["error"]
    assert state.faults.take("Order/modify") is FaultKind.REJECT
