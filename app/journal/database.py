"""How the journal talks to its database: the engine, one transaction per call, faults, on_commit.

What each call writes or reads lives beside its concern (alerts.py, orders.py, ...); this
module owns only *how*: every database failure becomes JournalError, a failure because the
database cannot work (locked, full, read-only, I/O) is noted in ``fault``, and ``on_commit``
is called after every write transaction commits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.journal.common import META
from app.journal.db import is_fault, is_locked, journal_error, make_engine

log = logging.getLogger(__name__)

# check_writable's row: four or five 4 KiB pages, about what a burst of alerts adds.
WRITE_CHECK_KEY = "write-check"
WRITE_CHECK_BYTES = 16 * 1024
WRITE_CHECK_VALUE = "x" * WRITE_CHECK_BYTES


class Database:
    """The database at ``url`` (any SQLAlchemy URL; SQLite in WAL mode by default).

    ``on_commit``, when set, is called with no arguments after every write transaction commits,
    on the thread that ran it; its exceptions are logged and swallowed. Raises JournalError when
    the URL cannot be read or its driver is missing.
    """

    on_commit: Callable[[], None] | None = None

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        # Write transactions committed so far on each thread (and session transactions, which
        # may only read): a caller that sees its thread's count unchanged across a failed call
        # knows the call changed nothing. Per thread, because the journal runner's lock-waiting
        # thread commits while the event loop's own call fails on the lock it holds.
        self._per_thread = threading.local()
        # The last time (time.monotonic()) a transaction failed because the database could not
        # work (locked, full, read-only, I/O), with the reason; check_writable clears it.
        self.fault: str | None = None
        self.fault_at = 0.0

    @property
    def commits(self) -> int:
        """Transactions committed so far by the calling thread."""
        count: int = getattr(self._per_thread, "commits", 0)
        return count

    def _count_commit(self) -> None:
        self._per_thread.commits = self.commits + 1

    @property
    def local(self) -> bool:
        """True when the database is a file on this machine (SQLite): a call then takes a
        fraction of a millisecond and may run on the caller's thread."""
        return self._engine.dialect.name == "sqlite"

    @property
    def local_file(self) -> bool:
        """True for a SQLite file (not an in-memory database, which closing would lose)."""
        return self.local and self._engine.url.database not in (None, "", ":memory:")

    def check_writable(self) -> None:
        """Commit a write as large as a burst of alerts (a row of WRITE_CHECK_BYTES, deleted in
        the same transaction) and clear ``fault``. Raises JournalError (JournalLocked when
        another connection holds the write lock) when the database refuses.

        The row spans several pages, so a database that cannot grow (disk full, page limit)
        refuses it like it refuses an alert; a small row could fit in a page already there."""
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(META).values(key=WRITE_CHECK_KEY, value=WRITE_CHECK_VALUE))
                conn.execute(delete(META).where(META.c.key == WRITE_CHECK_KEY))
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            if is_fault(exc) and not is_locked(exc) and self.local_file:
                # Connections opened while the file was read-only stay read-only: reopen them,
                # so the journal is writable again as soon as the file or disk is.
                self._engine.dispose()
            raise journal_error(self._engine.url, "write (write check)", exc) from exc
        self.fault = None

    def close(self) -> None:
        """Close every connection to the database."""
        self._engine.dispose()

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One connection in one transaction (SQLAlchemy Core, no ORM unit of work), committed
        at the end, then ``on_commit``; errors become JournalError. The webhook's hot path
        writes through here: the ORM's identity map and flush cost about three times as much
        per call."""
        with self._read(what) as conn:
            yield conn
        self._count_commit()
        if self.on_commit is not None:
            self._committed()

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        """As _write, without ``on_commit``: for reads on the hot path (prebuilt Core statements)."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            raise journal_error(self._engine.url, what, exc) from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Session]:
        """One session in one transaction, committed at the end; errors become JournalError."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            self._note_fault(exc)
            raise journal_error(self._engine.url, what, exc) from exc
        self._count_commit()

    def _note_fault(self, exc: SQLAlchemyError) -> None:
        if is_fault(exc):
            self.fault, self.fault_at = str(journal_error(self._engine.url, "write", exc)), time.monotonic()

    def _committed(self) -> None:
        try:
            self.on_commit()  # type: ignore[misc]
        except Exception:  # noqa: BLE001 — a listener must never undo or fail a committed write
            log.exception("the journal's on_commit listener failed")
