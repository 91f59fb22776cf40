"""The one place prices meet the tick grid (DESIGN.md: prices are Decimal, offsets whole ticks)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

MAX_EXPONENT = 20  # a price, distance or quantity is within 1e-20 .. 1e20 (28-digit arithmetic)
# The longest trail the gateway takes on Order/place: "Trail Distance exceeds maximum (1000)"
# (projectx-api.md §6.2), in ticks.
MAX_TRAIL_TICKS = 1000


def to_decimal(value: object) -> Decimal:
    """Read a price or distance given as int, float, Decimal or numeric string.

    Raises ValueError naming the value when it is not a finite number.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        # 1e999999999 is a valid Decimal, but int() of it or a tick grid for it never ends.
        raise ValueError(f"{str(value)[:40]!r} is not a usable number (beyond 1e±{MAX_EXPONENT})")
    return number


def round_to_tick(price: Decimal, tick_size: Decimal) -> Decimal:
    """Round ``price`` (points) to the nearest multiple of ``tick_size`` (half away from zero).

    The result keeps the tick size's exponent, so 21500.3 on a 0.25 grid is ``Decimal('21500.25')``.
    """
    if tick_size <= 0:
        raise ValueError(f"tick size {tick_size} must be positive")
    ticks = (price / tick_size).to_integral_value(rounding=ROUND_HALF_UP)
    return (ticks * tick_size).quantize(tick_size)


def round_in_favour(price: Decimal, tick_size: Decimal, *, long: bool) -> Decimal:
    """``price`` (points) on the tick grid, rounded in the trade's favour: up for a long, down for
    a short. A stop loss so never risks more than its ticks, a take profit never asks for less.

    Needed wherever a price is worked out from an average fill: 3 contracts filled at 21500.00,
    21500.25 and 21500.25 average 21500.1666…, and 40 ticks from it is off the grid (the gateway
    refuses an unaligned price, projectx-api.md §6.2). Raises ValueError for a tick size ≤ 0.
    """
    if tick_size <= 0:
        raise ValueError(f"tick size {tick_size} must be positive")
    ticks = (price / tick_size).to_integral_value(rounding=ROUND_CEILING if long else ROUND_FLOOR)
    return (ticks * tick_size).quantize(tick_size)


def distance_to_ticks(distance: Decimal, tick_size: Decimal) -> int:
    """Convert a distance in points to a whole number of ticks (nearest, half away from zero)."""
    if tick_size <= 0:
        raise ValueError(f"tick size {tick_size} must be positive")
    return int((distance / tick_size).to_integral_value(rounding=ROUND_HALF_UP))


def ticks_to_points(ticks: int, tick_size: Decimal) -> Decimal:
    """Convert whole ticks to a distance in points."""
    return (Decimal(ticks) * tick_size).quantize(tick_size)
