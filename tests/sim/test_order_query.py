"""Order/v2/query: the one search that lists suspended bracket children (projectx-api.md §4.8)."""

from __future__ import annotations

from app.sim import AUTO_OCO_ACCOUNT_ID
from tests.sim.conftest import MNQ, Api


async def test_v2_query_lists_suspended_bracket_children_that_order_search_hides(api: Api) -> None:
    entry = {
        "accountId": AUTO_OCO_ACCOUNT_ID,
        "contractId": MNQ,
        "type": 1,  # a limit far below the market: it stays Open, its children Suspended
        "side": 0,
        "size": 1,
        "limitPrice": 1000,
        "customTag": "q-1",
        "stopLossBracket": {"ticks": -40, "type": 4},
        "takeProfitBracket": {"ticks": 80, "type": 1},
    }
    entry_id = (await api.ok("Order/place", entry))["orderId"]
    search = {"accountId": AUTO_OCO_ACCOUNT_ID, "startTimestamp": "2025-01-01T00:00:00Z"}
    assert [o["id"] for o in (await api.ok("Order/search", search))["orders"]] == [entry_id]

    query = {"filter": {"accountId": AUTO_OCO_ACCOUNT_ID, "statuses": [8]}, "pageSize": 100, "pageOffset": 0}
    children = (await api.ok("Order/v2/query", query))["orders"]

    assert sorted(o["customTag"] for o in children) == ["q-1-SL", "q-1-TP"]
    assert {(o["status"], o["parentOrderId"]) for o in children} == {(8, entry_id)}
    every = {"filter": {"accountId": AUTO_OCO_ACCOUNT_ID}, "pageSize": 2, "pageOffset": 1}
    assert len((await api.ok("Order/v2/query", every))["orders"]) == 2  # rows 2 and 3 of 3
    missing = await api.call("Order/v2/query", {"pageSize": 10})
    assert missing.status_code == 400
