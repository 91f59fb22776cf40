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
    """The gateway's reason, plus what the trader can do about it."""
    text = str(exc)
    if "Position Brackets" in text:
        return (
            f"{text} — account {account_name} is in Position Brackets mode: enable Auto OCO "
            "Brackets for it (TopstepX Settings > Risk Settings; you must be flat to switch) "
            "or remove the [bracket] from the template"
        )
    hints = {
        "ContractNotActive": "the contract is not the active month: alert on the continuous "
        "ticker (e.g. NQ1!) or the current month",
        "OutsideTradingHours": "the market is closed for this contract now",
        "AccountNotFound": "the account does not exist or is not yours: check order.accounts",
        "InsufficientFunds": "the account lacks the margin for this size",
        "AccountViolation": "the account is locked by a risk rule on the platform",
    }
    hint = hints.get(exc.error_name)
    return f"{text} — {hint}" if hint else text
