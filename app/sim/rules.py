"""Order/place validation rules, with the gateway's own rejection messages (projectx-api.md §4.6, §6).

Each check returns the errorMessage of an ``OrderRejected`` (code 2) answer, or None when the
ticket passes.
"""

from __future__ import annotations

from decimal import Decimal

from app.sim.models import BracketSpec, OrderTicket, OrderType, Side

MIN_STOP_LOSS_TICKS = 4  # "Stop loss tick value should be at least 4 ticks." (§6.4)
SUPPORTED_TYPES = (OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP)
CHILD_TYPES = (OrderType.LIMIT, OrderType.STOP)

BRACKETS_NEED_AUTO_OCO = "Brackets cannot be used with Position Brackets. You must enable Auto OCO Brackets."
MISALIGNED_PRICE = "Invalid price. Price is not aligned to tick size."

# Trailing stops (type 5), the gateway's own messages (§6.2), all code 2 on Order/place.
MAX_TRAIL_TICKS = 1000
TRAIL_NOT_SET = "Trail Distance not set."
TRAIL_MISALIGNED = "Invalid trail price. Price is not aligned to tick size."
TRAIL_NO_LAST_PRICE = "Cannot trail without a last price"
TRAIL_TOO_FAR = f"Trail Distance exceeds maximum ({MAX_TRAIL_TICKS})"


def price_problem(price: Decimal | None, field: str, tick_size: Decimal) -> str | None:
    """Check that an absolute price (points) is present, positive and on the tick grid (§6.1)."""
    if price is None:
        return f"Invalid price. {field} is required for this order type."
    if price <= 0 or price % tick_size != 0:
        return MISALIGNED_PRICE
    return None


def entry_problem(ticket: OrderTicket, tick_size: Decimal) -> str | None:
    """Check type, side, size and the prices the type needs."""
    if ticket.type not in SUPPORTED_TYPES:
        return "Invalid order type specified"
    if ticket.side not in (Side.BID, Side.ASK):
        return "Invalid order side specified"
    if ticket.size <= 0:
        return "Invalid order size specified"
    if ticket.type == OrderType.LIMIT:
        return price_problem(ticket.limit_price, "limitPrice", tick_size)
    if ticket.type == OrderType.STOP:
        return price_problem(ticket.stop_price, "stopPrice", tick_size)
    return None


def trail_ticks(trail_price: Decimal, last_price: Decimal, tick_size: Decimal) -> int:
    """The distance the gateway trails by: |last − trailPrice| / tick size, fractions dropped (§6.2)."""
    return int(abs(last_price - trail_price) // tick_size)


def trail_problem(
    trail_price: Decimal | None, last_price: Decimal | None, tick_size: Decimal, *, placing: bool
) -> str | None:
    """Check a trailing stop's ``trailPrice`` (an absolute start price, §6.2): set, on the tick
    grid, a last price to measure from, and (Order/place only, ``placing``) at most 1000 ticks
    away; Order/modify has no maximum (§6.2)."""
    if trail_price is None:
        return TRAIL_NOT_SET
    if trail_price % tick_size != 0:
        return TRAIL_MISALIGNED
    if last_price is None:
        return TRAIL_NO_LAST_PRICE
    ticks = trail_ticks(trail_price, last_price, tick_size)
    if ticks == 0:
        return TRAIL_NOT_SET
    if placing and ticks > MAX_TRAIL_TICKS:
        return TRAIL_TOO_FAR
    return None


def bracket_problem(ticket: OrderTicket) -> str | None:
    """Check the signed bracket ticks (§6.4): buy → take profit > 0, stop loss ≤ -4; sell → reverse."""
    going_long = ticket.side == Side.BID
    take_profit, stop_loss = ticket.take_profit, ticket.stop_loss
    if take_profit is not None:
        if problem := _child_type_problem("take profit", take_profit):
            return problem
        if going_long and take_profit.ticks <= 0:
            return (
                f"Invalid take profit ticks ({take_profit.ticks}). "
                "Ticks should be greater than zero when going long"
            )
        if not going_long and take_profit.ticks >= 0:
            return (
                f"Invalid take profit ticks ({take_profit.ticks}). "
                "Ticks should be less than zero when going short"
            )
    if stop_loss is not None:
        if problem := _child_type_problem("stop loss", stop_loss):
            return problem
        distance = -stop_loss.ticks if going_long else stop_loss.ticks
        if distance < MIN_STOP_LOSS_TICKS:
            return (
                f"Invalid stop loss ticks ({stop_loss.ticks}). "
                f"Stop loss tick value should be at least {MIN_STOP_LOSS_TICKS} ticks."
            )
    return None


def _child_type_problem(leg: str, bracket: BracketSpec) -> str | None:
    if bracket.type not in CHILD_TYPES:
        return f"Invalid {leg} bracket type ({bracket.type}). Use 4 (Stop) or 1 (Limit)."
    return None
