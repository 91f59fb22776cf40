"""Data shapes shared across layers. Frozen dataclasses; prices are Decimal points, sizes contracts.

Times are tz-aware UTC (``*_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.sizing import RiskRequest


@dataclass(frozen=True)
class Contract:
    """A tradable futures contract as the gateway knows it.

    ``tick_size`` in points, ``tick_value`` in USD per tick per contract.
    """

    contract_id: str  # ProjectX id, e.g. "CON.F.US.MNQ.Z25"
    name: str  # e.g. "MNQZ5" (display only, never parsed)
    description: str
    tick_size: Decimal
    tick_value: Decimal
    symbol_id: str  # e.g. "F.US.MNQ"
    active: bool = True


@dataclass(frozen=True)
class Account:
    """A trading account on the gateway. ``balance`` in USD."""

    account_id: int
    name: str
    balance: Decimal
    can_trade: bool
    simulated: bool = True


@dataclass(frozen=True)
class Alert:
    """One received webhook, parsed.

    ``fields`` are the values a template sees as ``alert.<name>``: JSON values as sent (numbers
    as Decimal or str), or the named groups of a text template's regular expression.
    ``raw_body`` never contains the webhook secret.
    """

    strategy: str
    raw_body: str
    fields: dict[str, Any]
    received_at: datetime
    alert_id: int | None = None
    source_ip: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class Bracket:
    """Native bracket distances from the entry fill, as positive whole ticks.

    The gateway's sign convention (buy: take profit +, stop loss −) is applied in
    app/gateway/wire.py, never here.
    """

    stop_loss_ticks: int | None = None
    take_profit_ticks: int | None = None
    # Scale-out (managed only, app/engine/scale_out.py): up to three targets in order of
    # distance, and the target after whose fill the stop loss moves to break-even.
    targets: tuple[Target, ...] = ()
    break_even: BreakEven | None = None
    # The stop loss is a native trailing stop (Order/place type 5) that trails by
    # ``stop_loss_ticks``; placed by the bridge after the fill (a managed bracket).
    trailing: bool = False
    # Stop moves from live quotes (managed only, app/engine/live_stops.py).
    live: LiveStops | None = None


@dataclass(frozen=True)
class LiveStops:
    """Moves of a managed plain stop loss from live quotes, in whole ticks (app/engine/live_stops.py).

    Break-even: once the price went ``be_after_ticks`` in favour of the fill, the stop goes to the
    average fill ± ``be_offset_ticks``. Trail: once it went ``trail_activation_ticks`` in favour,
    the stop follows the best price at ``trail_ticks``, moved by at least ``trail_step_ticks``.
    """

    be_after_ticks: int | None = None
    be_offset_ticks: int = 0
    trail_ticks: int | None = None
    trail_activation_ticks: int = 0
    trail_step_ticks: int = 1


@dataclass(frozen=True)
class Target:
    """One scale-out take profit: ``ticks`` from the entry's fill (≥ 1), ``size`` in contracts
    (≥ 0; 0 when a percentage rounded down to nothing: the target is skipped). ``percent`` (of
    the entry, 0 < p ≤ 100) is set only while the entry's quantity is not known yet (size by
    risk): app/domain/scale_out.py ``sized_targets`` gives it its contracts once it is."""

    ticks: int
    size: int
    percent: Decimal | None = None


@dataclass(frozen=True)
class BreakEven:
    """Move the stop loss to the entry's average fill price ± ``offset_ticks`` (in the trade's
    favour) once target ``after_target`` (1-based) has filled."""

    after_target: int
    offset_ticks: int = 0


@dataclass(frozen=True)
class OrderIntent:
    """What a template asks for on one account in one contract (pure data, no ids yet).

    ``account`` is the account name or id as the template gives it. ``quantity`` in contracts
    (already multiplied by the account's multiplier). Prices are on the contract's tick grid.
    For ``exit`` and ``cancel`` only ``account``, ``contract_id`` and ``action`` matter (and an
    exit's ``exit_contracts`` / ``exit_percent`` when it closes part of the position).
    """

    account: str | int
    contract_id: str
    action: Action
    side: Side | None = None
    order_type: OrderType = OrderType.MARKET
    quantity: int = 0
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    bracket: Bracket | None = None
    reference_price: Decimal | None = None  # the alert's price, for slippage and brackets
    # An exit of part of the position (order.exit_quantity): contracts (× multiplier) or a
    # percentage of the position (0 < p ≤ 100); both None: the whole position.
    exit_contracts: int | None = None
    exit_percent: Decimal | None = None
    # Size by risk (risk_usd / risk_percent): ``quantity`` is 0 until the engine sizes it per
    # account from its stop loss, tick value and balance (app/engine/sizing.py).
    risk: RiskRequest | None = None
    # A trailing stop order on its own (order_type TRAILING_STOP): the distance it trails the
    # price by, in whole ticks (1..1000); the engine prices its trailPrice from the last price.
    trail_ticks: int | None = None


@dataclass(frozen=True)
class OrderRequest:
    """One order to place on the gateway (``Order/place``), in the bridge's words.

    ``client_order_id`` is sent as the order's tag and must be unique on the account.
    """

    account_id: int
    contract_id: str
    side: Side
    order_type: OrderType
    size: int
    client_order_id: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    bracket: Bracket | None = None
    # A trailing stop (TRAILING_STOP): the absolute price it starts at; the gateway trails by
    # |last price − trail_price| (projectx-api.md §6.2).
    trail_price: Decimal | None = None


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the gateway reports it (Order/search, Order/searchOpen, User Hub)."""

    broker_order_id: int
    account_id: int
    contract_id: str
    state: OrderState
    order_type: str  # "market", "limit", "stop", "stop_limit", "trailing_stop", …
    side: Side
    size: int
    fill_volume: int = 0
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    filled_price: Decimal | None = None
    client_order_id: str | None = None
    parent_broker_order_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Position:
    """An open position. ``size`` in contracts, always positive; ``side`` BUY = long."""

    account_id: int
    contract_id: str
    side: Side
    size: int
    average_price: Decimal


@dataclass
class OrderOutcome:
    """What happened to one order row of an alert, as the webhook response reports it."""

    order_record_id: int
    account_id: int
    contract_id: str
    leg: Leg
    state: OrderState
    client_order_id: str | None = None
    broker_order_id: int | None = None
    message: str | None = None
    side: Side | None = None
    size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
