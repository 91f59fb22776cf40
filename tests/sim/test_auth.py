"""Auth/loginKey, validate, logout and the bearer check (projectx-api.md §1.3, §2)."""

from __future__ import annotations

import httpx

from app.sim import SimState, read_claims
from tests.sim.conftest import START, Api, ManualClock


async def test_login_returns_a_jwt_whose_exp_is_24_hours_away(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/Auth/loginKey", json={"userName": "trader", "apiKey": "k"})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["token", "success", "errorCode", "errorMessage"]
    assert body["success"] is True and body["errorCode"] == 0 and body["errorMessage"] is None
    claims = read_claims(body["token"])
    assert claims["exp"] == int(START.timestamp()) + 24 * 3600


async def test_each_login_gets_a_distinct_token(client: httpx.AsyncClient) -> None:
    tokens = set()
    for _ in range(2):
        response = await client.post("/api/Auth/loginKey", json={"userName": "t", "apiKey": "k"})
        tokens.add(response.json()["token"])
    assert len(tokens) == 2


async def test_bad_api_key_fails_with_invalid_credentials_and_no_token(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.bad_api_key = "revoked"
    body = {"userName": "trader", "apiKey": "revoked"}

    response = await client.post("/api/Auth/loginKey", json=body)

    assert response.status_code == 200
    assert response.json() == {
        "token": None,
        "success": False,
        "errorCode": 3,
        "errorMessage": None,
    }


async def test_login_without_api_key_is_http_400_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/Auth/loginKey", json={"userName": "trader"})

    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400
    assert list(problem["errors"]) == ["apiKey"]


async def test_calls_without_or_with_a_foreign_token_are_bare_401(
    client: httpx.AsyncClient, api: Api
) -> None:
    body = {"onlyActiveAccounts": True}
    missing = await client.post("/api/Account/search", json=body)
    foreign = await client.post(
        "/api/Account/search", json=body, headers={"Authorization": "Bearer not.a.token"}
    )
    basic = await client.post(
        "/api/Account/search", json=body, headers={"Authorization": f"Basic {api.token}"}
    )

    for response in (missing, foreign, basic):
        assert response.status_code == 401
        assert response.content == b""


async def test_token_stops_working_when_it_expires(api: Api, clock: ManualClock) -> None:
    clock.advance(24 * 3600 - 1)
    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 200

    clock.advance(1)

    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 401


async def test_validate_returns_a_new_token_and_keeps_the_old_one(api: Api, clock: ManualClock) -> None:
    clock.advance(3600)

    body = await api.ok("Auth/validate")

    assert list(body) == ["newToken", "success", "errorCode", "errorMessage"]
    new_token = body["newToken"]
    assert new_token != api.token
    assert read_claims(new_token)["exp"] == int(START.timestamp()) + 25 * 3600
    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 200
    clock.advance(23 * 3600 + 1)  # the old token has expired, the new one has not
    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 401
    api.token = new_token
    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 200


async def test_logout_revokes_the_token(api: Api) -> None:
    assert await api.ok("Auth/logout") == {"success": True, "errorCode": 0, "errorMessage": None}

    assert (await api.call("Account/search", {"onlyActiveAccounts": True})).status_code == 401


async def test_ping_answers_pong_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/Status/ping")

    assert response.status_code == 200
    assert response.json() == "pong"
