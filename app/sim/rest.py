"""The simulator's REST API: ``POST /api/<Controller>/<action>`` as projectx-api.md §1–§4 describes.

One catch-all route dispatches on the lower-cased path, so routes are case-insensitive (§1.2).
Per call, in order: record the request; 404/405 for unknown routes or methods; armed faults
(faults.py); bearer token check (bare 401, all but Auth/loginKey and Status/ping); the rate
limit (bare 429); an armed ``reject`` fault (HTTP 200 ``success: false``); body binding (400
ProblemDetails); the handler. Answers use the envelope of
§1.3: the payload field first, then ``success``, ``errorCode``, ``errorMessage``; business
failures are HTTP 200 with the calling endpoint's own errorCode (§5.2).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sim.body import BadRequest, Body
from app.sim.endpoints import ENDPOINTS as ENDPOINTS  # re-exported: the old place
from app.sim.endpoints import Call as Call
from app.sim.endpoints import Endpoint as Endpoint
from app.sim.faults import FaultKind, Hit
from app.sim.hub import hub_faults, hub_routes
from app.sim.market_hub import market_hub_routes
from app.sim.models import Rejected
from app.sim.state import SimState
from app.sim.wire import dump_json, load_json, normalize_path


class WireResponse(Response):
    """JSON with Decimal rendered as plain numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


class ProblemResponse(WireResponse):
    media_type = "application/problem+json"


_FAULT_STATUS = {FaultKind.ERROR: 500, FaultKind.THROTTLE: 429, FaultKind.UNAUTHORIZED: 401}
# A REJECT fault without a code answers the route's own refusal (§5.2), the first of these its
# errorCode enum has (Order/modify and Order/cancel: Rejected 3; Order/place: OrderRejected 2).
_REFUSALS = ("Rejected", "OrderRejected", "UnknownError")


def _refusal(endpoint: Endpoint, hit: Hit) -> WireResponse:
    """A REJECT fault's answer: HTTP 200, ``success: false``, its code and message; nothing done."""
    code = hit.code
    if code is None:
        code = next((endpoint.codes[name] for name in _REFUSALS if name in endpoint.codes), 1)
    return _envelope(endpoint, None, code, hit.message)


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

    hit = state.faults.hit(path)
    fault = hit.kind if hit is not None else None
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
    if hit is not None and hit.kind is FaultKind.REJECT:
        return _refusal(endpoint, hit)  # a business refusal: after the token and the rate limit

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
    app = Starlette(routes=[*control, *hub_routes(), *market_hub_routes(), catch_all])
    app.state.sim = state if state is not None else SimState()
    hub_faults(app.state.sim)  # the hub listens to the state from the start
    return app
