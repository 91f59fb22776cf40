"""Position arithmetic: net size, average price and realised P&L of one fill (§4.9, §4.10)."""

from __future__ import annotations

from decimal import Decimal

from app.sim.models import Side, SimPosition

AVERAGE_QUANTUM = Decimal("0.000000001")  # the gateway prints 9 decimals (§1.2)
CENT = Decimal("0.01")


def apply_fill(
    position: SimPosition,
    side: Side,
    size: int,
    price: Decimal,
    tick_size: Decimal,
    tick_value: Decimal,
) -> Decimal | None:
    """Book a fill of ``size`` contracts at ``price`` (points) into ``position`` in place.

    Scaling in re-averages ``average_price``; reducing keeps it; going through zero restarts
    it at ``price``. Returns the realised P&L in USD of the closing part (price difference /
    tick size × tick value × closed contracts, signed), or None for a purely opening fill.
    """
    signed = size if side == Side.BID else -size
    held = abs(position.net)
    if position.net == 0 or (position.net > 0) == (signed > 0):
        if held == 0:
            position.average_price = price
        else:
            average = (position.average_price * held + price * size) / Decimal(held + size)
            position.average_price = average.quantize(AVERAGE_QUANTUM)
        position.net += signed
        return None
    direction = 1 if position.net > 0 else -1
    closed = min(held, size)
    ticks = (price - position.average_price) * direction * closed / tick_size
    position.net += signed
    if position.net != 0 and (position.net > 0) != (direction > 0):
        position.average_price = price
    return (ticks * tick_value).quantize(CENT)
