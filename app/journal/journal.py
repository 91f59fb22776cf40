"""The order journal: every alert, order, state change and event, committed before anything acts.

Called from one worker thread (any thread, one at a time); each call is one short transaction
and returns rows detached and fully loaded. Every database failure raises JournalError.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, case, delete, func, insert, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session, col, select

from app.domain.enums import Action, AlertStatus, Leg, OrderState, OrderType, Side
from app.domain.events import Fill, PositionEvent
from app.domain.models import Account, BrokerOrder
from app.errors import JournalError
from app.journal import migrate
from app.journal.db import is_fault, is_locked, journal_error, make_engine, redact
from app.journal.tables import (
    EVENT_LEVELS,
    OCO_KINDS,
    OCO_STATES,
    AccountStateRecord,
    AlertRecord,
    EventRecord,
    FillRecord,
    LockoutRecord,
    MetaRecord,
    OcoGroupRecord,
    OrderRecord,
    OrderStatusRecord,
    PositionRecord,
)
from app.redact import scrub, scrub_data

log = logging.getLogger("tvbridge.journal")

R = TypeVar("R", AlertRecord, OrderRecord)

_ALERT = AlertRecord.__table__  # type: ignore[attr-defined]
_ORDER = OrderRecord.__table__  # type: ignore[attr-defined]
_STATUS = OrderStatusRecord.__table__  # type: ignore[attr-defined]
_FILL = FillRecord.__table__  # type: ignore[attr-defined]
_POSITION = PositionRecord.__table__  # type: ignore[attr-defined]
_ACCOUNT = AccountStateRecord.__table__  # type: ignore[attr-defined]
_EVENT = EventRecord.__table__  # type: ignore[attr-defined]
_META = MetaRecord.__table__  # type: ignore[attr-defined]
# check_writable's row: four or five 4 KiB pages, about what a burst of alerts adds.
WRITE_CHECK_KEY = "write-check"
WRITE_CHECK_BYTES = 16 * 1024
WRITE_CHECK_VALUE = "x" * WRITE_CHECK_BYTES

# The hot path's statements, built once: building a statement costs SQLAlchemy far more than
# SQLite takes to run it (cache keys, coercions), and the webhook's round trip pays for each.
_INSERT_ALERT = insert(_ALERT)
_INSERT_ORDER = insert(_ORDER)
_INSERT_STATUS = insert(_STATUS)
_UPDATE_ALERT = update(_ALERT).where(_ALERT.c.id == bindparam("row_id"))
_UPDATE_ORDER = update(_ORDER).where(_ORDER.c.id == bindparam("row_id"))
_ORDER_STATE = core_select(_ORDER.c.state).where(_ORDER.c.id == bindparam("row_id"))
# Per gateway event (hub or reconciliation): fills, order states, positions, accounts.
_INSERT_FILL = insert(_FILL)
_UPDATE_FILL = update(_FILL).where(_FILL.c.id == bindparam("row_id"))
_FILL_BY_TRADE = core_select(_FILL.c.id, _FILL.c.voided, _FILL.c.order_record_id).where(
    _FILL.c.gateway == bindparam("of_gateway"),
    _FILL.c.account_id == bindparam("account"),
    _FILL.c.trade_id == bindparam("trade"),
)
_FILLS_OF_ORDER = core_select(_FILL.c.size, _FILL.c.price, _FILL.c.filled_at).where(
    _FILL.c.order_record_id == bindparam("row_id"), _FILL.c.voided.is_(False)
)
_ATTACH_FILLS = (
    update(_FILL)
    .where(
        _FILL.c.account_id == bindparam("account"),
        _FILL.c.broker_order_id == bindparam("broker"),
        _FILL.c.order_record_id.is_(None),
        # The order row's own gateway: ids restart per gateway (migration 0006).
        _FILL.c.gateway
        == core_select(_ORDER.c.gateway).where(_ORDER.c.id == bindparam("row")).scalar_subquery(),
    )
    .values(order_record_id=bindparam("row"))
)
_ORDER_AS_HELD = core_select(
    _ORDER.c.account_id,
    _ORDER.c.state,
    _ORDER.c.broker_order_id,
    _ORDER.c.broker_updated_at,
    _ORDER.c.fill_volume,
    _ORDER.c.filled_price,
    _ORDER.c.limit_price,
    _ORDER.c.stop_price,
).where(_ORDER.c.id == bindparam("row_id"))
_UPDATE_POSITION = update(_POSITION).where(
    _POSITION.c.gateway == bindparam("of_gateway"),
    _POSITION.c.account_id == bindparam("account"),
    _POSITION.c.contract_id == bindparam("contract"),
)
_INSERT_POSITION = insert(_POSITION)
_UPDATE_ACCOUNT = update(_ACCOUNT).where(
    _ACCOUNT.c.gateway == bindparam("of_gateway"), _ACCOUNT.c.account_id == bindparam("account")
)
_INSERT_ACCOUNT = insert(_ACCOUNT)
_INSERT_EVENT = insert(_EVENT)
_ORIGINAL_ALERT = (
    core_select(_ALERT.c.id, _ALERT.c.duplicate_of, _ALERT.c.status)
    .where(
        _ALERT.c.strategy == bindparam("strategy"),
        _ALERT.c.dedupe_key == bindparam("dedupe_key"),
        _ALERT.c.received_at >= bindparam("since"),
        _ALERT.c.received_at <= bindparam("until"),
        _ALERT.c.status.not_in(bindparam("not_accepted", expanding=True)),
    )
    .order_by(_ALERT.c.id.desc())
    .limit(1)
)
# An order row of the alert that may have reached the gateway (anything but NOT_PLACED).
_ALERT_REACHED = (
    core_select(_ORDER.c.id)
    .where(_ORDER.c.alert_id == bindparam("alert_id"), _ORDER.c.state != OrderState.NOT_PLACED)
    .limit(1)
)

_ORDER_BY_BROKER = (
    core_select(_ORDER)
    .where(
        _ORDER.c.gateway == bindparam("of_gateway"),
        _ORDER.c.account_id == bindparam("account_id"),
        _ORDER.c.broker_order_id == bindparam("broker_order_id"),
        _ORDER.c.leg != Leg.CANCEL,
    )
    .order_by(_ORDER.c.id)
    .limit(1)
)
_ORDER_BY_TAG = core_select(_ORDER).where(
    _ORDER.c.gateway == bindparam("of_gateway"),
    _ORDER.c.account_id == bindparam("account_id"),
    _ORDER.c.client_order_id == bindparam("client_order_id"),
)

# OCO groups: read and written for every hub event about one of their orders.
_GROUP = OcoGroupRecord.__table__  # type: ignore[attr-defined]
_INSERT_GROUP = insert(_GROUP)
_UPDATE_GROUP = update(_GROUP).where(_GROUP.c.id == bindparam("row_id"))
_GROUP_BY_ID = core_select(_GROUP).where(_GROUP.c.id == bindparam("row_id"))
_ORDERS_OF_GROUP = (
    core_select(_ORDER).where(_ORDER.c.oco_group_id == bindparam("group_id")).order_by(_ORDER.c.id)
)
_SET_ORDER_GROUP = update(_ORDER).where(_ORDER.c.id == bindparam("row_id"))

# The live feed's look for changes (changes_since): maxima and id ranges on indexed columns.
CHANGES_LIMIT = 200  # alert ids changes_since returns at most
_MAX_ALERT = core_select(func.max(_ALERT.c.id))
_MAX_STATUS = core_select(func.max(_STATUS.c.id))
_MAX_FILL = core_select(func.max(_FILL.c.id))
_MAX_EVENT = core_select(func.max(_EVENT.c.id))
_MAX_SETTLED = core_select(func.max(_ALERT.c.settled_at))
_LOW: BindParameter[Any] = bindparam("low")
_HIGH: BindParameter[Any] = bindparam("high")
_NEW_ALERTS = (
    core_select(_ALERT.c.id)
    .where(_ALERT.c.id > _LOW, _ALERT.c.id <= _HIGH)
    .order_by(_ALERT.c.id.desc())
    .limit(CHANGES_LIMIT)
)
_SETTLED_ALERTS = (
    core_select(_ALERT.c.id)
    .where(_ALERT.c.settled_at > _LOW, _ALERT.c.settled_at <= _HIGH)
    .order_by(_ALERT.c.id.desc())
    .limit(CHANGES_LIMIT)
)


def _alerts_touched(table: Any) -> Any:
    """The ids of the alerts whose orders have rows of ``table`` (order_status, fill) in an id range."""
    return (
        core_select(_ORDER.c.alert_id)
        .join(table, table.c.order_record_id == _ORDER.c.id)
        .where(table.c.id > _LOW, table.c.id <= _HIGH)
        .distinct()
        .order_by(_ORDER.c.alert_id.desc())
        .limit(CHANGES_LIMIT)
    )


_STATUS_ALERTS = _alerts_touched(_STATUS)
_FILL_ALERTS = _alerts_touched(_FILL)
_EVENT_ALERTS = (
    core_select(_EVENT.c.alert_id)
    .where(_EVENT.c.id > _LOW, _EVENT.c.id <= _HIGH, _EVENT.c.alert_id.is_not(None))
    .distinct()
    .order_by(_EVENT.c.alert_id.desc())
    .limit(CHANGES_LIMIT)
)

# The risk gate's numbers (risk_numbers), read before every entry: one account's fills by time
# (ix_fill_account_id_filled_at) and its entries of the alerts received since an instant.
_LOCKOUT = LockoutRecord.__table__  # type: ignore[attr-defined]
_ACCOUNT_HIGH_WATER = core_select(_ACCOUNT.c.high_water).where(
    _ACCOUNT.c.gateway == bindparam("of_gateway"), _ACCOUNT.c.account_id == bindparam("account")
)
_ACCOUNT_FILLS = (
    _FILL.c.gateway == bindparam("of_gateway"),
    _FILL.c.account_id == bindparam("account"),
    _FILL.c.voided.is_(False),
)
_FILL_MONEY = core_select(_FILL.c.profit_and_loss, _FILL.c.fees, _FILL.c.commissions).where(
    *_ACCOUNT_FILLS, _FILL.c.filled_at >= bindparam("since")
)
# Newest first, read a page at a time: the streak usually ends within a few trades.
_CLOSING_FILLS = (
    core_select(
        _FILL.c.broker_order_id,
        _FILL.c.profit_and_loss,
        _FILL.c.fees,
        _FILL.c.commissions,
        _FILL.c.filled_at,
    )
    .where(*_ACCOUNT_FILLS, _FILL.c.profit_and_loss.is_not(None))
    .order_by(_FILL.c.filled_at.desc(), _FILL.c.id.desc())
    .execution_options(yield_per=50)
)
# An OCO pair (two entry rows in one group) is one entry: count groups, else rows.
_ENTRY_KEY = func.coalesce(_ORDER.c.oco_group_id, -_ORDER.c.id)
_NOT_SENT = (OrderState.REJECTED, OrderState.NOT_PLACED)
_ENTRIES = (
    core_select(
        func.count(func.distinct(_ENTRY_KEY)),
        func.count(func.distinct(case((_ALERT.c.strategy == bindparam("strategy"), _ENTRY_KEY)))),
    )
    .select_from(_ORDER.join(_ALERT, _ORDER.c.alert_id == _ALERT.c.id))
    .where(
        _ORDER.c.gateway == bindparam("of_gateway"),
        _ORDER.c.account_id == bindparam("account"),
        _ORDER.c.leg == Leg.ENTRY,
        _ORDER.c.state.not_in(_NOT_SENT),
        _ALERT.c.received_at >= bindparam("since"),
    )
)


def _newest_fills(*, of_account: bool) -> Any:
    """Per contract (of one account, or of all), its newest live fill: contract_id, price,
    filled_at. A skip scan: each step is one index look-up, however many fills there are."""

    def mine(fill: Any) -> list[Any]:
        gateway = fill.c.gateway == bindparam("of_gateway")
        return [gateway, fill.c.account_id == bindparam("account")] if of_account else [gateway]

    first = core_select(func.min(_FILL.c.contract_id).label("contract_id")).where(*mine(_FILL))
    contracts = first.cte("contracts", recursive=True)
    following = core_select(func.min(_FILL.c.contract_id)).where(
        *mine(_FILL), _FILL.c.contract_id > contracts.c.contract_id
    )
    walk = contracts.union_all(
        core_select(following.scalar_subquery()).where(contracts.c.contract_id.is_not(None))
    )
    newer = _FILL.alias("newer")
    newest = (
        core_select(newer.c.id)
        .where(*mine(newer), newer.c.contract_id == walk.c.contract_id, newer.c.voided.is_(False))
        .order_by(newer.c.filled_at.desc(), newer.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return core_select(_FILL.c.contract_id, _FILL.c.price, _FILL.c.filled_at).join_from(
        walk, _FILL, _FILL.c.id == newest
    )


_ACCOUNT_FILL_PRICES = _newest_fills(of_account=True)
_FILL_PRICES = _newest_fills(of_account=False)
_REFERENCE_PRICES = core_select(_ORDER.c.contract_id, _ORDER.c.reference_price, _ORDER.c.created_at).where(
    _ORDER.c.id.in_(
        core_select(func.max(_ORDER.c.id))
        .where(_ORDER.c.gateway == bindparam("of_gateway"), _ORDER.c.reference_price.is_not(None))
        .group_by(_ORDER.c.contract_id)
    )
)
_NEWEST_TICKED = (
    core_select(func.max(_ORDER.c.id))
    .where(_ORDER.c.tick_size.is_not(None), _ORDER.c.tick_value.is_not(None))
    .group_by(_ORDER.c.contract_id)
)
_CONTRACT_TICKS = core_select(_ORDER.c.contract_id, _ORDER.c.tick_size, _ORDER.c.tick_value).where(
    _ORDER.c.id.in_(_NEWEST_TICKED)
)
_LOCKOUT_OF = core_select(_LOCKOUT).where(_LOCKOUT.c.account_id == bindparam("account"))
_DELETE_LOCKOUT = delete(_LOCKOUT).where(_LOCKOUT.c.account_id == bindparam("account"))
_INSERT_LOCKOUT = insert(_LOCKOUT)

INSTANCE_KEY = "instance"
ADOPTED_KEY = "gateway_adopted"  # which gateway took the rows written before migration 0006
PAUSE_KEY = "paused"  # present while the kill switch holds alerts: {"since": ISO UTC, "by": text}
TUNNEL_KEY = "tunnel"  # the tunnel client's last recorded state (app/tunnel TunnelState as JSON)
FOLLOW_KEY = "follow_mark"  # ISO UTC: a REST catch-up from here misses nothing (app/engine/follow.py)
INSTANCE_ALPHABET = string.ascii_lowercase + string.digits
INSTANCE_LENGTH = 6

# An earlier alert with one of these statuses was never accepted for processing, so a re-send
# is not a duplicate of it. (A FAILED alert none of whose orders reached the gateway is not
# one either: see record_alert.)
NOT_ACCEPTED = (
    AlertStatus.INVALID,
    AlertStatus.UNAUTHORIZED,
    AlertStatus.UNKNOWN_STRATEGY,
    AlertStatus.TOO_LARGE,
    AlertStatus.DUPLICATE,
    AlertStatus.PAUSED,
)


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
    def of(cls, alert: AlertRecord, orders: Iterable[OrderRecord]) -> LatencyChain:
        """The chain of ``alert`` from its order rows (already read), without another query."""
        sent = [o for o in orders if o.sent_at is not None]

        def first(name: str) -> datetime | None:
            times = [getattr(o, name) for o in sent if getattr(o, name) is not None]
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
            slippage=[s for s in map(_slippage, sent) if s is not None],
        )

    def steps(self) -> list[tuple[str, str, float]]:
        """The known steps in order as ``(from, to, seconds)`` between consecutive known times."""
        names = ("alert_time", "received_at", "sent_at", "acknowledged_at", "first_fill_at", "last_fill_at")
        known = [(name, getattr(self, name)) for name in names if getattr(self, name) is not None]
        return [(a, b, (tb - ta).total_seconds()) for (a, ta), (b, tb) in zip(known, known[1:], strict=False)]


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


class Journal:
    """The journal database at ``url`` (any SQLAlchemy URL; SQLite in WAL mode by default).

    ``on_commit``, when set, is called with no arguments after every write transaction commits,
    on the thread that ran it; its exceptions are logged and swallowed (the web page's live
    feed wakes up on it). Raises JournalError when the URL cannot be read or its driver is
    missing.

    ``gateway`` is the identity of the gateway the bridge runs on (``sim:<tag>``, ``topstepx``,
    ``custom:<api url>``; GatewaySettings.identity): accounts, orders, fills, positions and
    events are written with it, and what a gateway's ids key (fills by trade id, orders by broker
    id or tag, positions, account states, the risk numbers, the latest shutdown) is read only
    from its own rows, so a journal used with the simulator and then a live account never mixes
    them (migration 0006).
    """

    on_commit: Callable[[], None] | None = None

    def __init__(self, url: str, *, gateway: str = "") -> None:
        self._engine = make_engine(url)
        self._instance: str | None = None
        self.gateway = gateway
        # Write transactions committed so far (and session transactions, which may only read):
        # a caller that sees it unchanged across a failed call knows the call changed nothing.
        self.commits = 0
        # The last time (time.monotonic()) a transaction failed because the database could not
        # work (locked, full, read-only, I/O), with the reason; check_writable clears it.
        self.fault: str | None = None
        self.fault_at = 0.0

    @property
    def local(self) -> bool:
        """True when the database is a file on this machine (SQLite): a call then takes a
        fraction of a millisecond and may run on the caller's thread."""
        return self._engine.dialect.name == "sqlite"

    @property
    def local_file(self) -> bool:
        """True for a SQLite file (not an in-memory database, which closing would lose)."""
        return self.local and self._engine.url.database not in (None, "", ":memory:")

    # -- schema --------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Migrate the database to the newest schema and make its instance tag. Idempotent."""
        migrate.upgrade(self._engine)
        with self._transaction("make the instance tag") as session:
            meta = session.get(MetaRecord, INSTANCE_KEY)
            if meta is None:
                tag = "".join(secrets.choice(INSTANCE_ALPHABET) for _ in range(INSTANCE_LENGTH))
                meta = MetaRecord(key=INSTANCE_KEY, value=tag)
                session.add(meta)
        self._instance = meta.value
        self._adopt_rows_without_gateway()

    def _adopt_rows_without_gateway(self) -> None:
        """Once: rows written before migration 0006 have no gateway; the first gateway to open
        the journal after it takes them (the one the trader used so far, in all likelihood)."""
        if not self.gateway:
            return
        with self._write("adopt rows without a gateway") as conn:
            if conn.execute(core_select(_META.c.key).where(_META.c.key == ADOPTED_KEY)).first():
                return
            for table in (_ACCOUNT, _ORDER, _FILL, _POSITION, _EVENT):
                conn.execute(update(table).where(table.c.gateway == "").values(gateway=self.gateway))
            conn.execute(insert(_META).values(key=ADOPTED_KEY, value=self.gateway))

    @property
    def instance(self) -> str:
        """This database's 6-character [a-z0-9] tag, used in every client_order_id."""
        if self._instance is None:
            with self._transaction("read the instance tag") as session:
                meta = session.get(MetaRecord, INSTANCE_KEY)
            if meta is None:
                raise JournalError(
                    f"Journal {redact(self._engine.url)} has no instance tag; run `tvbridge db upgrade`"
                )
            self._instance = meta.value
        return self._instance

    def check_writable(self) -> None:
        """Commit a write as large as a burst of alerts (a row of WRITE_CHECK_BYTES, deleted in
        the same transaction) and clear ``fault``. Raises JournalError (JournalLocked when
        another connection holds the write lock) when the database refuses.

        The row spans several pages, so a database that cannot grow (disk full, page limit)
        refuses it like it refuses an alert; a small row could fit in a page already there."""
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(_META).values(key=WRITE_CHECK_KEY, value=WRITE_CHECK_VALUE))
                conn.execute(delete(_META).where(_META.c.key == WRITE_CHECK_KEY))
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            if is_fault(exc) and not is_locked(exc) and self.local_file:
                # Connections opened while the file was read-only stay read-only: reopen them,
                # so the journal is writable again as soon as the file or disk is.
                self._engine.dispose()
            raise journal_error(self._engine.url, "write (write check)", exc) from exc
        self.fault = None

    def close(self) -> None:
        """Close every connection to the database."""
        self._engine.dispose()

    # -- alerts --------------------------------------------------------------------------

    def record_alert(
        self,
        *,
        strategy: str,
        raw_body: str,
        received_at: datetime,
        source_ip: str = "",
        content_type: str = "",
        dedupe_key: str | None = None,
        dedupe_window_s: float = 0.0,
        alert_time: datetime | None = None,
        status: AlertStatus = AlertStatus.RECEIVED,
        reason: str | None = None,
    ) -> AlertEntry:
        """Commit one received alert; mark it DUPLICATE when its key was seen just before.

        A duplicate is an alert of the same ``strategy`` with the same ``dedupe_key`` received
        within ``dedupe_window_s`` seconds (either side of ``received_at``, since alerts may be
        journaled slightly out of order) that was accepted for processing (status not in
        NOT_ACCEPTED). The newest such alert is the one compared with: when it sent nothing to
        the gateway (status FAILED and every order row NOT_PLACED, or none), the new alert is
        not a duplicate and is executed; otherwise (executed, being executed or resumed,
        refused, stale...) it is. A duplicate's row gets status DUPLICATE and ``duplicate_of``
        = the original's id (whatever ``status`` and ``reason`` were given, e.g. PAUSED). No
        key, or a window ≤ 0, disables the check. ``received_at`` is tz-aware UTC.

        The body and the reason are scrubbed here (app/redact.py), as are every alert reason
        and event written by this class: the journal is the one place every page, the CSV and
        ``/api/alerts`` read from, so no caller can forget it.
        """
        with self._write(f"record an alert for strategy '{strategy}'") as conn:
            original = None
            if dedupe_key is not None and dedupe_window_s > 0:
                original = _original_alert(
                    conn, strategy, dedupe_key, received_at, timedelta(seconds=dedupe_window_s)
                )
            if original is not None:  # a duplicate stays DUPLICATE, even while paused
                status = AlertStatus.DUPLICATE
                reason = (
                    f"Same alert key '{dedupe_key}' as alert {original} within "
                    f"{dedupe_window_s:g} s; not executed again"
                )
            result = conn.execute(
                _INSERT_ALERT,
                {
                    "strategy": strategy,
                    "received_at": received_at,
                    "alert_time": alert_time,
                    "source_ip": source_ip,
                    "content_type": content_type,
                    "raw_body": _stored(raw_body),
                    "dedupe_key": dedupe_key,
                    "status": AlertStatus(status),
                    "reason": None if reason is None else _stored(reason),
                    "duplicate_of": original,
                },
            )
            return AlertEntry(alert_id=_new_id(result), duplicate_of=original)

    def set_alert_status(
        self,
        alert_id: int,
        status: AlertStatus,
        *,
        reason: str | None = None,
        ticker: str | None = None,
        contract_id: str | None = None,
        settled: bool = False,
    ) -> None:
        """Set an alert's status; None leaves a column as it is, ``settled`` stamps settled_at."""
        values = _given(reason=reason, ticker=ticker, contract_id=contract_id)
        with self._write(f"set the status of alert {alert_id}") as conn:
            _set_alert(conn, alert_id, status, values, settled_at=_now() if settled else None)

    def settle_alert(
        self,
        alert_id: int,
        status: AlertStatus,
        *,
        reason: str | None = None,
        ticker: str | None = None,
        contract_id: str | None = None,
        updates: Iterable[OrderUpdate] = (),
        new_orders: Iterable[dict[str, Any]] = (),
    ) -> list[int]:
        """In one transaction: apply order ``updates``, add ``new_orders`` (add_order's keyword
        arguments, alert_id implied) and set the alert's final status; return the new rows' ids.
        A new order whose tag the account already has (a native bracket leg protection read from
        the gateway after a crash, before this alert was resumed) is not added again: its
        existing row's id is returned.

        The webhook's hot path ends here, so an alert costs three commits: the alert, its
        write-ahead order row(s), and this one.
        """
        now = _now()
        values = _given(reason=reason, ticker=ticker, contract_id=contract_id)
        with self._write(f"settle alert {alert_id}") as conn:
            for u in updates:
                _update_order(
                    conn, u.order_record_id, OrderState(u.state), now, _update_values(u), u.previous
                )
            ids = [
                _insert_order_once(conn, alert_id=alert_id, now=now, gateway=self.gateway, **row)
                for row in new_orders
            ]
            _set_alert(conn, alert_id, status, values, settled_at=now)
            return ids

    def unsettled_alerts(self) -> list[AlertRecord]:
        """Alerts not in a final status (RECEIVED, UNKNOWN), oldest first: what a start resumes."""
        query = (
            select(AlertRecord)
            .where(col(AlertRecord.status).in_([AlertStatus.RECEIVED, AlertStatus.UNKNOWN]))
            .order_by(col(AlertRecord.id))
        )
        with self._transaction("list the alerts not settled") as session:
            return list(session.exec(query).all())

    def get_alert(self, alert_id: int) -> AlertRecord | None:
        """The alert row, or None."""
        with self._transaction(f"read alert {alert_id}") as session:
            return session.get(AlertRecord, alert_id)

    def recent_alerts(self, *, limit: int = 20, strategy: str | None = None) -> list[AlertRecord]:
        """The newest ``limit`` alerts (of one ``strategy`` when given), newest first."""
        query = select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)
        if strategy is not None:
            query = query.where(AlertRecord.strategy == strategy)
        with self._transaction("list recent alerts") as session:
            return list(session.exec(query).all())

    # -- orders --------------------------------------------------------------------------

    def add_order(self, *, alert_id: int, **row: Any) -> int:
        """Commit one order row and its first status row; return the order_record id.

        ``row`` holds the columns by name (see _insert_order for the full list): account_id,
        account_name, contract_id, leg, action, and optionally side, order_type, size (contracts),
        limit_price/stop_price (points, Decimal), stop_loss_ticks/take_profit_ticks (positive
        whole ticks), client_order_id, broker_order_id (the gateway's id when the row acts on an
        existing order, a cancel), parent_id, state (default SUBMITTING), message, request (the
        exact gateway body sent), oco_group_id (its OCO group). Raises JournalError when
        ``client_order_id`` is already used on the account.
        """
        what = f"add order {row.get('client_order_id') or row.get('leg')} of alert {alert_id}"
        with self._write(what) as conn:
            return _insert_order(conn, now=_now(), alert_id=alert_id, gateway=self.gateway, **row)

    def update_order(
        self,
        order_record_id: int,
        state: OrderState,
        *,
        broker_order_id: int | None = None,
        message: str | None = None,
        filled_price: Decimal | None = None,
        fill_volume: int | None = None,
    ) -> None:
        """Update an order row; add a status row when ``state`` differs from the stored one.

        None leaves a column as it is. ``filled_price`` in points, ``fill_volume`` contracts.
        """
        self.update_orders(
            [OrderUpdate(order_record_id, state, broker_order_id, message, filled_price, fill_volume)]
        )

    def update_orders(self, updates: Iterable[OrderUpdate]) -> None:
        """Apply several order updates in one transaction (as update_order does one by one)."""
        now = _now()
        updates = list(updates)
        what = "update order records " + ", ".join(str(u.order_record_id) for u in updates[:5])
        with self._write(what) as conn:
            for u in updates:
                _update_order(
                    conn, u.order_record_id, OrderState(u.state), now, _update_values(u), u.previous
                )

    def resend_order(self, order_record_id: int, *, request: dict[str, Any] | None, message: str) -> None:
        """Put a NOT_PLACED row back to SUBMITTING (sent_at now) just before it is sent again with
        the same tag (an alert resumed after a restart); ``request`` is the body to be sent."""
        now = _now()
        values: dict[str, Any] = {"message": message, "sent_at": now, "request_json": _json(request)}
        with self._write(f"resend order record {order_record_id}") as conn:
            _update_order(conn, order_record_id, OrderState.SUBMITTING, now, values)

    def orders_of_alerts(self, alert_ids: Iterable[int]) -> list[OrderRecord]:
        """The orders of several alerts in one query, by alert then in the order they were added."""
        wanted = list(alert_ids)
        if not wanted:
            return []
        query = (
            select(OrderRecord)
            .where(col(OrderRecord.alert_id).in_(wanted))
            .order_by(col(OrderRecord.alert_id), col(OrderRecord.id))
        )
        with self._transaction("list the orders of alerts") as session:
            return list(session.exec(query).all())

    def alert_orders(self, alert_id: int) -> list[OrderRecord]:
        """The orders of one alert, in the order they were added."""
        query = select(OrderRecord).where(OrderRecord.alert_id == alert_id).order_by(col(OrderRecord.id))
        with self._transaction(f"list the orders of alert {alert_id}") as session:
            return list(session.exec(query).all())

    def orders_in_states(self, states: Iterable[OrderState]) -> list[OrderRecord]:
        """The orders whose state is one of ``states``, oldest first."""
        wanted = [OrderState(state) for state in states]
        if not wanted:
            return []
        query = (
            select(OrderRecord)
            .where(col(OrderRecord.state).in_(wanted), OrderRecord.gateway == self.gateway)
            .order_by(col(OrderRecord.id))
        )
        with self._transaction("list orders by state") as session:
            return list(session.exec(query).all())

    def bracket_entries(self, since: datetime) -> list[OrderRecord]:
        """Entry rows sent with a native bracket (stop loss or take profit ticks, no OCO group),
        written since ``since`` (tz-aware UTC), that the gateway did not refuse; oldest first.
        What protection checks at start and after a hub reconnect."""
        query = (
            select(OrderRecord)
            .where(
                OrderRecord.gateway == self.gateway,
                OrderRecord.leg == Leg.ENTRY,
                col(OrderRecord.oco_group_id).is_(None),
                col(OrderRecord.created_at) >= since,
                col(OrderRecord.state).not_in([OrderState.REJECTED, OrderState.NOT_PLACED]),
                or_(
                    col(OrderRecord.stop_loss_ticks).is_not(None),
                    col(OrderRecord.take_profit_ticks).is_not(None),
                ),
            )
            .order_by(col(OrderRecord.id))
        )
        with self._transaction("list the entries sent with a native bracket") as session:
            return list(session.exec(query).all())

    def order_by_client_id(self, account_id: int, client_order_id: str) -> OrderRecord | None:
        """The order with this client_order_id (the order tag) on this account, or None."""
        query = select(OrderRecord).where(
            OrderRecord.gateway == self.gateway,
            OrderRecord.account_id == account_id,
            OrderRecord.client_order_id == client_order_id,
        )
        with self._transaction(f"find order {client_order_id} on account {account_id}") as session:
            return session.exec(query).first()

    def order_by_broker_id(self, account_id: int, broker_order_id: int) -> OrderRecord | None:
        """The order with this broker_order_id (ProjectX id) on this account, or None."""
        query = (
            select(OrderRecord)
            .where(
                OrderRecord.gateway == self.gateway,
                OrderRecord.account_id == account_id,
                OrderRecord.broker_order_id == broker_order_id,
            )
            .order_by(col(OrderRecord.id))
        )
        what = f"find broker order {broker_order_id} on account {account_id}"
        with self._transaction(what) as session:
            return session.exec(query).first()

    def order_history(self, order_record_id: int) -> list[OrderStatusRecord]:
        """The state changes of one order, oldest first (the first is its initial state)."""
        query = (
            select(OrderStatusRecord)
            .where(OrderStatusRecord.order_record_id == order_record_id)
            .order_by(col(OrderStatusRecord.id))
        )
        with self._transaction(f"read the history of order record {order_record_id}") as session:
            return list(session.exec(query).all())

    # -- events --------------------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        level: str = "info",
        alert_id: int | None = None,
        order_record_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        """Commit one event; return its id. ``level``: info, warning, error or critical."""
        _check_level(level)
        with self._write(f"add event '{kind}'") as conn:
            return _insert_event(conn, kind, message, level, alert_id, order_record_id, data, self.gateway)

    def events(self, *, alert_id: int | None = None, limit: int = 100) -> list[EventRecord]:
        """The newest ``limit`` events (of one alert when given), newest first."""
        query = select(EventRecord).order_by(col(EventRecord.id).desc()).limit(limit)
        if alert_id is not None:
            query = query.where(EventRecord.alert_id == alert_id)
        with self._transaction("list events") as session:
            return list(session.exec(query).all())

    def latest_event(self, kind: str) -> EventRecord | None:
        """The newest event of ``kind`` (e.g. "bridge.shutdown"), or None when there is none."""
        query = (
            select(EventRecord)
            .where(EventRecord.kind == kind, col(EventRecord.gateway).in_((self.gateway, "")))
            .order_by(col(EventRecord.id).desc())
        )
        with self._transaction(f"read the latest '{kind}' event") as session:
            return session.exec(query.limit(1)).first()

    # -- gateway events ------------------------------------------------------------------

    def apply_order_event(
        self, order_record_id: int, order: BrokerOrder, *, state: OrderState | None = None
    ) -> bool:
        """Bring one order row to the gateway's report ``order``, if it is the newest; return
        whether the row changed.

        ``state`` overrides ``order.state`` (a close that FILLED is DONE). The row keeps the
        newest state by the gateway's updateTimestamp: an older event changes nothing, an event
        without one changes nothing once a timestamped state is held, and at equal times a final
        state wins. A row still SUBMITTING or UNKNOWN belongs to the submission step: only its
        broker id is filled in. A status row is added only when the state really changes. Fills
        journaled before the row had a broker id are attached to it.
        """
        return self.apply_order_events([(order_record_id, order, state)]) == 1

    def apply_order_events(self, events: Iterable[tuple[int, BrokerOrder, OrderState | None]]) -> int:
        """apply_order_event for several ``(order_record_id, order, state)`` in one transaction;
        return how many rows changed."""
        events = list(events)
        now = _now()
        with self._write(f"apply {len(events)} order event(s)") as conn:
            return sum(_apply_order(conn, now, row_id, order, state) for row_id, order, state in events)

    def record_fill(self, fill: Fill, order_record_id: int | None = None) -> bool:
        """Journal one fill once by its trade id; return False when it was already journaled.

        A re-sent fill changes only ``voided`` (and links ``order_record_id`` when the first copy
        had none). ``order_record_id`` is our order row when the filled order is ours: its first
        and last fill times follow its fills, and its fill volume and average price rise to
        theirs when the order's own event has not reported them yet.
        """
        what = f"record fill {fill.trade_id} on account {fill.account_id}"
        with self._write(what) as conn:
            return _record_fill(conn, fill, order_record_id, self.gateway)

    def set_position(self, event: PositionEvent) -> None:
        """Keep the latest position of ``event``'s account in its contract (side None = flat)."""
        with self._write(f"set the position of account {event.account_id} in {event.contract_id}") as conn:
            _set_position(conn, event, self.gateway)

    def set_account(self, account: Account) -> None:
        """Keep the latest state of ``account``: name, balance (USD), can-trade flag."""
        with self._write(f"set the state of account {account.account_id}") as conn:
            _set_account(conn, account, self.gateway)

    def apply_events(
        self,
        *,
        orders: Iterable[tuple[int, BrokerOrder, OrderState | None]] = (),
        fills: Iterable[tuple[Fill, int | None]] = (),
        positions: Iterable[PositionEvent] = (),
        accounts: Iterable[Account] = (),
    ) -> list[bool]:
        """What apply_order_events, record_fill, set_position and set_account do, for a batch of
        hub events in ONE transaction (the hub sends several per order); return, per fill,
        whether it was new."""
        now = _now()
        with self._write("apply gateway events") as conn:
            for row_id, order, state in orders:
                _apply_order(conn, now, row_id, order, state)
            new = [_record_fill(conn, fill, row_id, self.gateway) for fill, row_id in fills]
            for position in positions:
                _set_position(conn, position, self.gateway)
            for account in accounts:
                _set_account(conn, account, self.gateway)
            return new

    def order_for_event(
        self, account_id: int, broker_order_id: int | None, client_order_id: str | None
    ) -> Any:
        """Our order row that a gateway event is about: by broker id, else by tag, else None.

        Cancel rows carry the broker id of the order they cancel, so they never match. Called
        for every hub event, so it runs prebuilt Core statements and returns a read-only row with
        the order_record columns as attributes (not an ORM object).
        """
        with self._read(f"find the order of broker order {broker_order_id}") as conn:
            row = None
            if broker_order_id is not None:
                row = conn.execute(
                    _ORDER_BY_BROKER,
                    {
                        "of_gateway": self.gateway,
                        "account_id": account_id,
                        "broker_order_id": broker_order_id,
                    },
                ).first()
            if row is None and client_order_id:
                row = conn.execute(
                    _ORDER_BY_TAG,
                    {
                        "of_gateway": self.gateway,
                        "account_id": account_id,
                        "client_order_id": client_order_id,
                    },
                ).first()
            return row

    def fills_of_alerts(self, alert_ids: Iterable[int]) -> list[FillRecord]:
        """The fills of several alerts' orders in one query, oldest first."""
        wanted = list(alert_ids)
        if not wanted:
            return []
        query = (
            select(FillRecord)
            .join(OrderRecord, col(FillRecord.order_record_id) == col(OrderRecord.id))
            .where(col(OrderRecord.alert_id).in_(wanted))
            .order_by(col(FillRecord.filled_at), col(FillRecord.trade_id))
        )
        with self._transaction("list the fills of alerts") as session:
            return list(session.exec(query).all())

    def tick_sizes(self) -> dict[str, Decimal]:
        """contract id → tick size (points), from the order rows that recorded one."""
        query = (
            core_select(_ORDER.c.contract_id, func.max(_ORDER.c.tick_size))
            .where(_ORDER.c.tick_size.is_not(None))
            .group_by(_ORDER.c.contract_id)
        )
        with self._transaction("list tick sizes") as session:
            return {contract: Decimal(str(size)) for contract, size in session.execute(query)}

    def alert_fills(self, alert_id: int) -> list[FillRecord]:
        """The fills of one alert's orders (bracket legs included), oldest first."""
        query = (
            select(FillRecord)
            .join(OrderRecord, col(FillRecord.order_record_id) == col(OrderRecord.id))
            .where(OrderRecord.alert_id == alert_id)
            .order_by(col(FillRecord.filled_at), col(FillRecord.trade_id))
        )
        with self._transaction(f"list the fills of alert {alert_id}") as session:
            return list(session.exec(query).all())

    def positions(self, account_id: int | None = None) -> list[PositionRecord]:
        """The latest positions (flat ones included), of one account when given."""
        query = (
            select(PositionRecord)
            .where(PositionRecord.gateway == self.gateway)
            .order_by(col(PositionRecord.account_id), col(PositionRecord.contract_id))
        )
        if account_id is not None:
            query = query.where(PositionRecord.account_id == account_id)
        with self._transaction("list positions") as session:
            return list(session.exec(query).all())

    def account_states(self) -> list[AccountStateRecord]:
        """The latest state of every account the gateway reported, by account id."""
        query = (
            select(AccountStateRecord)
            .where(AccountStateRecord.gateway == self.gateway)
            .order_by(col(AccountStateRecord.account_id))
        )
        with self._transaction("list account states") as session:
            return list(session.exec(query).all())

    def last_gateway_time(self, account_id: int) -> datetime | None:
        """The newest gateway time journaled for the account (fill time or order updateTimestamp)."""
        fills = core_select(func.max(_FILL.c.filled_at)).where(
            _FILL.c.gateway == self.gateway, _FILL.c.account_id == account_id
        )
        orders = core_select(func.max(_ORDER.c.broker_updated_at)).where(
            _ORDER.c.gateway == self.gateway, _ORDER.c.account_id == account_id
        )
        with self._transaction(f"read the last gateway time of account {account_id}") as session:
            times = [session.execute(fills).scalar(), session.execute(orders).scalar()]
        known = [_as_utc(t) for t in times if t is not None]
        return max(known) if known else None

    def oldest_open_order_at(self, account_id: int) -> datetime | None:
        """When the oldest of the account's tagged orders that are not final was written, or None."""
        finals = [state for state in OrderState if state.is_final]
        query = core_select(func.min(_ORDER.c.created_at)).where(
            _ORDER.c.gateway == self.gateway,
            _ORDER.c.account_id == account_id,
            _ORDER.c.client_order_id.is_not(None),
            _ORDER.c.state.not_in(finals),
        )
        with self._transaction(f"find the oldest open order of account {account_id}") as session:
            oldest = session.execute(query).scalar()
        return None if oldest is None else _as_utc(oldest)

    def alert_latency(self, alert_id: int) -> LatencyChain | None:
        """The latency chain and entry slippage of one alert (see LatencyChain), or None."""
        alert = self.get_alert(alert_id)
        return None if alert is None else LatencyChain.of(alert, self.alert_orders(alert_id))

    # -- OCO groups ----------------------------------------------------------------------

    def add_oco_group(
        self,
        *,
        alert_id: int,
        account_id: int,
        contract_id: str,
        kind: str,
        policy: str,
        state: str = "working",
        note: str | None = None,
    ) -> int:
        """Commit one OCO group (``kind`` in OCO_KINDS, ``state`` in OCO_STATES); return its id."""
        _check_group(kind, state)
        now = _now()
        with self._write(f"add an {kind} group for alert {alert_id}") as conn:
            result = conn.execute(
                _INSERT_GROUP,
                {
                    "alert_id": alert_id,
                    "account_id": account_id,
                    "contract_id": contract_id,
                    "kind": kind,
                    "state": state,
                    "policy": policy,
                    "note": note,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return _new_id(result)

    def set_oco_group(self, oco_group_id: int, state: str, *, note: str | None = None) -> None:
        """Set a group's state (one of OCO_STATES); None leaves the note as it is."""
        _check_group("oco", state)
        values = _given(note=note)
        with self._write(f"set the state of oco group {oco_group_id}") as conn:
            result = conn.execute(
                _UPDATE_GROUP, {"row_id": oco_group_id, "state": state, "updated_at": _now(), **values}
            )
            if result.rowcount == 0:
                raise JournalError(f"oco_group {oco_group_id} is not in the journal")

    def oco_group(self, oco_group_id: int) -> Any:
        """The group row (read-only, the oco_group columns as attributes), or None."""
        with self._read(f"read oco group {oco_group_id}") as conn:
            return conn.execute(_GROUP_BY_ID, {"row_id": oco_group_id}).first()

    def oco_group_orders(self, oco_group_id: int) -> list[Any]:
        """The order rows of one group (read-only, order_record columns), in the order added."""
        with self._read(f"list the orders of oco group {oco_group_id}") as conn:
            return list(conn.execute(_ORDERS_OF_GROUP, {"group_id": oco_group_id}).all())

    def oco_groups(self, state: str = "working") -> list[OcoGroupRecord]:
        """The groups in ``state``, oldest first."""
        query = select(OcoGroupRecord).where(OcoGroupRecord.state == state).order_by(col(OcoGroupRecord.id))
        with self._transaction(f"list the {state} oco groups") as session:
            return list(session.exec(query).all())

    def set_order_group(self, order_record_id: int, oco_group_id: int) -> None:
        """Put an existing order row into a group (a native entry handed to managed protection)."""
        with self._write(f"put order record {order_record_id} in oco group {oco_group_id}") as conn:
            result = conn.execute(_SET_ORDER_GROUP, {"row_id": order_record_id, "oco_group_id": oco_group_id})
            if result.rowcount == 0:
                raise JournalError(f"order_record {order_record_id} is not in the journal")

    # -- kill switch ---------------------------------------------------------------------

    def pause_state(self) -> PauseState | None:
        """Whether the kill switch holds alerts: since when (UTC) and by whom, or None."""
        with self._read("read the pause state") as conn:
            return _pause_in(conn)

    def set_paused(self, paused: bool, *, by: str) -> PauseState | None:
        """Pause (alerts journaled PAUSED, never executed) or resume; return the state now.

        One transaction writes or deletes the ``paused`` row of journal_meta and adds a
        warning event, "kill.pause" or "kill.resume", saying who and when. Idempotent: pausing
        while paused keeps the first ``since`` and adds no event; resuming while not paused
        does nothing.
        """
        with self._write(f"{'pause' if paused else 'resume'} (by {by})") as conn:
            held = _pause_in(conn)
            if paused == (held is not None):
                return held
            now = _now()
            if paused:
                state = PauseState(now, by)
                value = json.dumps({"since": now.isoformat(), "by": by})
                conn.execute(insert(_META), {"key": PAUSE_KEY, "value": value})
                message = (
                    f"Paused by {by} at {_utc_text(now)}: new alerts are journaled as paused and "
                    "never executed; resume on the page or with `tvbridge resume`"
                )
                _insert_event(conn, "kill.pause", message, "warning", data={"by": by})
                return state
            assert held is not None
            conn.execute(delete(_META).where(_META.c.key == PAUSE_KEY))
            message = (
                f"Resumed by {by} at {_utc_text(now)} (paused since {_utc_text(held.since)} by "
                f"{held.by}): new alerts are executed again; alerts received while paused are not"
            )
            data = {"by": by, "paused_since": held.since.isoformat(), "paused_by": held.by}
            _insert_event(conn, "kill.resume", message, "warning", data=data)
            return None

    # -- tunnel --------------------------------------------------------------------------

    def tunnel_state(self) -> dict[str, Any] | None:
        """The tunnel's last recorded state (JSON object), or None when none is recorded.

        Lets a ``tvbridge tunnel`` running beside ``tvbridge serve`` show up on its pages.
        """
        with self._read("read the tunnel state") as conn:
            value = conn.execute(core_select(_META.c.value).where(_META.c.key == TUNNEL_KEY)).scalar()
        return None if value is None else json.loads(value)

    def set_tunnel_state(self, state: dict[str, Any] | None) -> None:
        """Record the tunnel's state (a JSON-ready object), or forget it with None."""
        with self._write("record the tunnel state") as conn:
            conn.execute(delete(_META).where(_META.c.key == TUNNEL_KEY))
            if state is not None:
                conn.execute(insert(_META), {"key": TUNNEL_KEY, "value": json.dumps(state, default=str)})

    # -- following the accounts ----------------------------------------------------------

    def follow_mark(self) -> datetime | None:
        """From when (UTC) a REST catch-up of orders and trades misses nothing, as last recorded
        (app/engine/follow.py), or None when never recorded."""
        with self._read("read the follow mark") as conn:
            value = conn.execute(core_select(_META.c.value).where(_META.c.key == FOLLOW_KEY)).scalar()
        return None if value is None else _as_utc(datetime.fromisoformat(value))

    def set_follow_mark(self, at: datetime) -> None:
        """Record the follow mark (UTC)."""
        value = _aware(at, "at").astimezone(UTC).isoformat()
        with self._write("record the follow mark") as conn:
            conn.execute(delete(_META).where(_META.c.key == FOLLOW_KEY))
            conn.execute(insert(_META), {"key": FOLLOW_KEY, "value": value})

    # -- queries for the pages -----------------------------------------------------------

    def find_alerts(
        self,
        *,
        strategy: str | None = None,
        account_id: int | None = None,
        statuses: Iterable[AlertStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        alert_ids: Iterable[int] | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts matching every filter given, newest first, at most ``limit``.

        ``account_id``: alerts with an order row on that account. ``since``/``until``: tz-aware
        UTC bounds on received_at (since inclusive, until exclusive). ``before_id``: only alerts
        older than that one (the next page). ``alert_ids``: only these (the page's live feed).
        """
        query = select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)
        if strategy is not None:
            query = query.where(AlertRecord.strategy == strategy)
        if account_id is not None:
            on_account = core_select(_ORDER.c.alert_id).where(_ORDER.c.account_id == account_id)
            query = query.where(col(AlertRecord.id).in_(on_account))
        if statuses is not None:
            query = query.where(col(AlertRecord.status).in_([AlertStatus(s) for s in statuses]))
        if since is not None:
            query = query.where(col(AlertRecord.received_at) >= since)
        if until is not None:
            query = query.where(col(AlertRecord.received_at) < until)
        if before_id is not None:
            query = query.where(col(AlertRecord.id) < before_id)
        if alert_ids is not None:
            query = query.where(col(AlertRecord.id).in_(list(alert_ids)))
        with self._transaction("find alerts") as session:
            return list(session.exec(query).all())

    def find_orders(
        self,
        *,
        account_id: int | None = None,
        states: Iterable[OrderState] | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[OrderRecord]:
        """Order rows matching every filter given (``since``: tz-aware UTC on created_at),
        newest first, at most ``limit``."""
        query = select(OrderRecord).order_by(col(OrderRecord.id).desc()).limit(limit)
        if account_id is not None:
            query = query.where(OrderRecord.account_id == account_id)
        if states is not None:
            query = query.where(col(OrderRecord.state).in_([OrderState(s) for s in states]))
        if since is not None:
            query = query.where(col(OrderRecord.created_at) >= since)
        with self._transaction("find orders") as session:
            return list(session.exec(query).all())

    def find_fills(
        self, *, account_id: int | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[FillRecord]:
        """Fills matching every filter given (``since``: tz-aware UTC on filled_at), newest fill
        first, at most ``limit``."""
        query = (
            select(FillRecord)
            .order_by(col(FillRecord.filled_at).desc(), col(FillRecord.id).desc())
            .limit(limit)
        )
        if account_id is not None:
            query = query.where(FillRecord.account_id == account_id)
        if since is not None:
            query = query.where(col(FillRecord.filled_at) >= since)
        with self._transaction("find fills") as session:
            return list(session.exec(query).all())

    def changes_since(self, cursor: JournalCursor | None) -> tuple[JournalCursor, list[int]]:
        """The journal's cursor now, and the ids of the alerts that changed since ``cursor``:
        new alerts, alerts settled, and alerts whose orders changed state, got fills or events.

        Ids newest first, at most CHANGES_LIMIT (200). ``cursor`` None: the cursor now and no
        ids. Every query is a max or a range on an indexed column.
        """
        with self._read("look for changes") as conn:
            now = JournalCursor(
                alert_id=conn.execute(_MAX_ALERT).scalar() or 0,
                order_status_id=conn.execute(_MAX_STATUS).scalar() or 0,
                fill_id=conn.execute(_MAX_FILL).scalar() or 0,
                event_id=conn.execute(_MAX_EVENT).scalar() or 0,
                settled_at=_maybe_utc(conn.execute(_MAX_SETTLED).scalar()),
            )
            if cursor is None:
                return now, []
            # Ranges end at ``now`` so nothing committed meanwhile is lost: the next look sees it.
            changed: set[int] = set()
            for query, low, high in (
                (_NEW_ALERTS, cursor.alert_id, now.alert_id),
                (_STATUS_ALERTS, cursor.order_status_id, now.order_status_id),
                (_FILL_ALERTS, cursor.fill_id, now.fill_id),
                (_EVENT_ALERTS, cursor.event_id, now.event_id),
            ):
                if high > low:
                    changed.update(conn.execute(query, {"low": low, "high": high}).scalars())
            if now.settled_at is not None and now.settled_at != cursor.settled_at:
                since = cursor.settled_at or datetime.min.replace(tzinfo=UTC)
                settled = conn.execute(_SETTLED_ALERTS, {"low": since, "high": now.settled_at})
                changed.update(settled.scalars())
        return now, sorted(changed, reverse=True)[:CHANGES_LIMIT]

    # -- risk gate -----------------------------------------------------------------------

    def risk_numbers(self, account_id: int, since: datetime, *, strategy: str | None = None) -> RiskNumbers:
        """The account's numbers for the risk gate (see RiskNumbers), in one transaction.

        ``since`` (tz-aware UTC, inclusive) bounds realised P&L (by fill time) and the entry
        counts (by the alert's received_at), e.g. the trading day's start; the losing streak and
        the last fill prices are not bounded by it (a streak may cross the day's start).
        ``strategy`` None: ``strategy_entries`` is 0. Voided fills count for nothing.
        """
        params = {"account": account_id, "since": since, "strategy": strategy, "of_gateway": self.gateway}
        with self._read(f"read the risk numbers of account {account_id}") as conn:
            money = conn.execute(_FILL_MONEY, params).all()
            entries, strategy_entries = conn.execute(_ENTRIES, params).one()
            with conn.execute(_CLOSING_FILLS, params) as closing_fills:
                streak, last_loss_at = _losing_streak(closing_fills)
            prices = {row.contract_id: row.price for row in conn.execute(_ACCOUNT_FILL_PRICES, params)}
        return RiskNumbers(
            realised_pnl=sum((_net(*row) for row in money), Decimal(0)),
            entries=entries,
            strategy_entries=strategy_entries if strategy is not None else 0,
            losing_streak=streak,
            last_loss_at=last_loss_at,
            last_fill_prices=prices,
        )

    def latest_prices(self) -> dict[str, Decimal]:
        """contract id → the latest price the journal has seen in it (points): the newest of its
        live fills' prices and of the reference prices templates rendered (order rows).

        Not a live quote: it may be minutes or days old. Every account's rows count.
        """
        with self._read("read the latest prices") as conn:
            fills = conn.execute(_FILL_PRICES, {"of_gateway": self.gateway}).all()
            references = conn.execute(_REFERENCE_PRICES, {"of_gateway": self.gateway}).all()
        # A fill wins a tie: it is a trade, the reference only what the chart said.
        seen = [(_as_utc(at), 1, contract, price) for contract, price, at in fills]
        seen += [(_as_utc(at), 0, contract, price) for contract, price, at in references]
        return {contract: price for _, _, contract, price in sorted(seen, key=lambda s: s[:2])}

    def contract_ticks(self) -> dict[str, tuple[Decimal, Decimal]]:
        """contract id → (tick size in points, tick value in USD per tick per contract), from
        the newest order row that recorded both (the contract as it was when last traded)."""
        with self._read("read the contracts' tick sizes and values") as conn:
            return {contract: (size, value) for contract, size, value in conn.execute(_CONTRACT_TICKS)}

    def lock_account(
        self,
        account_id: int,
        account_name: str,
        *,
        reason: str,
        until: datetime,
        by: str,
        now: datetime | None = None,
    ) -> LockoutRecord:
        """Lock the account: entries are refused until ``until`` (tz-aware UTC); return the lock.

        Idempotent while locked: the first lockout is kept and returned, nothing is written. Else
        one transaction writes the ``lockout`` row (replacing an expired one) and an error event
        "risk.lockout" with the reason and the time. ``now`` (UTC, default the clock) is the
        lock's ``since``; ``by`` says who locked, e.g. "risk: daily loss limit".
        """
        now = _aware(now or _now(), "now")
        until = _aware(until, "until")
        with self._write(f"lock account {account_name} ({account_id})") as conn:
            held = _lockout_in(conn, account_id)
            if held is not None and held.until > now:
                return held
            if held is not None:
                conn.execute(_DELETE_LOCKOUT, {"account": account_id})
            lock = LockoutRecord(
                account_id=account_id, account_name=account_name, reason=reason, since=now, until=until, by=by
            )
            conn.execute(_INSERT_LOCKOUT, lock.model_dump())
            message = (
                f"Account {account_name} ({account_id}) locked until {_utc_text(until)} by {by}: "
                f"{reason}. Every entry is refused until then (exits still run); lift it early "
                f"with `tvbridge unlock {account_name}`"
            )
            _insert_event(conn, "risk.lockout", message, "error", data=_lockout_data(lock))
            return lock

    def active_lockouts(self, now: datetime) -> list[LockoutRecord]:
        """The lockouts still in force at ``now`` (tz-aware UTC: ``until`` later), by account id."""
        query = (
            select(LockoutRecord)
            .where(col(LockoutRecord.until) > now)
            .order_by(col(LockoutRecord.account_id))
        )
        with self._transaction("list the active lockouts") as session:
            return list(session.exec(query).all())

    def unlock_account(
        self, account_id: int, *, by: str, now: datetime | None = None
    ) -> LockoutRecord | None:
        """Lift the account's lockout early; return the lockout lifted, None when not locked.

        One transaction deletes the row and adds a warning event "risk.unlock" naming ``by``
        (e.g. "cli"). An expired lockout (``until`` not after ``now``, default the clock) is
        removed without an event: the account was not locked.
        """
        now = _aware(now or _now(), "now")
        with self._write(f"unlock account {account_id} (by {by})") as conn:
            held = _lockout_in(conn, account_id)
            if held is None:
                return None
            conn.execute(_DELETE_LOCKOUT, {"account": account_id})
            if held.until <= now:
                return None
            message = (
                f"Account {held.account_name} ({account_id}) unlocked by {by} at {_utc_text(now)} "
                f"(locked since {_utc_text(held.since)} until {_utc_text(held.until)}: "
                f"{held.reason}): entries are allowed again"
            )
            _insert_event(
                conn, "risk.unlock", message, "warning", data={**_lockout_data(held), "unlocked_by": by}
            )
            return held

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One connection in one transaction (SQLAlchemy Core, no ORM unit of work), committed
        at the end, then ``on_commit``; errors become JournalError. The webhook's hot path
        writes through here: the ORM's identity map and flush cost about three times as much
        per call."""
        with self._read(what) as conn:
            yield conn
        self.commits += 1
        if self.on_commit is not None:
            self._committed()

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        """As _write, without ``on_commit``: for reads on the hot path (prebuilt Core statements)."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            raise journal_error(self._engine.url, what, exc) from exc

    def _note_fault(self, exc: SQLAlchemyError) -> None:
        if is_fault(exc):
            self.fault, self.fault_at = str(journal_error(self._engine.url, "write", exc)), time.monotonic()

    def _committed(self) -> None:
        try:
            self.on_commit()  # type: ignore[misc]
        except Exception:  # noqa: BLE001 — a listener must never undo or fail a committed write
            log.exception("the journal's on_commit listener failed")

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Session]:
        """One session in one transaction, committed at the end; errors become JournalError."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            raise journal_error(self._engine.url, what, exc) from exc
        self.commits += 1


def _insert_order_once(conn: Connection, *, now: datetime, gateway: str, **row: Any) -> int:
    """_insert_order, unless the account already has an order with this tag: then its id."""
    tag = row.get("client_order_id")
    if tag:
        key = {"of_gateway": gateway, "account_id": row["account_id"], "client_order_id": tag}
        held = conn.execute(_ORDER_BY_TAG, key).first()
        if held is not None:
            return int(held.id)
    return _insert_order(conn, now=now, gateway=gateway, **row)


def _insert_order(
    conn: Connection,
    *,
    now: datetime,
    alert_id: int,
    account_id: int,
    account_name: str,
    contract_id: str,
    leg: Leg,
    action: Action,
    side: Side | None = None,
    order_type: OrderType | None = None,
    size: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    stop_loss_ticks: int | None = None,
    take_profit_ticks: int | None = None,
    client_order_id: str | None = None,
    broker_order_id: int | None = None,
    parent_id: int | None = None,
    state: OrderState = OrderState.SUBMITTING,
    message: str | None = None,
    request: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    reference_price: Decimal | None = None,
    tick_size: Decimal | None = None,
    tick_value: Decimal | None = None,
    oco_group_id: int | None = None,
    gateway: str = "",
) -> int:
    state = OrderState(state)
    result = conn.execute(
        _INSERT_ORDER,
        {
            "gateway": gateway,
            "alert_id": alert_id,
            "account_id": account_id,
            "account_name": account_name,
            "contract_id": contract_id,
            "leg": Leg(leg),
            "action": Action(action),
            "side": None if side is None else Side(side),
            "order_type": None if order_type is None else OrderType(order_type),
            "size": size,
            "limit_price": limit_price,
            "stop_price": stop_price,
            "stop_loss_ticks": stop_loss_ticks,
            "take_profit_ticks": take_profit_ticks,
            "client_order_id": client_order_id,
            "broker_order_id": broker_order_id,
            "parent_id": parent_id,
            "state": state,
            "message": message,
            "request_json": _json(request),
            "created_at": now,
            "updated_at": now,
            "sent_at": sent_at,
            "reference_price": reference_price,
            "tick_size": tick_size,
            "tick_value": tick_value,
            "oco_group_id": oco_group_id,
        },
    )
    order_record_id = _new_id(result)
    conn.execute(
        _INSERT_STATUS, {"order_record_id": order_record_id, "state": state, "at": now, "message": message}
    )
    return order_record_id


def _check_level(level: str) -> None:
    if level not in EVENT_LEVELS:
        raise ValueError(f"Event level {level!r} is not one of {', '.join(EVENT_LEVELS)}")


def _insert_event(
    conn: Connection,
    kind: str,
    message: str,
    level: str,
    alert_id: int | None = None,
    order_record_id: int | None = None,
    data: dict[str, Any] | None = None,
    gateway: str = "",
) -> int:
    result = conn.execute(
        _INSERT_EVENT,
        {
            "at": _now(),
            "level": level,
            "kind": kind,
            "message": _stored(message),
            "alert_id": alert_id,
            "order_record_id": order_record_id,
            "data_json": _json(scrub_data(data)),
            "gateway": gateway,
        },
    )
    return _new_id(result)


def _stored(text: str) -> str:
    """Text about an alert as the journal stores it: scrubbed of every secret (app/redact.py), and
    a NUL byte a stranger sent written as the visible ``\\x00`` (PostgreSQL's text columns refuse
    NUL, which would turn a hostile body into a 503)."""
    return scrub(text).replace("\x00", "\\x00")


def _check_group(kind: str, state: str) -> None:
    if kind not in OCO_KINDS:
        raise ValueError(f"OCO group kind {kind!r} is not one of {', '.join(OCO_KINDS)}")
    if state not in OCO_STATES:
        raise ValueError(f"OCO group state {state!r} is not one of {', '.join(OCO_STATES)}")


def _set_alert(
    conn: Connection,
    alert_id: int,
    status: AlertStatus,
    values: dict[str, Any],
    *,
    settled_at: datetime | None,
) -> None:
    values = {k: _stored(v) if isinstance(v, str) else v for k, v in values.items()}
    if settled_at is not None:
        values = {**values, "settled_at": settled_at}
    result = conn.execute(_UPDATE_ALERT, {"row_id": alert_id, "status": AlertStatus(status), **values})
    if result.rowcount == 0:
        raise JournalError(f"alert {alert_id} is not in the journal")


def _new_id(result: Any) -> int:
    """The primary key the database gave the row an INSERT just added."""
    key = result.inserted_primary_key
    assert key is not None and key[0] is not None
    return int(key[0])


def _update_values(u: OrderUpdate) -> dict[str, Any]:
    return _given(
        broker_order_id=u.broker_order_id,
        message=u.message,
        filled_price=u.filled_price,
        fill_volume=u.fill_volume,
        acknowledged_at=u.acknowledged_at,
    )


def _record_fill(conn: Connection, fill: Fill, order_record_id: int | None, gateway: str) -> bool:
    key = {"of_gateway": gateway, "account": fill.account_id, "trade": fill.trade_id}
    held = conn.execute(_FILL_BY_TRADE, key).first()
    if held is None:
        conn.execute(_INSERT_FILL, {**_fill_row(fill, order_record_id), "gateway": gateway})
    else:
        changes = _given(
            voided=fill.voided if held.voided != fill.voided else None,
            order_record_id=order_record_id if held.order_record_id is None else None,
        )
        if not changes:
            return False
        conn.execute(_UPDATE_FILL, {"row_id": held.id, **changes})
        order_record_id = order_record_id or held.order_record_id
    if order_record_id is not None:
        _refresh_fills(conn, order_record_id)
    return held is None


def _set_position(conn: Connection, event: PositionEvent, gateway: str) -> None:
    flat = event.side is None or event.size == 0
    values = {
        "side": None if flat else event.side,
        "size": 0 if flat else event.size,
        "average_price": None if flat else event.average_price,
        "updated_at": _now(),
    }
    key = {"of_gateway": gateway, "account": event.account_id, "contract": event.contract_id}
    if conn.execute(_UPDATE_POSITION, {**key, **values}).rowcount == 0:
        row = {"gateway": gateway, "account_id": event.account_id, "contract_id": event.contract_id}
        conn.execute(_INSERT_POSITION, {**row, **values})


def _set_account(conn: Connection, account: Account, gateway: str) -> None:
    key = {"of_gateway": gateway, "account": account.account_id}
    held = conn.execute(_ACCOUNT_HIGH_WATER, key).first()
    # Compared here, not in SQL: balances are decimal strings, and "9" > "10" as text.
    high_water = account.balance
    if held is not None and held.high_water is not None:
        high_water = max(held.high_water, account.balance)
    values = {
        "name": account.name,
        "balance": account.balance,
        "can_trade": account.can_trade,
        "updated_at": _now(),
        "high_water": high_water,
    }
    if held is None:
        conn.execute(_INSERT_ACCOUNT, {"gateway": gateway, "account_id": account.account_id, **values})
    else:
        conn.execute(_UPDATE_ACCOUNT, {**key, **values})


def _net(pnl: Decimal | None, fees: Decimal | None, commissions: Decimal | None) -> Decimal:
    """A fill's realised P&L less its costs (USD); None counts 0 (an opening fill has no P&L)."""
    return (pnl or Decimal(0)) - (fees or Decimal(0)) - (commissions or Decimal(0))


def _losing_streak(closing_fills: Iterable[Any]) -> tuple[int, datetime | None]:
    """How many trades in a row, newest first, lost money, and the newest fill among them.

    ``closing_fills`` newest first; consecutive fills of one order are one trade. A trade that
    nets exactly 0 ends the streak like a win.
    """
    streak, last_loss_at = 0, None
    for _, fills in groupby(closing_fills, key=lambda f: f.broker_order_id):
        trade = list(fills)
        if sum((_net(f.profit_and_loss, f.fees, f.commissions) for f in trade), Decimal(0)) >= 0:
            break
        streak += 1
        last_loss_at = last_loss_at or _as_utc(trade[0].filled_at)
    return streak, last_loss_at


def _aware(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC; a naive time is refused (ValueError): local time or UTC, nobody knows."""
    if moment.utcoffset() is None:
        raise ValueError(
            f"Lockout time {name}={moment.isoformat()} has no time zone; pass a tz-aware UTC time"
        )
    return moment.astimezone(UTC)


def _lockout_in(conn: Connection, account_id: int) -> LockoutRecord | None:
    row = conn.execute(_LOCKOUT_OF, {"account": account_id}).first()
    return None if row is None else LockoutRecord(**row._mapping)


def _lockout_data(lock: LockoutRecord) -> dict[str, Any]:
    return {
        "account_id": lock.account_id,
        "account_name": lock.account_name,
        "reason": lock.reason,
        "since": lock.since.isoformat(),
        "until": lock.until.isoformat(),
        "by": lock.by,
    }


def _update_order(
    conn: Connection,
    order_record_id: int,
    state: OrderState,
    now: datetime,
    values: dict[str, Any],
    previous: OrderState | None = None,
) -> None:
    stored = previous
    if stored is None:
        stored = conn.execute(_ORDER_STATE, {"row_id": order_record_id}).scalar_one_or_none()
        if stored is None:
            raise JournalError(f"order_record {order_record_id} is not in the journal")
    result = conn.execute(
        _UPDATE_ORDER, {"row_id": order_record_id, "state": state, "updated_at": now, **values}
    )
    if result.rowcount == 0:
        raise JournalError(f"order_record {order_record_id} is not in the journal")
    if stored != state:
        conn.execute(
            _INSERT_STATUS,
            {"order_record_id": order_record_id, "state": state, "at": now, "message": values.get("message")},
        )


def _apply_order(
    conn: Connection, now: datetime, row_id: int, order: BrokerOrder, state: OrderState | None
) -> bool:
    """apply_order_event's work for one row, inside the caller's transaction."""
    held = conn.execute(_ORDER_AS_HELD, {"row_id": row_id}).first()
    if held is None:
        raise JournalError(f"order_record {row_id} is not in the journal")
    stored = OrderState(held.state)
    new_state = OrderState(state or order.state)
    values: dict[str, Any] = {}
    if held.broker_order_id is None:
        values["broker_order_id"] = order.broker_order_id  # a bracket leg found by its tag
    if not stored.is_open and _is_newer(order, new_state, held):
        values.update(
            _given(
                filled_price=order.filled_price,
                limit_price=order.limit_price,  # bracket legs get theirs when the entry fills
                stop_price=order.stop_price,
                broker_updated_at=order.updated_at,
            ),
            fill_volume=order.fill_volume,
        )
        values = {name: value for name, value in values.items() if getattr(held, name) != value}
        if values or new_state != stored:
            _update_order(conn, row_id, new_state, now, values, previous=stored)
        else:
            return False
    elif values:
        conn.execute(_UPDATE_ORDER, {"row_id": row_id, "updated_at": now, **values})
    else:
        return False
    if order.fill_volume:
        attached = conn.execute(
            _ATTACH_FILLS, {"account": held.account_id, "broker": order.broker_order_id, "row": row_id}
        )
        if attached.rowcount:
            _refresh_fills(conn, row_id)
    return True


def _is_newer(order: BrokerOrder, state: OrderState, held: Any) -> bool:
    """True when ``order`` (with ``state``) is newer than the state held in the row."""
    if held.broker_updated_at is None:
        return True
    if order.updated_at is None:
        return False
    held_at = _as_utc(held.broker_updated_at)
    if order.updated_at != held_at:
        return order.updated_at > held_at
    # Same time: a final state or more filled contracts is the later snapshot.
    return (state.is_final, order.fill_volume) > (OrderState(held.state).is_final, held.fill_volume)


def _fill_row(fill: Fill, order_record_id: int | None) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "account_id": fill.account_id,
        "contract_id": fill.contract_id,
        "broker_order_id": fill.broker_order_id,
        "order_record_id": order_record_id,
        "side": Side(fill.side),
        "size": fill.size,
        "price": fill.price,
        "fees": fill.fees,
        "commissions": fill.commissions,
        "profit_and_loss": fill.profit_and_loss,
        "voided": fill.voided,
        "filled_at": fill.filled_at,
        "recorded_at": _now(),
    }


def _refresh_fills(conn: Connection, order_record_id: int) -> None:
    """Set an order row's first and last fill times from its fills (voided ones left out), and
    raise its fill volume and average price to theirs when its own event reported less."""
    fills = conn.execute(_FILLS_OF_ORDER, {"row_id": order_record_id}).all()
    held = conn.execute(_ORDER_AS_HELD, {"row_id": order_record_id}).first()
    assert held is not None
    times = [_as_utc(f.filled_at) for f in fills]
    values: dict[str, Any] = {
        "first_fill_at": min(times) if times else None,
        "last_fill_at": max(times) if times else None,
    }
    volume = sum(f.size for f in fills)
    if volume > held.fill_volume:
        values["fill_volume"] = volume
        values["filled_price"] = sum(f.price * f.size for f in fills) / volume
    conn.execute(_UPDATE_ORDER, {"row_id": order_record_id, **values})


def _slippage(order: OrderRecord) -> Slippage | None:
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


def _pause_in(conn: Connection) -> PauseState | None:
    value = conn.execute(core_select(_META.c.value).where(_META.c.key == PAUSE_KEY)).scalar()
    if value is None:
        return None
    held = json.loads(value)
    return PauseState(_as_utc(datetime.fromisoformat(held["since"])), str(held["by"]))


def _utc_text(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _as_utc(moment)


def _as_utc(moment: datetime) -> datetime:
    """A time read through Core aggregates comes back naive from SQLite; it is UTC."""
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def _original_alert(
    conn: Connection, strategy: str, dedupe_key: str, received_at: datetime, window: timedelta
) -> int | None:
    """The id of the alert a new one with this strategy and key duplicates: the newest accepted
    alert within ``window`` (its original when it is a copy), unless it sent nothing to the
    gateway (FAILED, no order row but NOT_PLACED ones): then None, the new one is executed."""
    row = conn.execute(
        _ORIGINAL_ALERT,
        {
            "strategy": strategy,
            "dedupe_key": dedupe_key,
            "since": received_at - window,
            "until": received_at + window,
            "not_accepted": list(NOT_ACCEPTED),
        },
    ).first()
    if row is None:
        return None
    # A non-duplicate row only carries duplicate_of if its status was changed later; it
    # then points at an original (duplicate_of is only ever set to one), so one hop suffices.
    alert_id, duplicate_of, status = row
    if status == AlertStatus.FAILED and conn.execute(_ALERT_REACHED, {"alert_id": alert_id}).first() is None:
        return None
    return duplicate_of if duplicate_of is not None else alert_id


def _get(session: Session, table: type[R], row_id: int) -> R:
    row = session.get(table, row_id)
    if row is None:
        raise JournalError(f"{table.__tablename__} {row_id} is not in the journal")
    return row


def _given(**values: Any) -> dict[str, Any]:
    """The columns whose new value is not None; None means "leave it as it is"."""
    return {name: value for name, value in values.items() if value is not None}


def _json(value: dict[str, Any] | None) -> str | None:
    # default=str: a stray Decimal or datetime must not stop the order from being journaled.
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _now() -> datetime:
    return datetime.now(UTC)
