"""What the pages read: alerts, orders and fills by filter, and the live feed's changes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, func
from sqlalchemy import select as core_select
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session, col, select

from app.domain.enums import AlertStatus, OrderState
from app.domain.records import JournalCursor
from app.journal.common import ALERT, EVENT, FILL, ORDER, STATUS, maybe_utc
from app.journal.tables import AlertRecord, FillRecord, OrderRecord

log = logging.getLogger(__name__)

# The live feed's look for changes (changes_since): maxima and id ranges on indexed columns.
CHANGES_LIMIT = 200  # alert ids changes_since returns at most
_MAX_ALERT = core_select(func.max(ALERT.c.id))
_MAX_STATUS = core_select(func.max(STATUS.c.id))
_MAX_FILL = core_select(func.max(FILL.c.id))
_MAX_EVENT = core_select(func.max(EVENT.c.id))
_MAX_SETTLED = core_select(func.max(ALERT.c.settled_at))
_LOW: BindParameter[Any] = bindparam("low")
_HIGH: BindParameter[Any] = bindparam("high")
_NEW_ALERTS = (
    core_select(ALERT.c.id)
    .where(ALERT.c.id > _LOW, ALERT.c.id <= _HIGH)
    .order_by(ALERT.c.id.desc())
    .limit(CHANGES_LIMIT)
)
_SETTLED_ALERTS = (
    core_select(ALERT.c.id)
    .where(ALERT.c.settled_at > _LOW, ALERT.c.settled_at <= _HIGH)
    .order_by(ALERT.c.id.desc())
    .limit(CHANGES_LIMIT)
)


def _alerts_touched(table: Table) -> Select[tuple[Any]]:
    """The ids of the alerts whose orders have rows of ``table`` (order_status, fill) in an id range."""
    return (
        core_select(ORDER.c.alert_id)
        .join(table, table.c.order_record_id == ORDER.c.id)
        .where(table.c.id > _LOW, table.c.id <= _HIGH)
        .distinct()
        .order_by(ORDER.c.alert_id.desc())
        .limit(CHANGES_LIMIT)
    )


_STATUS_ALERTS = _alerts_touched(STATUS)
_FILL_ALERTS = _alerts_touched(FILL)
_EVENT_ALERTS = (
    core_select(EVENT.c.alert_id)
    .where(EVENT.c.id > _LOW, EVENT.c.id <= _HIGH, EVENT.c.alert_id.is_not(None))
    .distinct()
    .order_by(EVENT.c.alert_id.desc())
    .limit(CHANGES_LIMIT)
)


def find_alerts(
    session: Session,
    *,
    strategy: str | None,
    account_id: int | None,
    statuses: Iterable[AlertStatus] | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    alert_ids: Iterable[int] | None,
    limit: int,
) -> list[AlertRecord]:
    """Journal.find_alerts' query."""
    query = select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)
    if strategy is not None:
        query = query.where(AlertRecord.strategy == strategy)
    if account_id is not None:
        on_account = core_select(ORDER.c.alert_id).where(ORDER.c.account_id == account_id)
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
    return list(session.exec(query).all())


def find_orders(
    session: Session,
    *,
    account_id: int | None,
    states: Iterable[OrderState] | None,
    since: datetime | None,
    limit: int,
) -> list[OrderRecord]:
    """Journal.find_orders' query."""
    query = select(OrderRecord).order_by(col(OrderRecord.id).desc()).limit(limit)
    if account_id is not None:
        query = query.where(OrderRecord.account_id == account_id)
    if states is not None:
        query = query.where(col(OrderRecord.state).in_([OrderState(s) for s in states]))
    if since is not None:
        query = query.where(col(OrderRecord.created_at) >= since)
    return list(session.exec(query).all())


def find_fills(
    session: Session, *, account_id: int | None, since: datetime | None, limit: int
) -> list[FillRecord]:
    """Journal.find_fills' query."""
    query = (
        select(FillRecord).order_by(col(FillRecord.filled_at).desc(), col(FillRecord.id).desc()).limit(limit)
    )
    if account_id is not None:
        query = query.where(FillRecord.account_id == account_id)
    if since is not None:
        query = query.where(col(FillRecord.filled_at) >= since)
    return list(session.exec(query).all())


def changes_since(conn: Connection, cursor: JournalCursor | None) -> tuple[JournalCursor, list[int]]:
    """Journal.changes_since's work, in the caller's transaction."""
    now = JournalCursor(
        alert_id=conn.execute(_MAX_ALERT).scalar() or 0,
        order_status_id=conn.execute(_MAX_STATUS).scalar() or 0,
        fill_id=conn.execute(_MAX_FILL).scalar() or 0,
        event_id=conn.execute(_MAX_EVENT).scalar() or 0,
        settled_at=maybe_utc(conn.execute(_MAX_SETTLED).scalar()),
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
