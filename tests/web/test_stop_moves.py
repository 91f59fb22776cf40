"""The stop moves in words (``tvbridge render``, app/web/stop_moves.py): units named, the prices
shown only when the fill price is known, a short's moves below its fill."""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import Side
from app.domain.models import LiveStops
from app.web.stop_moves import Entry, after_target_words, live_words

MNQ = (Decimal("0.25"), Decimal("0.50"))


def test_without_a_fill_price_the_moves_are_told_in_ticks_and_points_only() -> None:
    entry = Entry(Side.BUY, None, *MNQ)

    notes = live_words(entry, LiveStops(be_after_ticks=20, be_offset_ticks=0, trail_ticks=8))

    assert notes[:2] == [
        "break-even: once the price is 20 ticks (5.00 points) in favour of the fill, the stop loss "
        "moves to the fill; never loosened",
        "trail: from the fill, the stop loss follows the best price 8 ticks (2.00 points, 4.00 USD a "
        "contract) behind it, moved in steps of 1 tick (0.25 points) or more; never loosened",
    ]
    assert notes[2].startswith("stop moves: the better of the two wins; moved by the bridge")


def test_a_short_trail_alone_and_its_break_even_after_a_target_round_in_its_favour() -> None:
    entry = Entry(Side.SELL, Decimal("21500.25"), *MNQ)

    trail, hub = live_words(entry, LiveStops(trail_ticks=10, trail_activation_ticks=4, trail_step_ticks=2))

    assert trail == (
        "trail: once the price is 4 ticks (1.00 points) in favour of the fill (21499.25 when filled at "
        "21500.25), the stop loss follows the best price 10 ticks (2.50 points, 5.00 USD a contract) "
        "behind it (there: 21501.75), moved in steps of 2 ticks (0.50 points) or more; never loosened"
    )
    assert hub.startswith("stop moves: moved by the bridge from the Market Hub's live quotes")
    assert after_target_words(entry, 2, 1) == (
        "break-even + 1 tick(s) after target 2: stop loss to 21500.00 (shown filled at 21500.25)"
    )
    assert live_words(entry, LiveStops()) == []


def test_a_break_even_after_a_target_with_no_entry_known_is_told_without_a_price() -> None:
    assert after_target_words(None, 1, 2) == "break-even + 2 tick(s) after target 1"
