"""Enumerations in the bridge's own words (the gateway's integers live in app/gateway/wire.py)."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Direction of an order."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Order types: a template's order is market, limit, stop or a native trailing stop on its
    own (Order/place type 5: [order] type = "trailing_stop"); a managed bracket's stop loss may
    be a native trailing stop too."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    TRAILING_STOP = "trailing_stop"


class Action(StrEnum):
    """What an alert asks the bridge to do in one contract on one account.

    ``exit`` closes the position and cancels its working orders; ``reverse`` closes the
    position and enters the other way; ``cancel`` cancels the working orders only;
    ``breakeven`` moves the position's stop loss to its average entry price (never loosens it).
    """

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"
    REVERSE = "reverse"
    CANCEL = "cancel"
    BREAKEVEN = "breakeven"


class Leg(StrEnum):
    """The role of one order row in the journal."""

    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    CLOSE = "close"  # Position/closeContract (no broker order id is returned)
    CANCEL = "cancel"  # Order/cancel of a working order
    # Position/partialCloseContract (no broker order id either): its fills are linked like a
    # CLOSE's (journal/trade_fills.py); a leg of its own, so nothing reads it as "now flat".
    PARTIAL_CLOSE = "partial_close"


class OrderState(StrEnum):
    """The state of one order row: our submission states, then the broker's.

    SUBMITTING → ACCEPTED | REJECTED | UNKNOWN (write-ahead, DESIGN.md), then the broker's
    lifecycle: PENDING, SUSPENDED (bracket child waiting for its entry), WORKING, FILLED,
    CANCELLED, EXPIRED, REJECTED.
    """

    SUBMITTING = "SUBMITTING"
    UNKNOWN = "UNKNOWN"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    SUSPENDED = "SUSPENDED"
    WORKING = "WORKING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    DONE = "DONE"  # a close or cancel request the gateway confirmed
    NOT_PLACED = "NOT_PLACED"  # an UNKNOWN order reconciliation proved absent

    @property
    def is_open(self) -> bool:
        """True while the order's outcome is not settled by the submission step."""
        return self in (OrderState.SUBMITTING, OrderState.UNKNOWN)

    @property
    def is_final(self) -> bool:
        return self in (
            OrderState.REJECTED,
            OrderState.FILLED,
            OrderState.CANCELLED,
            OrderState.EXPIRED,
            OrderState.DONE,
            OrderState.NOT_PLACED,
        )


class AlertStatus(StrEnum):
    """The outcome of one received webhook, as the journal and the response report it."""

    RECEIVED = "received"  # journaled, orders not yet settled
    EXECUTED = "executed"  # every order ACCEPTED (or DONE)
    PARTIAL = "partial"  # some orders accepted, some rejected or unknown
    REJECTED = "rejected"  # every order rejected by the gateway
    UNKNOWN = "unknown"  # at least one order's outcome is not known yet
    NOOP = "noop"  # nothing to do (exit with no position, cancel with no working order)
    DUPLICATE = "duplicate"
    PAUSED = "paused"  # journaled while the kill switch was on; never executed, not even later
    INVALID = "invalid"  # 422: body or template could not make orders
    UNAUTHORIZED = "unauthorized"  # 401
    UNKNOWN_STRATEGY = "unknown_strategy"  # answered 401, as a wrong secret (names cannot be listed)
    TOO_LARGE = "too_large"  # 413
    REFUSED = "refused"  # a risk limit said no
    STALE = "stale"  # an entry older than the template's max_age_s: refused (exits still run)
    FORBIDDEN = "forbidden"  # 403: not from an allowed address (server.tradingview_only)
    TEST = "test"  # a reachability check through the tunnel (tvbridge tunnel --check); no order
    FAILED = "failed"  # the gateway could not be reached before sending
