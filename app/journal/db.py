"""The journal's SQLAlchemy engine for any URL, and its errors in the trader's words."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.pool import StaticPool

from app.errors import JournalError, JournalLocked

# How long a thread that has not said otherwise (a CLI command, a migration) waits for another
# writer's lock, in ms. The event loop says 0 (app/engine/runner.py): it never waits.
DEFAULT_LOCK_WAIT_MS = 5000
# Applied to every new SQLite connection: WAL lets readers work beside the writer, NORMAL is
# durable in WAL mode and keeps each commit fast, busy_timeout waits out another writer (ms).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={DEFAULT_LOCK_WAIT_MS}",
)
# sqlite3's primary result codes for "another connection holds the lock" (extended codes, such
# as SQLITE_BUSY_SNAPSHOT, keep them in their low byte).
_LOCKED_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_thread = threading.local()
DB_HINT = "Check that the database is reachable and writable (disk space, file permissions)."
URL_HINT = "Fix the journal URL ([journal] url in tvbridge.toml or TVBRIDGE_JOURNAL__URL)."


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` (any SQLAlchemy URL); SQLite gets its pragmas.

    Raises JournalError when the URL cannot be read or its driver is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise JournalError(
            "Journal URL cannot be read as a database URL; use e.g. sqlite:///tvbridge.db or "
            f"postgresql+psycopg://user:password@host/dbname. {URL_HINT}"
        ) from None
    shown = redact(parsed)
    try:
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
        return _sqlite_engine(parsed)
    except ImportError as exc:
        raise JournalError(
            f"Journal {shown}: the database driver is not installed ({exc.name or exc}); "
            "install it with pip or use a sqlite:/// URL"
        ) from None
    except SQLAlchemyError as exc:
        raise journal_error(parsed, "open the database", exc, hint=URL_HINT) from exc


def _sqlite_engine(url: URL) -> Engine:
    # One worker thread uses the journal, but not the thread that opened it.
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if url.database in (None, "", ":memory:"):
        kwargs["poolclass"] = StaticPool  # one connection, or every call sees a new database
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): the sqlite3 driver's own transaction
        # handling skips SELECT and DDL, which would break dedupe reads and migrations.
        dbapi_connection.isolation_level = None
        for pragma in SQLITE_PRAGMAS:
            dbapi_connection.execute(pragma)

        connection_record.info["lock_wait_ms"] = DEFAULT_LOCK_WAIT_MS

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Straight to the driver: through exec_driver_sql this costs as much as a real
        # statement, on every transaction of the webhook's hot path.
        pooled = connection.connection
        driver = pooled.driver_connection
        wait_ms = getattr(_thread, "lock_wait_ms", DEFAULT_LOCK_WAIT_MS)
        if pooled.info.get("lock_wait_ms") != wait_ms:  # only when this thread wants another wait
            driver.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
            pooled.info["lock_wait_ms"] = wait_ms
        # A writer that waits takes the write lock at BEGIN: SQLite does not wait for it when a
        # transaction that has read already asks to write (it answers "locked" at once).
        begin = "BEGIN IMMEDIATE" if getattr(_thread, "write", False) else "BEGIN"
        try:
            driver.execute(begin)
        except sqlite3.Error as exc:  # raised in an event, SQLAlchemy would not wrap it
            raise OperationalError(begin, None, exc) from exc

    return engine


def set_lock_wait(seconds: float | None) -> float | None:
    """Set how long this thread's SQLite transactions wait for another writer's lock (0: not at
    all, SQLITE_BUSY at once; None: DEFAULT_LOCK_WAIT_MS) and return the setting it replaces.
    Applies from this thread's next transaction on; other threads keep theirs."""
    before: float | None = getattr(_thread, "lock_wait_s", None)
    _thread.lock_wait_s = seconds
    _thread.lock_wait_ms = DEFAULT_LOCK_WAIT_MS if seconds is None else max(0, round(seconds * 1000))
    return before


@contextmanager
def lock_wait(seconds: float, *, write: bool = False) -> Iterator[None]:
    """``set_lock_wait(seconds)`` for the ``with`` block, then this thread's wait before it.

    ``write``: the block's transactions mean to write, so they take the write lock when they
    begin (BEGIN IMMEDIATE), waiting for it up to ``seconds``."""
    before, was_write = set_lock_wait(seconds), getattr(_thread, "write", False)
    _thread.write = write
    try:
        yield
    finally:
        set_lock_wait(before)
        _thread.write = was_write


def is_fault(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot work now (locked, full, read-only, I/O, gone),
    as opposed to a refused statement (a constraint, a bug): DBAPI OperationalError."""
    return isinstance(exc, OperationalError)


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "another connection holds the lock" (SQLITE_BUSY/LOCKED)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _LOCKED_CODES


def database_exists(url: str) -> bool:
    """Whether the journal at ``url`` may exist: False only for a SQLite file that is not there
    (or a URL that cannot be read), so that a read-only look never creates a database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database not in ("", ":memory:") and Path(database).exists()


def redact(url: URL | str) -> str:
    """``url`` as text with its password replaced by ``***``."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def journal_error(url: URL, what: str, exc: BaseException, *, hint: str = DB_HINT) -> JournalError:
    """A JournalError saying that the journal at ``url`` could not do ``what``, and why.

    The reason is the driver's own message (no SQL, no parameters); the password is removed.
    """
    reason = _reason(exc)
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if is_locked(exc):
        return JournalLocked(
            f"Journal {redact(url)} could not {what}: {reason} (another program holds its write "
            "lock). Close the other program (a database browser, a second tvbridge) or wait."
        )
    return JournalError(f"Journal {redact(url)} could not {what}: {reason}. {hint}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError | StatementError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
