"""The journal page's live feed: wake up when the journal commits, say which alerts changed.

The journal calls ``on_commit`` after every write (from the event loop for a local SQLite journal,
from its worker thread for PostgreSQL). The feed only bumps a version there; each open page's
server-sent-event stream then asks the journal which alerts changed since its cursor, at most
every ``min_interval_s``, so a burst of alerts costs a handful of queries, not one per commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.journal import Journal
    from app.journal.journal import JournalCursor

KEEPALIVE_S = 15.0


class JournalFeed:
    """Versioned "the journal changed" signal, installed as ``journal.on_commit``."""

    def __init__(self, journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
        self.version = 0
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._changed = asyncio.Event()
        self._journal = journal
        journal.on_commit = self._on_commit

    def close(self) -> None:
        """Stop listening to the journal."""
        self._journal.on_commit = None

    def _on_commit(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._bump()
        else:
            self._loop.call_soon_threadsafe(self._bump)

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout_s: float) -> int:
        """Return the version once it is past ``seen`` (or after ``timeout_s``)."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
        return self.version


async def alert_changes(
    feed: JournalFeed,
    changes_since: Callable[[JournalCursor | None], Awaitable[tuple[JournalCursor, list[int]]]],
    *,
    min_interval_s: float = 0.2,
) -> AsyncGenerator[str, None]:
    """Server-sent events: ``event: alerts`` with a JSON list of changed alert ids, newest first,
    and a comment every KEEPALIVE_S so proxies and the browser keep the stream open."""
    cursor, _ = await changes_since(None)
    seen = feed.version
    yield "retry: 1000\n\n"
    while True:
        version = await feed.wait(seen, KEEPALIVE_S)
        if version == seen:
            yield ": keepalive\n\n"
            continue
        seen = version
        cursor, ids = await changes_since(cursor)
        if ids:
            yield f"event: alerts\ndata: {json.dumps(ids)}\n\n"
        await asyncio.sleep(min_interval_s)  # coalesce a burst into one message
