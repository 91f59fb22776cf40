"""Turn template values (TOML literals or rendered text) into order terms.

Each converter raises ValueError whose text is the expectation, e.g. "expected a whole number
of contracts"; the caller names the template, the field and the value around it. The same
converters check literal values when a template is loaded, so a bad literal stops the start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from app.domain.enums import Action, OrderType
from app.domain.ticks import MAX_TRAIL_TICKS, to_decimal

ACTION_SYNONYMS: dict[str, Action] = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "exit": Action.EXIT,
    "close": Action.EXIT,
    "flat": Action.EXIT,
    "reverse": Action.REVERSE,
    "cancel": Action.CANCEL,
    "breakeven": Action.BREAKEVEN,
    "break_even": Action.BREAKEVEN,
}

EXPECT_TICKER = "expected a contract such as NQ1!, MNQ1! or MNQZ2025"
EXPECT_ACTION = "expected buy, sell, exit, reverse, cancel or breakeven (or long, short, close, flat)"
EXPECT_TYPE = "expected market, limit, stop or trailing_stop"
EXPECT_QUANTITY = "expected a whole number of contracts"
EXPECT_PRICE = "expected a price above 0"
EXPECT_TICKS = "expected a whole number of ticks, 1 or more"
EXPECT_POINTS = "expected a distance in points above 0"
EXPECT_MULTIPLIER = "expected a number above 0"
EXPECT_RISK_USD = "expected a risk in USD above 0 (size by risk)"
EXPECT_RISK_PERCENT = "expected a share of the balance in percent, above 0 and at most 100 (0.5 is 0.5 %)"
EXPECT_MARKET_POSITION = "expected long, flat or short ({{strategy.market_position}})"
EXPECT_POSITION_SIZE = "expected a number of contracts, 0 or more ({{strategy.market_position_size}})"
EXPECT_SIGNED_SIZE = (
    "expected a signed number of contracts, > 0 long, < 0 short, 0 flat ({{strategy.position_size}})"
)
MARKET_POSITIONS = {"long": 1, "flat": 0, "short": -1}

T = TypeVar("T")

# Epoch numbers at or above this are milliseconds (Pine's str.tostring(time)); below, seconds.
EPOCH_MS_FROM = 100_000_000_000


def to_ticker(value: object) -> str:
    """Read a TradingView ticker or contract name (``NQ1!``, ``CME_MINI:NQ1!``, ``MNQZ2025``)."""
    ticker = str(value).strip()
    if not ticker:
        raise ValueError(EXPECT_TICKER)
    return ticker


def to_action(value: object) -> Action:
    """Read an action, case-insensitive, with synonyms (long → buy, close/flat → exit, …)."""
    return _word(ACTION_SYNONYMS, value, EXPECT_ACTION)


def to_order_type(value: object) -> OrderType:
    """Read an order type: market, limit, stop or trailing_stop (case-insensitive). A trailing
    stop order on its own takes order.trail_ticks / trail_points (schema_order.py)."""
    try:
        return OrderType(str(value).strip().lower())
    except ValueError:
        raise ValueError(EXPECT_TYPE) from None


def to_quantity(value: object) -> Decimal:
    """Read a quantity in contracts (> 0); the caller checks it is whole after the multiplier."""
    return _positive(value, EXPECT_QUANTITY)


EXPECT_EXIT_QUANTITY = (
    "expected a number of contracts above 0 (e.g. 2) or a percentage of the position above 0 "
    "and at most 100 (e.g. 50%)"
)


def to_exit_quantity(value: object) -> tuple[Decimal, bool]:
    """Read an exit's size: contracts (``2``) or a percentage of the position (``50%``, above 0
    and at most 100). Return (number, is_percent); the caller multiplies contracts."""
    text = str(value).strip()
    if text.endswith("%"):
        number = _positive(text[:-1].strip(), EXPECT_EXIT_QUANTITY)
        if number > 100:
            raise ValueError(EXPECT_EXIT_QUANTITY)
        return number, True
    return _positive(text, EXPECT_EXIT_QUANTITY), False


def to_risk_usd(value: object) -> Decimal:
    """Read a risk in USD (> 0): size by risk, ``order.risk_usd``."""
    return _positive(value, EXPECT_RISK_USD)


def to_risk_percent(value: object) -> Decimal:
    """Read a share of the account's balance in percent (0 < p ≤ 100): ``order.risk_percent``."""
    number = _positive(value, EXPECT_RISK_PERCENT)
    if number > 100:
        raise ValueError(EXPECT_RISK_PERCENT)
    return number


def times_multiplier(quantity: Decimal, multiplier: Decimal) -> int:
    """Return quantity × multiplier in contracts; raises ValueError unless whole and ≥ 1."""
    return _whole_contracts(quantity, multiplier, minimum=1)


def to_market_position(value: object) -> int:
    """Read ``{{strategy.market_position}}``: long → 1, flat → 0, short → -1 (case-insensitive)."""
    return _word(MARKET_POSITIONS, value, EXPECT_MARKET_POSITION)


def to_position_size(value: object) -> Decimal:
    """Read an absolute position size in contracts (≥ 0), e.g. ``{{strategy.market_position_size}}``."""
    number = _number(value, EXPECT_POSITION_SIZE)
    if number < 0:
        raise ValueError(EXPECT_POSITION_SIZE)
    return number


def to_signed_size(value: object) -> Decimal:
    """Read a signed position in contracts (> 0 long, < 0 short), e.g. ``{{strategy.position_size}}``."""
    return _number(value, EXPECT_SIGNED_SIZE)


def target_contracts(target: Decimal, multiplier: Decimal) -> int:
    """Return a signed target position × multiplier in contracts; raises ValueError unless whole.

    Zero (flat) is allowed, unlike an order's quantity.
    """
    return _whole_contracts(target, multiplier, minimum=None)


def to_price(value: object) -> Decimal:
    """Read a price in points (> 0), not yet on the tick grid."""
    return _positive(value, EXPECT_PRICE)


def to_ticks(value: object) -> int:
    """Read a bracket distance in whole ticks (≥ 1)."""
    number = _positive(value, EXPECT_TICKS)
    if number != number.to_integral_value():
        raise ValueError(EXPECT_TICKS)
    return int(number)


def to_trail_ticks(value: object) -> int:
    """Read a trailing stop's distance in whole ticks, 1 to MAX_TRAIL_TICKS (the gateway's maximum)."""
    ticks = to_ticks(value)
    check_trail_ticks(ticks)
    return ticks


def check_trail_ticks(ticks: int) -> None:
    """Refuse (ValueError, with the numbers) a trail longer than the gateway takes (§6.2)."""
    if ticks > MAX_TRAIL_TICKS:
        raise ValueError(
            f"expected a trail of at most {MAX_TRAIL_TICKS} ticks (the gateway refuses a longer one: "
            f'"Trail Distance exceeds maximum ({MAX_TRAIL_TICKS})"), got {ticks} ticks'
        )


def to_points(value: object) -> Decimal:
    """Read a bracket distance in points (> 0)."""
    return _positive(value, EXPECT_POINTS)


def to_multiplier(value: object) -> Decimal:
    """Read an account's quantity multiplier (> 0)."""
    if isinstance(value, str):
        raise ValueError(EXPECT_MULTIPLIER)
    return _positive(value, EXPECT_MULTIPLIER)


def to_alert_time(value: object) -> datetime | None:
    """Read an alert's fire time: ISO-8601 (``2026-03-02T14:30:00Z``) or epoch ms; UTC.

    A time without a zone is taken as UTC (TradingView's ``{{timenow}}`` always ends in Z).
    Returns None when the value cannot be read.
    """
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    try:
        if text.replace(".", "", 1).isdigit():
            number = Decimal(text)
            seconds = number / 1000 if number >= EPOCH_MS_FROM else number
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _whole_contracts(number: Decimal, multiplier: Decimal, *, minimum: int | None) -> int:
    product = number * multiplier
    if (minimum is not None and product < minimum) or product != product.to_integral_value():
        if multiplier == 1:
            raise ValueError(EXPECT_QUANTITY)
        raise ValueError(f"{EXPECT_QUANTITY} (× {multiplier} gives {product.normalize()})")
    return int(product)


def _word(table: dict[str, T], value: object, expectation: str) -> T:
    """Look up a word, case-insensitive and stripped; ValueError(expectation) when unknown."""
    found = table.get(str(value).strip().lower())
    if found is None:
        raise ValueError(expectation)
    return found


def _number(value: object, expectation: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise ValueError(expectation) from None


def _positive(value: object, expectation: str) -> Decimal:
    number = _number(value, expectation)
    if number <= 0:
        raise ValueError(expectation)
    return number
