"""The journal's key-value settings (table ``journal_meta``): the instance tag, the kill switch,
the tunnel's state and the follow mark."""

from __future__ import annotations

import json
import logging
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session

from app.domain.kinds import EventKind, EventLevel
from app.domain.records import PauseState
from app.journal.common import ACCOUNT, EVENT, FILL, META, ORDER, POSITION, as_utc, aware, now, utc_text
from app.journal.events import insert_event
from app.journal.tables import MetaRecord

log = logging.getLogger(__name__)

INSTANCE_KEY = "instance"
ADOPTED_KEY = "gateway_adopted"  # which gateway took the rows written before migration 0006
PAUSE_KEY = "paused"  # present while the kill switch holds alerts: {"since": ISO UTC, "by": text}
TUNNEL_KEY = "tunnel"  # the tunnel client's last recorded state (app/tunnel TunnelState as JSON)
FOLLOW_KEY = "follow_mark"  # ISO UTC: a REST catch-up from here misses nothing (app/engine/follow.py)
INSTANCE_ALPHABET = string.ascii_lowercase + string.digits
INSTANCE_LENGTH = 6


def make_instance(session: Session) -> str:
    """This database's instance tag, made (random, INSTANCE_LENGTH of INSTANCE_ALPHABET) if none."""
    meta = session.get(MetaRecord, INSTANCE_KEY)
    if meta is None:
        tag = "".join(secrets.choice(INSTANCE_ALPHABET) for _ in range(INSTANCE_LENGTH))
        meta = MetaRecord(key=INSTANCE_KEY, value=tag)
        session.add(meta)
    return meta.value


def instance_in(session: Session) -> str | None:
    """This database's instance tag, or None before `tvbridge db upgrade`."""
    meta = session.get(MetaRecord, INSTANCE_KEY)
    return None if meta is None else meta.value


def adopt_rows_without_gateway(conn: Connection, gateway: str) -> None:
    """Once: rows written before migration 0006 have no gateway; the first gateway to open
    the journal after it takes them (the one the trader used so far, in all likelihood)."""
    if conn.execute(core_select(META.c.key).where(META.c.key == ADOPTED_KEY)).first():
        return
    for table in (ACCOUNT, ORDER, FILL, POSITION, EVENT):
        conn.execute(update(table).where(table.c.gateway == "").values(gateway=gateway))
    conn.execute(insert(META).values(key=ADOPTED_KEY, value=gateway))


def pause_in(conn: Connection) -> PauseState | None:
    """The kill switch's state: since when (UTC) and by whom, or None when not paused."""
    value = conn.execute(core_select(META.c.value).where(META.c.key == PAUSE_KEY)).scalar()
    if value is None:
        return None
    held = json.loads(value)
    return PauseState(as_utc(datetime.fromisoformat(held["since"])), str(held["by"]))


def set_paused(conn: Connection, paused: bool, by: str) -> PauseState | None:
    """Journal.set_paused's work, in the caller's transaction."""
    held = pause_in(conn)
    if paused == (held is not None):
        return held
    at = now()
    if paused:
        state = PauseState(at, by)
        value = json.dumps({"since": at.isoformat(), "by": by})
        conn.execute(insert(META), {"key": PAUSE_KEY, "value": value})
        message = (
            f"Paused by {by} at {utc_text(at)}: new alerts are journaled as paused and "
            "never executed; resume on the page or with `tvbridge resume`"
        )
        insert_event(conn, EventKind.KILL_PAUSE, message, EventLevel.WARNING, data={"by": by})
        return state
    assert held is not None
    conn.execute(delete(META).where(META.c.key == PAUSE_KEY))
    message = (
        f"Resumed by {by} at {utc_text(at)} (paused since {utc_text(held.since)} by "
        f"{held.by}): new alerts are executed again; alerts received while paused are not"
    )
    data = {"by": by, "paused_since": held.since.isoformat(), "paused_by": held.by}
    insert_event(conn, EventKind.KILL_RESUME, message, EventLevel.WARNING, data=data)
    return None


def tunnel_state(conn: Connection) -> dict[str, Any] | None:
    """The tunnel's last recorded state (JSON object), or None when none is recorded."""
    value = conn.execute(core_select(META.c.value).where(META.c.key == TUNNEL_KEY)).scalar()
    if value is None:
        return None
    state: dict[str, Any] = json.loads(value)
    return state


def set_tunnel_state(conn: Connection, state: dict[str, Any] | None) -> None:
    """Record the tunnel's state (a JSON-ready object), or forget it with None."""
    conn.execute(delete(META).where(META.c.key == TUNNEL_KEY))
    if state is not None:
        conn.execute(insert(META), {"key": TUNNEL_KEY, "value": json.dumps(state, default=str)})


def follow_mark(conn: Connection) -> datetime | None:
    """The follow mark (UTC) as last recorded, or None."""
    value = conn.execute(core_select(META.c.value).where(META.c.key == FOLLOW_KEY)).scalar()
    return None if value is None else as_utc(datetime.fromisoformat(value))


def follow_mark_text(at: datetime) -> str:
    """The follow mark as stored: ISO UTC (a naive ``at`` is refused, ValueError)."""
    return aware(at, "at").astimezone(UTC).isoformat()


def set_follow_mark(conn: Connection, value: str) -> None:
    """Record the follow mark (follow_mark_text's ISO UTC text)."""
    conn.execute(delete(META).where(META.c.key == FOLLOW_KEY))
    conn.execute(insert(META), {"key": FOLLOW_KEY, "value": value})
