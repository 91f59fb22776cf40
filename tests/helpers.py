"""Shared test helpers: a polling wait, and paths to the repository's shipped files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
SHIPPED_TEMPLATES = REPO / "templates"
SHIPPED_ALERTS = REPO / "alerts"

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 5.0, interval_s: float = 0.02
) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or raises no AssertionError.

    Fails with the last AssertionError (or a timeout message) after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last: AssertionError | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
