"""The simulator's endpoints: one handler per ``Controller/action``, its envelope payload field,
its errorCode enum (§5.2, SWAGGER names in value order) and its required body fields.

A handler gets the state and the bound call and returns the payload, or raises ``Rejected`` with
the endpoint's own errorCode name; app/sim/rest.py performs a call and writes the envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.sim.body import BadRequest, Body
from app.sim.models import BracketSpec, OrderTicket, Rejected
from app.sim.state import SimState
from app.sim.wire import normalize_path


@dataclass(frozen=True)
class Call:
    """What a handler gets: the bound body and the caller's bearer token (None on login)."""

    body: Body
    token: str | None


Handler = Callable[[SimState, Call], Any]


def _codes(names: str) -> dict[str, int]:
    """An errorCode enum from its SWAGGER names in value order (§5.2)."""
    return {name: value for value, name in enumerate(names.split())}


LOGIN_CODES = _codes(
    "Success UserNotFound PasswordVerificationFailed InvalidCredentials AppNotFound "
    "AppVerificationFailed InvalidDevice AgreementsNotSigned UnknownError "
    "ApiSubscriptionNotFound ApiKeyAuthenticationDisabled"
)
VALIDATE_CODES = _codes("Success InvalidSession SessionNotFound ExpiredToken UnknownError")
LOGOUT_CODES = _codes("Success InvalidSession UnknownError")
SUCCESS_ONLY = _codes("Success")
MINUTE_UNIT = 2  # AggregateBarUnit Minute (§5.1)
CONTRACT_BY_ID_CODES = _codes("Success ContractNotFound")
BARS_CODES = _codes("Success ContractNotFound UnitInvalid UnitNumberInvalid LimitInvalid")
PLACE_CODES = _codes(
    "Success AccountNotFound OrderRejected InsufficientFunds AccountViolation "
    "OutsideTradingHours OrderPending UnknownError ContractNotFound ContractNotActive "
    "AccountRejected"
)
CANCEL_CODES = _codes("Success AccountNotFound OrderNotFound Rejected Pending UnknownError AccountRejected")
MODIFY_CODES = _codes(
    "Success AccountNotFound OrderNotFound Rejected Pending UnknownError AccountRejected ContractNotFound"
)
SEARCH_CODES = _codes("Success AccountNotFound")
CLOSE_CODES = _codes(
    "Success AccountNotFound PositionNotFound ContractNotFound ContractNotActive "
    "OrderRejected OrderPending UnknownError AccountRejected"
)
PARTIAL_CLOSE_CODES = _codes(
    "Success AccountNotFound PositionNotFound ContractNotFound ContractNotActive "
    "InvalidCloseSize OrderRejected OrderPending UnknownError AccountRejected"
)


# -- handlers: (state, call) → the payload field's value ------------------------------------


def _login_key(state: SimState, call: Call) -> str:
    return state.login(call.body.need_text("userName"), call.body.need_text("apiKey"))


def _validate(state: SimState, call: Call) -> str:
    assert call.token is not None  # the route requires a valid token
    return state.renew_token(call.token)


def _logout(state: SimState, call: Call) -> None:
    assert call.token is not None
    state.logout(call.token)


def _account_search(state: SimState, call: Call) -> list[dict[str, Any]]:
    only_active = call.body.boolean("onlyActiveAccounts")
    return [account.to_wire() for account in state.accounts.values() if account.can_trade or not only_active]


def _contract_search(state: SimState, call: Call) -> list[dict[str, Any]]:
    call.body.boolean("live")  # accepted; the sim has one data feed
    text = call.body.text("searchText") or ""
    return [contract.to_wire() for contract in state.contracts.search(text)]


def _contract_by_id(state: SimState, call: Call) -> dict[str, Any]:
    contract_id = call.body.need_text("contractId")
    contract = state.contracts.get(contract_id)
    if contract is None:
        raise Rejected("ContractNotFound", f"Contract {contract_id} was not found.")
    return contract.to_wire()


def _contract_available(state: SimState, call: Call) -> list[dict[str, Any]]:
    call.body.boolean("live")
    return [contract.to_wire() for contract in state.contracts.all()]


def _bracket(body: Body, name: str) -> BracketSpec | None:
    leg = body.child(name)
    if leg is None:
        return None
    missing = leg.missing(("ticks", "type"))
    if missing:
        raise BadRequest(missing)
    return BracketSpec(ticks=leg.need_integer("ticks"), type=leg.need_integer("type"))


def _order_place(state: SimState, call: Call) -> int:
    body = call.body
    ticket = OrderTicket(
        account_id=body.need_integer("accountId"),
        contract_id=body.need_text("contractId"),
        type=body.need_integer("type"),
        side=body.need_integer("side"),
        size=body.need_integer("size"),
        limit_price=body.decimal("limitPrice"),
        stop_price=body.decimal("stopPrice"),
        trail_price=body.decimal("trailPrice"),
        custom_tag=body.text("customTag"),
        stop_loss=_bracket(body, "stopLossBracket"),
        take_profit=_bracket(body, "takeProfitBracket"),
    )
    return state.place_order(ticket)


def _order_cancel(state: SimState, call: Call) -> None:
    state.cancel_order(call.body.need_integer("accountId"), call.body.need_integer("orderId"))


def _order_modify(state: SimState, call: Call) -> None:
    body = call.body
    state.modify_order(
        body.need_integer("accountId"),
        body.need_integer("orderId"),
        size=body.integer("size"),
        limit_price=body.decimal("limitPrice"),
        stop_price=body.decimal("stopPrice"),
        trail_price=body.decimal("trailPrice"),
    )


def _order_search(state: SimState, call: Call) -> list[dict[str, Any]]:
    body = call.body
    orders = state.search_orders(
        body.need_integer("accountId"),
        body.need_timestamp("startTimestamp"),
        body.timestamp("endTimestamp"),
    )
    return [order.to_wire() for order in orders]


def _order_query(state: SimState, call: Call) -> list[dict[str, Any]]:
    """Order/v2/query (§4.8): the orders of ``filter.accountId``, suspended bracket children
    included, of ``filter.statuses`` when given, by id; ``pageSize`` rows (at most 100) from the
    row offset ``pageOffset``."""
    query = call.body.child("filter")
    if query is None:
        raise BadRequest({"filter": ["The filter field is required."]})
    account_id = query.need_integer("accountId")
    state.account(account_id)
    statuses = query.integers("statuses")
    orders = sorted(
        (o for o in state.orders.values() if o.account_id == account_id),
        key=lambda o: o.id,
    )
    if statuses is not None:
        orders = [o for o in orders if int(o.status) in statuses]
    size = min(call.body.integer("pageSize") or 100, 100)
    offset = max(call.body.integer("pageOffset") or 0, 0)
    return [order.to_wire() for order in orders[offset : offset + size]]


def _order_search_open(state: SimState, call: Call) -> list[dict[str, Any]]:
    return [order.to_wire() for order in state.open_orders(call.body.need_integer("accountId"))]


def _position_search_open(state: SimState, call: Call) -> list[dict[str, Any]]:
    positions = state.open_positions(call.body.need_integer("accountId"))
    return [position.to_wire() for position in positions]


def _position_close(state: SimState, call: Call) -> None:
    state.close_position(call.body.need_integer("accountId"), call.body.need_text("contractId"))


def _position_partial_close(state: SimState, call: Call) -> None:
    body = call.body
    state.close_position(
        body.need_integer("accountId"),
        body.need_text("contractId"),
        size=body.need_integer("size"),
    )


def _trade_search(state: SimState, call: Call) -> list[dict[str, Any]]:
    body = call.body
    trades = state.search_trades(
        body.need_integer("accountId"),
        body.timestamp("startTimestamp"),
        body.timestamp("endTimestamp"),
    )
    return [trade.to_wire() for trade in trades]


def _retrieve_bars(state: SimState, call: Call) -> list[dict[str, Any]]:
    """§4.5. One-minute bars come from the simulator's price history (app/sim/bars.py: the
    prices it moved to since it started), newest first as the gateway answers, the ``limit``
    newest of [startTime, endTime], the current minute only with ``includePartialBar``. Other
    units, and a window with no recorded move, answer one bar: the current one at the current
    price (what a client asking for the latest partial bar needs)."""
    body = call.body
    contract_id = body.need_text("contractId")
    if state.contracts.get(contract_id) is None:
        raise Rejected("ContractNotFound", f"Contract {contract_id} was not found.")
    unit = body.need_integer("unit")
    if unit not in range(1, 7):  # AggregateBarUnit: 1 Second … 6 Month
        raise Rejected("UnitInvalid", f"Invalid unit {unit}.")
    if body.need_integer("unitNumber") < 1:
        raise Rejected("UnitNumberInvalid", "Invalid unit number.")
    limit = body.need_integer("limit")
    if limit < 1:
        raise Rejected("LimitInvalid", "Invalid limit.")
    now = state.clock()
    start, end = body.timestamp("startTime"), body.timestamp("endTime")
    if unit == MINUTE_UNIT and start is not None and end is not None:
        bars = state.history.between(contract_id, start, end)
        if not body.boolean("includePartialBar"):
            bars = [bar for bar in bars if bar.at < now.replace(second=0, microsecond=0)]
        if bars:
            return [bar.to_wire() for bar in reversed(bars[-limit:])]
    price = state.price(contract_id)
    return [{"t": now.isoformat(), "o": price, "h": price, "l": price, "c": price, "v": 0}]


def _ping(state: SimState, call: Call) -> str:
    return "pong"


@dataclass(frozen=True)
class Endpoint:
    """One route: handler, envelope payload field, errorCode enum, required body fields."""

    handler: Handler
    payload: str | None
    codes: Mapping[str, int]
    required: tuple[str, ...] = ()
    method: str = "POST"
    public: bool = False  # no bearer token needed
    envelope: bool = True


ENDPOINTS: dict[str, Endpoint] = {
    normalize_path(path): endpoint
    for path, endpoint in {
        "Auth/loginKey": Endpoint(_login_key, "token", LOGIN_CODES, ("userName", "apiKey"), public=True),
        "Auth/validate": Endpoint(_validate, "newToken", VALIDATE_CODES),
        "Auth/logout": Endpoint(_logout, None, LOGOUT_CODES),
        "Account/search": Endpoint(_account_search, "accounts", SUCCESS_ONLY),
        "Contract/search": Endpoint(_contract_search, "contracts", SUCCESS_ONLY),
        "Contract/searchById": Endpoint(_contract_by_id, "contract", CONTRACT_BY_ID_CODES, ("contractId",)),
        "Contract/available": Endpoint(_contract_available, "contracts", SUCCESS_ONLY),
        "Order/place": Endpoint(
            _order_place,
            "orderId",
            PLACE_CODES,
            ("accountId", "contractId", "type", "side", "size"),
        ),
        "Order/cancel": Endpoint(_order_cancel, None, CANCEL_CODES, ("accountId", "orderId")),
        "Order/modify": Endpoint(_order_modify, None, MODIFY_CODES, ("accountId", "orderId")),
        "Order/search": Endpoint(_order_search, "orders", SEARCH_CODES, ("accountId", "startTimestamp")),
        "Order/searchOpen": Endpoint(_order_search_open, "orders", SEARCH_CODES, ("accountId",)),
        "Order/v2/query": Endpoint(_order_query, "orders", SEARCH_CODES, ("filter",)),
        "Position/searchOpen": Endpoint(_position_search_open, "positions", SEARCH_CODES, ("accountId",)),
        "Position/closeContract": Endpoint(_position_close, None, CLOSE_CODES, ("accountId", "contractId")),
        "Position/partialCloseContract": Endpoint(
            _position_partial_close,
            None,
            PARTIAL_CLOSE_CODES,
            ("accountId", "contractId", "size"),
        ),
        "Trade/search": Endpoint(_trade_search, "trades", SEARCH_CODES, ("accountId",)),
        "History/retrieveBars": Endpoint(_retrieve_bars, "bars", BARS_CODES, ("contractId", "unit")),
        "Status/ping": Endpoint(_ping, None, SUCCESS_ONLY, method="GET", public=True, envelope=False),
    }.items()
}
