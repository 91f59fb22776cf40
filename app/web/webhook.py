"""``POST /webhook/{strategy}`` and ``POST /webhook/{strategy}/{token}``.

The raw body is read whatever the Content-Type (TradingView sends text/plain for anything that is
not valid JSON, tradingview.md §1) and capped at ``server.max_body_bytes`` before any work: a
declared Content-Length over the cap is refused without reading a byte.

Only the path as ``tvbridge url`` prints it reaches the bridge: strategy names
(``[a-z0-9_-]``) and tokens (base64url) never need percent-encoding, so a path spelt with
``%2f`` or ``%77`` (which the server decodes before routing) gets a bare 404, like any other
path. One spelling of a webhook URL is what the log mask and an audit have to know.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope

from app.engine.intake import CHECK_HEADER, Delivery
from app.web.client import client_address


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
    if reply.http_status == 429 and "retry_after_s" in reply.body:
        headers["Retry-After"] = str(reply.body["retry_after_s"])
    return JSONResponse(reply.body, status_code=reply.http_status, headers=headers)
