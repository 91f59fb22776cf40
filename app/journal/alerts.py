"""Alerts: each one committed as it arrives, duplicates found by key, settled with a status."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.domain.enums import AlertStatus, OrderState
from app.domain.records import AlertEntry
from app.errors import JournalError
from app.journal.common import ALERT, ORDER, new_id, stored
from app.journal.tables import AlertRecord

log = logging.getLogger(__name__)

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

_INSERT_ALERT = insert(ALERT)
_UPDATE_ALERT = update(ALERT).where(ALERT.c.id == bindparam("row_id"))
_ORIGINAL_ALERT = (
    core_select(ALERT.c.id, ALERT.c.duplicate_of, ALERT.c.status)
    .where(
        ALERT.c.strategy == bindparam("strategy"),
        ALERT.c.dedupe_key == bindparam("dedupe_key"),
        ALERT.c.received_at >= bindparam("since"),
        ALERT.c.received_at <= bindparam("until"),
        ALERT.c.status.not_in(bindparam("not_accepted", expanding=True)),
    )
    .order_by(ALERT.c.id.desc())
    .limit(1)
)
# An order row of the alert that may have reached the gateway (anything but NOT_PLACED).
_ALERT_REACHED = (
    core_select(ORDER.c.id)
    .where(ORDER.c.alert_id == bindparam("alert_id"), ORDER.c.state != OrderState.NOT_PLACED)
    .limit(1)
)


def insert_alert(
    conn: Connection,
    *,
    strategy: str,
    raw_body: str,
    received_at: datetime,
    source_ip: str,
    content_type: str,
    dedupe_key: str | None,
    dedupe_window_s: float,
    alert_time: datetime | None,
    status: AlertStatus,
    reason: str | None,
) -> AlertEntry:
    """Journal.record_alert's work, in the caller's transaction."""
    original = None
    if dedupe_key is not None and dedupe_window_s > 0:
        original = original_alert(conn, strategy, dedupe_key, received_at, timedelta(seconds=dedupe_window_s))
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
            "raw_body": stored(raw_body),
            "dedupe_key": dedupe_key,
            "status": AlertStatus(status),
            "reason": None if reason is None else stored(reason),
            "duplicate_of": original,
        },
    )
    return AlertEntry(alert_id=new_id(result), duplicate_of=original)


def set_alert(
    conn: Connection,
    alert_id: int,
    status: AlertStatus,
    values: dict[str, Any],
    *,
    settled_at: datetime | None,
) -> None:
    """Set an alert's status and ``values`` (text scrubbed), and settled_at when given.

    Raises JournalError when the alert is not in the journal."""
    values = {k: stored(v) if isinstance(v, str) else v for k, v in values.items()}
    if settled_at is not None:
        values = {**values, "settled_at": settled_at}
    result = conn.execute(_UPDATE_ALERT, {"row_id": alert_id, "status": AlertStatus(status), **values})
    if result.rowcount == 0:
        raise JournalError(f"alert {alert_id} is not in the journal")


def original_alert(
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
    return int(duplicate_of if duplicate_of is not None else alert_id)


def unsettled_alerts(session: Session) -> list[AlertRecord]:
    """Alerts not in a final status (RECEIVED, UNKNOWN), oldest first."""
    query = (
        select(AlertRecord)
        .where(col(AlertRecord.status).in_([AlertStatus.RECEIVED, AlertStatus.UNKNOWN]))
        .order_by(col(AlertRecord.id))
    )
    return list(session.exec(query).all())


def recent_alerts(session: Session, *, limit: int, strategy: str | None) -> list[AlertRecord]:
    """The newest ``limit`` alerts (of one ``strategy`` when given), newest first."""
    query = select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)
    if strategy is not None:
        query = query.where(AlertRecord.strategy == strategy)
    return list(session.exec(query).all())
