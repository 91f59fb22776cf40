"""Risk lockouts (table ``lockout``): an account whose entries are refused until a time."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.domain.kinds import EventKind, EventLevel
from app.journal.common import LOCKOUT, utc_text
from app.journal.events import insert_event
from app.journal.tables import LockoutRecord

log = logging.getLogger(__name__)

_LOCKOUT_OF = core_select(LOCKOUT).where(LOCKOUT.c.account_id == bindparam("account"))
_DELETE_LOCKOUT = delete(LOCKOUT).where(LOCKOUT.c.account_id == bindparam("account"))
_INSERT_LOCKOUT = insert(LOCKOUT)


def lock(
    conn: Connection,
    account_id: int,
    account_name: str,
    *,
    reason: str,
    until: datetime,
    by: str,
    now: datetime,
) -> LockoutRecord:
    """Journal.lock_account's work (times already UTC), in the caller's transaction."""
    held = _lockout_in(conn, account_id)
    if held is not None and held.until > now:
        return held
    if held is not None:
        conn.execute(_DELETE_LOCKOUT, {"account": account_id})
    lockout = LockoutRecord(
        account_id=account_id, account_name=account_name, reason=reason, since=now, until=until, by=by
    )
    conn.execute(_INSERT_LOCKOUT, lockout.model_dump())
    message = (
        f"Account {account_name} ({account_id}) locked until {utc_text(until)} by {by}: "
        f"{reason}. Every entry is refused until then (exits still run); lift it early "
        f"with `tvbridge unlock {account_name}`"
    )
    insert_event(conn, EventKind.RISK_LOCKOUT, message, EventLevel.ERROR, data=_lockout_data(lockout))
    return lockout


def unlock(conn: Connection, account_id: int, *, by: str, now: datetime) -> LockoutRecord | None:
    """Journal.unlock_account's work (``now`` already UTC), in the caller's transaction."""
    held = _lockout_in(conn, account_id)
    if held is None:
        return None
    conn.execute(_DELETE_LOCKOUT, {"account": account_id})
    if held.until <= now:
        return None
    message = (
        f"Account {held.account_name} ({account_id}) unlocked by {by} at {utc_text(now)} "
        f"(locked since {utc_text(held.since)} until {utc_text(held.until)}: "
        f"{held.reason}): entries are allowed again"
    )
    data = {**_lockout_data(held), "unlocked_by": by}
    insert_event(conn, EventKind.RISK_UNLOCK, message, EventLevel.WARNING, data=data)
    return held


def active_lockouts(session: Session, now: datetime) -> list[LockoutRecord]:
    """The lockouts still in force at ``now`` (``until`` later), by account id."""
    query = (
        select(LockoutRecord).where(col(LockoutRecord.until) > now).order_by(col(LockoutRecord.account_id))
    )
    return list(session.exec(query).all())


def _lockout_in(conn: Connection, account_id: int) -> LockoutRecord | None:
    row = conn.execute(_LOCKOUT_OF, {"account": account_id}).first()
    return None if row is None else LockoutRecord(**row._mapping)


def _lockout_data(lockout: LockoutRecord) -> dict[str, Any]:
    return {
        "account_id": lockout.account_id,
        "account_name": lockout.account_name,
        "reason": lockout.reason,
        "since": lockout.since.isoformat(),
        "until": lockout.until.isoformat(),
        "by": lockout.by,
    }
