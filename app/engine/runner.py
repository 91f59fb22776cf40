"""Run the (synchronous) journal without letting two calls interleave.

A local SQLite journal answers in a fraction of a millisecond, less than a hop to a worker thread
and back costs, so its calls run inline on the event loop: the webhook's round trip pays four of
them. A database across the network (PostgreSQL) runs on one worker thread instead, so the event
loop never waits on the network. Either way one call runs at a time, which keeps dedupe-then-insert
atomic and gives SQLite a single writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class JournalRunner:
    """Await journal calls: ``await runner.run(journal.add_order, alert_id=…)``."""

    def __init__(self, journal: Any, *, inline: bool | None = None) -> None:
        self.journal = journal
        self.inline = bool(getattr(journal, "local", False)) if inline is None else inline
        self._pool = None if self.inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)``; JournalError passes through."""
        if self._pool is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
