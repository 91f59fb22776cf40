"""The one error tree of tvbridge (DESIGN.md § Errors), grouped by what the caller must do.

Every message names the thing and the value, and says what to do, e.g.
``Template 'mnq-trend': field 'quantity' is 'abc', expected a whole number of contracts.``

No class here knows HTTP: the engine answers a webhook with an ``Answer`` (app/engine/outcomes.py)
and the web layer's one table (app/web/webhook.py ``HTTP_STATUS``) chooses the status code.

Exception hierarchy (the classes defined elsewhere say where)::

    BridgeError
    ├── ConfigError                 bad settings/templates: exit 2 at start, never at alert time
    ├── AlertError                  a bad alert; it never reaches the gateway
    │   ├── AlertAuthError          missing or wrong webhook secret (answered 401)
    │   └── AlertInvalidError       the body cannot be read as an alert (answered 422)
    │       └── ContractExpiredError  the ticker names a contract month that stopped trading
    ├── TemplateError               a template cannot render this alert (422, journaled)
    │   └── RenderBoundError        strategies/sandbox.py: an expression broke a sandbox bound
    ├── GatewayError                carries endpoint, errorCode name, message; credentials redacted
    │   ├── GatewayAuthError        login or token refresh refused
    │   ├── OrderRejected           a definite "no": REJECTED
    │   ├── GatewayUnavailable      failed before sending: safe to report
    │   │   └── HubConnectError     gateway/hub.py: a User Hub connection could not be made
    │   └── OutcomeUnknown          after sending: UNKNOWN, reconcile, never resend
    ├── JournalError                the journal failed: 503, nothing was done (a re-send is welcome)
    │   └── JournalLocked           another connection held SQLite's write lock
    └── FilterError                 web/queries.py: a page or API query value (answered 400)

Outside the tree, on purpose:

- ``FailpointCrash`` (app/failpoints.py) is a ``BaseException``: it stands in for a killed
  process, so no ``except Exception`` (nor ``except BridgeError``) may swallow it.
- ``NeedsThread`` (strategies/sandbox.py) is a ``BaseException`` signal, not an error: a render on
  the event loop used its first try's share and is run again on a worker thread; Jinja2's and the
  template's own ``except Exception`` must not turn it into a template error.
- ``MissingField`` (strategies/expressions.py) is Jinja2's ``UndefinedError``, which the sandbox
  must raise for a missing name; the template turns it into a ``TemplateError``.
- The simulator's ``BadRequest``, ``Rejected`` (its HTTP answers) and ``StateFileError`` (app/sim)
  stand beside the product and import nothing of it (DESIGN.md § Layout).
- Private classes (a leading ``_``, e.g. ingest/parse.py's ``_NoNumber``) are control flow caught
  in the module that raises them; they never reach a caller.

A risk limit refusing an entry is not an error: ``RiskGate.check`` returns the reason (a
``str``) and the alert settles ``refused`` (HTTP 200 with the reason), journaled.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error tvbridge raises on purpose."""


class ConfigError(BridgeError):
    """Bad settings or templates: stops the start (exit 2), never raised at alert time."""


class AlertError(BridgeError):
    """A bad alert; it never reaches the gateway."""


class AlertAuthError(AlertError):
    """Missing or wrong webhook secret (the webhook answers 401)."""


class AlertInvalidError(AlertError):
    """The body cannot be read as an alert (422; too large → 413; an unknown strategy is
    answered as a wrong secret, 401)."""


class ContractExpiredError(AlertInvalidError):
    """A dated ticker names a contract month past its last trading day (gateway/contracts.py);
    the message names the month and the active contract to use instead."""


class TemplateError(BridgeError):
    """A template cannot render this alert (422), journaled."""


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

    def __init__(
        self,
        message: str,
        *,
        broker_order_id: int | None = None,
        endpoint: str = "",
        error_code: int | None = None,
        error_name: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint, error_code=error_code, error_name=error_name)
        self.broker_order_id = broker_order_id


class GatewayUnavailable(GatewayError):
    """The call failed before anything was sent (connect refused, DNS): safe to report."""


class OutcomeUnknown(GatewayError):
    """The call was sent but no answer came (timeout, 5xx, 429, dropped connection).

    The order may or may not exist: mark it UNKNOWN, reconcile by tag, never resend.
    """


class JournalError(BridgeError):
    """The journal could not be written (503); nothing was done, a re-send is welcome."""


class JournalLocked(JournalError):
    """Another connection held the journal's write lock (SQLite busy): nothing was written."""
