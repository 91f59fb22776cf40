"""The journal's tables (SQLModel). The schema is made by app/journal/migrations/, never by create_all.

Prices are Decimal points (exact strings in the database), sizes contracts, offsets whole
ticks, times tz-aware UTC. Enum columns hold the StrEnum values as plain strings. No
relationships: rows are returned detached and fully loaded, nothing loads lazily.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.domain.enums import Action, AlertStatus, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventLevel, OcoKind, OcoState
from app.journal.types import DecimalString, StrEnumString, UTCDateTime

# Named constraints keep future migrations (SQLite batch mode, PostgreSQL ALTER) simple.
# journal/ is the only package with tables, so SQLModel's shared metadata is ours.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EVENT_LEVELS = tuple(EventLevel)
OCO_KINDS = tuple(OcoKind)
OCO_STATES = tuple(OcoState)  # what each state means: OcoState's docstring


def gateway_column() -> Any:
    """The gateway a row came from (``sim:<tag>``, ``topstepx``, ``custom:<url>``; Journal.gateway)."""
    return Field(default="", sa_type=String, sa_column_kwargs={"server_default": text("''")})


class AlertRecord(SQLModel, table=True):
    """One received webhook (table ``alert``). ``raw_body`` never holds the webhook secret."""

    __tablename__ = "alert"
    # Serves the dedupe look-up and, by its prefix, listing one strategy's alerts.
    __table_args__ = (Index("ix_alert_strategy_dedupe_key", "strategy", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    strategy: str = Field(sa_type=String)
    # Indexed: the risk gate counts the entries of alerts received since the trading day began.
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    alert_time: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the alert's own
    source_ip: str = Field(default="", sa_type=String)
    content_type: str = Field(default="", sa_type=String)
    raw_body: str = Field(sa_type=Text)
    dedupe_key: str | None = Field(default=None, sa_type=String)
    status: AlertStatus = Field(sa_type=StrEnumString(AlertStatus))
    reason: str | None = Field(default=None, sa_type=Text)
    duplicate_of: int | None = Field(default=None, foreign_key="alert.id")
    ticker: str | None = Field(default=None, sa_type=String)  # as TradingView sent it
    contract_id: str | None = Field(default=None, sa_type=String)  # as ProjectX knows it
    # Indexed: the web page's live feed asks for alerts settled since the last look.
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class OrderRecord(SQLModel, table=True):
    """One order the bridge sent or means to send (table ``order_record``).

    Bracket legs point at their entry through ``parent_id``. ``size`` in contracts,
    prices in points, ``*_ticks`` positive whole ticks.
    """

    __tablename__ = "order_record"
    __table_args__ = (UniqueConstraint("account_id", "client_order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    gateway: str = gateway_column()
    alert_id: int = Field(foreign_key="alert.id", index=True)
    account_id: int = Field(sa_type=BigInteger)
    account_name: str = Field(sa_type=String)
    contract_id: str = Field(sa_type=String)
    leg: Leg = Field(sa_type=StrEnumString(Leg))
    action: Action = Field(sa_type=StrEnumString(Action))
    side: Side | None = Field(default=None, sa_type=StrEnumString(Side))
    order_type: OrderType | None = Field(default=None, sa_type=StrEnumString(OrderType))
    size: int | None = None
    limit_price: Decimal | None = Field(default=None, sa_type=DecimalString)
    stop_price: Decimal | None = Field(default=None, sa_type=DecimalString)
    stop_loss_ticks: int | None = None
    take_profit_ticks: int | None = None
    client_order_id: str | None = Field(default=None, sa_type=String)  # our order tag
    broker_order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    parent_id: int | None = Field(default=None, foreign_key="order_record.id")
    state: OrderState = Field(sa_type=StrEnumString(OrderState), index=True)
    message: str | None = Field(default=None, sa_type=Text)
    filled_price: Decimal | None = Field(default=None, sa_type=DecimalString)
    fill_volume: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    request_json: str | None = Field(default=None, sa_type=Text)  # the exact gateway body
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # The latency chain (UTC): Order/place sent, its answer received, the first and last fill.
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_fill_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_fill_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The gateway's updateTimestamp of the state held here: an older event changes nothing.
    broker_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Slippage of an entry: the price the template rendered (points) and the contract's tick
    # size (points) and tick value (USD per tick per contract) when the order was written.
    reference_price: Decimal | None = Field(default=None, sa_type=DecimalString)
    tick_size: Decimal | None = Field(default=None, sa_type=DecimalString)
    tick_value: Decimal | None = Field(default=None, sa_type=DecimalString)
    # The OCO pair (or managed bracket) this order belongs to: its entry and its legs.
    oco_group_id: int | None = Field(default=None, foreign_key="oco_group.id", index=True)

    @property
    def request(self) -> dict[str, Any] | None:
        """The gateway body that was sent, parsed from ``request_json``."""
        return None if self.request_json is None else json.loads(self.request_json)


class OcoGroupRecord(SQLModel, table=True):
    """One pair of orders the bridge manages (table ``oco_group``): an OCO template's two orders,
    or a managed bracket (its entry, then the stop loss and take profit placed after the fill).

    ``kind`` is one of OCO_KINDS, ``state`` one of OCO_STATES; ``policy`` is what happens when
    both legs fill ("flatten" | "keep") or when a managed bracket is not working in time
    ("close" | "keep"). ``note`` says in words what happened last.
    """

    __tablename__ = "oco_group"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id")
    account_id: int = Field(sa_type=BigInteger)
    contract_id: str = Field(sa_type=String)
    kind: str = Field(sa_type=String(32))
    state: str = Field(sa_type=String(32), index=True)
    policy: str = Field(sa_type=String(32))
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class FillRecord(SQLModel, table=True):
    """One fill (table ``fill``), journaled once by the gateway's trade id.

    ``order_record_id`` is our order row when the filled order is ours. ``size`` contracts,
    ``price`` points, ``fees``/``commissions``/``profit_and_loss`` USD (P&L None when opening).
    """

    __tablename__ = "fill"
    # The indexes serve the risk gate: one account's fills since an instant or newest first,
    # and the newest fill in each contract (of one account, or of all).
    __table_args__ = (
        UniqueConstraint("gateway", "trade_id", "account_id"),
        Index("ix_fill_account_id_filled_at", "account_id", "filled_at"),
        Index("ix_fill_account_id_contract_id_filled_at", "account_id", "contract_id", "filled_at"),
        Index("ix_fill_contract_id_filled_at", "contract_id", "filled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    gateway: str = gateway_column()
    trade_id: int = Field(sa_type=BigInteger)
    account_id: int = Field(sa_type=BigInteger)
    contract_id: str = Field(sa_type=String)
    broker_order_id: int = Field(sa_type=BigInteger, index=True)
    order_record_id: int | None = Field(default=None, foreign_key="order_record.id", index=True)
    side: Side = Field(sa_type=StrEnumString(Side))
    size: int
    price: Decimal = Field(sa_type=DecimalString)
    fees: Decimal | None = Field(default=None, sa_type=DecimalString)
    commissions: Decimal | None = Field(default=None, sa_type=DecimalString)
    profit_and_loss: Decimal | None = Field(default=None, sa_type=DecimalString)
    voided: bool = False
    filled_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class PositionRecord(SQLModel, table=True):
    """The latest position in one contract on one account (table ``position``).

    ``side`` BUY = long, SELL = short, None = flat (then ``size`` 0). ``average_price`` points.
    """

    __tablename__ = "position"
    __table_args__ = (UniqueConstraint("gateway", "account_id", "contract_id"),)

    id: int | None = Field(default=None, primary_key=True)
    gateway: str = gateway_column()
    account_id: int = Field(sa_type=BigInteger)
    contract_id: str = Field(sa_type=String)
    side: Side | None = Field(default=None, sa_type=StrEnumString(Side))
    size: int = 0
    average_price: Decimal | None = Field(default=None, sa_type=DecimalString)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AccountStateRecord(SQLModel, table=True):
    """The latest state of one trading account (table ``account_state``); balance in USD.

    ``high_water`` is the highest balance the journal has written for the account (USD), the
    mark a trailing drawdown is measured from; None only before the first balance.
    """

    __tablename__ = "account_state"

    gateway: str = Field(default="", primary_key=True, sa_type=String)
    account_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    name: str = Field(sa_type=String)
    balance: Decimal = Field(sa_type=DecimalString)
    can_trade: bool
    updated_at: datetime = Field(sa_type=UTCDateTime)
    high_water: Decimal | None = Field(default=None, sa_type=DecimalString)


class LockoutRecord(SQLModel, table=True):
    """A risk lockout of one account (table ``lockout``): entries are refused until ``until``.

    One row per account at most; a row whose ``until`` has passed is simply not active. ``since``
    and ``until`` tz-aware UTC; ``by`` says who locked, e.g. "risk: daily loss" or "cli".
    """

    __tablename__ = "lockout"

    account_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    account_name: str = Field(sa_type=String)
    reason: str = Field(sa_type=Text)
    since: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    by: str = Field(sa_type=String)


class OrderStatusRecord(SQLModel, table=True):
    """One state change of an order (table ``order_status``), the first SUBMITTING included."""

    __tablename__ = "order_status"

    id: int | None = Field(default=None, primary_key=True)
    order_record_id: int = Field(foreign_key="order_record.id", index=True)
    state: OrderState = Field(sa_type=StrEnumString(OrderState))
    at: datetime = Field(sa_type=UTCDateTime)
    message: str | None = Field(default=None, sa_type=Text)


class EventRecord(SQLModel, table=True):
    """Something worth telling the trader (table ``event``); ``level`` is one of EVENT_LEVELS."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    gateway: str = gateway_column()
    at: datetime = Field(sa_type=UTCDateTime)
    level: str = Field(sa_type=String(16))
    kind: str = Field(sa_type=String)  # a short slug, e.g. "order_rejected"
    message: str = Field(sa_type=Text)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    order_record_id: int | None = Field(default=None, foreign_key="order_record.id")
    data_json: str | None = Field(default=None, sa_type=Text)

    @property
    def data(self) -> dict[str, Any] | None:
        """The event's details, parsed from ``data_json``."""
        return None if self.data_json is None else json.loads(self.data_json)


class NotificationRecord(SQLModel, table=True):
    """What became of one notice for one target (table ``notification``, migration 0007): the
    newest NOTIFICATIONS_KEPT rows are kept. ``target`` is Apprise's privacy form ("" when the
    notice was dropped before a target); ``status`` one of app/notify's Status values (sent,
    failed, duplicate, quiet, queue_full); ``detail`` the failure's reason; text scrubbed."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(sa_type=String(32))
    level: str = Field(sa_type=String(16))
    title: str = Field(sa_type=Text)
    target: str = Field(sa_type=String)
    status: str = Field(sa_type=String(16))
    detail: str = Field(default="", sa_type=Text)
    attempts: int = Field(default=0)


class MetaRecord(SQLModel, table=True):
    """One setting of this database (table ``journal_meta``), e.g. ``instance`` or ``paused``."""

    __tablename__ = "journal_meta"

    key: str = Field(primary_key=True, sa_type=String(64))
    value: str = Field(sa_type=String)
