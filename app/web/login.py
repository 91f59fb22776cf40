"""The login: signed session cookies, the login and logout routes, and the middleware that keeps
every page and the JSON API behind them.

Sessions are Starlette's SessionMiddleware (itsdangerous-signed cookie ``tvbridge_session``,
HttpOnly, SameSite=Strict; plain http, the bridge listens on loopback). A session remembers a
fingerprint of the password hash: after ``tvbridge set-password`` older sessions stop working.
The webhook, health checks, the login page and static files stay public (the webhook has its own
authentication); ``/control/…`` also accepts the command line's signed header (app/web/control.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.domain.kinds import EventKind, EventLevel
from app.errors import ConfigError, JournalError
from app.web.access import CONTROL_HEADER, AuthFile, AuthKeys, LoginThrottle, verify_password
from app.web.csrf import check_csrf, csrf_token
from app.web.render import SafeJSONResponse, flash, templates

log = logging.getLogger(__name__)

SESSION_COOKIE = "tvbridge_session"
USER = "trader"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/login"})
PUBLIC_PREFIXES = ("/webhook/", "/static/")
HOW_TO_SET_ONE = "No password is set. Run `tvbridge set-password` in a terminal on this machine, then reload."


def login_middleware(settings: Settings, auth: AuthFile) -> list[Middleware]:
    """The session cookie, then the login check (outermost first), for ``Starlette(middleware=…)``."""
    return [
        Middleware(
            PageSessions,
            secret_key=auth.keys().session_secret,
            session_cookie=SESSION_COOKIE,
            max_age=settings.server.session_max_age_s,
            same_site="strict",
            https_only=False,  # plain http on loopback; a Secure cookie would never come back
        ),
        Middleware(LoginRequired, auth=auth),
    ]


class PageSessions(SessionMiddleware):
    """Starlette's signed-cookie sessions, for everything but webhook deliveries: those prove
    themselves with the strategy's secret, never carry the trader's cookie, and are the hot path."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/webhook/"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def logged_in(session: dict[str, object] | None, keys: AuthKeys) -> bool:
    """Whether ``session`` is a login made under the current password."""
    return bool(
        session
        and session.get("user") == USER
        and keys.password_hash
        and session.get("password") == keys.password_fingerprint
        and session.get("epoch", "") == keys.session_epoch
    )


def safe_next(value: object) -> str:
    """A same-site path to go to after the login; "/" for anything else (never an absolute URL,
    a scheme-relative ``//host`` or a backslash trick: no open redirect)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 32 or c == "\\" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return value


class LoginRequired:
    """Pure ASGI (the journal page streams server-sent events through it): public paths pass,
    everything else needs a logged-in session. Without one, ``/api/…`` and JSON requests get
    401 JSON ``{"error": …}``, pages a 303 to ``/login?next=<path>``."""

    def __init__(self, app: ASGIApp, auth: AuthFile) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or _public(scope):
            await self.app(scope, receive, send)
            return
        session = scope.get("session")
        keys = self.auth.keys()
        if logged_in(session, keys):
            await self.app(scope, receive, send)
            return
        stale = bool(session and session.get("user"))
        if stale and session is not None:
            session.clear()  # made under an older password: the cookie is dropped
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refuse(scope, stale)(scope, receive, send)


def _public(scope: Scope) -> bool:
    path: str = scope["path"]
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return True
    # The command line signs its requests; app/web/control.py checks the signature.
    return path.startswith("/control/") and CONTROL_HEADER.lower().encode() in dict(scope["headers"])


def _refuse(scope: Scope, stale: bool) -> Response:
    headers = Headers(scope=scope)
    accept = headers.get("accept", "")
    path: str = scope["path"]
    why = "your session was ended (a log out or a new password)" if stale else "you are not logged in"
    if path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept):
        return SafeJSONResponse({"error": f"{why}: log in on the web page at /login first"}, status_code=401)
    target = "/login"
    if scope["method"] in ("GET", "HEAD") and path != "/":
        query = scope.get("query_string", b"").decode("latin-1")
        target += "?next=" + quote(path + (f"?{query}" if query else ""), safe="")
    if stale:
        scope["session"]["flashes"] = [{"kind": "warn", "text": f"Log in again: {why}."}]
    return RedirectResponse(target, status_code=303)


class LoginPages:
    """``GET|POST /login`` and ``POST /logout``."""

    def __init__(self, auth: AuthFile, throttle: LoginThrottle | None = None) -> None:
        self.auth = auth
        self.throttle = throttle or LoginThrottle()

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    async def login(self, request: Request) -> Response:
        """Show the form; on POST check the CSRF token, the throttle, then the password."""
        keys = self.auth.keys()
        if request.method == "GET":
            next_path = safe_next(request.query_params.get("next"))
            if logged_in(request.session, keys):
                return RedirectResponse(next_path, status_code=303)
            return self._page(request, next_path)
        await check_csrf(request)
        form = await request.form()
        next_path = safe_next(form.get("next"))
        if not keys.password_hash:
            return self._page(request, next_path, status_code=401)
        address = request.client.host if request.client else "unknown"
        wait = self.throttle.retry_after(address)
        if wait:  # locked: the password is not even looked at
            return self._locked(request, next_path, address, wait)
        password = form.get("password")
        ok = isinstance(password, str) and await run_in_threadpool(verify_password, keys, password)
        if not ok:
            lock_s = self.throttle.failed(address)
            await _journal_failure(request, address, lock_s)
            error = "Wrong password."
            if lock_s:
                error += f" Too many wrong passwords from {address}: try again in {lock_s} s."
            return self._page(request, next_path, error=error, status_code=401)
        self.throttle.succeeded(address)
        request.session.clear()  # a new session: nothing from before the login carries over
        request.session.update(
            user=USER,
            password=keys.password_fingerprint,
            epoch=keys.session_epoch,
            since=datetime.now(UTC).isoformat(),
        )
        csrf_token(request)  # and a new CSRF token with it
        return RedirectResponse(next_path, status_code=303)

    async def logout(self, request: Request) -> Response:
        """End the session (CSRF checked) and go to the login page. Server-side too: the auth
        file's session epoch changes, so this session's cookie (or a copy of it) no longer logs
        in, and every other browser logged in must log in again."""
        await check_csrf(request)
        try:
            await run_in_threadpool(self.auth.end_sessions)
        except ConfigError as exc:
            log.error("%s; the logout could not end the session on the server", exc)
        request.session.clear()
        flash(request, "Logged out.", "info")
        return RedirectResponse("/login", status_code=303)

    def _locked(self, request: Request, next_path: str, address: str, wait: int) -> Response:
        error = f"Too many wrong passwords from {address}: try again in {wait} s."
        return self._page(
            request, next_path, error=error, status_code=429, headers={"Retry-After": str(wait)}
        )

    def _page(
        self,
        request: Request,
        next_path: str,
        *,
        error: str = "",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        no_password = "" if self.auth.keys().password_hash else HOW_TO_SET_ONE
        context = {"next": next_path, "error": error, "no_password": no_password, "user": USER}
        return templates.TemplateResponse(
            request, "login.html", context, status_code=status_code, headers=headers
        )


async def _journal_failure(request: Request, address: str, lock_s: int) -> None:
    """Journal a wrong password (the address, never what was typed)."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return
    message = f"wrong password on the web page from {address}"
    if lock_s:
        message += f"; that address is locked out for {lock_s} s"
    try:
        await runtime.bridge.runner.run(
            runtime.journal.add_event,
            EventKind.LOGIN_FAILED,
            message,
            level=EventLevel.WARNING,
            data={"address": address, "locked_s": lock_s},
        )
    except JournalError as exc:
        log.error("could not journal a failed login: %s", exc)
