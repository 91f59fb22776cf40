"""Routing, binding and the envelope; accounts and contracts (projectx-api.md §1.2–§1.3, §4.1–§4.4)."""

from __future__ import annotations

import re

import httpx

from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID
from tests.sim.conftest import MNQ, Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6,7}\+00:00$")


async def test_routes_and_field_names_are_case_insensitive_and_unknown_fields_ignored(
    api: Api,
) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    body = {
        "ACCOUNTID": AUTO_OCO_ACCOUNT_ID,
        "contractid": MNQ,
        "Type": 2,
        "side": 0,
        "Size": 1,
        "isAutomated": True,
        "linkedOrderId": None,
    }

    response = await api.client.post("/API/order/PLACE", json=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["success"] is True
    search = {"accountid": AUTO_OCO_ACCOUNT_ID, "startTimeStamp": "2025-01-01T00:00:00Z"}
    orders = (await api.ok("order/search", search))["orders"]
    assert [order["id"] for order in orders] == [response.json()["orderId"]]


async def test_missing_required_fields_are_400_naming_each(api: Api) -> None:
    response = await api.call("Order/place", {"contractId": MNQ, "type": 2, "side": 0})

    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400
    assert problem["title"]
    assert set(problem["errors"]) == {"accountId", "size"}


async def test_a_wrongly_typed_field_is_400_naming_it(api: Api) -> None:
    response = await api.call("Order/searchOpen", {"accountId": "seventy"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["accountId"]


async def test_a_bracket_without_ticks_is_400_naming_the_nested_field(api: Api) -> None:
    response = await api.call(
        "Order/place",
        {
            "accountId": AUTO_OCO_ACCOUNT_ID,
            "contractId": MNQ,
            "type": 2,
            "side": 0,
            "size": 1,
            "stopLossBracket": {"type": 4},
        },
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["stopLossBracket.ticks"]


async def test_unknown_route_is_404_and_wrong_method_405(api: Api, client: httpx.AsyncClient) -> None:
    assert (await api.call("Order/teleport", {})).status_code == 404
    assert (await client.post("/api/Status/ping")).status_code == 405
    get = await client.get("/api/Order/search", headers={"Authorization": f"Bearer {api.token}"})
    assert get.status_code == 405


async def test_account_search_lists_the_two_practice_accounts(api: Api) -> None:
    body = await api.ok("Account/search", {"onlyActiveAccounts": True})

    assert list(body) == ["accounts", "success", "errorCode", "errorMessage"]
    assert body["accounts"] == [
        {
            "id": AUTO_OCO_ACCOUNT_ID,
            "name": "SIM-AUTO-OCO",
            "balance": 50000,
            "canTrade": True,
            "isVisible": True,
            "simulated": True,
        },
        {
            "id": POSITION_BRACKETS_ACCOUNT_ID,
            "name": "SIM-POSITION-BRACKETS",
            "balance": 50000,
            "canTrade": True,
            "isVisible": True,
            "simulated": True,
        },
    ]


async def test_available_lists_front_month_active_and_next_quarter_inactive(api: Api) -> None:
    contracts = (await api.ok("Contract/available", {"live": False}))["contracts"]

    mnq = [c for c in contracts if c["symbolId"] == "F.US.MNQ"]
    assert mnq == [
        {
            "id": "CON.F.US.MNQ.Z25",
            "name": "MNQZ5",
            "description": "Micro E-mini Nasdaq-100: December 2025",
            "tickSize": 0.25,
            "tickValue": 0.5,
            "activeContract": True,
            "symbolId": "F.US.MNQ",
        },
        {
            "id": "CON.F.US.MNQ.H26",
            "name": "MNQH6",
            "description": "Micro E-mini Nasdaq-100: March 2026",
            "tickSize": 0.25,
            "tickValue": 0.5,
            "activeContract": False,
            "symbolId": "F.US.MNQ",
        },
    ]
    active = {c["id"] for c in contracts if c["activeContract"]}
    assert {"CON.F.US.EP.Z25", "CON.F.US.ENQ.Z25", "CON.F.US.CLE.Z25", "CON.F.US.GMET.Z25"} <= active
    assert len(active) == 12


async def test_contract_search_matches_text_case_insensitively_up_to_20(api: Api) -> None:
    found = (await api.ok("Contract/search", {"live": False, "searchText": "nasdaq"}))["contracts"]
    assert {c["symbolId"] for c in found} == {"F.US.ENQ", "F.US.MNQ"}

    # One active month per product, like the gateway (§13 note 4): 6 micro products, 12 in all.
    micro = (await api.ok("Contract/search", {"live": False, "searchText": "micro"}))["contracts"]
    assert len(micro) == 6 and all(c["activeContract"] for c in micro)
    everything = (await api.ok("Contract/search", {"live": False, "searchText": ""}))["contracts"]
    assert len(everything) == 12
    fuzzy = (await api.ok("Contract/search", {"live": False, "searchText": "ES"}))["contracts"]
    # "Dow Jones" matches too: the first hit is not the product asked for
    assert {c["id"] for c in fuzzy} == {
        "CON.F.US.EP.Z25",
        "CON.F.US.MES.Z25",
        "CON.F.US.YM.Z25",
        "CON.F.US.MYM.Z25",
    }


async def test_search_by_id_returns_a_singular_contract_and_resolves_expired_ids(
    api: Api,
) -> None:
    body = await api.ok("Contract/searchById", {"contractId": "CON.F.US.EP.Z25"})
    assert list(body) == ["contract", "success", "errorCode", "errorMessage"]
    assert body["contract"]["name"] == "ESZ5"
    assert body["contract"]["tickValue"] == 12.5

    expired = await api.ok("Contract/searchById", {"contractId": "CON.F.US.MNQ.U25"})
    assert expired["contract"]["activeContract"] is False
    assert expired["contract"]["description"] == "Micro E-mini Nasdaq-100: September 2025"

    unknown = await api.result("Contract/searchById", {"contractId": "CON.F.US.NOPE.Z25"})
    assert unknown["success"] is False
    assert unknown["errorCode"] == 1
    assert unknown["contract"] is None


async def test_order_rows_carry_every_documented_field(api: Api) -> None:
    await api.place(customTag="shape-1")

    [order] = await api.orders()

    assert list(order) == [
        "id", "accountId", "contractId", "symbolId", "creationTimestamp", "updateTimestamp",
        "status", "type", "side", "size", "limitPrice", "stopPrice", "fillVolume",
        "filledPrice", "customTag",
    ]  # fmt: skip
    assert order["id"] > 3_000_000_000
    assert TIMESTAMP.match(order["creationTimestamp"])
    assert order["limitPrice"] is None and order["stopPrice"] is None
    assert order["symbolId"] == "F.US.MNQ"


async def test_searches_on_an_unknown_account_fail_with_code_1(api: Api) -> None:
    for path, body in (
        ("Order/searchOpen", {"accountId": 1}),
        ("Order/search", {"accountId": 1, "startTimestamp": "2025-01-01T00:00:00Z"}),
        ("Position/searchOpen", {"accountId": 1}),
        ("Trade/search", {"accountId": 1}),
    ):
        envelope = await api.result(path, body)
        assert (envelope["success"], envelope["errorCode"]) == (False, 1), path
