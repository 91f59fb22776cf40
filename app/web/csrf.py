"""CSRF tokens for every state-changing request from the pages.

One random token per login session, kept in the signed session cookie. Forms carry it in a hidden
``csrf_token`` field, scripts in the ``X-CSRF-Token`` header. The cookie is SameSite=Strict as well;
the token is the second lock, for browsers or proxies that do not honour SameSite.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

FIELD = "csrf_token"
HEADER = "x-csrf-token"

Handler = Callable[[Request], Awaitable[Response]]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(FIELD)
    if not token:
        token = request.session[FIELD] = secrets.token_urlsafe(32)
    return str(token)


async def check_csrf(request: Request) -> None:
    """Raise HTTPException(403) unless the request carries the session's token (form or header)."""
    expected = request.session.get(FIELD)
    given: Any = request.headers.get(HEADER)
    if given is None and request.method == "POST":
        given = (await request.form()).get(FIELD)  # cached by Starlette for the handler
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise HTTPException(
            403,
            "This form has expired or did not come from this page (CSRF token missing or wrong): "
            "reload the page and try again.",
        )


def csrf_protected(handler: Handler) -> Handler:
    """Wrap a route so its POST requests must carry the CSRF token."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request)
        return await handler(request)

    return wrapper
