"""Run the (synchronous) journal on one worker thread, off the event loop.

One thread means journal writes are serialised: dedupe-then-insert is atomic, SQLite sees a
single writer, and the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class JournalRunner:
    """Await journal calls: ``await runner.run(journal.add_order, alert_id=…)``."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the journal thread; JournalError passes through."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
