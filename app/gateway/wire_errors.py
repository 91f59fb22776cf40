"""The gateway's errorCode names per endpoint (§5.2), what a trader should do about each, and
the endpoints that change orders (sent exactly once).

The integers are not portable between endpoints, so a code is only ever read with its endpoint.
"""

from __future__ import annotations


def _names(*names: str) -> dict[int, str]:
    return dict(enumerate(names))


_LOGIN = _names(
    "Success",
    "UserNotFound",
    "PasswordVerificationFailed",
    "InvalidCredentials",
    "AppNotFound",
    "AppVerificationFailed",
    "InvalidDevice",
    "AgreementsNotSigned",
    "UnknownError",
    "ApiSubscriptionNotFound",
    "ApiKeyAuthenticationDisabled",
)
_ONLY_SUCCESS = _names("Success")
_ACCOUNT_NOT_FOUND = _names("Success", "AccountNotFound")
_CANCEL = _names(
    "Success",
    "AccountNotFound",
    "OrderNotFound",
    "Rejected",
    "Pending",
    "UnknownError",
    "AccountRejected",
)

# errorCode names per endpoint, exactly as reference/projectx-api.md §5.2 (SWAGGER).
# The integers are not portable: 2 is OrderRejected on place but OrderNotFound on cancel.
ERROR_NAMES: dict[str, dict[int, str]] = {
    "Auth/loginKey": _LOGIN,
    "Auth/loginApp": _LOGIN,
    "Auth/validate": _names("Success", "InvalidSession", "SessionNotFound", "ExpiredToken", "UnknownError"),
    "Auth/logout": _names("Success", "InvalidSession", "UnknownError"),
    "Account/search": _ONLY_SUCCESS,
    "Contract/search": _ONLY_SUCCESS,
    "Contract/available": _ONLY_SUCCESS,
    "Contract/searchById": _names("Success", "ContractNotFound"),
    "History/retrieveBars": _names(
        "Success", "ContractNotFound", "UnitInvalid", "UnitNumberInvalid", "LimitInvalid"
    ),
    "Order/place": _names(
        "Success",
        "AccountNotFound",
        "OrderRejected",
        "InsufficientFunds",
        "AccountViolation",
        "OutsideTradingHours",
        "OrderPending",
        "UnknownError",
        "ContractNotFound",
        "ContractNotActive",
        "AccountRejected",
    ),
    "Order/cancel": _CANCEL,
    "Order/modify": {**_CANCEL, 7: "ContractNotFound"},
    "Order/search": _ACCOUNT_NOT_FOUND,
    "Order/searchOpen": _ACCOUNT_NOT_FOUND,
    "Position/searchOpen": _ACCOUNT_NOT_FOUND,
    "Trade/search": _ACCOUNT_NOT_FOUND,
    "Position/closeContract": _names(
        "Success",
        "AccountNotFound",
        "PositionNotFound",
        "ContractNotFound",
        "ContractNotActive",
        "OrderRejected",
        "OrderPending",
        "UnknownError",
        "AccountRejected",
    ),
    "Position/partialCloseContract": _names(
        "Success",
        "AccountNotFound",
        "PositionNotFound",
        "ContractNotFound",
        "ContractNotActive",
        "InvalidCloseSize",
        "OrderRejected",
        "OrderPending",
        "UnknownError",
        "AccountRejected",
    ),
}
_BY_LOWER = {endpoint.lower(): names for endpoint, names in ERROR_NAMES.items()}

# Endpoints that change orders or positions: sent exactly once, never retried (§3, DESIGN.md).
MUTATING_ENDPOINTS = frozenset(
    {
        "Order/place",
        "Order/cancel",
        "Order/modify",
        "Position/closeContract",
        "Position/partialCloseContract",
    }
)

# What a trader should do about an errorCode, by (endpoint, name).
_HINTS: dict[tuple[str, str], str] = {
    ("Auth/loginKey", "UserNotFound"): "check gateway.username (your platform login, not e-mail)",
    ("Auth/loginKey", "PasswordVerificationFailed"): "check gateway.api_key",
    ("Auth/loginKey", "InvalidCredentials"): (
        "check gateway.username (your platform login, not e-mail) and gateway.api_key"
    ),
    ("Auth/loginKey", "UnknownError"): (  # §13 item 9: HTTP 200, success false, errorCode 8
        "errorCode 8 (UnknownError) is what a wrong username gets: gateway.username is your "
        "platform login name (not your e-mail); then check gateway.api_key is that user's key"
    ),
    ("Auth/loginKey", "AgreementsNotSigned"): (
        "log into the ProjectX platform and complete the required agreements"
    ),
    ("Auth/loginKey", "ApiSubscriptionNotFound"): ("subscribe to the API add-on and link it to your profile"),
    ("Auth/loginKey", "ApiKeyAuthenticationDisabled"): (
        "API key login is disabled for this user; enable it or create a new key in the platform"
    ),
    ("Order/place", "AccountNotFound"): "check the account named in the strategy template",
    ("Order/place", "InsufficientFunds"): "lower the quantity or check the account balance",
    ("Order/place", "AccountViolation"): "the account broke a risk rule; check it in the platform",
    ("Order/place", "OutsideTradingHours"): "the market for this contract is closed",
    ("Order/place", "ContractNotFound"): "check the alert's ticker",
    ("Order/place", "ContractNotActive"): "use the active month (e.g. NQ1!), not an expired one",
    ("Order/place", "AccountRejected"): "the account cannot trade now; check it in the platform",
    ("Position/closeContract", "PositionNotFound"): "there is no open position to close",
    ("Position/closeContract", "ContractNotActive"): "close the position in the platform",
    ("Position/partialCloseContract", "PositionNotFound"): "there is no open position to close",
    ("Position/partialCloseContract", "InvalidCloseSize"): (
        "the size is not between 1 and the position's size; check the alert's exit quantity"
    ),
    ("Position/partialCloseContract", "ContractNotActive"): "close the position in the platform",
    ("Position/partialCloseContract", "AccountRejected"): (
        "the API cannot close on this account (live accounts); close it in the platform"
    ),
}
# §8.17: partialCloseContract's errorCode 6 comes with errorMessage null for both causes.
_PARTIAL_CLOSE_REFUSED_HINT = (
    "the gateway gives no reason for this code: the market is closed or halted, or the "
    "contract has no current price; nothing was closed"
)
_POSITION_BRACKETS_HINT = (
    "enable Auto OCO Brackets under Settings > Risk Settings (be flat first) "
    "or remove the bracket from the template"
)


def error_name(endpoint: str, code: int | None) -> str:
    """Return the name of ``code`` in ``endpoint``'s errorCode enum (§5.2).

    ``endpoint`` is ``Controller/action`` (a leading ``/api/`` and letter case are ignored).
    An unlisted code reads ``errorCode <n>``.
    """
    names = _BY_LOWER.get(endpoint.removeprefix("/").removeprefix("api/").lower(), {})
    if code is None:
        return "errorCode missing"
    return names.get(code, f"errorCode {code}")


def error_hint(endpoint: str, name: str, message: str | None = None) -> str:
    """Return what a trader should do about errorCode ``name`` from ``endpoint`` ('' if nothing)."""
    if message and "Position Brackets" in message:
        return _POSITION_BRACKETS_HINT  # §6.4: the order was still created
    if endpoint == "Position/partialCloseContract" and name == "OrderRejected" and not message:
        return _PARTIAL_CLOSE_REFUSED_HINT
    return _HINTS.get((endpoint, name), "")
