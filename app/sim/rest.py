"""The simulator's REST API: ``POST /api/<Controller>/<action>`` as projectx-api.md §1–§4 describes.

One catch-all route dispatches on the lower-cased path, so routes are case-insensitive (§1.2).
Per call, in order: record the request; 404/405 for unknown routes or methods; armed faults
(faults.py); bearer token check (bare 401, all but Auth/loginKey and Status/ping); the rate
limit (bare 429); body binding (400 ProblemDetails); the handler. Answers use the envelope of
§1.3: the payload field first, then ``success``, ``errorCode``, ``errorMessage``; business
failures are HTTP 200 with the calling endpoint's own errorCode (§5.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sim.body import BadRequest, Body
from app.sim.faults import FaultKind
from app.sim.hub import hub_faults, hub_routes
from app.sim.models import BracketSpec, OrderTicket, Rejected
from app.sim.state import SimState
from app.sim.wire import dump_json, load_json, normalize_path


class WireResponse(Response):
    """JSON with Decimal rendered as plain numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


class ProblemResponse(WireResponse):
    media_type = "application/problem+json"


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
    body.decimal("trailPrice")  # accepted; trailing stops (type 5) are not simulated
    ticket = OrderTicket(
        account_id=body.need_integer("accountId"),
        contract_id=body.need_text("contractId"),
        type=body.need_integer("type"),
        side=body.need_integer("side"),
        size=body.need_integer("size"),
        limit_price=body.decimal("limitPrice"),
        stop_price=body.decimal("stopPrice"),
        custom_tag=body.text("customTag"),
        stop_loss=_bracket(body, "stopLossBracket"),
        take_profit=_bracket(body, "takeProfitBracket"),
    )
    return state.place_order(ticket)


def _order_cancel(state: SimState, call: Call) -> None:
    state.cancel_order(call.body.need_integer("accountId"), call.body.need_integer("orderId"))


def _order_modify(state: SimState, call: Call) -> None:
    body = call.body
    body.decimal("trailPrice")
    state.modify_order(
        body.need_integer("accountId"),
        body.need_integer("orderId"),
        size=body.integer("size"),
        limit_price=body.decimal("limitPrice"),
        stop_price=body.decimal("stopPrice"),
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
    """§4.5. The simulator keeps no price history: it answers one bar, the current one, at the
    contract's current price (what a client asking for the latest partial bar needs)."""
    body = call.body
    contract_id = body.need_text("contractId")
    if state.contracts.get(contract_id) is None:
        raise Rejected("ContractNotFound", f"Contract {contract_id} was not found.")
    unit = body.need_integer("unit")
    if unit not in range(1, 7):  # AggregateBarUnit: 1 Second … 6 Month
        raise Rejected("UnitInvalid", f"Invalid unit {unit}.")
    if body.need_integer("unitNumber") < 1:
        raise Rejected("UnitNumberInvalid", "Invalid unit number.")
    if body.need_integer("limit") < 1:
        raise Rejected("LimitInvalid", "Invalid limit.")
    price = state.price(contract_id)
    now = state.clock().isoformat()
    return [{"t": now, "o": price, "h": price, "l": price, "c": price, "v": 0}]


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

_FAULT_STATUS = {FaultKind.ERROR: 500, FaultKind.THROTTLE: 429, FaultKind.UNAUTHORIZED: 401}


def _envelope(endpoint: Endpoint, payload: Any, code: int = 0, message: str | None = None) -> WireResponse:
    content: dict[str, Any] = {}
    if endpoint.payload is not None:
        content[endpoint.payload] = payload
    content.update(success=code == 0, errorCode=code, errorMessage=message)
    return WireResponse(content)


def _problem(errors: dict[str, list[str]]) -> ProblemResponse:
    """HTTP 400 shaped like ASP.NET Core's ValidationProblemDetails (§1.3)."""
    return ProblemResponse(
        {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": errors,
        },
        status_code=400,
    )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _perform(
    state: SimState, endpoint: Endpoint, parsed: Any, malformed: bool, token: str | None
) -> Response:
    if malformed or not isinstance(parsed, dict | None):
        return _problem({"$": ["The request body is not a JSON object; send one."]})
    body = Body(parsed or {})
    if missing := body.missing(endpoint.required):
        return _problem(missing)
    try:
        payload = endpoint.handler(state, Call(body, token))
    except BadRequest as exc:
        return _problem(exc.errors)
    except Rejected as exc:
        return _envelope(endpoint, exc.order_id, endpoint.codes[exc.reason], exc.message)
    if not endpoint.envelope:
        return WireResponse(payload)
    return _envelope(endpoint, payload)


async def _dispatch(request: Request) -> Response:
    state: SimState = request.app.state.sim
    raw = await request.body()
    malformed = False
    parsed: Any = None
    if raw.strip():
        try:
            parsed = load_json(raw)
        except ValueError:
            malformed = True
    headers = {name.lower(): value for name, value in request.headers.items()}
    state.record(request.method, request.url.path, parsed, headers)

    path = request.url.path
    endpoint = ENDPOINTS.get(normalize_path(path))
    if endpoint is None or not path.lower().startswith("/api/"):
        return Response(status_code=404)
    if request.method != endpoint.method:
        return Response(status_code=405, headers={"Allow": endpoint.method})

    fault = state.faults.take(path)
    if fault is FaultKind.HOLD:
        await asyncio.sleep(state.faults.timeout_s)  # the caller gave up; nothing was done
        return Response(status_code=500)
    if fault is not None and fault in _FAULT_STATUS:
        return Response(status_code=_FAULT_STATUS[fault])
    token = _bearer(request)
    if not endpoint.public and (token is None or not state.token_valid(token)):
        return Response(status_code=401)
    client = request.client.host if request.client else "unknown"
    if not state.rate_limit.allow(token or f"anonymous@{client}", state.clock().timestamp()):
        return Response(status_code=429)

    response = _perform(state, endpoint, parsed, malformed, token)
    state.persist()  # before the answer leaves: an acknowledged order survives a crash
    if fault is FaultKind.TIMEOUT:
        # Performed already: the caller cannot know whether it happened (UNKNOWN outcome).
        await asyncio.sleep(state.faults.timeout_s)
    if fault is FaultKind.ERROR_AFTER:
        return Response(status_code=500)  # performed, yet answered as a failure
    if fault is None and state.faults.latency_s:
        await asyncio.sleep(state.faults.latency_s)
    return response


def create_sim_app(state: SimState | None = None, *, fault_control: bool = False) -> Starlette:
    """Build the simulator's ASGI app; ``app.state.sim`` is the SimState it serves.

    The User Hub (app/sim/hub.py) is mounted at ``/hubs/user``, ahead of the REST catch-all;
    with ``fault_control`` the fault endpoint (app/sim/control.py) at ``/_faults`` too (without
    it, ``/_faults`` is 404 like any unknown path).
    """
    from app.sim.control import faults_routes  # control imports this module's neighbours only

    control = faults_routes() if fault_control else []
    catch_all = Route("/{path:path}", _dispatch, methods=["GET", "POST"])
    app = Starlette(routes=[*control, *hub_routes(), catch_all])
    app.state.sim = state if state is not None else SimState()
    hub_faults(app.state.sim)  # the hub listens to the state from the start
    return app
