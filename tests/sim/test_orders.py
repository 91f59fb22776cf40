"""Order/place, cancel, modify, search: validation codes and fills (projectx-api.md §4.6–§4.8, §6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from tests.sim.conftest import MNQ, MNQ_START, START, Api, ManualClock


async def test_market_order_fills_at_once_at_the_current_price(api: Api) -> None:
    placed = await api.place(customTag="mkt-1")

    assert placed["success"] is True
    [order] = await api.orders()
    assert order["id"] == placed["orderId"]
    assert (order["status"], order["fillVolume"], order["filledPrice"]) == (2, 1, 21500)
    assert await api.open_orders() == []


async def test_buy_limit_rests_until_the_price_trades_through_then_fills_at_the_limit(
    api: Api, state: SimState
) -> None:
    placed = await api.place(type=1, limitPrice=21490.25, customTag="lim-1")
    [working] = await api.open_orders()
    assert working["id"] == placed["orderId"]
    assert (working["status"], working["limitPrice"]) == (1, 21490.25)

    state.set_price(MNQ, Decimal("21490.50"))
    assert len(await api.open_orders()) == 1

    state.set_price(MNQ, Decimal("21489.00"))

    assert await api.open_orders() == []
    [order] = await api.orders()
    assert (order["status"], order["filledPrice"]) == (2, 21490.25)


async def test_sell_limit_and_sell_stop_fill_on_their_own_side(api: Api, state: SimState) -> None:
    await api.place(type=1, side=1, limitPrice=21510)
    await api.place(type=4, side=1, stopPrice=21480)

    state.set_price(MNQ, Decimal("21510.00"))
    state.set_price(MNQ, Decimal("21479.50"))

    filled = {order["type"]: order["filledPrice"] for order in await api.orders()}
    assert filled == {1: 21510, 4: 21479.5}  # the stop fills at the market price


async def test_buy_stop_fills_when_the_price_reaches_it(api: Api, state: SimState) -> None:
    await api.place(type=4, stopPrice=21505)

    state.set_price(MNQ, Decimal("21504.75"))
    assert len(await api.open_orders()) == 1
    state.set_price(MNQ, Decimal("21506.00"))

    [order] = await api.orders()
    assert (order["status"], order["filledPrice"]) == (2, 21506)


async def test_invalid_orders_are_rejected_with_code_2_and_the_gateway_message(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"type": 6},
            "Invalid order type specified",
        ),  # JoinBid: not simulated (type 5 is, test_trailing_stop.py)
        ({"type": 3, "limitPrice": 21490, "stopPrice": 21490}, "Invalid order type specified"),
        ({"size": 0}, "Invalid order size specified"),
        ({"type": 1, "limitPrice": 21490.1}, "Invalid price. Price is not aligned to tick size."),
        ({"type": 4, "stopPrice": "21490.30"}, "Invalid price. Price is not aligned to tick size."),
    ]
    for fields, message in cases:
        envelope = await api.place(**fields)
        assert envelope == {
            "orderId": None,
            "success": False,
            "errorCode": 2,
            "errorMessage": message,
        }, fields
    missing_price = await api.place(type=1)
    assert missing_price["errorCode"] == 2
    assert "limitPrice" in missing_price["errorMessage"]
    assert await api.orders() == []


async def test_unknown_account_unknown_contract_and_inactive_contract_codes(api: Api) -> None:
    assert (await api.place(accountId=12345))["errorCode"] == 1
    assert (await api.place(contractId="CON.F.US.XYZ.Z25"))["errorCode"] == 8
    inactive = await api.place(contractId="CON.F.US.MNQ.H26")
    assert inactive["errorCode"] == 9
    assert "CON.F.US.MNQ.H26" in inactive["errorMessage"]


async def test_custom_tag_must_be_unique_per_account(api: Api) -> None:
    assert (await api.place(customTag="once"))["success"] is True

    again = await api.place(customTag="once")

    assert (again["success"], again["errorCode"], again["orderId"]) == (False, 2, None)
    assert again["errorMessage"].startswith("Custom tag already in use.")
    other_account = await api.place(accountId=70000002, customTag="once")
    assert other_account["success"] is True


async def test_cancel_a_working_order_and_codes_for_unknown_or_finished_ones(api: Api) -> None:
    working = (await api.place(type=1, limitPrice=21400))["orderId"]
    filled = (await api.place())["orderId"]

    cancelled = await api.ok("Order/cancel", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": working})

    assert cancelled == {"success": True, "errorCode": 0, "errorMessage": None}
    status = {order["id"]: order["status"] for order in await api.orders()}
    assert status[working] == 3
    unknown = await api.result("Order/cancel", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": 9})
    assert (unknown["success"], unknown["errorCode"]) == (False, 2)
    wrong_account = await api.result("Order/cancel", {"accountId": 70000002, "orderId": working})
    assert wrong_account["errorCode"] == 2
    done = await api.result("Order/cancel", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": filled})
    assert done["errorCode"] == 3


async def test_modify_changes_only_the_fields_given_and_can_make_an_order_fill(
    api: Api, state: SimState
) -> None:
    order_id = (await api.place(type=1, limitPrice=21400, size=2))["orderId"]

    await api.ok("Order/modify", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id, "size": 3})
    [order] = await api.open_orders()
    assert (order["size"], order["limitPrice"]) == (3, 21400)

    await api.ok(
        "Order/modify",
        {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id, "limitPrice": 21500.25},
    )
    [order] = await api.orders()
    assert (order["status"], order["filledPrice"], order["size"]) == (2, 21500.25, 3)


async def test_modify_rejections(api: Api) -> None:
    order_id = (await api.place(type=1, limitPrice=21400))["orderId"]
    base = {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": order_id}

    assert (await api.result("Order/modify", {**base, "orderId": 1}))["errorCode"] == 2
    assert (await api.result("Order/modify", {**base, "accountId": 1}))["errorCode"] == 1
    for change in ({"stopPrice": 21400}, {"limitPrice": 21400.1}, {"size": 0}):
        envelope = await api.result("Order/modify", {**base, **change})
        assert (envelope["success"], envelope["errorCode"]) == (False, 3), change


async def test_order_search_window_is_on_creation_time(api: Api, clock: ManualClock) -> None:
    first = (await api.place(type=1, limitPrice=21400))["orderId"]
    clock.advance(60)
    second = (await api.place(type=1, limitPrice=21400))["orderId"]

    def window(start: timedelta, end: timedelta | None = None) -> dict[str, object]:
        body: dict[str, object] = {
            "accountId": AUTO_OCO_ACCOUNT_ID,
            "startTimestamp": (START + start).isoformat(),
        }
        if end is not None:
            body["endTimestamp"] = (START + end).isoformat()
        return body

    everything = (await api.ok("Order/search", window(timedelta(0))))["orders"]
    later = (await api.ok("Order/search", window(timedelta(seconds=30))))["orders"]
    earlier = (await api.ok("Order/search", window(timedelta(0), timedelta(seconds=30))))["orders"]
    assert [o["id"] for o in everything] == [first, second]
    assert [o["id"] for o in later] == [second]
    assert [o["id"] for o in earlier] == [first]


async def test_order_ids_are_int64_scale_and_increase(api: Api) -> None:
    ids = [(await api.place())["orderId"] for _ in range(3)]

    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert all(order_id > 2**31 for order_id in ids)


def test_set_price_refuses_an_off_grid_price(state: SimState) -> None:
    with pytest.raises(ValueError, match="0.25"):
        state.set_price(MNQ, MNQ_START + Decimal("0.1"))
