"""Background loops that must end even when their cancel is lost, and passes over marked keys.

On Python 3.11, ``asyncio.wait_for`` returns its inner result instead of raising when a cancel
arrives as that result does (CPython gh-86296), so a loop below such a wait can miss its cancel
and run on. A loop stopped here also checks a stopping flag at every turn (set by its owner
before calling ``stop_loop``), and the wait for it is bounded: a shutdown never hangs on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")
STOP_TIMEOUT_S = 5.0  # the longest stop_loop waits for the loop to end


async def stop_loop(task: asyncio.Task[None], wake: asyncio.Event, what: str) -> None:
    """Wake ``task`` (its owner has set its stopping flag), cancel it, and wait at most
    STOP_TIMEOUT_S for it to end; an ERROR names ``what`` when it did not. Never raises."""
    wake.set()
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if not task.done():
        log.error("%s did not stop within %g s", what, STOP_TIMEOUT_S)


class Passes(Generic[K]):
    """Keys marked by a cheap handler (a quote, a batch of fills), worked on together in passes by
    one task: at most one pass every ``gap_s`` seconds, keys marked meanwhile join the next.

    ``work(keys)`` does one pass (what it raises is logged, the passes go on); ``what`` names the
    passes in the log. ``passes`` counts them (for tests and benches).
    """

    def __init__(self, what: str, work: Callable[[set[K]], Awaitable[None]], gap_s: float) -> None:
        self.what = what
        self.work = work
        self.gap_s = gap_s
        self.passes = 0
        self._due: set[K] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last = float("-inf")  # monotonic: when the last pass started
        self._stopping = False

    def mark(self, keys: Iterable[K]) -> None:
        """Look at ``keys`` in the next pass. Cheap: it only marks and wakes."""
        self._due.update(keys)
        if self._due:
            self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"tvbridge {self.what}")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # the loop ends at its next turn even if the cancel is lost
            await stop_loop(self._task, self._wake, self.what)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            if self._stopping:
                return
            wait = self._last + self.gap_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # keys marked meanwhile join this pass
            self._wake.clear()
            due, self._due = self._due, set()
            self._last = time.monotonic()
            try:
                await self.work(due)
            except Exception:  # noqa: BLE001 — one failed pass must not end the passes
                log.exception("%s of %s failed", self.what, sorted(map(str, due)))
            self.passes += 1
