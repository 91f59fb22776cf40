"""Sum up an alert's order outcomes into one AlertStatus, explain gateway rejections, and say
how a webhook delivery ended (Answer: the web layer chooses its HTTP status from it)."""

from __future__ import annotations

from enum import StrEnum

from app.domain.enums import AlertStatus, OrderState
from app.domain.models import OrderOutcome
from app.errors import OrderRejected


class Answer(StrEnum):
    """How the engine ended one webhook delivery, as the sender is to be told.

    The engine knows nothing of HTTP: app/web/webhook.py's ``HTTP_STATUS`` is the one table that
    maps each member to the reply's status code. The JSON body says the AlertStatus.
    """

    DONE = "done"  # the alert reached a status: executed, refused, noop, duplicate, paused, a check…
    WORKING = "working"  # journaled and still executing when the answer was due
    UNREADABLE = "unreadable"  # an empty or unreadable body, or a malformed check header
    UNAUTHORIZED = "unauthorized"  # a missing or wrong secret, or an unknown strategy
    FORBIDDEN = "forbidden"  # not from TradingView's addresses while server.tradingview_only
    TOO_LARGE = "too_large"  # a body over server.max_body_bytes
    INVALID = "invalid"  # the body, its ticker or the template cannot make orders
    LOCKED_OUT = "locked_out"  # the address sent too many refused requests: not journaled
    NOTHING_DONE = "nothing_done"  # the journal failed before anything was sent: a re-send is welcome


_OK = {
    OrderState.ACCEPTED,
    OrderState.DONE,
    OrderState.PENDING,
    OrderState.SUSPENDED,
    OrderState.WORKING,
    OrderState.FILLED,
}


def alert_status(outcomes: list[OrderOutcome]) -> AlertStatus:
    """EXECUTED when every order row took effect; UNKNOWN while any outcome is unknown."""
    if not outcomes:
        return AlertStatus.NOOP
    states = [o.state for o in outcomes]
    if any(s in (OrderState.UNKNOWN, OrderState.SUBMITTING) for s in states):
        return AlertStatus.UNKNOWN
    ok = [s in _OK for s in states]
    if all(ok):
        return AlertStatus.EXECUTED
    if any(ok):
        return AlertStatus.PARTIAL
    if OrderState.REJECTED in states:
        return AlertStatus.REJECTED
    return AlertStatus.FAILED


def explain_rejection(exc: OrderRejected, account_name: str) -> str:
    """The gateway's reason (with its "What to do"), naming the account when the fix is there."""
    text = str(exc)
    if "Position Brackets" in text:
        return (
            f"{text} (account {account_name} is in Position Brackets mode: enable Auto OCO "
            f'Brackets on {account_name}, or set mode = "managed" under [bracket] in the template '
            "so the bridge places the stop loss and take profit itself)"
        )
    return text
