"""Events: something worth telling the trader, written beside what caused it (table ``event``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, insert
from sqlmodel import Session, col, select

from app.domain.kinds import EventLevel
from app.journal.common import EVENT, new_id, now, stored, to_json
from app.journal.tables import EventRecord
from app.redact import scrub_data

log = logging.getLogger(__name__)

_INSERT_EVENT = insert(EVENT)


def check_level(level: str) -> None:
    """Refuse (ValueError) a level that is not an EventLevel."""
    if level not in tuple(EventLevel):
        raise ValueError(f"Event level {level!r} is not one of {', '.join(EventLevel)}")


def insert_event(
    conn: Connection,
    kind: str,
    message: str,
    level: str,
    alert_id: int | None = None,
    order_record_id: int | None = None,
    data: dict[str, Any] | None = None,
    gateway: str = "",
) -> int:
    """Add one event in the caller's transaction, message and data scrubbed; return its id."""
    result = conn.execute(
        _INSERT_EVENT,
        {
            "at": now(),
            "level": str(level),
            "kind": str(kind),
            "message": stored(message),
            "alert_id": alert_id,
            "order_record_id": order_record_id,
            "data_json": to_json(scrub_data(data)),
            "gateway": gateway,
        },
    )
    return new_id(result)


def newest_events(session: Session, *, alert_id: int | None, limit: int) -> list[EventRecord]:
    """The newest ``limit`` events (of one alert when given), newest first."""
    query = select(EventRecord).order_by(col(EventRecord.id).desc()).limit(limit)
    if alert_id is not None:
        query = query.where(EventRecord.alert_id == alert_id)
    return list(session.exec(query).all())


def latest_event(session: Session, kind: str, gateway: str) -> EventRecord | None:
    """The newest event of ``kind`` written on ``gateway`` (or before gateways were kept)."""
    query = (
        select(EventRecord)
        .where(EventRecord.kind == kind, col(EventRecord.gateway).in_((gateway, "")))
        .order_by(col(EventRecord.id).desc())
    )
    return session.exec(query.limit(1)).first()
