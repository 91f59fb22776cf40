"""The ProjectX REST client: envelope, token, rate limit, and the never-resend rule.

Reads are retried; order-changing calls are sent exactly once (reference/projectx-api.md §1.3,
§2, §3, §8; DESIGN.md § Rules that come from the gateway). Neither the API key nor the token
ever reaches a log line or an exception message.

Just over 400 lines on purpose: ``RestClient`` is one client whose token refresh, read retries,
send-once mutations and envelope reading share one token, one limiter and one failure clock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from app.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayUnavailable,
    OrderRejected,
    OutcomeUnknown,
)
from app.gateway.wire_errors import MUTATING_ENDPOINTS, error_hint, error_name

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

LOGIN = "Auth/loginKey"
VALIDATE = "Auth/validate"
DEFAULT_TOKEN_LIFETIME_S = 24 * 3600  # §2.5: tokens live 24 h
READ_BACKOFF_S = (0.2, 0.6)  # waits before the 2nd and 3rd attempt of a read
# Raised before anything left this machine, so a mutating call is known not to have happened.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RateLimiter:
    """Start at most ``limit`` requests in any ``window_s`` seconds (a sliding window, §3)."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may start, then count it as started."""
        async with self._lock:  # waiters queue in arrival order
            while True:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.window_s:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self.window_s - now
                log.warning("client-side rate limit reached; waiting %.1f s", wait)
                await self._sleep(wait)


def jwt_expiry(token: str) -> datetime | None:
    """Read the ``exp`` claim (UTC) of a JWT without verifying it; None when there is none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


class RestClient:
    """One ProjectX REST session: ``POST /api/<Controller>/<action>`` with a bearer token.

    ``rate_limit_per_minute`` caps request starts per 60 s; the token is refreshed
    ``refresh_margin_s`` before it expires. ``clock`` (seconds, monotonic) drives both, and
    ``sleep`` every wait (rate limit, read backoff).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        api_key: SecretStr,
        *,
        timeout_s: float = 10.0,
        rate_limit_per_minute: int = 180,
        refresh_margin_s: float = 1800,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._api_key = api_key
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._sleep = sleep
        self.rate_limiter = RateLimiter(rate_limit_per_minute, clock=clock, sleep=sleep)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "tvbridge"},
        )
        self._token: str | None = None
        self._token_deadline = 0.0  # on ``clock``
        self._token_expires_at: datetime | None = None
        self._token_stale = False
        self._token_lock = asyncio.Lock()
        self._failing_since: datetime | None = None
        self._clock_offset_s: float | None = None

    @property
    def failing_since(self) -> datetime | None:
        """Since when (UTC) the gateway has not answered: set by the first transport failure or
        5xx of a run of them, cleared by any answer below 500; None while it answers."""
        return self._failing_since

    @property
    def clock_offset_s(self) -> float | None:
        """How far this computer's clock is ahead of the gateway's (seconds; negative: behind),
        from the HTTP ``Date`` header of the last answer that had one; None before any. The
        header has whole seconds, so the figure is good to about half a second."""
        return self._clock_offset_s

    @property
    def token_expires_at(self) -> datetime | None:
        """When the current session token expires (UTC); None before the first login."""
        return self._token_expires_at

    async def access_token(self) -> str:
        """Return a token valid for at least ``refresh_margin_s`` (for the User Hub's URL)."""
        await self._ensure_token()
        if self._token is None:  # _ensure_token sets it or raises; this keeps mypy honest
            raise GatewayAuthError("No session token after login", endpoint=LOGIN)
        return self._token

    async def login(self) -> None:
        """Log in with the API key (``Auth/loginKey``, §2.1).

        Raises GatewayAuthError naming the LoginErrorCode and what to do, GatewayUnavailable
        when the gateway cannot be reached.
        """
        body = {"userName": self._username, "apiKey": self._api_key.get_secret_value()}
        try:
            envelope = await self._read(LOGIN, body, auth=False)
        except GatewayUnavailable:
            raise
        except GatewayError as exc:
            raise GatewayAuthError(
                f"Login as '{self._username}' at {self.base_url}: {exc}",
                endpoint=LOGIN,
                error_code=exc.error_code,
                error_name=exc.error_name,
            ) from None
        token = envelope.get("token")
        if not isinstance(token, str) or not token:
            raise GatewayAuthError(
                f"Login as '{self._username}' succeeded but the gateway sent no token; "
                "check gateway.api_url points at a ProjectX gateway",
                endpoint=LOGIN,
            )
        self._set_token(token)
        log.info("logged in as %s; token expires %s", self._username, self._token_expires_at)

    async def call(self, endpoint: str, body: dict[str, Any] | None, *, mutating: bool) -> dict[str, Any]:
        """POST ``body`` to ``/api/<endpoint>`` and return the envelope when ``success`` is true.

        Reads: 401 → refresh the token and retry once; 5xx, timeouts and connection errors →
        two more tries (0.2 s, 0.6 s apart), then GatewayUnavailable; 429 → GatewayUnavailable.
        Mutating calls (``mutating=True``) are sent once: failing before sending →
        GatewayUnavailable; after sending (timeout, dropped connection, 5xx, 429, 401) →
        OutcomeUnknown. ``success: false`` → OrderRejected for mutating calls (with
        ``broker_order_id`` when the gateway created the order anyway, §4.6), GatewayError
        otherwise; both carry endpoint, error_code and error_name. HTTP 400 likewise.
        """
        await self._ensure_token()
        # An order-changing endpoint is never retried, whatever the caller said.
        if mutating or endpoint in MUTATING_ENDPOINTS:
            return await self._mutate(endpoint, body)
        return await self._read(endpoint, body, auth=True)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # -- token ---------------------------------------------------------------------------

    def _set_token(self, token: str) -> None:
        expires_at = jwt_expiry(token)
        now = datetime.now(UTC)
        if expires_at is None:
            expires_at = now + timedelta(seconds=DEFAULT_TOKEN_LIFETIME_S)
        self._token = token
        self._token_expires_at = expires_at
        self._token_deadline = self._clock() + (expires_at - now).total_seconds()
        self._token_stale = False

    def _token_due(self) -> bool:
        return (
            self._token is None
            or self._token_stale
            or self._clock() >= self._token_deadline - self._refresh_margin_s
        )

    async def _ensure_token(self) -> None:
        if self._token_due():
            await self._refresh(self._token)

    async def _refresh(self, seen: str | None) -> None:
        """Renew the token ``seen`` by the caller (Auth/validate, else log in again); once."""
        async with self._token_lock:
            if self._token != seen and not self._token_due():
                return  # another call refreshed it while this one waited
            if self._token is not None and await self._validate(self._token):
                return
            await self.login()

    async def _validate(self, token: str) -> bool:
        """Swap ``token`` for ``newToken`` (§2.3); False when the gateway refuses."""
        try:
            response = await self._send(VALIDATE, None, token)
        except httpx.HTTPError as exc:
            log.warning("%s failed (%s); logging in again", VALIDATE, type(exc).__name__)
            return False
        try:
            envelope = self._envelope(VALIDATE, response, mutating=False)
        except GatewayError as exc:
            log.warning("%s refused (%s); logging in again", VALIDATE, exc.error_name or exc)
            return False
        new_token = envelope.get("newToken")
        if not isinstance(new_token, str) or not new_token:
            log.warning("%s sent no newToken; logging in again", VALIDATE)
            return False
        self._set_token(new_token)
        log.info("session token refreshed; expires %s", self._token_expires_at)
        return True

    # -- sending -------------------------------------------------------------------------

    async def _send(self, endpoint: str, body: dict[str, Any] | None, token: str | None) -> httpx.Response:
        await self.rate_limiter.acquire()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started_wall = time.time()
        started = time.perf_counter()
        try:
            response = await self._client.post(f"/api/{endpoint}", json=body, headers=headers)
        except httpx.HTTPError as exc:
            self._answered(False)
            log.warning(
                "%s failed after %.0f ms: %s",
                endpoint,
                (time.perf_counter() - started) * 1000,
                type(exc).__name__,
            )
            raise
        self._answered(response.status_code < 500)
        self._note_date(response, sent_at=started_wall)
        log.info(
            "%s → HTTP %s in %.0f ms",
            endpoint,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _note_date(self, response: httpx.Response, *, sent_at: float) -> None:
        """Keep ``clock_offset_s`` from the answer's ``Date`` header (RFC 9110: whole seconds, so
        the server's time was in [Date, Date + 1 s): its middle is compared with ours)."""
        try:
            server = parsedate_to_datetime(response.headers["date"]).timestamp() + 0.5
        except (KeyError, TypeError, ValueError, IndexError):
            return
        ours = (sent_at + time.time()) / 2  # the middle of the round trip
        self._clock_offset_s = ours - server

    def _answered(self, ok: bool) -> None:
        """Keep ``failing_since``: the first failure of a run sets it, an answer clears it."""
        if ok:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = datetime.now(UTC)

    async def _read(self, endpoint: str, body: dict[str, Any] | None, *, auth: bool) -> dict[str, Any]:
        refreshed = False
        failures = 0
        while True:
            token = self._token if auth else None
            try:
                response = await self._send(endpoint, body, token)
            except httpx.RequestError as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if status == 401 and auth and not refreshed:
                    refreshed = True
                    await self._refresh(token)
                    continue
                if status == 429:
                    raise GatewayUnavailable(
                        f"{endpoint}: rate limited by the gateway (HTTP 429); lower "
                        "gateway.rate_limit_per_minute or send fewer alerts",
                        endpoint=endpoint,
                    )
                if status < 500:
                    return self._envelope(endpoint, response, mutating=False)
                problem = f"HTTP {status}"
            if failures == len(READ_BACKOFF_S):
                raise GatewayUnavailable(
                    f"{endpoint}: no answer from the gateway at {self.base_url} after "
                    f"{failures + 1} attempts (last: {problem}); check your internet connection "
                    "and the firm's status page",
                    endpoint=endpoint,
                )
            log.warning("%s: %s; trying again", endpoint, problem)
            await self._sleep(READ_BACKOFF_S[failures])
            failures += 1

    async def _mutate(self, endpoint: str, body: dict[str, Any] | None) -> dict[str, Any]:
        # Sent exactly once: a second copy could be a second order (DESIGN.md, §3).
        try:
            response = await self._send(endpoint, body, self._token)
        except _NOT_SENT as exc:
            raise GatewayUnavailable(
                f"{endpoint}: could not connect to the gateway at {self.base_url} "
                f"({type(exc).__name__}); nothing was sent. Check your internet connection",
                endpoint=endpoint,
            ) from None
        except httpx.HTTPError as exc:
            self._unknown(endpoint, f"the connection failed after sending ({type(exc).__name__})")
        status = response.status_code
        if status == 401:
            self._token_stale = True  # the next call refreshes first
        if status != 400 and not 200 <= status < 300:  # 401, 429, 5xx, anything odd
            self._unknown(endpoint, f"the gateway answered HTTP {status}")
        return self._envelope(endpoint, response, mutating=True)

    def _unknown(self, endpoint: str, what: str) -> NoReturn:
        raise OutcomeUnknown(
            f"{endpoint}: {what}; the outcome is unknown. It is NOT resent: the journal marks it "
            "UNKNOWN and reconciliation looks it up by customTag",
            endpoint=endpoint,
        )

    # -- answers -------------------------------------------------------------------------

    def _envelope(self, endpoint: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
        """Return the parsed envelope of a 2xx/400/401 answer, or raise (§1.3)."""
        failure: type[GatewayError] = OrderRejected if mutating else GatewayError
        if endpoint.startswith("Auth/"):
            failure = GatewayAuthError
        status = response.status_code
        if status == 400:
            raise failure(
                f"{endpoint}: the gateway refused the request (HTTP 400): "
                f"{self._redact(_problem_text(response))}",
                endpoint=endpoint,
                error_name="BadRequest",
            )
        if status == 401:
            raise GatewayAuthError(
                f"{endpoint}: the gateway answered HTTP 401 (not authorised); "
                "check gateway.username and gateway.api_key",
                endpoint=endpoint,
                error_name="Unauthorized",
            )
        if not 200 <= status < 300:
            raise GatewayError(
                f"{endpoint}: unexpected HTTP {status} from {self.base_url}; check gateway.api_url",
                endpoint=endpoint,
                error_name=f"HTTP{status}",
            )
        try:
            envelope = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            if mutating:
                self._unknown(endpoint, "the gateway's answer was not a JSON object")
            raise GatewayError(
                f"{endpoint}: the gateway's answer is not a JSON object; check gateway.api_url",
                endpoint=endpoint,
            )
        if envelope.get("success") is True:
            return envelope
        self._raise_failure(endpoint, envelope, failure)

    def _raise_failure(
        self, endpoint: str, envelope: dict[str, Any], failure: type[GatewayError]
    ) -> NoReturn:
        code = envelope.get("errorCode")
        code = code if isinstance(code, int) else None
        name = error_name(endpoint, code)
        message = envelope.get("errorMessage")
        text = f"{endpoint} failed: {name}"
        if code is not None and not name.startswith("errorCode"):
            text += f" (errorCode {code})"
        if message:
            text += f": {self._redact(str(message))}"
        hint = error_hint(endpoint, name, message if isinstance(message, str) else None)
        if hint:
            text = text.rstrip(". ") + f". What to do: {hint}"
        if failure is OrderRejected:
            order_id = envelope.get("orderId")
            created = order_id if isinstance(order_id, int) and order_id > 0 else None
            if created is not None:
                text += f" (the gateway created order {created} anyway)"
            raise OrderRejected(
                text, broker_order_id=created, endpoint=endpoint, error_code=code, error_name=name
            )
        raise failure(text, endpoint=endpoint, error_code=code, error_name=name)

    def _redact(self, text: str) -> str:
        for secret in (self._api_key.get_secret_value(), self._token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _problem_text(response: httpx.Response) -> str:
    """Summarise an ASP.NET ProblemDetails body: title, detail and field errors (§1.3)."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:300] or "no details"
    if not isinstance(problem, dict):
        return str(problem)[:300]
    parts = [str(problem[key]) for key in ("title", "detail") if problem.get(key)]
    errors = problem.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            parts.append(f"{field}: {'; '.join(str(m) for m in listed)}")
    return " — ".join(parts)[:500] or "no details"
