"""The order journal: every alert, order, state change and event, committed before anything acts.

Called from one worker thread (any thread, one at a time); each call is one short transaction
and returns rows detached and fully loaded. Every database failure raises JournalError.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from app.domain.enums import Action, AlertStatus, Leg, OrderState, OrderType, Side
from app.errors import JournalError
from app.journal import migrate
from app.journal.db import journal_error, make_engine, redact
from app.journal.tables import (
    EVENT_LEVELS,
    AlertRecord,
    EventRecord,
    MetaRecord,
    OrderRecord,
    OrderStatusRecord,
)

R = TypeVar("R", AlertRecord, OrderRecord)

_ALERT = AlertRecord.__table__  # type: ignore[attr-defined]
_ORDER = OrderRecord.__table__  # type: ignore[attr-defined]
_STATUS = OrderStatusRecord.__table__  # type: ignore[attr-defined]

# The hot path's statements, built once: building a statement costs SQLAlchemy far more than
# SQLite takes to run it (cache keys, coercions), and the webhook's round trip pays for each.
_INSERT_ALERT = insert(_ALERT)
_INSERT_ORDER = insert(_ORDER)
_INSERT_STATUS = insert(_STATUS)
_UPDATE_ALERT = update(_ALERT).where(_ALERT.c.id == bindparam("row_id"))
_UPDATE_ORDER = update(_ORDER).where(_ORDER.c.id == bindparam("row_id"))
_ORDER_STATE = core_select(_ORDER.c.state).where(_ORDER.c.id == bindparam("row_id"))
_ORIGINAL_ALERT = (
    core_select(_ALERT.c.id, _ALERT.c.duplicate_of)
    .where(
        _ALERT.c.strategy == bindparam("strategy"),
        _ALERT.c.dedupe_key == bindparam("dedupe_key"),
        _ALERT.c.received_at >= bindparam("since"),
        _ALERT.c.received_at <= bindparam("until"),
        _ALERT.c.status.not_in(bindparam("not_accepted", expanding=True)),
    )
    .order_by(_ALERT.c.id)
    .limit(1)
)

INSTANCE_KEY = "instance"
INSTANCE_ALPHABET = string.ascii_lowercase + string.digits
INSTANCE_LENGTH = 6

# An earlier alert with one of these statuses never made orders, so a re-send is not a duplicate.
NOT_ACCEPTED = (
    AlertStatus.INVALID,
    AlertStatus.UNAUTHORIZED,
    AlertStatus.UNKNOWN_STRATEGY,
    AlertStatus.TOO_LARGE,
    AlertStatus.DUPLICATE,
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


@dataclass(frozen=True)
class AlertEntry:
    """A journaled alert: its id, and the original alert's id when it is a duplicate."""

    alert_id: int
    duplicate_of: int | None = None


class Journal:
    """The journal database at ``url`` (any SQLAlchemy URL; SQLite in WAL mode by default).

    Raises JournalError when the URL cannot be read or its driver is missing.
    """

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        self._instance: str | None = None

    @property
    def local(self) -> bool:
        """True when the database is a file on this machine (SQLite): a call then takes a
        fraction of a millisecond and may run on the caller's thread."""
        return self._engine.dialect.name == "sqlite"

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
        """Write one row and roll it back. Raises JournalError when the database refuses."""
        try:
            with Session(self._engine) as session:
                session.add(MetaRecord(key="write-check", value="x"))
                session.flush()
                session.rollback()
        except SQLAlchemyError as exc:
            raise journal_error(self._engine.url, "write (write check)", exc) from exc

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
        NOT_ACCEPTED). Its row gets status DUPLICATE and ``duplicate_of`` = the original's id.
        No key, or a window ≤ 0, disables the check. ``received_at`` is tz-aware UTC.
        """
        with self._write(f"record an alert for strategy '{strategy}'") as conn:
            original = None
            if dedupe_key is not None and dedupe_window_s > 0:
                original = _original_alert(
                    conn, strategy, dedupe_key, received_at, timedelta(seconds=dedupe_window_s)
                )
            if original is not None:
                status = AlertStatus.DUPLICATE
                reason = reason or (
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
                    "raw_body": raw_body,
                    "dedupe_key": dedupe_key,
                    "status": AlertStatus(status),
                    "reason": reason,
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
            ids = [_insert_order(conn, alert_id=alert_id, now=now, **row) for row in new_orders]
            _set_alert(conn, alert_id, status, values, settled_at=now)
            return ids

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
        exact gateway body sent). Raises JournalError when ``client_order_id`` is already used on
        the account.
        """
        what = f"add order {row.get('client_order_id') or row.get('leg')} of alert {alert_id}"
        with self._write(what) as conn:
            return _insert_order(conn, now=_now(), alert_id=alert_id, **row)

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
        query = select(OrderRecord).where(col(OrderRecord.state).in_(wanted)).order_by(col(OrderRecord.id))
        with self._transaction("list orders by state") as session:
            return list(session.exec(query).all())

    def order_by_client_id(self, account_id: int, client_order_id: str) -> OrderRecord | None:
        """The order with this client_order_id (the order tag) on this account, or None."""
        query = select(OrderRecord).where(
            OrderRecord.account_id == account_id, OrderRecord.client_order_id == client_order_id
        )
        with self._transaction(f"find order {client_order_id} on account {account_id}") as session:
            return session.exec(query).first()

    def order_by_broker_id(self, account_id: int, broker_order_id: int) -> OrderRecord | None:
        """The order with this broker_order_id (ProjectX id) on this account, or None."""
        query = (
            select(OrderRecord)
            .where(
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
        if level not in EVENT_LEVELS:
            raise ValueError(f"Event level {level!r} is not one of {', '.join(EVENT_LEVELS)}")
        with self._transaction(f"add event '{kind}'") as session:
            event = EventRecord(
                at=_now(),
                level=level,
                kind=kind,
                message=message,
                alert_id=alert_id,
                order_record_id=order_record_id,
                data_json=_json(data),
            )
            return _insert(session, event)

    def events(self, *, alert_id: int | None = None, limit: int = 100) -> list[EventRecord]:
        """The newest ``limit`` events (of one alert when given), newest first."""
        query = select(EventRecord).order_by(col(EventRecord.id).desc()).limit(limit)
        if alert_id is not None:
            query = query.where(EventRecord.alert_id == alert_id)
        with self._transaction("list events") as session:
            return list(session.exec(query).all())

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One connection in one transaction (SQLAlchemy Core, no ORM unit of work), committed
        at the end; errors become JournalError. The webhook's hot path writes through here:
        the ORM's identity map and flush cost about three times as much per call."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise journal_error(self._engine.url, what, exc) from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Session]:
        """One session in one transaction, committed at the end; errors become JournalError."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise journal_error(self._engine.url, what, exc) from exc


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
) -> int:
    state = OrderState(state)
    result = conn.execute(
        _INSERT_ORDER,
        {
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
        },
    )
    order_record_id = _new_id(result)
    conn.execute(
        _INSERT_STATUS, {"order_record_id": order_record_id, "state": state, "at": now, "message": message}
    )
    return order_record_id


def _set_alert(
    conn: Connection,
    alert_id: int,
    status: AlertStatus,
    values: dict[str, Any],
    *,
    settled_at: datetime | None,
) -> None:
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
    )


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


def _original_alert(
    conn: Connection, strategy: str, dedupe_key: str, received_at: datetime, window: timedelta
) -> int | None:
    """The id of the first accepted alert with this strategy and key within ``window``."""
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
    alert_id, duplicate_of = row
    return duplicate_of if duplicate_of is not None else alert_id


def _get(session: Session, table: type[R], row_id: int) -> R:
    row = session.get(table, row_id)
    if row is None:
        raise JournalError(f"{table.__tablename__} {row_id} is not in the journal")
    return row


def _insert(session: Session, row: AlertRecord | OrderRecord | EventRecord) -> int:
    """Add ``row`` and return the id the database gave it (the commit comes later)."""
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def _given(**values: Any) -> dict[str, Any]:
    """The columns whose new value is not None; None means "leave it as it is"."""
    return {name: value for name, value in values.items() if value is not None}


def _json(value: dict[str, Any] | None) -> str | None:
    # default=str: a stray Decimal or datetime must not stop the order from being journaled.
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _now() -> datetime:
    return datetime.now(UTC)
