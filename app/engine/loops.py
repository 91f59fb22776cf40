"""Stopping a background loop that must end even when its cancel is lost.

On Python 3.11, ``asyncio.wait_for`` returns its inner result instead of raising when a cancel
arrives as that result does (CPython gh-86296), so a loop below such a wait can miss its cancel
and run on. A loop stopped here also checks a stopping flag at every turn (set by its owner
before calling ``stop_loop``), and the wait for it is bounded: a shutdown never hangs on it.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # the longest stop_loop waits for the loop to end


async def stop_loop(task: asyncio.Task[None], wake: asyncio.Event, what: str) -> None:
    """Wake ``task`` (its owner has set its stopping flag), cancel it, and wait at most
    STOP_TIMEOUT_S for it to end; an ERROR names ``what`` when it did not. Never raises."""
    wake.set()
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if not task.done():
        log.error("%s did not stop within %g s", what, STOP_TIMEOUT_S)
