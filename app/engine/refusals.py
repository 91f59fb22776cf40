"""Changes of a working leg the gateway REFUSED: asked again a bounded number of times, spaced.

A refused Order/modify is a definite "no" (projectx-api.md §13.12: the order is as it was), unlike
no answer (reconciled, never resent blindly). The protection reviews (scale_out.py, oco_review.py)
never believe a refused size or price; the same change is asked again as a new decision (journaled
ahead and sent once, like the first) at most MODIFY_ATTEMPTS times, ``retry_s`` apart, and a
review of the group is scheduled for it, so a refusal is neither believed nor retried in a loop.
Memory only: after a restart every change gets its attempts again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

MODIFY_ATTEMPTS = 3  # the same change of a leg is asked at most this often
RETRY_AFTER_S = 2.0  # ... this long apart (seconds)
Change = tuple[int | None, Decimal | None]  # (size in contracts, stop or limit price in points)
Review = Callable[[int], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass
class Refusal:
    """The change of a leg the gateway refused last: ``attempts`` so far, the last at ``at``
    (monotonic seconds), its ``message``; ``reported`` once given up and said so."""

    change: Change
    attempts: int
    at: float
    message: str
    reported: bool = False

    @property
    def size(self) -> int | None:
        return self.change[0]

    @property
    def price(self) -> Decimal | None:
        return self.change[1]


class Refusals:
    """What the gateway refused, per order row id (see the module docstring).

    ``review(group id)`` reviews a group again (Protection.review); ``spawn`` runs it later.
    """

    def __init__(self, spawn: Spawn, review: Review | None = None) -> None:
        self.spawn = spawn
        self.review = review
        self.retry_s = RETRY_AFTER_S
        self._held: dict[int, Refusal] = {}
        self._later: set[int] = set()  # groups with a review scheduled

    def given_up(self, row_id: int, change: Change) -> Refusal | None:
        """The refusal when this very change was refused MODIFY_ATTEMPTS times, else None."""
        held = self._held.get(row_id)
        if held is not None and held.change == change and held.attempts >= MODIFY_ATTEMPTS:
            return held
        return None

    def attempt(self, row_id: int, change: Change, group_id: int) -> int | None:
        """The attempt number to send ``change`` as now (1: never refused), or None when it was
        refused less than ``retry_s`` ago (a review of the group is scheduled for then)."""
        held = self._held.get(row_id)
        if held is None or held.change != change:
            return 1
        wait = held.at + self.retry_s - time.monotonic()
        if wait > 0:
            self._review_later(group_id, wait)
            return None
        return held.attempts + 1

    def before(self, row_id: int, change: Change) -> Refusal | None:
        """The refusal of this very change so far, if any (to say so in the next attempt)."""
        held = self._held.get(row_id)
        return held if held is not None and held.change == change else None

    def refused(self, row_id: int, change: Change, attempt: int, message: str, group_id: int) -> None:
        """The gateway refused ``change`` at ``attempt``: remember it; retry later if allowed."""
        self._held[row_id] = Refusal(change, attempt, time.monotonic(), message)
        if attempt < MODIFY_ATTEMPTS:
            self._review_later(group_id, self.retry_s)

    def settled(self, row_id: int) -> None:
        """A change of the row was taken (or not answered: reconciled instead): forget refusals."""
        self._held.pop(row_id, None)

    def _review_later(self, group_id: int, delay_s: float) -> None:
        if self.review is None or group_id in self._later:
            return
        self._later.add(group_id)
        self.spawn(self._review_after(group_id, delay_s))

    async def _review_after(self, group_id: int, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
        finally:
            self._later.discard(group_id)
        assert self.review is not None
        try:
            await self.review(group_id)
        except Exception:  # noqa: BLE001 — a later review failing must not end the task loudly
            log.exception("could not review OCO group %s again after a refused modify", group_id)
