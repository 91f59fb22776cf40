"""Fault injection and the 200/60 s rate limit (projectx-api.md §3; app/sim/faults.py)."""

from __future__ import annotations

import asyncio

import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
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
