"""A refused change of a leg (app/engine/refusals.py): never retried at once, at most
MODIFY_ATTEMPTS times, a review scheduled for each retry, a different change a new decision."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from app.engine.refusals import MODIFY_ATTEMPTS, Refusals
from tests.helpers import eventually

STOP = 7  # an order row id
GROUP = 3


async def test_a_refused_change_waits_then_is_asked_again_at_most_three_times() -> None:
    reviewed: list[int] = []
    tasks: list[asyncio.Task[None]] = []

    async def review(group_id: int) -> None:
        reviewed.append(group_id)

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        tasks.append(asyncio.create_task(coro))

    refusals = Refusals(spawn, review)
    refusals.retry_s = 0.05
    change = (2, Decimal("21500.25"))
    assert refusals.attempt(STOP, change, GROUP) == 1  # never refused: the first attempt

    for attempt in range(1, MODIFY_ATTEMPTS + 1):
        refusals.refused(STOP, change, attempt, "Rejected", GROUP)
        if attempt < MODIFY_ATTEMPTS:
            assert refusals.attempt(STOP, change, GROUP) is None  # just refused: not now
            assert refusals.given_up(STOP, change) is None

            async def due(expected: int = attempt) -> bool:
                assert len(reviewed) == expected  # one review per retry, however often asked
                assert refusals.attempt(STOP, change, GROUP) == expected + 1
                return True

            await eventually(due, timeout_s=5)
    given_up = refusals.given_up(STOP, change)
    assert given_up is not None and (given_up.attempts, given_up.message) == (3, "Rejected")
    assert (given_up.size, given_up.price) == change
    assert len(tasks) == MODIFY_ATTEMPTS - 1  # no review scheduled after the last attempt

    other = (1, None)  # a target filled meanwhile: a new decision, its own attempts
    assert refusals.attempt(STOP, other, GROUP) == 1 and refusals.given_up(STOP, other) is None
    refusals.settled(STOP)
    assert refusals.given_up(STOP, change) is None and refusals.attempt(STOP, change, GROUP) == 1
    await asyncio.gather(*tasks)
