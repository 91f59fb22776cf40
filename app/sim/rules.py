"""Order/place validation rules, with the gateway's own rejection messages (projectx-api.md §4.6, §6).

Each check returns the errorMessage of an ``OrderRejected`` (code 2) answer, or None when the
ticket passes.
"""

from __future__ import annotations

from decimal import Decimal

from app.sim.models import BracketSpec, OrderTicket, OrderType, Side

MIN_STOP_LOSS_TICKS = 4  # "Stop loss tick value should be at least 4 ticks." (§6.4)
SUPPORTED_TYPES = (OrderType.LIMIT, OrderType.MARKET, OrderType.STOP)
CHILD_TYPES = (OrderType.LIMIT, OrderType.STOP)

BRACKETS_NEED_AUTO_OCO = "Brackets cannot be used with Position Brackets. You must enable Auto OCO Brackets."
MISALIGNED_PRICE = "Invalid price. Price is not aligned to tick size."


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
