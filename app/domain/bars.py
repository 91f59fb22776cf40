"""Price bars of a contract, as History/retrieveBars gives them (reference/projectx-api.md §4.5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum


class BarUnit(IntEnum):
    """The gateway's ``AggregateBarUnit`` (§5.1): the length of one bar."""

    SECOND = 1
    MINUTE = 2
    HOUR = 3
    DAY = 4
    WEEK = 5
    MONTH = 6


# The documented cap per History/retrieveBars call (§4.5); one live report saw 1,000 (§13.10).
MAX_BARS_PER_CALL = 20_000


@dataclass(frozen=True)
class Bar:
    """One bar: ``at`` its start (UTC); open, high, low, close in points; ``volume`` contracts."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
