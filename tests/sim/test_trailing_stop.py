"""Trailing stops (Order/place type 5, projectx-api.md §6.2): ``trailPrice`` is the absolute price
the stop starts at; the simulator trails by |last − trailPrice| whole ticks, follows the price
one way only, fills when the price comes back to the stop, and reads ``trailPrice`` back as the
distance in price."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from app.sim.models import OrderTicket
from tests.sim.conftest import MNQ, MNQ_START, Api, ManualClock

TICK = Decimal("0.25")  # MNQ


async def _long(api: Api) -> None:
    """Buy 1 MNQ at market (at MNQ_START): the position a sell trailing stop protects."""
    assert (await api.place(customTag="entry"))["success"] is True


async def _trailing(api: Api, **fields: Any) -> dict[str, Any]:
    """Order/place a sell trailing stop (type 5) for 1 MNQ with the given fields."""
    return await api.place(type=5, side=1, **fields)


def _row(orders: list[dict[str, Any]], order_id: int) -> dict[str, Any]:
    return next(o for o in orders if o["id"] == order_id)


async def test_a_sell_trailing_stop_trails_up_never_down_and_fills_when_the_price_falls_to_it(
    api: Api, state: SimState
) -> None:
    await _long(api)
    placed = await _trailing(api, trailPrice=str(MNQ_START - 20 * TICK), customTag="trail")
    assert placed["success"] is True, placed
    order_id = placed["orderId"]

    row = _row(await api.open_orders(), order_id)
    # Read back as the distance in price (20 ticks = 5 points), the stop at last − distance.
    assert (row["type"], row["side"], row["status"]) == (5, 1, 1)
    assert Decimal(str(row["trailPrice"])) == 5
    assert Decimal(str(row["stopPrice"])) == MNQ_START - 5

    state.set_price(MNQ, MNQ_START + 10)  # up 10 points: the stop follows to +5
    assert Decimal(str(_row(await api.open_orders(), order_id)["stopPrice"])) == MNQ_START + 5
    state.set_price(MNQ, MNQ_START + 7)  # down 3 points, above the stop: it stays where it was
    row = _row(await api.open_orders(), order_id)
    assert (row["status"], Decimal(str(row["stopPrice"]))) == (1, MNQ_START + 5)

    state.set_price(MNQ, MNQ_START + 5)  # back to the stop: filled, flat
    row = _row(await api.orders(), order_id)
    assert (row["status"], Decimal(str(row["filledPrice"]))) == (2, MNQ_START + 5)
    assert await api.positions() == []


async def test_a_buy_trailing_stop_mirrors_it(api: Api, state: SimState) -> None:
    placed = await api.place(type=5, side=0, trailPrice=str(MNQ_START + 8 * TICK))
    order_id = placed["orderId"]
    assert Decimal(str(_row(await api.open_orders(), order_id)["stopPrice"])) == MNQ_START + 2
    state.set_price(MNQ, MNQ_START - 10)  # down: the buy stop follows down
    state.set_price(MNQ, MNQ_START - 9)  # up 1 point: it does not move up
    assert Decimal(str(_row(await api.open_orders(), order_id)["stopPrice"])) == MNQ_START - 8
    state.set_price(MNQ, MNQ_START - 8)
    assert _row(await api.orders(), order_id)["status"] == 2


async def test_fractions_of_a_tick_in_the_distance_are_dropped(api: Api, state: SimState) -> None:
    state.set_price(MNQ, MNQ_START + TICK)  # last 21500.25
    placed = await _trailing(api, trailPrice=str(MNQ_START - 5))  # 21 ticks
    assert Decimal(str(_row(await api.open_orders(), placed["orderId"])["trailPrice"])) == 21 * TICK


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Trail Distance not set."),
        ({"trailPrice": str(MNQ_START)}, "Trail Distance not set."),
        ({"trailPrice": "21499.10"}, "Invalid trail price. Price is not aligned to tick size."),
        ({"trailPrice": "0.25"}, "Trail Distance exceeds maximum (1000)"),  # a distance, not a price
        ({"trailPrice": str(MNQ_START - 1001 * TICK)}, "Trail Distance exceeds maximum (1000)"),
    ],
)
async def test_place_refusals_answer_code_2_with_the_gateways_message(
    api: Api, state: SimState, fields: dict[str, Any], message: str
) -> None:
    answer = await _trailing(api, **fields)
    assert (answer["success"], answer["errorCode"], answer["errorMessage"]) == (False, 2, message)
    assert await api.open_orders() == []


async def test_a_trail_of_exactly_1000_ticks_is_accepted(api: Api) -> None:
    answer = await _trailing(api, trailPrice=str(MNQ_START - 1000 * TICK))
    assert answer["success"] is True, answer


async def test_no_last_price_is_refused(api: Api, state: SimState) -> None:
    del state.prices[MNQ]  # a contract that has not traded yet
    answer = await _trailing(api, trailPrice=str(MNQ_START - 5))
    assert (answer["errorCode"], answer["errorMessage"]) == (2, "Cannot trail without a last price")


async def test_modify_measures_again_without_a_maximum_and_refuses_misaligned_with_code_3(
    api: Api, state: SimState
) -> None:
    placed = await _trailing(api, trailPrice=str(MNQ_START - 5))
    body = {"accountId": AUTO_OCO_ACCOUNT_ID, "orderId": placed["orderId"]}

    await api.ok("Order/modify", {**body, "trailPrice": str(MNQ_START - 2)})
    row = _row(await api.open_orders(), placed["orderId"])
    assert (Decimal(str(row["trailPrice"])), Decimal(str(row["stopPrice"]))) == (Decimal(2), MNQ_START - 2)

    # No maximum on modify (§6.2): a distance sent as a price is taken as it is.
    await api.ok("Order/modify", {**body, "trailPrice": "0.25"})
    assert Decimal(str(_row(await api.open_orders(), placed["orderId"])["trailPrice"])) == MNQ_START - TICK

    answer = await api.result("Order/modify", {**body, "trailPrice": "21499.10"})
    assert (answer["success"], answer["errorCode"]) == (False, 3)
    assert answer["errorMessage"] == "Invalid trail price. Price is not aligned to tick size."


def test_a_trailing_stop_survives_the_state_file(tmp_path: Path) -> None:
    path, clock = tmp_path / "sim.db", ManualClock()
    first = SimState(clock=clock, state_path=path)
    ticket = OrderTicket(AUTO_OCO_ACCOUNT_ID, MNQ, type=5, side=1, size=1, trail_price=MNQ_START - 5)
    order_id = first.place_order(ticket)
    first.persist()
    first.close()
    second = SimState(clock=clock, state_path=path)
    assert second.orders[order_id].trail_distance == 5
    second.set_price(MNQ, MNQ_START + 4)  # it still trails after the restart
    assert second.orders[order_id].stop_price == MNQ_START - 1
    second.close()
