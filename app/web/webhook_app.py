"""The webhook listener: the only app a tunnel points at.

It answers ``POST /webhook/<strategy>`` and ``POST /webhook/<strategy>/<token>`` and nothing
else: every other path and method gets a bare 404 before any work (no redirect, no 405 that would
confirm a route exists, no page, no static file, no session cookie), so exposing it through a
tunnel exposes the webhook alone. Requests that reach the route are screened by
``server.tradingview_only`` (the pages' listener, for this computer only, is not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.web.webhook import is_canonical, receive_webhook

if TYPE_CHECKING:
    from app.web.app import Runtime


class WebhookOnly:
    """Pure ASGI gate: POST to one or two path segments under /webhook/ reaches ``app``; the
    rest is 404 (HTTP) or closed (WebSocket); lifespan events are acknowledged here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and _is_webhook(scope["path"])
            and is_canonical(scope)
        ):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)


def _is_webhook(path: str) -> bool:
    parts = path.split("/")
    # "", "webhook", strategy[, token]
    return 3 <= len(parts) <= 4 and parts[0] == "" and parts[1] == "webhook" and all(parts[2:])


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start: the runtime is the pages app's (or ``tvbridge serve``'s)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_webhook_app(runtime: Runtime) -> WebhookOnly:
    """The webhook listener's ASGI app, serving ``runtime`` (app.web.app.Runtime, started)."""
    app = Starlette(
        routes=[
            Route("/webhook/{strategy}", receive_webhook, methods=["POST"]),
            Route("/webhook/{strategy}/{token}", receive_webhook, methods=["POST"]),
        ]
    )
    app.state.runtime, app.state.bridge = runtime, runtime.bridge
    app.state.webhook_listener = True
    return WebhookOnly(app)
