"""The wire format: error names per endpoint, the Order/place body, parsers to domain types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.enums import OrderState, OrderType, Side
from app.domain.models import Bracket, OrderRequest
from app.errors import GatewayError
from app.gateway import wire


@pytest.mark.parametrize(
    ("endpoint", "code", "name"),
    [
        ("Order/place", 2, "OrderRejected"),
        ("Order/place", 9, "ContractNotActive"),
        ("Order/cancel", 2, "OrderNotFound"),
        ("Order/modify", 7, "ContractNotFound"),
        ("Position/closeContract", 2, "PositionNotFound"),
        ("Position/closeContract", 5, "OrderRejected"),
        ("Position/partialCloseContract", 5, "InvalidCloseSize"),
        ("Position/partialCloseContract", 6, "OrderRejected"),
        ("Auth/validate", 2, "SessionNotFound"),
        ("Auth/loginKey", 9, "ApiSubscriptionNotFound"),
        ("Contract/searchById", 1, "ContractNotFound"),
        ("Order/search", 1, "AccountNotFound"),
        ("/api/order/PLACE", 3, "InsufficientFunds"),
        ("Order/place", 42, "errorCode 42"),
        ("Account/search", 1, "errorCode 1"),
    ],
)
def test_error_names_are_per_endpoint(endpoint: str, code: int, name: str) -> None:
    assert wire.error_name(endpoint, code) == name


def request(side: Side, **kw: object) -> OrderRequest:
    fields: dict[str, Any] = {
        "account_id": 26282486,
        "contract_id": "CON.F.US.MNQ.Z25",
        "side": side,
        "order_type": OrderType.MARKET,
        "size": 2,
        "client_order_id": "tvb-abc-17-0",
    }
    fields.update(kw)
    return OrderRequest(**fields)


def test_place_body_for_a_buy_with_bracket_has_signed_ticks() -> None:
    body = wire.place_order_body(request(Side.BUY, bracket=Bracket(stop_loss_ticks=40, take_profit_ticks=80)))
    assert body == {
        "accountId": 26282486,
        "contractId": "CON.F.US.MNQ.Z25",
        "type": 2,
        "side": 0,
        "size": 2,
        "limitPrice": None,
        "stopPrice": None,
        "trailPrice": None,
        "customTag": "tvb-abc-17-0",
        "stopLossBracket": {"ticks": -40, "type": 4},
        "takeProfitBracket": {"ticks": 80, "type": 1},
        "isAutomated": True,
    }


def test_place_body_for_a_sell_limit_reverses_the_signs() -> None:
    body = wire.place_order_body(
        request(
            Side.SELL,
            order_type=OrderType.LIMIT,
            limit_price=Decimal("21500.25"),
            bracket=Bracket(stop_loss_ticks=12, take_profit_ticks=30),
        )
    )
    assert (body["type"], body["side"]) == (1, 1)
    assert body["stopLossBracket"] == {"ticks": 12, "type": 4}
    assert body["takeProfitBracket"] == {"ticks": -30, "type": 1}
    assert '"limitPrice": 21500.25' in json.dumps(body)
    assert body["isAutomated"] is True


def test_place_body_stop_order_without_bracket() -> None:
    body = wire.place_order_body(request(Side.SELL, order_type=OrderType.STOP, stop_price=Decimal("6335.1")))
    assert body["type"] == 4
    assert body["stopPrice"] == 6335.1
    assert body["stopLossBracket"] is None and body["takeProfitBracket"] is None
    assert body["isAutomated"] is True and body["customTag"] == "tvb-abc-17-0"


def test_place_body_with_only_a_stop_loss() -> None:
    body = wire.place_order_body(request(Side.SELL, bracket=Bracket(stop_loss_ticks=8)))
    assert body["stopLossBracket"] == {"ticks": 8, "type": 4}
    assert body["takeProfitBracket"] is None


@pytest.mark.parametrize("ticks", [0, -5])
def test_place_body_refuses_a_non_positive_bracket_distance(ticks: int) -> None:
    with pytest.raises(ValueError, match="stop_loss"):
        wire.place_order_body(request(Side.BUY, bracket=Bracket(stop_loss_ticks=ticks)))


LIVE_ORDER = {
    "id": 3346888859,
    "accountId": 26080387,
    "contractId": "CON.F.US.MNQ.U26",
    "symbolId": "F.US.MNQ",
    "creationTimestamp": "2026-07-31T13:26:11.391386+00:00",
    "updateTimestamp": "2026-08-19T20:49:25.3938333+00:00",
    "status": 3,
    "type": 1,
    "side": 0,
    "size": 1,
    "limitPrice": 28539,
    "stopPrice": None,
    "fillVolume": 0,
    "filledPrice": None,
    "customTag": "glt-a87ad140-TP",
    "parentOrderId": 3346888857,
    "linkedOrderId": 3346888858,
}


def test_to_broker_order_reads_a_live_row() -> None:
    order = wire.to_broker_order(LIVE_ORDER)
    assert order.broker_order_id == 3346888859
    assert order.account_id == 26080387
    assert order.contract_id == "CON.F.US.MNQ.U26"
    assert order.state is OrderState.CANCELLED
    assert order.order_type == "limit"
    assert order.side is Side.BUY
    assert order.limit_price == Decimal("28539") and order.stop_price is None
    assert order.client_order_id == "glt-a87ad140-TP"
    assert order.parent_broker_order_id == 3346888857
    assert order.created_at == datetime(2026, 7, 31, 13, 26, 11, 391386, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 8, 19, 20, 49, 25, 393833, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (0, OrderState.PENDING),
        (1, OrderState.WORKING),
        (2, OrderState.FILLED),
        (3, OrderState.CANCELLED),
        (4, OrderState.EXPIRED),
        (5, OrderState.REJECTED),
        (6, OrderState.PENDING),
        (7, OrderState.WORKING),
        (8, OrderState.SUSPENDED),
        (99, OrderState.PENDING),
    ],
)
def test_order_status_maps_to_state(status: int, state: OrderState) -> None:
    assert wire.to_broker_order({**LIVE_ORDER, "status": status}).state is state


def test_to_broker_order_tolerates_missing_keys() -> None:
    bare = {"id": 9056, "accountId": 465, "contractId": "CON.F.US.EP.U25", "side": 1, "type": 7}
    order = wire.to_broker_order(bare)
    assert order.side is Side.SELL and order.order_type == "join_ask"
    assert order.client_order_id is None and order.parent_broker_order_id is None
    assert order.created_at is None and order.fill_volume == 0


def test_to_broker_order_without_side_names_the_key() -> None:
    with pytest.raises(GatewayError, match="side"):
        wire.to_broker_order({**LIVE_ORDER, "side": None})


def test_to_position_and_decimal_noise() -> None:
    position = wire.to_position(
        {
            "id": 6124,
            "accountId": 536,
            "contractId": "CON.F.US.GMET.J25",
            "creationTimestamp": "2025-04-21T19:52:32.175721+00:00",
            "type": 2,
            "size": 2,
            "averagePrice": Decimal("1575.750000000"),
        }
    )
    assert (position.side, position.size) == (Side.SELL, 2)
    assert str(position.average_price) == "1575.75"


def test_to_contract_reads_decimals_exactly() -> None:
    contract = wire.to_contract(
        {
            "id": "CON.F.US.ENQ.U25",
            "name": "NQU5",
            "description": "E-mini NASDAQ-100",
            "tickSize": 0.25,
            "tickValue": 5,
            "activeContract": True,
            "symbolId": "F.US.ENQ",
        }
    )
    assert contract.tick_size == Decimal("0.25") and str(contract.tick_value) == "5"
    assert contract.active and contract.symbol_id == "F.US.ENQ"


def test_to_account() -> None:
    account = wire.to_account(
        {
            "id": 26282486,
            "name": "PRAC-V2-645601-47191819",
            "balance": Decimal("149848.64"),
            "canTrade": True,
            "isVisible": True,
            "simulated": False,
        }
    )
    assert account.account_id == 26282486
    assert account.balance == Decimal("149848.64")
    assert account.can_trade and not account.simulated


def test_timestamps_round_trip_as_utc() -> None:
    moment = wire.parse_timestamp("2025-01-20T10:47:39.882-05:00")
    assert moment == datetime(2025, 1, 20, 15, 47, 39, 882000, tzinfo=UTC)
    assert wire.format_timestamp(moment) == "2025-01-20T15:47:39.882000Z"
    assert wire.parse_timestamp("2025-01-20T15:47:39Z") == datetime(2025, 1, 20, 15, 47, 39, tzinfo=UTC)
