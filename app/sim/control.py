"""Fault control from outside: JSON routes under ``/_faults`` on the simulator's own port.

Mounted only by ``tvbridge sim --faults`` (loopback hosts only: anyone who reaches it can make
the simulator lie), so a test or a trader rehearsing a bad day can drive a running simulator:

- ``GET /_faults``: what is armed: ``{"rest": [{"kind", "calls", "path"}], "timeout_s",
  "latency_s", "rate_limit", "hub": {"silent", "duplicate", "reorder_batch", "refusing", "ping_interval_s",
  "open_connections", "connections_made"}}``.
- ``POST /_faults/rest`` ``{"kind": K, "calls": 1, "path": "Order/place"}``: arm a one-shot REST
  fault (faults.py) for the next ``calls`` calls (to ``path`` only when given). K is one of
  ``error`` (500, not performed), ``error_after`` (performed, then 500), ``hold`` (held
  ``timeout_s``, then 500, not performed), ``timeout`` (performed, answer held ``timeout_s``),
  ``throttle`` (429), ``unauthorized`` (401), ``reject`` (HTTP 200 ``success: false``, not
  performed; optional ``code`` (the errorCode, default the route's own refusal: 3 on
  Order/modify) and ``message`` (the errorMessage, default null)). Optional keys
  ``timeout_s`` (seconds, the hold of ``hold``/``timeout``), ``latency_s`` (every other answer
  held that long after the call was performed: a distant gateway; 0 stops) and ``rate_limit``
  (requests per 60 s per token) set those instead or too.
- ``POST /_faults/hub`` ``{"drop": true}`` (close every User Hub socket, no Close message),
  ``{"refuse_s": 30}`` (answer new upgrades 503 that long; 0 stops), ``{"silent": true}``,
  ``{"duplicate": true}``, ``{"reorder_batch": 4}``, ``{"expire_tokens": true}``,
  ``{"logout": true}``, ``{"ping_interval_s": 15}``; several keys at once are applied in that order.
- ``POST /_faults/price`` ``{"contractId": "CON.F.US.MNQ.Z25", "price": "21510.25"}``: move the
  market (fills what the price crosses).
- ``DELETE /_faults``: disarm every REST fault and turn every hub switch off.

Every answer is the ``GET`` shape; a bad body is HTTP 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sim.faults import FaultKind
from app.sim.hub import hub_faults
from app.sim.state import SimState

PREFIX = "/_faults"


class _BadControl(ValueError):
    """A control request the simulator cannot apply; answered 400 with the message."""


def faults_routes() -> list[BaseRoute]:
    """The control routes, to mount before the REST catch-all (the app's ``state.sim``)."""
    return [
        Route(PREFIX, _overview, methods=["GET", "DELETE"]),
        Route(PREFIX + "/rest", _rest, methods=["POST"]),
        Route(PREFIX + "/hub", _hub, methods=["POST"]),
        Route(PREFIX + "/price", _price, methods=["POST"]),
    ]


def overview(state: SimState) -> dict[str, Any]:
    """What is armed now (the shape every control route answers)."""
    hub = hub_faults(state)
    return {
        "rest": state.faults.armed(),
        "timeout_s": state.faults.timeout_s,
        "latency_s": state.faults.latency_s,
        "rate_limit": state.rate_limit.limit,
        "hub": {
            "silent": hub.silent,
            "duplicate": hub.duplicate,
            "reorder_batch": hub.reorder_batch,
            "refusing": hub.refusing,
            "ping_interval_s": hub.ping_interval_s,
            "open_connections": hub.open_connections,
            "connections_made": hub.connections_made,
        },
    }


async def _overview(request: Request) -> Response:
    state: SimState = request.app.state.sim
    if request.method == "DELETE":
        state.faults.clear()
        hub_faults(state).clear()
    return JSONResponse(overview(state))


async def _rest(request: Request) -> Response:
    return await _apply(request, _arm_rest)


async def _hub(request: Request) -> Response:
    return await _apply(request, _switch_hub)


async def _price(request: Request) -> Response:
    return await _apply(request, _set_price)


async def _apply(request: Request, change: Any) -> Response:
    state: SimState = request.app.state.sim
    try:
        body = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise _BadControl("send a JSON object")
        change(state, body)
    except (ValueError, TypeError) as exc:  # json errors and _BadControl are ValueErrors
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(overview(state))


def _number(body: dict[str, Any], key: str) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _BadControl(f"'{key}' must be a number of 0 or more, got {value!r}")
    return float(value)


def _arm_rest(state: SimState, body: dict[str, Any]) -> None:
    unknown = set(body) - {"kind", "calls", "path", "code", "message", "timeout_s", "latency_s", "rate_limit"}
    if unknown:
        raise _BadControl(f"unknown key(s) {sorted(unknown)}")
    if "timeout_s" in body:
        state.faults.timeout_s = _number(body, "timeout_s")
    if "latency_s" in body:
        state.faults.latency_s = _number(body, "latency_s")
    if "rate_limit" in body:
        state.rate_limit.limit = int(_number(body, "rate_limit"))
    if "kind" in body:
        kinds = [str(kind) for kind in FaultKind]
        if body["kind"] not in kinds:
            raise _BadControl(f"'kind' must be one of {kinds}, got {body['kind']!r}")
        calls = body.get("calls", 1)
        path = body.get("path")
        if isinstance(calls, bool) or not isinstance(calls, int):
            raise _BadControl(f"'calls' must be a whole number, got {calls!r}")
        if path is not None and not isinstance(path, str):
            raise _BadControl(f"'path' must be a route like 'Order/place', got {path!r}")
        code, message = body.get("code"), body.get("message")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise _BadControl(f"'code' must be a whole number (the errorCode), got {code!r}")
        if message is not None and not isinstance(message, str):
            raise _BadControl(f"'message' must be text (the errorMessage), got {message!r}")
        state.faults.arm(FaultKind(body["kind"]), calls, path, code=code, message=message)


def _switch_hub(state: SimState, body: dict[str, Any]) -> None:
    hub = hub_faults(state)
    known = ("silent", "duplicate", "reorder_batch", "ping_interval_s", "refuse_s", "drop")
    unknown = set(body) - {*known, "expire_tokens", "logout"}
    if unknown:
        raise _BadControl(f"unknown key(s) {sorted(unknown)}")
    if "silent" in body:
        hub.silent = bool(body["silent"])
    if "duplicate" in body:
        hub.duplicate = bool(body["duplicate"])
    if "reorder_batch" in body:
        hub.reorder_batch = int(_number(body, "reorder_batch"))
    if "ping_interval_s" in body:
        hub.ping_interval_s = _number(body, "ping_interval_s") or 0.1
    if "refuse_s" in body:
        hub.refuse_for(_number(body, "refuse_s"))
    if body.get("drop"):
        hub.drop_all()
    if body.get("expire_tokens"):
        hub.expire_tokens()
    if body.get("logout"):
        hub.logout_all()


def _set_price(state: SimState, body: dict[str, Any]) -> None:
    contract_id = body.get("contractId")
    if not isinstance(contract_id, str):
        raise _BadControl("'contractId' must be a contract id like 'CON.F.US.MNQ.Z25'")
    try:
        price = Decimal(str(body.get("price")))
    except InvalidOperation as exc:
        raise _BadControl(f"'price' must be a number, got {body.get('price')!r}") from exc
    state.set_price(contract_id, price)
