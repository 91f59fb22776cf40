"""Positions, trades, P&L, fees and balance; Position/closeContract (projectx-api.md §4.9, §4.10)."""

from __future__ import annotations

from decimal import Decimal

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from tests.sim.conftest import ES, MNQ, Api


async def test_scaling_in_re_averages_the_position(api: Api, state: SimState) -> None:
    await api.place(size=1)
    state.set_price(MNQ, Decimal("21510.00"))
    await api.place(size=3)

    [position] = await api.positions()

    assert list(position) == [
        "id", "accountId", "contractId", "creationTimestamp", "type", "size", "averagePrice",
    ]  # fmt: skip
    assert (position["contractId"], position["type"], position["size"]) == (MNQ, 1, 4)
    assert position["averagePrice"] == 21507.5  # (21500 + 3 × 21510) / 4


async def test_close_contract_flattens_at_market_with_an_untagged_order(api: Api, state: SimState) -> None:
    await api.place(side=1, size=2, customTag="short-2")
    state.set_price(MNQ, Decimal("21490.00"))

    closed = await api.ok("Position/closeContract", {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ})

    assert closed == {"success": True, "errorCode": 0, "errorMessage": None}
    assert await api.positions() == []
    close_order = (await api.orders())[-1]
    assert (close_order["type"], close_order["side"], close_order["size"]) == (2, 0, 2)
    assert (close_order["status"], close_order["filledPrice"]) == (2, 21490)
    assert close_order["customTag"] is None


async def test_trades_carry_null_pnl_when_opening_and_realised_usd_when_closing(
    api: Api, state: SimState
) -> None:
    opening_id = (await api.place(size=2))["orderId"]
    state.set_price(MNQ, Decimal("21512.50"))
    await api.ok("Position/closeContract", {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ})

    closing, opening = await api.trades()  # newest first

    assert list(opening) == [
        "id", "accountId", "contractId", "creationTimestamp", "price", "profitAndLoss", "fees",
        "side", "size", "voided", "orderId",
    ]  # fmt: skip
    assert (opening["orderId"], opening["price"], opening["side"]) == (opening_id, 21500, 0)
    assert opening["profitAndLoss"] is None
    assert opening["fees"] == 0.74  # 0.37 per micro contract per fill
    assert opening["voided"] is False
    assert closing["id"] > opening["id"] > 2_000_000_000
    # 12.50 points = 50 ticks × 0.50 USD × 2 contracts
    assert (closing["side"], closing["size"], closing["profitAndLoss"]) == (1, 2, 50)
    account = (await api.ok("Account/search", {"onlyActiveAccounts": True}))["accounts"][0]
    assert account["balance"] == 50048.52  # 50000 + 50 P&L - 2 × 0.74 fees


async def test_a_losing_short_on_es_realises_a_negative_pnl(api: Api, state: SimState) -> None:
    await api.place(contractId=ES, side=1)
    state.set_price(ES, Decimal("6002.00"))
    await api.place(contractId=ES, side=0)

    closing = (await api.trades())[0]

    assert closing["profitAndLoss"] == -100  # 8 ticks × 12.50 USD
    assert closing["fees"] == 1.4


async def test_partial_close_reduces_the_position_and_checks_the_size(api: Api, state: SimState) -> None:
    await api.place(size=3)
    body = {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ}

    too_big = await api.result("Position/partialCloseContract", {**body, "size": 4})
    assert (too_big["success"], too_big["errorCode"]) == (False, 5)
    await api.ok("Position/partialCloseContract", {**body, "size": 2})

    [position] = await api.positions()
    assert (position["size"], position["averagePrice"]) == (1, 21500)


async def test_close_codes_for_flat_unknown_and_inactive_contracts(api: Api) -> None:
    body = {"accountId": AUTO_OCO_ACCOUNT_ID}

    flat = await api.result("Position/closeContract", {**body, "contractId": MNQ})
    unknown = await api.result("Position/closeContract", {**body, "contractId": "CON.F.US.ZZ.Z25"})
    inactive = await api.result("Position/closeContract", {**body, "contractId": "CON.F.US.MNQ.H26"})
    partial_flat = await api.result("Position/partialCloseContract", {**body, "contractId": MNQ, "size": 1})

    assert (flat["success"], flat["errorCode"]) == (False, 2)
    assert unknown["errorCode"] == 3
    assert inactive["errorCode"] == 4
    assert partial_flat["errorCode"] == 2


async def test_a_fill_through_zero_reverses_the_position(api: Api, state: SimState) -> None:
    await api.place(size=1)
    state.set_price(MNQ, Decimal("21504.00"))
    await api.place(side=1, size=3)

    [position] = await api.positions()
    closing = (await api.trades())[0]

    assert (position["type"], position["size"], position["averagePrice"]) == (2, 2, 21504)
    assert closing["profitAndLoss"] == 8  # only the one closed contract: 16 ticks × 0.50


async def test_partial_close_when_the_market_is_halted_answers_code_6_without_a_message(
    api: Api, state: SimState
) -> None:
    await api.place(size=3)
    body = {"accountId": AUTO_OCO_ACCOUNT_ID, "contractId": MNQ}
    state.halted.add(MNQ)

    refused = await api.result("Position/partialCloseContract", {**body, "size": 1})
    zero = await api.result("Position/partialCloseContract", {**body, "size": 0})

    # §4.9, §8.17: OrderRejected is 6 on this endpoint (5 on closeContract), and carries no reason.
    assert refused == {"success": False, "errorCode": 6, "errorMessage": None}
    assert zero["errorCode"] == 5  # InvalidCloseSize comes first
    [position] = await api.positions()
    assert position["size"] == 3  # nothing was closed
    state.halted.clear()
    await api.ok("Position/partialCloseContract", {**body, "size": 1})
    [position] = await api.positions()
    assert position["size"] == 2
    closing = (await api.trades())[0]
    assert (closing["side"], closing["size"]) == (1, 1)  # one sell fill, its order untagged
    [order] = [o for o in await api.orders() if o["id"] == closing["orderId"]]
    assert order["customTag"] is None and order["type"] == 2
