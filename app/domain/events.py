"""What the gateway tells the bridge about the trader's accounts (User Hub, or REST reconciliation).

Each event is a latest-state snapshot, not a delta (projectx-api.md §8.10): the same order may
arrive many times, out of order, and nothing is replayed after a reconnect (§7.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.enums import Side
from app.domain.models import Account, BrokerOrder


@dataclass(frozen=True)
class OrderEvent:
    """An order's state as the gateway reports it (GatewayUserOrder, Order/search)."""

    order: BrokerOrder


@dataclass(frozen=True)
class Fill:
    """One fill ("half-turn trade", GatewayUserTrade / Trade/search), keyed by ``trade_id``.

    ``size`` in contracts; ``price`` in points; ``fees``, ``commissions`` and
    ``profit_and_loss`` in USD (P&L is None on an opening fill, §4.10).
    """

    trade_id: int
    account_id: int
    contract_id: str
    broker_order_id: int
    side: Side
    size: int
    price: Decimal
    filled_at: datetime
    fees: Decimal | None = None
    commissions: Decimal | None = None
    profit_and_loss: Decimal | None = None
    voided: bool = False


@dataclass(frozen=True)
class PositionEvent:
    """A position snapshot (GatewayUserPosition, Position/searchOpen); ``size`` 0 means flat.

    ``side`` BUY = long, SELL = short, None when flat. ``average_price`` in points.
    """

    account_id: int
    contract_id: str
    side: Side | None
    size: int
    average_price: Decimal | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class AccountEvent:
    """An account snapshot (GatewayUserAccount): balance in USD, can-trade flag."""

    account: Account


@dataclass(frozen=True)
class LogoutEvent:
    """The gateway ended the session (GatewayLogout): log in again and reconnect."""

    reason: str = ""


GatewayEvent = OrderEvent | Fill | PositionEvent | AccountEvent | LogoutEvent
