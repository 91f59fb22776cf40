"""The one error tree of tvbridge (DESIGN.md § Errors).

Every message names the thing and the value, and says what to do, e.g.
``Template 'mnq-trend': field 'quantity' is 'abc', expected a whole number of contracts.``
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error tvbridge raises on purpose."""


class ConfigError(BridgeError):
    """Bad settings or templates: stops the start (exit 2), never raised at alert time."""


class AlertError(BridgeError):
    """A bad alert; it never reaches the gateway."""

    http_status = 422


class AlertAuthError(AlertError):
    """Missing or wrong webhook secret → 401."""

    http_status = 401


class AlertInvalidError(AlertError):
    """The body cannot be read as an alert → 422 (too large → 413; an unknown strategy is
    answered as a wrong secret, 401)."""

    def __init__(self, message: str, http_status: int = 422) -> None:
        super().__init__(message)
        self.http_status = http_status


class TemplateError(BridgeError):
    """A template cannot render this alert → 422, journaled."""

    http_status = 422


class RiskRefusal(BridgeError):
    """A limit refused the alert → 200 {status: refused, reason}, journaled."""


class GatewayError(BridgeError):
    """A gateway call failed. Carries the endpoint, the error code's name and the message.

    Credentials never appear in ``str(error)``.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        error_code: int | None = None,
        error_name: str = "",
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.error_code = error_code
        self.error_name = error_name


class GatewayAuthError(GatewayError):
    """Login or token refresh failed (bad username/API key, expired session)."""


class OrderRejected(GatewayError):
    """A definite "no" from the gateway: the order is REJECTED.

    ``broker_order_id`` is set when the gateway created the order anyway
    (Position Brackets mode, reference/projectx-api.md §4.6).
    """

    def __init__(self, message: str, *, broker_order_id: int | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.broker_order_id = broker_order_id


class GatewayUnavailable(GatewayError):
    """The call failed before anything was sent (connect refused, DNS): safe to report."""


class OutcomeUnknown(GatewayError):
    """The call was sent but no answer came (timeout, 5xx, 429, dropped connection).

    The order may or may not exist: mark it UNKNOWN, reconcile by tag, never resend.
    """


class JournalError(BridgeError):
    """The journal could not be written → 503; nothing was done, a re-send is welcome."""


class JournalLocked(JournalError):
    """Another connection held the journal's write lock (SQLite busy): nothing was written."""
