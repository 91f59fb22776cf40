"""Sum up an alert's order outcomes into one AlertStatus, and explain gateway rejections."""

from __future__ import annotations

from app.domain.enums import AlertStatus, OrderState
from app.domain.models import OrderOutcome
from app.errors import OrderRejected

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
