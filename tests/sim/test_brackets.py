"""Native brackets and the bracket-mode precondition (projectx-api.md §6.4, §8.3–§8.5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID, BracketMode, SimState
from tests.sim.conftest import MNQ, Api

STOP_LOSS = {"ticks": -20, "type": 4}  # buy: 20 ticks = 5 points below the fill
TAKE_PROFIT = {"ticks": 40, "type": 1}  # buy: 40 ticks = 10 points above the fill


def by_tag(orders: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {order["customTag"]: order for order in orders}


async def test_a_limit_entry_with_brackets_creates_three_orders_children_hidden_until_fill(
    api: Api, state: SimState
) -> None:
    placed = await api.place(
        type=1,
        limitPrice=21490,
        customTag="b1",
        stopLossBracket=STOP_LOSS,
        takeProfitBracket=TAKE_PROFIT,
    )
    entry_id = placed["orderId"]
    assert placed["success"] is True

    # Suspended children (status 8) are invisible to both searches (§4.8).
    assert [o["id"] for o in await api.orders()] == [entry_id]
    assert [o["id"] for o in await api.open_orders()] == [entry_id]
    stop_loss, take_profit = state.orders[entry_id + 1], state.orders[entry_id + 2]
    assert (stop_loss.status, take_profit.status) == (8, 8)
    assert stop_loss.stop_price is None and take_profit.limit_price is None

    state.set_price(MNQ, Decimal("21489.75"))

    orders = by_tag(await api.orders())
    assert set(orders) == {"b1", "b1-SL", "b1-TP"}
    entry, sl, tp = orders["b1"], orders["b1-SL"], orders["b1-TP"]
    assert (entry["status"], entry["filledPrice"]) == (2, 21490)
    assert (sl["id"], tp["id"]) == (entry_id + 1, entry_id + 2)
    assert sl["creationTimestamp"] == entry["creationTimestamp"] == tp["creationTimestamp"]
    assert (sl["status"], sl["type"], sl["side"], sl["size"]) == (1, 4, 1, 1)
    assert (sl["stopPrice"], sl["limitPrice"]) == (21485, None)
    assert (tp["status"], tp["type"], tp["side"], tp["limitPrice"]) == (1, 1, 1, 21500)
    assert sl["parentOrderId"] == tp["parentOrderId"] == entry_id
    assert tp["linkedOrderId"] == sl["id"]
    assert "linkedOrderId" not in sl and "parentOrderId" not in entry
    assert {o["id"] for o in await api.open_orders()} == {sl["id"], tp["id"]}


async def test_take_profit_fill_cancels_the_stop_loss_and_flattens(api: Api, state: SimState) -> None:
    await api.place(customTag="b2", size=2, stopLossBracket=STOP_LOSS, takeProfitBracket=TAKE_PROFIT)
    assert by_tag(await api.open_orders())["b2-TP"]["size"] == 2

    state.set_price(MNQ, Decimal("21510.00"))

    orders = by_tag(await api.orders())
    assert (orders["b2-TP"]["status"], orders["b2-TP"]["filledPrice"]) == (2, 21510)
    assert orders["b2-SL"]["status"] == 3
    assert await api.positions() == []
    assert await api.open_orders() == []


async def test_stop_loss_fill_cancels_the_take_profit_on_a_short(api: Api, state: SimState) -> None:
    await api.place(
        side=1,
        customTag="s1",
        stopLossBracket={"ticks": 8, "type": 4},
        takeProfitBracket={"ticks": -16, "type": 1},
    )
    open_legs = by_tag(await api.open_orders())
    assert open_legs["s1-SL"]["stopPrice"] == 21502  # sell: stop above the fill
    assert open_legs["s1-TP"]["limitPrice"] == 21496  # sell: target below the fill
    assert open_legs["s1-SL"]["side"] == 0

    state.set_price(MNQ, Decimal("21502.50"))

    orders = by_tag(await api.orders())
    assert (orders["s1-SL"]["status"], orders["s1-SL"]["filledPrice"]) == (2, 21502.5)
    assert orders["s1-TP"]["status"] == 3


async def test_children_of_an_untagged_entry_have_no_tag(api: Api) -> None:
    entry_id = (await api.place(stopLossBracket=STOP_LOSS, takeProfitBracket=TAKE_PROFIT))["orderId"]

    legs = await api.open_orders()

    assert {leg["parentOrderId"] for leg in legs} == {entry_id}
    assert [leg["customTag"] for leg in legs] == [None, None]


async def test_cancelling_the_entry_cancels_its_suspended_children(api: Api, state: SimState) -> None:
    entry_id = (
        await api.place(type=1, limitPrice=21400, stopLossBracket=STOP_LOSS, takeProfitBracket=TAKE_PROFIT)
    )["orderId"]

    await api.ok("Order/cancel", {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": entry_id})

    assert [state.orders[entry_id + n].status for n in range(3)] == [3, 3, 3]
    state.set_price(MNQ, Decimal("21300.00"))
    assert await api.positions() == []


async def test_position_brackets_account_rejects_brackets_but_still_creates_the_order(
    api: Api,
) -> None:
    placed = await api.place(
        accountId=POSITION_BRACKETS_ACCOUNT_ID,
        customTag="pb-1",
        stopLossBracket=STOP_LOSS,
        takeProfitBracket=TAKE_PROFIT,
    )

    assert placed["success"] is False
    assert placed["errorCode"] == 2
    assert placed["errorMessage"] == (
        "Brackets cannot be used with Position Brackets. You must enable Auto OCO Brackets."
    )
    [order] = await api.orders(POSITION_BRACKETS_ACCOUNT_ID)
    assert order["id"] == placed["orderId"]
    assert (order["customTag"], order["status"]) == ("pb-1", 5)
    assert await api.positions(POSITION_BRACKETS_ACCOUNT_ID) == []


async def test_switching_the_account_to_auto_oco_accepts_brackets(api: Api, state: SimState) -> None:
    state.accounts[POSITION_BRACKETS_ACCOUNT_ID].bracket_mode = BracketMode.AUTO_OCO

    placed = await api.place(accountId=POSITION_BRACKETS_ACCOUNT_ID, stopLossBracket=STOP_LOSS)

    assert placed["success"] is True
    assert len(await api.open_orders(POSITION_BRACKETS_ACCOUNT_ID)) == 1


async def test_bracket_ticks_are_signed_for_buys(api: Api) -> None:
    wrong_tp = await api.place(takeProfitBracket={"ticks": -30, "type": 1})
    wrong_sl = await api.place(stopLossBracket={"ticks": 50, "type": 4})
    too_close = await api.place(stopLossBracket={"ticks": -3, "type": 4})

    assert wrong_tp["errorMessage"] == (
        "Invalid take profit ticks (-30). Ticks should be greater than zero when going long"
    )
    assert wrong_sl["errorMessage"] == (
        "Invalid stop loss ticks (50). Stop loss tick value should be at least 4 ticks."
    )
    assert too_close["errorMessage"] == (
        "Invalid stop loss ticks (-3). Stop loss tick value should be at least 4 ticks."
    )
    for envelope in (wrong_tp, wrong_sl, too_close):
        assert (envelope["success"], envelope["errorCode"], envelope["orderId"]) == (False, 2, None)
    assert await api.orders() == []


async def test_bracket_ticks_are_signed_for_sells(api: Api) -> None:
    wrong_tp = await api.place(side=1, takeProfitBracket={"ticks": 30, "type": 1})
    wrong_sl = await api.place(side=1, stopLossBracket={"ticks": -50, "type": 4})
    fine = await api.place(
        side=1, stopLossBracket={"ticks": 4, "type": 4}, takeProfitBracket={"ticks": -1, "type": 1}
    )

    assert wrong_tp["errorMessage"] == (
        "Invalid take profit ticks (30). Ticks should be less than zero when going short"
    )
    assert wrong_sl["errorMessage"] == (
        "Invalid stop loss ticks (-50). Stop loss tick value should be at least 4 ticks."
    )
    assert fine["success"] is True


async def test_close_contract_leaves_the_bracket_legs_working_as_the_live_gateway_does(
    api: Api, state: SimState
) -> None:
    # projectx-api.md §13.1: closeContract closes at market; the stop loss and take profit stay.
    await api.place(customTag="b-close", stopLossBracket=STOP_LOSS, takeProfitBracket=TAKE_PROFIT)
    await api.ok("Position/closeContract", {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ})

    assert await api.positions() == []
    assert set(by_tag(await api.open_orders())) == {"b-close-SL", "b-close-TP"}
