"""The journal's plain records: what its callers pass in and get back besides table rows.

Frozen dataclasses and read-only Protocols, no SQLAlchemy: the engine and the pages import
these without the database layer. Prices are Decimal points, times tz-aware UTC, money USD.
``OrderRow`` and ``OcoGroupRow`` describe the rows the journal's hot-path reads return (the
columns of ``order_record`` and ``oco_group`` as read-only attributes). The journal's table
classes (app/journal/tables.py) have the same attributes, but their ``id`` is ``int | None``
(None before the row is written), so OrderRecord is an OrderFacts, not an OrderRow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.domain.enums import Action, Leg, OrderState, OrderType, Side


class AlertTimes(Protocol):
    """What LatencyChain reads of an alert row."""

    @property
    def id(self) -> int | None: ...
    @property
    def alert_time(self) -> datetime | None: ...
    @property
    def received_at(self) -> datetime: ...


class OrderFacts(Protocol):
    """What LatencyChain reads of an order row: its times, and an entry's prices for slippage."""

    @property
    def id(self) -> int | None: ...
    @property
    def leg(self) -> Leg: ...
    @property
    def side(self) -> Side | None: ...
    @property
    def fill_volume(self) -> int: ...
    @property
    def reference_price(self) -> Decimal | None: ...
    @property
    def filled_price(self) -> Decimal | None: ...
    @property
    def tick_size(self) -> Decimal | None: ...
    @property
    def tick_value(self) -> Decimal | None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def first_fill_at(self) -> datetime | None: ...
    @property
    def last_fill_at(self) -> datetime | None: ...


class OrderRow(OrderFacts, Protocol):
    """A read-only row of ``order_record`` (Journal.order_for_event, Journal.oco_group_orders).

    ``size`` contracts, prices points, ``*_ticks`` positive whole ticks, times UTC.
    """

    @property
    def id(self) -> int | None: ...  # None only on a table object not yet flushed
    @property
    def gateway(self) -> str: ...
    @property
    def alert_id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def account_name(self) -> str: ...
    @property
    def contract_id(self) -> str: ...
    @property
    def action(self) -> Action: ...
    @property
    def order_type(self) -> OrderType | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def stop_loss_ticks(self) -> int | None: ...
    @property
    def take_profit_ticks(self) -> int | None: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def broker_order_id(self) -> int | None: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def state(self) -> OrderState: ...
    @property
    def message(self) -> str | None: ...
    @property
    def request_json(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def broker_updated_at(self) -> datetime | None: ...
    @property
    def oco_group_id(self) -> int | None: ...


class OcoGroupRow(Protocol):
    """A read-only row of ``oco_group`` (Journal.oco_group): ``kind`` an OcoKind value, ``state``
    an OcoState value, ``policy`` "flatten" | "keep" | "close"; times UTC."""

    @property
    def id(self) -> int | None: ...  # None only on a table object not yet flushed
    @property
    def alert_id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def contract_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def note(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True)
class OrderUpdate:
    """One change to an order row for update_orders; None leaves a column as it is."""

    order_record_id: int
    state: OrderState
    broker_order_id: int | None = None
    message: str | None = None
    filled_price: Decimal | None = None
    fill_volume: int | None = None
    previous: OrderState | None = None  # the stored state when the caller knows it (saves a read)
    acknowledged_at: datetime | None = None  # when the gateway's answer to Order/place came


@dataclass(frozen=True)
class Slippage:
    """How far one entry filled from the price the template rendered.

    ``ticks`` is positive when the fill was worse for the trader (a buy above, a sell below the
    reference) and may be fractional for an average of several fills; ``usd`` is ticks × tick
    value × contracts filled (None without a tick value).
    """

    order_record_id: int
    side: Side
    reference_price: Decimal
    fill_price: Decimal
    size: int
    ticks: Decimal
    usd: Decimal | None


@dataclass(frozen=True)
class LatencyChain:
    """When each step of one alert happened (UTC; None when unknown), and its entries' slippage.

    alert_time (the alert's own time) → received_at → sent_at (first Order/place) →
    acknowledged_at (first answer) → first_fill_at → last_fill_at (fills of the orders the alert
    sent; bracket legs filled later are not part of it).
    """

    alert_id: int
    alert_time: datetime | None
    received_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    first_fill_at: datetime | None
    last_fill_at: datetime | None
    slippage: list[Slippage] = field(default_factory=list)

    @classmethod
    def of(cls, alert: AlertTimes, orders: Iterable[OrderFacts]) -> LatencyChain:
        """The chain of ``alert`` from its order rows (already read), without another query."""
        sent = [o for o in orders if o.sent_at is not None]

        def first(name: str) -> datetime | None:
            times: list[datetime] = [getattr(o, name) for o in sent if getattr(o, name) is not None]
            return min(times) if times else None

        last_fills = [o.last_fill_at for o in sent if o.last_fill_at is not None]
        return cls(
            alert_id=alert.id or 0,
            alert_time=alert.alert_time,
            received_at=alert.received_at,
            sent_at=first("sent_at"),
            acknowledged_at=first("acknowledged_at"),
            first_fill_at=first("first_fill_at"),
            last_fill_at=max(last_fills) if last_fills else None,
            slippage=[s for s in map(slippage_of, sent) if s is not None],
        )

    def steps(self) -> list[tuple[str, str, float]]:
        """The known steps in order as ``(from, to, seconds)`` between consecutive known times."""
        names = ("alert_time", "received_at", "sent_at", "acknowledged_at", "first_fill_at", "last_fill_at")
        known: list[tuple[str, datetime]] = [
            (name, getattr(self, name)) for name in names if getattr(self, name) is not None
        ]
        return [(a, b, (tb - ta).total_seconds()) for (a, ta), (b, tb) in zip(known, known[1:], strict=False)]


def slippage_of(order: OrderFacts) -> Slippage | None:
    """The slippage of an entry row with a reference price, a tick size and a fill, else None."""
    if order.leg != Leg.ENTRY or order.side is None or not order.fill_volume:
        return None
    if order.reference_price is None or order.filled_price is None or not order.tick_size:
        return None
    sign = 1 if order.side == Side.BUY else -1
    ticks = sign * (order.filled_price - order.reference_price) / order.tick_size
    usd = None if order.tick_value is None else ticks * order.tick_value * order.fill_volume
    return Slippage(
        order.id or 0, order.side, order.reference_price, order.filled_price, order.fill_volume, ticks, usd
    )


@dataclass(frozen=True)
class AlertEntry:
    """A journaled alert: its id, and the original alert's id when it is a duplicate."""

    alert_id: int
    duplicate_of: int | None = None


@dataclass(frozen=True)
class PauseState:
    """The kill switch is on: alerts are journaled PAUSED, never executed.

    ``since`` is tz-aware UTC; ``by`` says who paused, e.g. "web page 127.0.0.1" or "cli".
    """

    since: datetime
    by: str


@dataclass(frozen=True)
class JournalCursor:
    """Where the journal stood at one look: the newest row id of each table that tells an
    alert changed, and the newest ``settled_at`` (UTC; None while no alert is settled)."""

    alert_id: int = 0
    order_status_id: int = 0
    fill_id: int = 0
    event_id: int = 0
    settled_at: datetime | None = None


@dataclass(frozen=True)
class RiskNumbers:
    """What the journal knows of one account's trading for the risk gate (risk_numbers).

    ``realised_pnl`` USD since the instant asked for: every live fill's P&L (None, an opening
    fill, counts 0) less its fees and commissions. ``entries``: entry orders sent on the account
    for alerts received since then (rejected and never-placed ones left out, an OCO pair counted
    once); ``strategy_entries`` the same for one strategy's alerts. ``losing_streak``: losing
    trades in a row up to the newest, at any time (a trade is the closing fills of one order in a
    row, losing when its P&L less fees and commissions is below 0); ``last_loss_at`` the newest
    fill of that streak (UTC), None without one. ``last_fill_prices``: contract id → price
    (points) of the account's newest fill in it, at any time.
    """

    realised_pnl: Decimal
    entries: int
    strategy_entries: int
    losing_streak: int
    last_loss_at: datetime | None
    last_fill_prices: dict[str, Decimal] = field(default_factory=dict)
