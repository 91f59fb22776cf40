"""What every concern module of the journal shares: the tables, the scrubber, times and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, Table

from app.journal.tables import (
    AccountStateRecord,
    AlertRecord,
    EventRecord,
    FillRecord,
    LockoutRecord,
    MetaRecord,
    NotificationRecord,
    OcoGroupRecord,
    OrderRecord,
    OrderStatusRecord,
    PositionRecord,
)
from app.redact import scrub

# The Core tables behind the SQLModel classes: the hot path runs prebuilt Core statements.
ALERT: Table = AlertRecord.__table__  # type: ignore[attr-defined]
ORDER: Table = OrderRecord.__table__  # type: ignore[attr-defined]
STATUS: Table = OrderStatusRecord.__table__  # type: ignore[attr-defined]
FILL: Table = FillRecord.__table__  # type: ignore[attr-defined]
POSITION: Table = PositionRecord.__table__  # type: ignore[attr-defined]
ACCOUNT: Table = AccountStateRecord.__table__  # type: ignore[attr-defined]
EVENT: Table = EventRecord.__table__  # type: ignore[attr-defined]
META: Table = MetaRecord.__table__  # type: ignore[attr-defined]
GROUP: Table = OcoGroupRecord.__table__  # type: ignore[attr-defined]
LOCKOUT: Table = LockoutRecord.__table__  # type: ignore[attr-defined]
NOTIFICATION: Table = NotificationRecord.__table__  # type: ignore[attr-defined]


def stored(text: str) -> str:
    """Text about an alert as the journal stores it: scrubbed of every secret (app/redact.py), and
    a NUL byte a stranger sent written as the visible ``\\x00`` (PostgreSQL's text columns refuse
    NUL, which would turn a hostile body into a 503)."""
    return scrub(text).replace("\x00", "\\x00")


def new_id(result: CursorResult[Any]) -> int:
    """The primary key the database gave the row an INSERT just added."""
    key = result.inserted_primary_key
    assert key is not None and key[0] is not None
    return int(key[0])


def given(**values: Any) -> dict[str, Any]:
    """The columns whose new value is not None; None means "leave it as it is"."""
    return {name: value for name, value in values.items() if value is not None}


def to_json(value: dict[str, Any] | None) -> str | None:
    """``value`` as compact JSON, None as None."""
    # default=str: a stray Decimal or datetime must not stop the order from being journaled.
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def now() -> datetime:
    """The clock, tz-aware UTC."""
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """``moment`` as the events write it, e.g. "2025-12-05 14:30:00 UTC"."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def maybe_utc(moment: datetime | None) -> datetime | None:
    """as_utc, None as None."""
    return None if moment is None else as_utc(moment)


def as_utc(moment: datetime) -> datetime:
    """A time read through Core aggregates comes back naive from SQLite; it is UTC."""
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def aware(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC; a naive time is refused (ValueError): local time or UTC, nobody knows."""
    if moment.utcoffset() is None:
        raise ValueError(
            f"Lockout time {name}={moment.isoformat()} has no time zone; pass a tz-aware UTC time"
        )
    return moment.astimezone(UTC)
