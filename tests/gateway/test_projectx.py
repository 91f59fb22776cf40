"""ProjectXGateway: the engine's Gateway calls, in the bridge's words, over respx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import respx

from app.config import GatewaySettings
from app.domain.enums import OrderState, OrderType, Side
from app.domain.models import Bracket, OrderRequest
from app.errors import ConfigError, GatewayError, OrderRejected, OutcomeUnknown
from app.gateway import ProjectXGateway, build_gateway

BASE = "https://sim.test"


def ok(**payload: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "errorCode": 0, "errorMessage": None, **payload})


@pytest.fixture
def router() -> respx.Router:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/Auth/loginKey").mock(return_value=ok(token="tok"))
    return router


@pytest.fixture
async def gateway(router: respx.Router) -> AsyncIterator[ProjectXGateway]:
    settings = GatewaySettings.model_validate({"kind": "sim", "username": "trader1", "api_key": "k"})
    gateway = build_gateway(settings, base_url=BASE, transport=httpx.MockTransport(router.async_handler))
    await gateway.start()
    yield gateway
    await gateway.close()


BUY = OrderRequest(
    account_id=465,
    contract_id="CON.F.US.MNQ.Z25",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    size=3,
    client_order_id="tvb-x1-42-0",
    limit_price=Decimal("21500.75"),
    bracket=Bracket(stop_loss_ticks=20, take_profit_ticks=60),
)


async def test_place_order_sends_the_body_once_and_returns_the_broker_id(
    gateway: ProjectXGateway, router: respx.Router
) -> None:
    place = router.post("/api/Order/place").mock(return_value=ok(orderId=3346888859))
    assert await gateway.place_order(BUY) == 3346888859
    assert place.call_count == 1
    sent = json.loads(place.calls[0].request.content)
    assert sent == gateway.place_order_body(BUY)
    assert sent["isAutomated"] is True and sent["customTag"] == "tvb-x1-42-0"
    assert sent["limitPrice"] == 21500.75
    assert sent["stopLossBracket"] == {"ticks": -20, "type": 4}
    assert sent["takeProfitBracket"] == {"ticks": 60, "type": 1}
    assert place.calls[0].request.headers["Authorization"] == "Bearer tok"


async def test_success_without_an_order_id_is_unknown(gateway: ProjectXGateway, router: respx.Router) -> None:
    router.post("/api/Order/place").mock(return_value=ok(orderId=None))
    with pytest.raises(OutcomeUnknown, match="tvb-x1-42-0"):
        await gateway.place_order(BUY)


async def test_bad_bracket_is_rejected_before_sending(gateway: ProjectXGateway, router: respx.Router) -> None:
    place = router.post("/api/Order/place").mock(return_value=ok(orderId=1))
    bad = OrderRequest(**{**BUY.__dict__, "bracket": Bracket(take_profit_ticks=0)})
    with pytest.raises(OrderRejected, match="not sent"):
        await gateway.place_order(bad)
    assert place.call_count == 0


async def test_cancel_and_close_send_the_ids(gateway: ProjectXGateway, router: respx.Router) -> None:
    cancel = router.post("/api/Order/cancel").mock(return_value=ok())
    close = router.post("/api/Position/closeContract").mock(return_value=ok())
    await gateway.cancel_order(465, 26974)
    await gateway.close_position(465, "CON.F.US.GMET.J25")
    assert json.loads(cancel.calls[0].request.content) == {"accountId": 465, "orderId": 26974}
    assert json.loads(close.calls[0].request.content) == {
        "accountId": 465,
        "contractId": "CON.F.US.GMET.J25",
    }


async def test_cancel_of_a_missing_order_is_rejected(gateway: ProjectXGateway, router: respx.Router) -> None:
    router.post("/api/Order/cancel").mock(
        return_value=httpx.Response(200, json={"success": False, "errorCode": 2, "errorMessage": None})
    )
    with pytest.raises(OrderRejected) as caught:
        await gateway.cancel_order(465, 1)
    assert caught.value.error_name == "OrderNotFound"


async def test_accounts_are_the_active_ones(gateway: ProjectXGateway, router: respx.Router) -> None:
    search = router.post("/api/Account/search").mock(
        return_value=ok(
            accounts=[
                {
                    "id": 1,
                    "name": "TEST_ACCOUNT_1",
                    "balance": 50000,
                    "canTrade": True,
                    "isVisible": True,
                    "simulated": True,
                }
            ]
        )
    )
    [account] = await gateway.accounts()
    assert json.loads(search.calls[0].request.content) == {"onlyActiveAccounts": True}
    assert (account.account_id, account.name, account.balance) == (1, "TEST_ACCOUNT_1", Decimal(50000))


async def test_search_orders_sends_a_utc_window_and_parses_rows(
    gateway: ProjectXGateway, router: respx.Router
) -> None:
    search = router.post("/api/Order/search").mock(
        return_value=ok(
            orders=[
                {
                    "id": 36598,
                    "accountId": 704,
                    "contractId": "CON.F.US.EP.U25",
                    "symbolId": "F.US.EP",
                    "creationTimestamp": "2025-07-18T21:00:01.268009+00:00",
                    "updateTimestamp": "2025-07-18T21:00:01.268009+00:00",
                    "status": 2,
                    "type": 2,
                    "side": 0,
                    "size": 1,
                    "limitPrice": None,
                    "stopPrice": None,
                    "fillVolume": 1,
                    "filledPrice": 6335.250000000,
                    "customTag": "tvb-x1-42-0",
                }
            ]
        )
    )
    chicago = timezone(timedelta(hours=-5))
    since = datetime(2025, 7, 18, 15, 0, tzinfo=chicago)
    [order] = await gateway.search_orders(704, since, datetime(2025, 7, 19, tzinfo=UTC))
    assert json.loads(search.calls[0].request.content) == {
        "accountId": 704,
        "startTimestamp": "2025-07-18T20:00:00.000000Z",
        "endTimestamp": "2025-07-19T00:00:00.000000Z",
    }
    assert order.state is OrderState.FILLED and order.filled_price == Decimal("6335.25")
    assert order.client_order_id == "tvb-x1-42-0"


async def test_open_orders_and_positions(gateway: ProjectXGateway, router: respx.Router) -> None:
    router.post("/api/Order/searchOpen").mock(return_value=ok(orders=[]))
    router.post("/api/Position/searchOpen").mock(
        return_value=ok(
            positions=[
                {
                    "id": 6124,
                    "accountId": 536,
                    "contractId": "CON.F.US.GMET.J25",
                    "creationTimestamp": "2025-04-21T19:52:32.175721+00:00",
                    "type": 1,
                    "size": 2,
                    "averagePrice": 1575.75,
                },
                {"id": 6125, "accountId": 536, "contractId": "CON.F.US.EP.U25", "type": 0, "size": 0},
            ]
        )
    )
    assert await gateway.open_orders(536) == []
    [position] = await gateway.open_positions(536)
    assert (position.side, position.size, position.average_price) == (
        Side.BUY,
        2,
        Decimal("1575.75"),
    )


async def test_contract_goes_through_the_resolver(gateway: ProjectXGateway, router: respx.Router) -> None:
    router.post("/api/Contract/available").mock(
        return_value=ok(
            contracts=[
                # name and description left out: missing keys read as null
                {"id": "CON.F.US.ENQ.U25", "symbolId": "F.US.ENQ", "activeContract": True}
                | {"tickSize": 0.25, "tickValue": 5}
            ]
        )
    )
    assert (await gateway.contract("CME_MINI:NQ1!")).contract_id == "CON.F.US.ENQ.U25"


async def test_token_expiry_is_shown(gateway: ProjectXGateway) -> None:
    expires_at = gateway.token_expires_at
    assert expires_at is not None
    assert timedelta(hours=23) < expires_at - datetime.now(UTC) <= timedelta(hours=24)


def test_build_gateway_needs_a_url() -> None:
    settings = GatewaySettings.model_validate({"kind": "sim"})
    with pytest.raises(ConfigError, match="gateway.api_url"):
        build_gateway(settings)


async def test_build_gateway_uses_the_settings_url() -> None:
    settings = GatewaySettings.model_validate(
        {"kind": "topstepx", "username": "trader1", "api_key": "k", "rate_limit_per_minute": 50}
    )
    gateway = build_gateway(settings)
    assert gateway.rest.base_url == "https://api.topstepx.com"
    assert gateway.rest.rate_limiter.limit == 50
    await gateway.close()


async def test_last_price_is_the_close_of_the_newest_minute_bar(
    gateway: ProjectXGateway, router: respx.Router
) -> None:
    # §4.5: newest first in the DOC example; the newest is taken whatever the order.
    bars = router.post("/api/History/retrieveBars").mock(
        return_value=ok(
            bars=[
                {
                    "t": "2026-03-02T14:29:00+00:00",
                    "o": 21500.0,
                    "h": 21502.5,
                    "l": 21499.75,
                    "c": 21501.25,
                    "v": 9,
                },
                {
                    "t": "2026-03-02T14:30:00+00:00",
                    "o": 21501.25,
                    "h": 21503.0,
                    "l": 21498.5,
                    "c": 21498.75,
                    "v": 4,
                },
            ]
        )
    )
    assert await gateway.last_price("CON.F.US.MNQ.H26") == Decimal("21498.75")
    body = json.loads(bars.calls.last.request.content)
    assert {
        k: body[k] for k in ("contractId", "live", "unit", "unitNumber", "limit", "includePartialBar")
    } == {
        "contractId": "CON.F.US.MNQ.H26",
        "live": False,
        "unit": 2,
        "unitNumber": 1,
        "limit": 1,
        "includePartialBar": True,
    }
    start, end = (datetime.fromisoformat(body[k].replace("Z", "+00:00")) for k in ("startTime", "endTime"))
    assert end - start == timedelta(minutes=15)


async def test_last_price_is_none_without_a_bar(gateway: ProjectXGateway, router: respx.Router) -> None:
    router.post("/api/History/retrieveBars").mock(return_value=ok(bars=[]))
    assert await gateway.last_price("CON.F.US.MNQ.H26") is None


async def test_bars_asks_one_minute_bars_of_the_window_and_returns_them_oldest_first(
    gateway: ProjectXGateway, router: respx.Router
) -> None:
    # §4.5: newest first on the wire; prices as numbers, "t" ISO 8601 with an offset.
    route = router.post("/api/History/retrieveBars").mock(
        return_value=ok(
            bars=[
                {
                    "t": "2026-03-02T14:31:00+00:00",
                    "o": 21501.25,
                    "h": 21503,
                    "l": 21498.5,
                    "c": 21499,
                    "v": 4,
                },
                {
                    "t": "2026-03-02T14:30:00+00:00",
                    "o": 21500,
                    "h": 21502.5,
                    "l": 21499.75,
                    "c": 21501.25,
                    "v": 9,
                },
            ]
        )
    )
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    end = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    bars = await gateway.bars("CON.F.US.MNQ.H26", start, end)
    assert [(b.at.minute, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (30, Decimal("21500"), Decimal("21502.5"), Decimal("21499.75"), Decimal("21501.25"), 9),
        (31, Decimal("21501.25"), Decimal("21503"), Decimal("21498.5"), Decimal("21499"), 4),
    ]
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "contractId": "CON.F.US.MNQ.H26",
        "live": False,
        "startTime": "2026-03-02T14:00:00.000000Z",
        "endTime": "2026-03-02T15:00:00.000000Z",
        "unit": 2,
        "unitNumber": 1,
        "limit": 20_000,
        "includePartialBar": True,
    }


async def test_bars_of_an_unknown_contract_is_the_gateways_error(
    gateway: ProjectXGateway, router: respx.Router
) -> None:
    router.post("/api/History/retrieveBars").mock(
        return_value=httpx.Response(200, json={"success": False, "errorCode": 1, "errorMessage": None})
    )
    with pytest.raises(GatewayError) as caught:
        await gateway.bars(
            "CON.F.US.NOPE.H26", datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
        )
    assert caught.value.error_name == "ContractNotFound"
