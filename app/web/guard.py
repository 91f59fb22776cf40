"""What keeps a hostile web page away from the pages: the Host check, the Origin check on every
state-changing request, and the security headers on every response.

- Host: only ``127.0.0.1``, ``localhost``, ``[::1]``, ``server.host``, the host of
  ``server.public_url`` and ``server.allowed_hosts`` (Starlette's TrustedHostMiddleware; 400
  otherwise), so a site that rebinds its DNS name to 127.0.0.1 cannot read or drive the pages.
- Origin: a POST/PUT/PATCH/DELETE whose ``Sec-Fetch-Site`` is not ``same-origin`` (or ``none``), or
  whose ``Origin`` is not this page's own scheme and host, is refused with 403, even with a valid
  session and CSRF token. A request with neither header (curl, ``tvbridge pause``) passes on to the
  CSRF and control-signature checks.
- Headers: a strict Content-Security-Policy (no inline script or style, no framing),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (a link out carries no
  page address; the kill switch still returns to the page it was pressed on) and
  ``X-Frame-Options: DENY``.

Webhook deliveries (``/webhook/…``) pass the Host and Origin checks: they prove themselves with the
strategy's secret, and ``tvbridge send`` or a tunnel may name any host. The webhook listener
(app/web/webhook_app.py) has none of this: it answers the tunnel's Host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.web.render import SafeJSONResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WEBHOOK_PREFIX = "/webhook/"


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host header values the pages answer (without port): loopback, ``server.host`` (not a
    wildcard listen address), ``server.public_url``'s host and ``server.allowed_hosts``."""
    hosts = list(LOOPBACK_HOSTS)
    server = settings.server
    if server.host not in ("", "0.0.0.0", "::"):  # noqa: S104 — a listen address, not a name
        hosts.append(f"[{server.host}]" if ":" in server.host else server.host)
    if server.public_url:
        public = urlsplit(server.public_url).hostname
        if public:
            hosts.append(public)
    hosts.extend(server.allowed_hosts)
    return list(dict.fromkeys(h.lower() for h in hosts))


class HostCheck:
    """Starlette's TrustedHostMiddleware for everything but webhook deliveries."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(WEBHOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        await self.checked(scope, receive, send)


def cross_site(scope: Scope) -> str | None:
    """Why a state-changing request comes from another site (None when it does not)."""
    headers = Headers(scope=scope)
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is '{fetch_site}'"
    origin = headers.get("origin")
    if origin is None:
        return None
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    if origin.lower().rstrip("/") != own:
        return "its Origin is not this page"
    return None


class OriginCheck:
    """403 for a POST/PUT/PATCH/DELETE from another site (Origin / Sec-Fetch-Site), before the
    login, the CSRF token or the handler are looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in UNSAFE_METHODS
            and not scope["path"].startswith(WEBHOOK_PREFIX)
            and (why := cross_site(scope)) is not None
        ):
            await _refused(scope, why)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _refused(scope: Scope, why: str) -> Response:
    text = f"refused: this request came from another site ({why}); use the tvbridge pages themselves"
    if scope["path"].startswith("/api/") or "application/json" in Headers(scope=scope).get("accept", ""):
        return SafeJSONResponse({"error": text}, status_code=403)
    return PlainTextResponse(text, status_code=403)


class SecurityHeaders:
    """Add the Content-Security-Policy and the other security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
