"""The stop moves of a managed bracket in words, for ``tvbridge render`` (app/web/preview.py).

What app/engine/live_stops.py will do after the fill (break-even after X ticks in favour, the
bridge-managed trail) and app/engine/scale_out.py's break-even after target N, with the prices
they imply when the fill price is known, by the engine's own rules (break_even_price,
trail_stop) (the render shows the entry filled at its limit/stop
price, else the alert's reference price, as the legs it shows). Units are named: ticks, points
(ticks × tick size) and USD (ticks × tick value, per contract). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.domain.enums import Side
from app.domain.models import LiveStops
from app.engine.live_stops import trail_stop
from app.engine.scale_out import break_even_price

HUB = (
    "moved by the bridge from the Market Hub's live quotes ([gateway] market_hub, on by default); "
    "while the hub is down the stop loss stays where it is"
)


@dataclass(frozen=True)
class Entry:
    """The entry a group protects: its side (BUY = long), the price it is shown filled at (None:
    not known before the fill), the contract's tick size (points) and tick value (USD per tick
    per contract), either None when the journal does not hold them."""

    side: Side
    fill: Decimal | None
    tick: Decimal | None
    tick_value: Decimal | None

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1

    def distance(self, ticks: int, *, usd: bool = False) -> str:
        """``20 ticks (5.00 points)``, with ``, 10.00 USD a contract`` when ``usd``."""
        words = f"{ticks} tick{'' if ticks == 1 else 's'}"
        extra = []
        if self.tick is not None:
            extra.append(f"{ticks * self.tick:.2f} points")
        if usd and self.tick_value is not None:
            extra.append(f"{ticks * self.tick_value:.2f} USD a contract")
        return f"{words} ({', '.join(extra)})" if extra else words

    def at(self, ticks: int) -> Decimal | None:
        """The price ``ticks`` in the trade's favour of the fill (negative: against)."""
        if self.fill is None or self.tick is None:
            return None
        return self.fill + self.sign * ticks * self.tick

    def break_even(self, offset_ticks: int) -> Decimal | None:
        """The break-even stop the bridge would ask for (scale_out.break_even_price)."""
        if self.fill is None or self.tick is None:
            return None
        return break_even_price(self.fill, self.side, offset_ticks, self.tick)

    def when(self, price: Decimal | None) -> str:
        """`` (21505.25 when filled at 21500.25)``, or nothing when the fill is not known."""
        return f" ({price} when filled at {self.fill})" if price is not None else ""

    def offset(self, ticks: int) -> str:
        if ticks == 0:
            return "the fill"
        return f"the fill {'+' if self.sign > 0 else '-'} {self.distance(ticks)}"


def break_even_words(entry: Entry, after_ticks: int, offset_ticks: int) -> str:
    """Break-even after ``after_ticks`` in favour (live quotes): the stop to the fill ± offset."""
    stop = entry.break_even(offset_ticks)
    to = f"{stop}, {entry.offset(offset_ticks)}" if stop is not None else entry.offset(offset_ticks)
    return (
        f"break-even: once the price is {entry.distance(after_ticks)} in favour of the fill"
        f"{entry.when(entry.at(after_ticks))}, the stop loss moves to {to}; never loosened"
    )


def trail_words(entry: Entry, ticks: int, activation_ticks: int, step_ticks: int) -> str:
    """The bridge-managed trail: after ``activation_ticks`` in favour, ``ticks`` behind the best
    price, moved by ``step_ticks`` or more."""
    after = (
        f"once the price is {entry.distance(activation_ticks)} in favour of the fill"
        f"{entry.when(entry.at(activation_ticks))}"
        if activation_ticks
        else "from the fill"
    )
    best = entry.at(activation_ticks)
    first = None if best is None or entry.tick is None else trail_stop(best, entry.side, ticks, entry.tick)
    there = f" (there: {first})" if first is not None else ""
    return (
        f"trail: {after}, the stop loss follows the best price {entry.distance(ticks, usd=True)} "
        f"behind it{there}, moved in steps of {entry.distance(step_ticks)} or more; never loosened"
    )


def live_words(entry: Entry, plan: LiveStops) -> list[str]:
    """The notes of a group's live stop moves: break-even, trail, then how they are moved."""
    notes: list[str] = []
    if plan.be_after_ticks is not None:
        notes.append(break_even_words(entry, plan.be_after_ticks, plan.be_offset_ticks))
    if plan.trail_ticks is not None:
        notes.append(trail_words(entry, plan.trail_ticks, plan.trail_activation_ticks, plan.trail_step_ticks))
    if notes:
        both = "the better of the two wins; " if len(notes) == 2 else ""
        notes.append(f"stop moves: {both}{HUB}")
    return notes


def after_target_words(entry: Entry | None, after_target: int, offset_ticks: int) -> str:
    """A scale-out's break-even after target N, with its price when the fill is known."""
    stop = entry.break_even(offset_ticks) if entry is not None else None
    where = f": stop loss to {stop} (shown filled at {entry.fill})" if entry and stop is not None else ""
    return f"break-even + {offset_ticks} tick(s) after target {after_target}{where}"
