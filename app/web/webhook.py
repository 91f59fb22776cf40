"""``POST /webhook/{strategy}`` and ``POST /webhook/{strategy}/{token}``.

The raw body is read whatever the Content-Type (TradingView sends text/plain for anything that is
not valid JSON, tradingview.md §1) and capped at ``server.max_body_bytes`` before any work: a
declared Content-Length over the cap is refused without reading a byte.

Only the path as ``tvbridge url`` prints it reaches the bridge: strategy names
(``[a-z0-9_-]``) and tokens (base64url) never need percent-encoding, so a path spelt with
``%2f`` or ``%77`` (which the server decodes before routing) gets a bare 404, like any other
path. One spelling of a webhook URL is what the log mask and an audit have to know.

The engine says how a delivery ended (an Answer); ``HTTP_STATUS`` is the one table that turns it
into the reply's status code. TradingView re-sends on a 5xx, so only NOTHING_DONE gets one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope

from app.engine.intake import CHECK_HEADER, Delivery
from app.engine.outcomes import Answer
from app.web.client import client_address

HTTP_STATUS: dict[Answer, int] = {
    Answer.DONE: 200,  # the body's status says what happened: executed, refused, duplicate…
    Answer.WORKING: 202,  # journaled, still running: the journal will show the outcome
    Answer.UNREADABLE: 400,
    Answer.UNAUTHORIZED: 401,  # also an unknown strategy, so that names cannot be listed
    Answer.FORBIDDEN: 403,
    Answer.TOO_LARGE: 413,
    Answer.INVALID: 422,
    Answer.LOCKED_OUT: 429,  # with Retry-After
    Answer.NOTHING_DONE: 503,  # the journal failed before anything was sent: a re-send is welcome
}


def is_canonical(scope: Scope) -> bool:
    """Whether the request's path was sent as it reads: no percent-encoding in it."""
    raw = scope.get("raw_path")
    return raw is None or b"%" not in raw.split(b"?", 1)[0]


async def receive_webhook(request: Request) -> Response:
    """Hand the delivery to the bridge and answer with its reply."""
    if not is_canonical(request.scope):
        return PlainTextResponse("Not Found", status_code=404)
    bridge = request.app.state.bridge
    settings = bridge.settings
    limit = settings.server.max_body_bytes
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    body = bytearray()
    if not too_large:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                too_large = True
                break
    peer = request.client.host if request.client else ""
    check = request.headers.get(CHECK_HEADER)
    delivery = Delivery(
        strategy=request.path_params["strategy"][:64],
        raw=b"" if too_large else bytes(body),
        url_token=request.path_params.get("token"),
        source_ip=client_address(peer, request.headers, settings.tunnel.kind)[:64],
        content_type=request.headers.get("content-type", "")[:100],
        too_large=too_large,
        screened=getattr(request.app.state, "webhook_listener", False),
        check=None if check is None else check[:100],
    )
    reply = await bridge.handle(delivery)
    headers = {}
    if reply.answer is Answer.LOCKED_OUT and "retry_after_s" in reply.body:
        headers["Retry-After"] = str(reply.body["retry_after_s"])
    return JSONResponse(reply.body, status_code=HTTP_STATUS[reply.answer], headers=headers)
