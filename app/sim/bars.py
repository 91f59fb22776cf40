"""The simulator's price history: one-minute bars of each contract, built from the prices it
moved to (walk steps and set prices), for History/retrieveBars (reference/projectx-api.md §4.5).

In memory only (a restarted simulator starts a new history) and bounded: the newest ``keep``
minutes per contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

KEEP_MINUTES = 3 * 24 * 60  # three days of one-minute bars per contract


@dataclass
class MinuteBar:
    """One minute of a contract: ``at`` its start (UTC); prices in points."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def to_wire(self) -> dict[str, object]:
        """The bar as History/retrieveBars writes one (§4.5); the simulator trades no volume."""
        return {
            "t": self.at.isoformat(),
            "o": self.open,
            "h": self.high,
            "l": self.low,
            "c": self.close,
            "v": 0,
        }


class PriceHistory:
    """One-minute bars per contract id, oldest first."""

    def __init__(self, keep: int = KEEP_MINUTES) -> None:
        self.keep = keep
        self._bars: dict[str, dict[datetime, MinuteBar]] = {}

    def record(self, contract_id: str, at: datetime, price: Decimal) -> None:
        """Note that ``contract_id`` traded at ``price`` at ``at`` (UTC)."""
        minute = at.replace(second=0, microsecond=0)
        bars = self._bars.setdefault(contract_id, {})
        bar = bars.get(minute)
        if bar is None:
            bars[minute] = MinuteBar(minute, price, price, price, price)
            while len(bars) > self.keep:
                del bars[min(bars)]
            return
        bar.high, bar.low, bar.close = max(bar.high, price), min(bar.low, price), price

    def between(self, contract_id: str, start: datetime, end: datetime) -> list[MinuteBar]:
        """The bars whose minute starts in [``start`` floored to its minute, ``end``], oldest first."""
        first = start.replace(second=0, microsecond=0)
        bars = self._bars.get(contract_id, {})
        return sorted((b for at, b in bars.items() if first <= at <= end), key=lambda b: b.at)
