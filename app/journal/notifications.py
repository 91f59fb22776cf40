"""Notifications (table ``notification``): what became of each notice for each target, for the
Status page. Bounded: each insert deletes the rows beyond the newest NOTIFICATIONS_KEPT."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Select, delete, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.journal.common import NOTIFICATION, new_id, stored
from app.journal.tables import NotificationRecord

NOTIFICATIONS_KEPT = 1000

_INSERT = insert(NOTIFICATION)


def _oldest_kept(keep: int) -> Select[tuple[int]]:
    """The id of the oldest row still kept; everything older goes."""
    return core_select(NOTIFICATION.c.id).order_by(NOTIFICATION.c.id.desc()).offset(keep - 1).limit(1)


def insert_notification(
    conn: Connection,
    *,
    at: datetime,
    kind: str,
    level: str,
    title: str,
    target: str,
    status: str,
    detail: str,
    attempts: int,
) -> int:
    """Add one row in the caller's transaction (texts scrubbed), drop the rows beyond the newest
    NOTIFICATIONS_KEPT; return its id."""
    result = conn.execute(
        _INSERT,
        {
            "at": at,
            "kind": kind,
            "level": level,
            "title": stored(title),
            "target": stored(target),
            "status": status,
            "detail": stored(detail),
            "attempts": attempts,
        },
    )
    oldest = conn.execute(_oldest_kept(NOTIFICATIONS_KEPT)).scalar()
    if oldest is not None:
        conn.execute(delete(NOTIFICATION).where(NOTIFICATION.c.id < oldest))
    return new_id(result)


def newest_notifications(session: Session, limit: int) -> list[NotificationRecord]:
    """The newest ``limit`` rows, newest first."""
    query = select(NotificationRecord).order_by(col(NotificationRecord.id).desc()).limit(limit)
    return list(session.exec(query).all())
