"""Run the (synchronous) journal without letting two calls interleave, and without a wait for a
lock ever holding up the event loop.

A local SQLite journal answers in a fraction of a millisecond, less than a hop to a worker thread
and back costs, so its calls run inline on the event loop: the webhook's round trip pays four of
them. They never wait for a lock there (SQLite busy timeout 0): when another program holds the
write lock, the call fails at once and, if it changed nothing, runs again on a worker thread
that waits for the lock for what is left of ``lock_wait_s`` (1 s) since the first try, then gives
up with JournalLocked (→ 503, nothing done). Calls that fail while another waits behind the lock
queue on that thread and give up at their own deadline without waiting again, so a burst that
meets a held lock is answered within about ``lock_wait_s``, never one wait after another.

A database across the network (PostgreSQL) runs on one worker thread instead, so the event
loop never waits on the network. Either way one call runs at a time on the loop, which keeps
dedupe-then-insert atomic and gives SQLite a single writer; a call moved to the waiting thread
races the loop's calls only through SQLite's own locking (each call is its own transactions).

``writable()`` is /readyz's view of the journal: app/web/health.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from app.errors import JournalError, JournalLocked
from app.journal.db import lock_wait, set_lock_wait

if TYPE_CHECKING:
    from app.journal import Journal

T = TypeVar("T")
P = ParamSpec("P")

# How long one journal call may wait for another program's write lock, in seconds, counted from
# its first try: well under the webhook's 2 s answer and TradingView's 3 s.
LOCK_WAIT_S = 1.0
# A write check younger than this (seconds) answers /readyz without writing again.
WRITE_CHECK_TTL_S = 1.0


class JournalRunner:
    """Await journal calls: ``await runner.run(journal.add_order, alert_id=…)``."""

    def __init__(
        self, journal: Journal, *, inline: bool | None = None, lock_wait_s: float = LOCK_WAIT_S
    ) -> None:
        self.journal = journal
        self.inline = journal.local if inline is None else inline
        self.lock_wait_s = lock_wait_s
        self._pool = None if self.inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._waiter: ThreadPoolExecutor | None = None  # made on the first lock met
        self._checked_at = -WRITE_CHECK_TTL_S
        self._check_error: str | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)``; JournalError passes through (JournalLocked after at most
        ``lock_wait_s`` when another program holds the write lock)."""
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        commits = self.journal.commits
        before = set_lock_wait(0.0)  # on the event loop: never wait for a lock
        try:
            return fn(*args, **kwargs)
        except JournalLocked:
            if self.journal.commits != commits:
                raise  # part of the call committed: running it again could do that part twice
        finally:
            set_lock_wait(before)
        return await self._wait_for_lock(lambda: fn(*args, **kwargs))

    async def _wait_for_lock(self, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.lock_wait_s
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-lock")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._waiter, self._until, call, deadline)

    def _until(self, call: Callable[[], T], deadline: float) -> T:
        left = deadline - time.monotonic()
        if left <= 0:
            raise JournalLocked(
                f"Journal still locked by another program after {self.lock_wait_s:g} s; "
                "nothing was written. Close the other program (a database browser, a second "
                "tvbridge) or wait."
            )
        with lock_wait(left, write=True):
            return call()

    async def writable(self) -> str | None:
        """None when the journal can write now, else why not (for /readyz).

        A write check (Journal.check_writable: a committed multi-page write, no lock wait) runs
        at most once per WRITE_CHECK_TTL_S; a journal call that failed for a fault after the
        last check answers at once with that fault, until the next check passes."""
        now = time.monotonic()
        if now - self._checked_at >= WRITE_CHECK_TTL_S:
            self._checked_at = now
            try:
                await self._check()
                self._check_error = None
            except JournalError as exc:
                self._check_error = str(exc)
        if self._check_error is not None:
            return self._check_error
        fault = self.journal.fault
        if fault is not None and self.journal.fault_at >= self._checked_at:
            return str(fault)
        return None

    async def _check(self) -> None:
        if self._pool is not None:
            await self.run(self.journal.check_writable)
            return
        before = set_lock_wait(0.0)  # never waits for the lock: no second try on a thread
        try:
            self.journal.check_writable()
        finally:
            set_lock_wait(before)

    def shutdown(self) -> None:
        for pool in (self._pool, self._waiter):
            if pool is not None:
                pool.shutdown(wait=True)
