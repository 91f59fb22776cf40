"""The ProjectX wire format: numeric enums, request bodies, parsers (error codes: wire_errors).

The only module that knows camelCase names and the gateway's integers
(reference/projectx-api.md §4, §5). Everything it returns is in the bridge's own words.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from app.domain.bars import Bar
from app.domain.enums import OrderState, Side
from app.domain.enums import OrderType as DomainOrderType
from app.domain.events import AccountEvent, Fill, GatewayEvent, LogoutEvent, OrderEvent, PositionEvent
from app.domain.models import Account, Bracket, BrokerOrder, Contract, OrderRequest, Position
from app.domain.ticks import to_decimal
from app.errors import GatewayError
from app.gateway.wire_errors import ERROR_NAMES as ERROR_NAMES  # re-exported: the old place
from app.gateway.wire_errors import MUTATING_ENDPOINTS as MUTATING_ENDPOINTS
from app.gateway.wire_errors import error_hint as error_hint
from app.gateway.wire_errors import error_name as error_name

log = logging.getLogger(__name__)


class OrderType(IntEnum):
    """``OrderType`` (§5.1); also the ``type`` of a bracket leg."""

    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderSide(IntEnum):
    """``OrderSide`` (§5.1): 0 Bid is a buy, 1 Ask is a sell."""

    BID = 0
    ASK = 1


class OrderStatus(IntEnum):
    """``OrderStatus`` (§5.1, SWAGGER 0–8)."""

    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8


class PositionType(IntEnum):
    """``PositionType`` (§5.1); 0 appears only on the hub for a closed position (§8.7)."""

    UNDEFINED = 0
    LONG = 1
    SHORT = 2


def _price(value: Decimal | None) -> float | None:
    # A float of the Decimal's string prints back as the same digits in JSON.
    return None if value is None else float(str(value))


def _bracket_leg(ticks: int | None, sign: int, leg_type: OrderType, what: str) -> dict[str, int] | None:
    if ticks is None:
        return None
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks <= 0:
        raise ValueError(f"{what} distance {ticks!r} must be a positive whole number of ticks")
    return {"ticks": sign * ticks, "type": int(leg_type)}


_WIRE_TYPE = {
    DomainOrderType.MARKET: OrderType.MARKET,
    DomainOrderType.LIMIT: OrderType.LIMIT,
    DomainOrderType.STOP: OrderType.STOP,
    DomainOrderType.TRAILING_STOP: OrderType.TRAILING_STOP,
}


def cancel_order_body(account_id: int, broker_order_id: int) -> dict[str, Any]:
    """The Order/cancel body (§4.7)."""
    return {"accountId": account_id, "orderId": broker_order_id}


def close_position_body(account_id: int, contract_id: str) -> dict[str, Any]:
    """The Position/closeContract body (§4.9)."""
    return {"accountId": account_id, "contractId": contract_id}


def partial_close_body(account_id: int, contract_id: str, size: int) -> dict[str, Any]:
    """The Position/partialCloseContract body (§4.9): ``size`` in contracts."""
    return {"accountId": account_id, "contractId": contract_id, "size": size}


def place_order_body(request: OrderRequest) -> dict[str, Any]:
    """Build the ``Order/place`` JSON body for ``request`` (§4.6, §6).

    Prices are absolute points, already on the tick grid. Bracket ticks are signed (§6.4): on a
    buy the take profit is positive and the stop loss negative, on a sell the reverse. The stop
    loss leg is a Stop (4), the take profit a Limit (1). ``isAutomated`` is always true (a product
    rule; the gateway ignores it, §6.6). Raises ValueError for a bracket distance that is not a
    positive whole number of ticks.
    """
    bracket = request.bracket or Bracket()
    # Bracket holds positive distances; the sign says which side of the entry (§6.4).
    sign = 1 if request.side is Side.BUY else -1
    return {
        "accountId": request.account_id,
        "contractId": request.contract_id,
        "type": int(_WIRE_TYPE[request.order_type]),
        "side": int(OrderSide.BID if request.side is Side.BUY else OrderSide.ASK),
        "size": request.size,
        "limitPrice": _price(request.limit_price),
        "stopPrice": _price(request.stop_price),
        "trailPrice": _price(request.trail_price),  # an absolute start price, not a distance (§6.2)
        "customTag": request.client_order_id,
        "stopLossBracket": _bracket_leg(bracket.stop_loss_ticks, -sign, OrderType.STOP, "stop_loss"),
        "takeProfitBracket": _bracket_leg(bracket.take_profit_ticks, sign, OrderType.LIMIT, "take_profit"),
        "isAutomated": True,
    }


def _required(data: dict[str, Any], key: str, what: str) -> Any:
    value = data.get(key)
    if value is None:
        raise GatewayError(f"The gateway sent {what} without '{key}': {data!r}")
    return value


def _number(value: Any) -> Decimal:
    """Read a JSON number as a Decimal without float noise or trailing zeros (6335.250000000)."""
    number = to_decimal(value).normalize()
    # normalize() turns 100 into 1E+2; keep whole numbers plain.
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else _number(value)


def parse_timestamp(value: str | None) -> datetime | None:
    """Read an ISO-8601 timestamp (up to 7 fractional digits, ``Z`` or offset) as UTC."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:
        # Python reads at most 6 fractional digits; the gateway sends 7 (§1.2).
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Write ``moment`` as ISO-8601 UTC with a ``Z`` (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_account(data: dict[str, Any]) -> Account:
    """Parse a ``TradingAccountModel`` (§4.1); balance in USD."""
    return Account(
        account_id=int(_required(data, "id", "an account")),
        name=str(data.get("name") or ""),
        balance=_decimal(data.get("balance")) or Decimal(0),
        can_trade=bool(data.get("canTrade")),
        # The DOC example omits 'simulated' (§11 #19): keep the model's default then.
        simulated=bool(data.get("simulated", True)),
    )


def to_contract(data: dict[str, Any]) -> Contract:
    """Parse a ``ContractModel`` (§4.2): tick size in points, tick value in USD."""
    what = "a contract"
    return Contract(
        contract_id=str(_required(data, "id", what)),
        name=str(data.get("name") or ""),
        description=str(data.get("description") or ""),
        tick_size=_number(_required(data, "tickSize", what)),
        tick_value=_number(_required(data, "tickValue", what)),
        symbol_id=str(data.get("symbolId") or ""),
        active=bool(data.get("activeContract")),
    )


_ORDER_STATE: dict[int, OrderState] = {
    OrderStatus.NONE: OrderState.PENDING,
    OrderStatus.OPEN: OrderState.WORKING,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELLED: OrderState.CANCELLED,
    OrderStatus.EXPIRED: OrderState.EXPIRED,
    OrderStatus.REJECTED: OrderState.REJECTED,
    OrderStatus.PENDING: OrderState.PENDING,
    OrderStatus.PENDING_CANCELLATION: OrderState.WORKING,
    OrderStatus.SUSPENDED: OrderState.SUSPENDED,
}
_ORDER_TYPE_NAME: dict[int, str] = {
    OrderType.UNKNOWN: "unknown",
    OrderType.LIMIT: "limit",
    OrderType.MARKET: "market",
    OrderType.STOP_LIMIT: "stop_limit",
    OrderType.STOP: "stop",
    OrderType.TRAILING_STOP: "trailing_stop",
    OrderType.JOIN_BID: "join_bid",
    OrderType.JOIN_ASK: "join_ask",
}


def _side(value: Any, what: str) -> Side:
    if value == OrderSide.BID:
        return Side.BUY
    if value == OrderSide.ASK:
        return Side.SELL
    raise GatewayError(f"The gateway sent {what} with side {value!r} (expected 0 or 1)")


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def to_broker_order(data: dict[str, Any]) -> BrokerOrder:
    """Parse an ``OrderModel`` (§4.8) into a BrokerOrder; missing keys read as null.

    Status maps to OrderState (7 PendingCancellation is still WORKING, 0 None is PENDING; an
    unlisted status reads PENDING, never final). Sizes in contracts, prices in points.
    """
    what = "an order"
    status, kind = data.get("status"), data.get("type")
    return BrokerOrder(
        broker_order_id=int(_required(data, "id", what)),
        account_id=int(_required(data, "accountId", what)),
        contract_id=str(_required(data, "contractId", what)),
        state=_ORDER_STATE.get(status if isinstance(status, int) else -1, OrderState.PENDING),
        order_type=_ORDER_TYPE_NAME.get(kind if isinstance(kind, int) else 0, "unknown"),
        side=_side(data.get("side"), what),
        size=int(data.get("size") or 0),
        fill_volume=int(data.get("fillVolume") or 0),
        limit_price=_decimal(data.get("limitPrice")),
        stop_price=_decimal(data.get("stopPrice")),
        filled_price=_decimal(data.get("filledPrice")),
        client_order_id=data.get("customTag"),
        parent_broker_order_id=_int_or_none(data.get("parentOrderId")),
        created_at=parse_timestamp(data.get("creationTimestamp")),
        updated_at=parse_timestamp(data.get("updateTimestamp")),
    )


def to_position(data: dict[str, Any]) -> Position:
    """Parse a ``PositionModel`` (§4.9): size in contracts (positive), ``type`` 1 Long → BUY."""
    what = "a position"
    kind = data.get("type")
    if kind == PositionType.LONG:
        side = Side.BUY
    elif kind == PositionType.SHORT:
        side = Side.SELL
    else:
        raise GatewayError(f"The gateway sent {what} with type {kind!r} (expected 1 or 2)")
    return Position(
        account_id=int(_required(data, "accountId", what)),
        contract_id=str(_required(data, "contractId", what)),
        side=side,
        size=int(data.get("size") or 0),
        average_price=_decimal(data.get("averagePrice")) or Decimal(0),
    )


def to_fill(data: dict[str, Any]) -> Fill:
    """Parse a ``HalfTradeModel`` (Trade/search row, §4.10) or a GatewayUserTrade (§7.3).

    ``size`` in contracts, ``price`` in points; ``fees``, ``commissions`` (newer swagger, live
    hub) and ``profitAndLoss`` in USD, None when missing (P&L is null on an opening fill).
    Raises GatewayError when an id, the side or the time is missing.
    """
    what = "a trade"
    return Fill(
        trade_id=int(_required(data, "id", what)),
        account_id=int(_required(data, "accountId", what)),
        contract_id=str(_required(data, "contractId", what)),
        broker_order_id=int(_required(data, "orderId", what)),
        side=_side(data.get("side"), what),
        size=int(data.get("size") or 0),
        price=_number(_required(data, "price", what)),
        filled_at=_timestamp(_required(data, "creationTimestamp", what)),
        fees=_decimal(data.get("fees")),
        commissions=_decimal(data.get("commissions")),
        profit_and_loss=_decimal(data.get("profitAndLoss")),
        voided=bool(data.get("voided")),
    )


def to_bar(data: dict[str, Any]) -> Bar:
    """Parse one History/retrieveBars bar (§4.5): ``t`` start, ``o h l c`` points, ``v`` volume.
    Raises GatewayError when the time or a price is missing."""
    what = "a bar"
    return Bar(
        at=_timestamp(_required(data, "t", what)),
        open=_number(_required(data, "o", what)),
        high=_number(_required(data, "h", what)),
        low=_number(_required(data, "l", what)),
        close=_number(_required(data, "c", what)),
        volume=int(data.get("v") or 0),
    )


_POSITION_SIDE: dict[Any, Side] = {PositionType.LONG: Side.BUY, PositionType.SHORT: Side.SELL}


def to_position_event(data: dict[str, Any]) -> PositionEvent:
    """Parse a ``PositionModel`` or GatewayUserPosition (§4.9, §7.3) into a PositionEvent.

    ``type`` 0 or ``size`` 0 is a closed position (the hub's ``action: 2``, §8.7): side None,
    size 0. ``at`` is the position's creationTimestamp (the gateway sends no update time).
    """
    what = "a position"
    kind, size = data.get("type"), int(data.get("size") or 0)
    side = _POSITION_SIDE.get(kind) if size else None
    if size and side is None:
        raise GatewayError(f"The gateway sent {what} with type {kind!r} (expected 1 or 2)")
    return PositionEvent(
        account_id=int(_required(data, "accountId", what)),
        contract_id=str(_required(data, "contractId", what)),
        side=side,
        size=size if side else 0,
        average_price=_decimal(data.get("averagePrice")) if side else None,
        at=parse_timestamp(data.get("creationTimestamp")),
    )


def _timestamp(value: Any) -> datetime:
    moment = parse_timestamp(str(value))
    assert moment is not None  # _required refused an empty value
    return moment


_USER_EVENTS: dict[str, Any] = {
    "GatewayUserOrder": lambda data: OrderEvent(to_broker_order(data)),
    "GatewayUserTrade": to_fill,
    "GatewayUserPosition": to_position_event,
    "GatewayUserAccount": lambda data: AccountEvent(to_account(data)),
}


def parse_user_event(target: str, arguments: list[Any]) -> GatewayEvent | list[GatewayEvent] | None:
    """Read one User Hub invocation (§7.3) as the bridge's event(s).

    ``target`` is the hub event name (GatewayUserOrder, GatewayUserTrade, GatewayUserPosition,
    GatewayUserAccount, GatewayLogout); ``arguments`` its argument list (one argument). The
    argument may be wrapped ``{action, data}`` (live) or bare (DOC-RT), §11 #1; missing keys
    read as null (§11 #2). A list argument (seen for trades) gives a list of events, the ones
    that parse. An unknown target or a payload that does not parse gives None (logged); never
    raises.
    """
    if target == "GatewayLogout":  # payload undocumented (§7.3): keep whatever text it has
        return LogoutEvent(reason=" ".join(str(a) for a in arguments if a is not None))
    parse = _USER_EVENTS.get(target)
    if parse is None:
        log.debug("hub event %s ignored (not a user event the bridge follows)", target)
        return None
    if not arguments:
        log.warning("hub event %s came without a payload; ignored", target)
        return None
    payload = arguments[0]
    if isinstance(payload, list):
        parsed = (_parse_one(target, parse, item) for item in payload)
        return [event for event in parsed if event is not None]
    return _parse_one(target, parse, payload)


def _parse_one(target: str, parse: Any, payload: Any) -> GatewayEvent | None:
    data = _unwrap(payload)
    if not isinstance(data, dict):
        log.warning("hub event %s with payload %.200r ignored: not an object", target, payload)
        return None
    try:
        event: GatewayEvent = parse(data)
    except (GatewayError, ValueError, TypeError, InvalidOperation) as exc:
        log.warning("hub event %s with payload %.200r ignored: %s", target, payload, exc)
        return None
    return event


def _unwrap(payload: Any) -> Any:
    """The object inside a ``{action, data}`` envelope, or the payload itself when bare."""
    if isinstance(payload, dict) and "data" in payload and "id" not in payload:
        return payload["data"]
    return payload
