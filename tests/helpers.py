"""Shared test helpers: a polling wait, and paths to the repository's shipped files."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
SHIPPED_TEMPLATES = REPO / "templates"
SHIPPED_ALERTS = REPO / "alerts"

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 5.0, interval_s: float = 0.02
) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or raises no AssertionError.

    Fails with the last AssertionError (or a timeout message) after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last: AssertionError | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def journal_url(tmp_path: Path) -> str:
    """A fresh, empty journal database for one test.

    SQLite in ``tmp_path`` by default. With ``TVBRIDGE_TEST_POSTGRES`` set to a PostgreSQL server
    URL (e.g. ``postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql``), a new database
    on that server instead, so the same tests prove the journal on PostgreSQL (.ci/run does both).
    """
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server:
        return f"sqlite:///{tmp_path / 'journal.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tvb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    CREATED_DATABASES.append(name)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


CREATED_DATABASES: list[str] = []


def drop_created_databases() -> None:
    """Drop the PostgreSQL databases journal_url made (at the end of the test session)."""
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server or not CREATED_DATABASES:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in CREATED_DATABASES:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    CREATED_DATABASES.clear()
