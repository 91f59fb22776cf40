"""History/retrieveBars on the simulator (§4.5): one-minute bars of the prices it moved to."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.sim import SimState
from app.sim.bars import PriceHistory
from tests.sim.conftest import MNQ, MNQ_START, START, Api, ManualClock


def request(
    start: Any, end: Any, *, partial: bool = True, limit: int = 1000, unit: int = 2
) -> dict[str, Any]:
    return {
        "contractId": MNQ,
        "live": False,
        "startTime": start.isoformat(),
        "endTime": end.isoformat(),
        "unit": unit,
        "unitNumber": 1,
        "limit": limit,
        "includePartialBar": partial,
    }


async def test_minute_bars_of_the_moves_newest_first(api: Api, state: SimState, clock: ManualClock) -> None:
    # Minute 0 opens at the start price; moves in minutes 0 and 2 (none in minute 1).
    state.set_price(MNQ, Decimal("21502.00"))
    clock.advance(10)
    state.set_price(MNQ, Decimal("21498.50"))
    clock.advance(120)
    state.set_price(MNQ, Decimal("21501.25"))
    bars = (await api.ok("History/retrieveBars", request(START, START + timedelta(minutes=5))))["bars"]
    assert [(b["t"][11:16], b["o"], b["h"], b["l"], b["c"]) for b in bars] == [
        (f"{START + timedelta(minutes=2):%H:%M}", 21501.25, 21501.25, 21501.25, 21501.25),
        (f"{START:%H:%M}", float(MNQ_START), 21502.0, 21498.5, 21498.5),
    ]
    # limit keeps the newest; without includePartialBar the current minute is left out.
    newest = (await api.ok("History/retrieveBars", request(START, START + timedelta(minutes=5), limit=1)))[
        "bars"
    ]
    assert [b["c"] for b in newest] == [21501.25]
    done = (
        await api.ok("History/retrieveBars", request(START, START + timedelta(minutes=5), partial=False))
    )["bars"]
    assert [b["c"] for b in done] == [21498.5]


async def test_a_window_without_moves_answers_the_current_bar(api: Api, clock: ManualClock) -> None:
    clock.advance(3600)
    bars = (await api.ok("History/retrieveBars", request(clock() - timedelta(minutes=15), clock())))["bars"]
    assert [(b["c"], b["t"]) for b in bars] == [(float(MNQ_START), clock().isoformat())]


def test_the_history_keeps_the_newest_minutes() -> None:
    history = PriceHistory(keep=3)
    for minute in range(5):
        history.record(MNQ, START + timedelta(minutes=minute), Decimal(minute))
    kept = history.between(MNQ, START, START + timedelta(hours=1))
    assert [b.close for b in kept] == [Decimal(2), Decimal(3), Decimal(4)]
