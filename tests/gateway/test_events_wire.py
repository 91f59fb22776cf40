"""User Hub payloads and Trade/search rows read as the bridge's events (projectx-api.md §4.10, §7.3)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from app.config import GatewaySettings
from app.domain.enums import OrderState, Side
from app.domain.events import AccountEvent, Fill, LogoutEvent, OrderEvent, PositionEvent
from app.gateway import ProjectXGateway, build_gateway
from app.gateway.wire import parse_user_event, to_fill

# The live samples of §7.3, verbatim (GLITCH stream_event_samples.json).
LIVE_ORDER = json.loads(
    '{"action": 1, "data": {"id": 3425270858, "accountId": 26282486, "contractId": "CON.F.US.MNQ.U26",'
    ' "symbolId": "F.US.MNQ", "creationTimestamp": "2026-08-19T20:49:25.3938333+00:00",'
    ' "updateTimestamp": "2026-08-19T20:49:25.3962105+00:00", "status": 5, "type": 2, "side": 1, "size": 1,'
    ' "fillVolume": 0, "customTag": "glt-33fa8e1e-d19c-422d-ac43-efb12061d97c"}}'
)
LIVE_POSITION_CLOSED = json.loads(
    '{"action": 2, "data": {"id": 825245547, "accountId": 26282486, "contractId": "CON.F.US.MNQ.U26",'
    ' "contractDisplayName": "MNQU26", "creationTimestamp": "2026-08-19T14:15:48.611387+00:00",'
    ' "type": 0, "size": 0, "averagePrice": 29398.5}}'
)
LIVE_TRADE = json.loads(
    '{"action": 0, "data": {"id": 3004518356, "accountId": 26282486, "contractId": "CON.F.US.MNQ.U26",'
    ' "creationTimestamp": "2026-08-19T14:16:01.4061289+00:00", "price": 29423, "profitAndLoss": -49,'
    ' "fees": 0.36, "commissions": 0.25, "side": 0, "size": 1, "voided": false, "orderId": 3423462488}}'
)
LIVE_ACCOUNT = json.loads(
    '{"action": 1, "data": {"id": 26282486, "name": "PRAC-V2-645601-47191819", "balance": 149848.64,'
    ' "canTrade": true, "isVisible": true, "simulated": true}}'
)

# The documented bare payloads of §7.3 (DOC-RT).
DOC_POSITION = {
    "id": 456,
    "accountId": 123,
    "contractId": "CON.F.US.EP.U25",
    "creationTimestamp": "2024-07-21T13:45:00Z",
    "type": 1,
    "size": 2,
    "averagePrice": 2100.25,
}
DOC_ORDER = {
    "id": 789,
    "accountId": 123,
    "contractId": "CON.F.US.EP.U25",
    "symbolId": "F.US.EP",
    "creationTimestamp": "2024-07-21T13:45:00Z",
    "updateTimestamp": "2024-07-21T13:46:00Z",
    "status": 1,
    "type": 1,
    "side": 0,
    "size": 1,
    "limitPrice": 2100.50,
    "stopPrice": None,
    "fillVolume": 0,
    "filledPrice": None,
    "customTag": "strategy-1",
}
DOC_TRADE = {
    "id": 101112,
    "accountId": 123,
    "contractId": "CON.F.US.EP.U25",
    "creationTimestamp": "2024-07-21T13:47:00Z",
    "price": 2100.75,
    "profitAndLoss": 50.25,
    "fees": 2.50,
    "side": 0,
    "size": 1,
    "voided": False,
    "orderId": 789,
}


def test_live_rejected_order_reads_with_its_tag_and_omitted_prices_as_none() -> None:
    event = parse_user_event("GatewayUserOrder", [LIVE_ORDER])

    assert isinstance(event, OrderEvent)
    order = event.order
    assert order.broker_order_id == 3425270858 and order.account_id == 26282486
    assert order.state == OrderState.REJECTED and order.side == Side.SELL
    assert order.client_order_id == "glt-33fa8e1e-d19c-422d-ac43-efb12061d97c"
    assert order.limit_price is None and order.filled_price is None
    # 7 fractional digits, cut to microseconds: the order of updates is kept
    assert order.updated_at == datetime(2026, 8, 19, 20, 49, 25, 396210, tzinfo=UTC)


def test_live_closed_position_is_flat() -> None:
    event = parse_user_event("GatewayUserPosition", [LIVE_POSITION_CLOSED])

    assert event == PositionEvent(
        account_id=26282486,
        contract_id="CON.F.US.MNQ.U26",
        side=None,
        size=0,
        average_price=None,
        at=datetime(2026, 8, 19, 14, 15, 48, 611387, tzinfo=UTC),
    )


def test_live_trade_keeps_fees_commissions_and_profit_in_usd() -> None:
    event = parse_user_event("GatewayUserTrade", [LIVE_TRADE])

    assert isinstance(event, Fill)
    assert event.trade_id == 3004518356 and event.broker_order_id == 3423462488
    assert event.side == Side.BUY and event.size == 1 and event.price == Decimal("29423")
    assert event.fees == Decimal("0.36") and event.commissions == Decimal("0.25")
    assert event.profit_and_loss == Decimal("-49") and event.voided is False


def test_live_account_reads_balance_and_can_trade() -> None:
    event = parse_user_event("GatewayUserAccount", [LIVE_ACCOUNT])

    assert isinstance(event, AccountEvent)
    assert event.account.account_id == 26282486 and event.account.balance == Decimal("149848.64")
    assert event.account.can_trade is True


@pytest.mark.parametrize(
    ("target", "bare"),
    [("GatewayUserOrder", DOC_ORDER), ("GatewayUserTrade", DOC_TRADE), ("GatewayUserPosition", DOC_POSITION)],
)
def test_bare_and_wrapped_payloads_read_the_same(target: str, bare: dict[str, object]) -> None:
    wrapped = parse_user_event(target, [{"action": 1, "data": bare}])

    assert wrapped is not None
    assert parse_user_event(target, [bare]) == wrapped


def test_documented_long_position_and_limit_order() -> None:
    position = parse_user_event("GatewayUserPosition", [DOC_POSITION])
    order = parse_user_event("GatewayUserOrder", [DOC_ORDER])

    assert isinstance(position, PositionEvent)
    assert (position.side, position.size, position.average_price) == (Side.BUY, 2, Decimal("2100.25"))
    assert isinstance(order, OrderEvent)
    assert order.order.state == OrderState.WORKING and order.order.limit_price == Decimal("2100.5")


def test_a_list_of_trades_gives_each_fill_and_skips_a_broken_one() -> None:
    second = {**DOC_TRADE, "id": 101113, "size": 2}
    broken = {k: v for k, v in DOC_TRADE.items() if k != "orderId"}

    events = parse_user_event("GatewayUserTrade", [[{"action": 0, "data": DOC_TRADE}, second, broken]])

    assert isinstance(events, list)
    assert [(f.trade_id, f.size) for f in events if isinstance(f, Fill)] == [(101112, 1), (101113, 2)]


@pytest.mark.parametrize(
    ("target", "arguments"),
    [
        ("GatewayUserTrade", [{"action": 0, "data": {"id": 1}}]),  # missing keys read as null
        ("GatewayUserOrder", [{"action": 1, "data": {**DOC_ORDER, "side": 7}}]),
        ("GatewayUserPosition", [{**DOC_POSITION, "type": 9}]),
        ("GatewayUserOrder", ["not an object"]),
        ("GatewayUserOrder", []),
        ("GatewayQuote", [{"symbol": "F.US.EP"}]),  # market hub: not ours
    ],
)
def test_odd_payloads_and_unknown_targets_give_none_without_raising(
    target: str, arguments: list[Any]
) -> None:
    assert parse_user_event(target, arguments) is None


def test_logout_event() -> None:
    assert parse_user_event("GatewayLogout", []) == LogoutEvent("")
    assert parse_user_event("GatewayLogout", ["token expired"]) == LogoutEvent("token expired")


def test_trade_search_rows_read_opening_and_closing_fills() -> None:
    # §4.10 DOC example: P&L null is the opening half-turn
    closing, opening = (
        to_fill(
            {
                "id": 8604,
                "accountId": 203,
                "contractId": "CON.F.US.EP.H25",
                "creationTimestamp": "2025-01-21T16:13:52.523293+00:00",
                "price": 6065.250000000,
                "profitAndLoss": 50.000000000,
                "fees": 1.4000,
                "side": 1,
                "size": 1,
                "voided": False,
                "orderId": 14328,
            }
        ),
        to_fill({**DOC_TRADE, "profitAndLoss": None, "id": 8603, "orderId": 14326}),
    )

    assert closing.price == Decimal("6065.25") and closing.profit_and_loss == Decimal("50")
    assert closing.fees == Decimal("1.4") and closing.commissions is None and closing.side == Side.SELL
    assert opening.profit_and_loss is None


BASE = "https://sim.test"


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[ProjectXGateway, respx.Router]]:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/Auth/loginKey").mock(
        return_value=httpx.Response(200, json={"success": True, "errorCode": 0, "token": "tok"})
    )
    settings = GatewaySettings.model_validate({"kind": "sim", "username": "trader1", "api_key": "k"})
    gateway = build_gateway(settings, base_url=BASE, transport=httpx.MockTransport(router.async_handler))
    await gateway.start()
    yield gateway, router
    await gateway.close()


async def test_search_trades_sends_the_window_and_returns_fills_oldest_first(
    gateway: tuple[ProjectXGateway, respx.Router],
) -> None:
    client, router = gateway
    newest_first = [{**DOC_TRADE, "id": 2, "creationTimestamp": "2024-07-21T13:48:00Z"}, DOC_TRADE]
    search = router.post("/api/Trade/search").mock(
        return_value=httpx.Response(200, json={"success": True, "errorCode": 0, "trades": newest_first})
    )

    fills = await client.search_trades(123, datetime(2024, 7, 21, 13, tzinfo=UTC))

    assert [f.trade_id for f in fills] == [101112, 2]
    assert json.loads(search.calls.last.request.content) == {
        "accountId": 123,
        "startTimestamp": "2024-07-21T13:00:00.000000Z",
    }
