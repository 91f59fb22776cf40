"""The simulator's records (accounts, orders, positions, trades) and their wire shapes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

from app.sim.wire import format_timestamp


class OrderType(IntEnum):
    """OrderType (projectx-api.md §5.1)."""

    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class Side(IntEnum):
    """OrderSide (§5.1): 0 Bid = buy, 1 Ask = sell."""

    BID = 0
    ASK = 1


class OrderStatus(IntEnum):
    """OrderStatus (§5.1)."""

    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8


WORKING = (OrderStatus.OPEN, OrderStatus.SUSPENDED, OrderStatus.PENDING)


class PositionType(IntEnum):
    """PositionType (§5.1); 0 is what the hub sends for a closed position (§7.3)."""

    UNDEFINED = 0
    LONG = 1
    SHORT = 2


class BracketMode(StrEnum):
    """An account's bracket setting (§6.4); not on the wire."""

    AUTO_OCO = "auto_oco"
    POSITION_BRACKETS = "position_brackets"


class Rejected(Exception):
    """A business failure: answered HTTP 200, ``success: false``.

    Not a BridgeError: the simulator stands beside the product and imports nothing of it.

    ``reason`` is the SWAGGER enum name (``"OrderRejected"``, ``"PositionNotFound"``…); the REST
    layer maps it to the calling endpoint's own errorCode (§5.2). ``order_id`` is set when the
    gateway created the order anyway (Position Brackets rejection, §6.4).
    """

    def __init__(self, reason: str, message: str | None, order_id: int | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message
        self.order_id = order_id


@dataclass
class SimAccount:
    """A practice account (TradingAccountModel, §4.1)."""

    id: int
    name: str
    balance: Decimal  # USD
    bracket_mode: BracketMode
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "balance": self.balance,
            "canTrade": self.can_trade,
            "isVisible": self.is_visible,
            "simulated": self.simulated,
        }


@dataclass
class SimOrder:
    """One order (OrderModel, §4.8), including suspended bracket children."""

    id: int
    account_id: int
    contract_id: str
    symbol_id: str
    created_at: datetime
    updated_at: datetime
    status: OrderStatus
    type: OrderType
    side: Side
    size: int  # contracts
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    fill_volume: int = 0
    filled_price: Decimal | None = None
    custom_tag: str | None = None
    parent_order_id: int | None = None  # bracket child → its entry
    linked_order_id: int | None = None  # take-profit child → its stop-loss sibling
    bracket_ticks: int | None = None  # signed offset from the entry fill (children only)
    # A trailing stop (type 5): its distance (points) from the best price since it was placed;
    # ``stop_price`` is where it stands now (§6.2).
    trail_distance: Decimal | None = None

    def to_wire(self) -> dict[str, Any]:
        """The REST row: null price fields kept, bracket links only when set (§4.8)."""
        row: dict[str, Any] = {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "symbolId": self.symbol_id,
            "creationTimestamp": format_timestamp(self.created_at),
            "updateTimestamp": format_timestamp(self.updated_at),
            "status": int(self.status),
            "type": int(self.type),
            "side": int(self.side),
            "size": self.size,
            "limitPrice": self.limit_price,
            "stopPrice": self.stop_price,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.custom_tag,
        }
        if self.trail_distance is not None:
            # Written as an absolute start price, read back as the distance in price (§6.2).
            row["trailPrice"] = self.trail_distance
        if self.parent_order_id is not None:
            row["parentOrderId"] = self.parent_order_id
        if self.linked_order_id is not None:
            row["linkedOrderId"] = self.linked_order_id
        return row


@dataclass
class SimPosition:
    """A net position in one contract on one account (PositionModel, §4.9)."""

    id: int
    account_id: int
    contract_id: str
    contract_name: str
    created_at: datetime
    net: int  # signed contracts: > 0 long, < 0 short, 0 flat
    average_price: Decimal

    @property
    def type(self) -> PositionType:
        if self.net > 0:
            return PositionType.LONG
        return PositionType.SHORT if self.net < 0 else PositionType.UNDEFINED

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": format_timestamp(self.created_at),
            "type": int(self.type),
            "size": abs(self.net),
            "averagePrice": self.average_price,
        }


@dataclass
class SimTrade:
    """One fill (HalfTradeModel, §4.10)."""

    id: int
    account_id: int
    contract_id: str
    created_at: datetime
    price: Decimal
    profit_and_loss: Decimal | None  # USD; None for an opening fill
    fees: Decimal  # USD
    side: Side
    size: int
    order_id: int
    voided: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": format_timestamp(self.created_at),
            "price": self.price,
            "profitAndLoss": self.profit_and_loss,
            "fees": self.fees,
            "side": int(self.side),
            "size": self.size,
            "voided": self.voided,
            "orderId": self.order_id,
        }


@dataclass(frozen=True)
class BracketSpec:
    """One bracket leg of Order/place (PlaceOrderBracket, §4.6): signed ticks and order type."""

    ticks: int  # signed offset from the entry fill price (§6.4)
    type: int  # OrderType of the child order, usually 4 Stop (stop loss) or 1 Limit


@dataclass(frozen=True)
class OrderTicket:
    """An Order/place request as read off the wire (PlaceOrderRequest, §4.6)."""

    account_id: int
    contract_id: str
    type: int
    side: int
    size: int  # contracts
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None  # type 5: the absolute price the trailing stop starts at
    custom_tag: str | None = None
    stop_loss: BracketSpec | None = None
    take_profit: BracketSpec | None = None
