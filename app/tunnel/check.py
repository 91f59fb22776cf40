"""Reachability check: send a signed test request through the public URL and say whether it
arrived at the bridge.

The request: ``POST <public_url>/webhook/<strategy>/<url token>`` with the header
``X-TVBridge-Check: <nonce>`` and the body ``{"tvbridge_check": "<nonce>"}``. The bridge journals
it as a test (never an order) and answers 200 ``{"status": "test", "check": "<nonce>", …}``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.redact import mask_webhook_tokens

CHECK_HEADER = "X-TVBridge-Check"
TRADINGVIEW_TIMEOUT_MS = 3000  # TradingView cancels a webhook after 3 s (tradingview.md §1)
RETRY_INTERVAL_S = 2.0
ATTEMPT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CheckResult:
    """One check. ``arrived``: the request reached the bridge (even when the bridge refused it);
    ``status_code`` is None when no HTTP answer came; ``elapsed_ms`` is the round trip;
    ``message`` says in the trader's words what was seen and what to do (no URL token in it)."""

    arrived: bool
    status_code: int | None
    alert_id: int | None
    client_ip: str | None
    elapsed_ms: int
    message: str


def new_nonce() -> str:
    """24 URL-safe characters ([A-Za-z0-9_-])."""
    return secrets.token_urlsafe(18)


async def check_reachability(webhook_url: str, *, timeout_s: float, nonce: str | None = None) -> CheckResult:
    """Send one check request to ``webhook_url`` (a strategy's full signed webhook URL).

    Never raises for network problems: a timeout, a DNS or connection error, or an answer from
    anything but the bridge (the tunnel's edge) is a result with ``arrived`` False.
    """
    nonce = nonce or new_nonce()
    base = _base(webhook_url)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            response = await client.post(
                webhook_url,
                content=json.dumps({"tvbridge_check": nonce}).encode("utf-8"),
                headers={"Content-Type": "application/json", CHECK_HEADER: nonce},
            )
    except httpx.TimeoutException:
        return _missed(started, f"no answer from {base} within {timeout_s:g} s; {_TUNNEL_HINT}")
    except httpx.ConnectError as exc:
        return _missed(started, _connect_error(base, exc))
    except httpx.HTTPError as exc:
        return _missed(started, f"the request to {base} failed ({_describe(exc)}); {_TUNNEL_HINT}")
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return _answered(base, response, nonce, elapsed_ms)


async def check_until_arrived(
    webhook_url: str,
    *,
    deadline_s: float,
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
    interval_s: float = RETRY_INTERVAL_S,
) -> CheckResult:
    """Check again every ``interval_s`` until the request arrives or ``deadline_s`` has passed;
    return the last result. For the first check after a new quick-tunnel URL: its host name
    takes a few seconds to resolve and the edge answers 502/530 until the connection is up."""
    give_up = time.monotonic() + deadline_s
    while True:
        left = give_up - time.monotonic()
        result = await check_reachability(webhook_url, timeout_s=max(0.5, min(attempt_timeout_s, left)))
        if result.arrived or time.monotonic() + interval_s >= give_up:
            return result
        await asyncio.sleep(interval_s)


# How the operating systems word "this host name does not resolve" (Linux, macOS, Windows).
_DNS_WORDS = ("name or service", "nodename nor servname", "getaddrinfo", "name resolution")
_TUNNEL_HINT = "is the tunnel up (`tvbridge tunnel` or `tvbridge serve --tunnel`)?"


def _answered(base: str, response: httpx.Response, nonce: str, elapsed_ms: int) -> CheckResult:
    code = response.status_code
    body = _json(response)
    status = body.get("status") if body is not None else None
    alert_id = body.get("alert_id") if body is not None else None
    client_ip = body.get("client_ip") if body is not None else None

    def result(arrived: bool, message: str) -> CheckResult:
        return CheckResult(
            arrived,
            code,
            alert_id if isinstance(alert_id, int) else None,
            client_ip if isinstance(client_ip, str) else None,
            elapsed_ms,
            message,
        )

    if code == 200 and status == "test" and body is not None and body.get("check") == nonce:
        journaled = f" (journaled as test alert #{alert_id}, no order)" if alert_id else ""
        took = f"{elapsed_ms} ms{journaled}{_slow(elapsed_ms)}"
        return result(True, f"arrived at the bridge through {base} in {took}")
    if code == 403 and status == "forbidden":
        return result(
            True,
            f"reachable through {base}, refused by the TradingView-only allowlist "
            "(server.tradingview_only): expected, since the check comes from this computer's address, "
            "not TradingView's; TradingView's own requests are let through",
        )
    if code in (401, 404) and status is not None:
        # An unknown strategy is answered as a wrong secret (401), so the bridge cannot say which.
        what = "the strategy's secret (or the strategy)" if code == 401 else "the strategy"
        return result(
            True,
            f"arrived at the bridge through {base}, but it does not know {what} (HTTP {code}): "
            f"{_reason(body)}; copy the URL again from `tvbridge url` or the webhooks page",
        )
    if code == 429:
        return result(
            True,
            f"arrived at the bridge through {base}, but this address is locked out after too many "
            "refused requests (HTTP 429); wait server.auth_lockout_s (default 5 minutes) and check again",
        )
    if status is not None and 200 <= code < 500:
        return result(
            True,
            f"arrived at the bridge through {base}, but it answered HTTP {code} status '{status}' "
            f"instead of a check: {_reason(body)}; is the bridge older than this command?",
        )
    return result(False, _not_arrived(base, response))


def _not_arrived(base: str, response: httpx.Response) -> str:
    code = response.status_code
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    snippet = mask_webhook_tokens(" ".join(response.text.split())[:160])
    seen = f"HTTP {code} ({kind}) from {base}: {snippet!r}"
    if code in (502, 503, 504, 530):
        return (
            f"did not arrive: {seen}. The tunnel's edge answered but could not reach the bridge: "
            "is `tvbridge serve` running (its webhook listener is what the tunnel points at)? A new "
            "tunnel can also take a minute before it is reachable"
        )
    return f"did not arrive: {seen}; this is not the bridge's answer: check the public URL ({_TUNNEL_HINT})"


def _connect_error(base: str, exc: httpx.ConnectError) -> str:
    text = _describe(exc)
    host = urlsplit(base).hostname or base
    if any(word in text.lower() for word in _DNS_WORDS):
        return (
            f"did not arrive: the host name {host} does not resolve ({text}); a new quick tunnel takes "
            f"a few seconds to appear, otherwise the tunnel is gone: {_TUNNEL_HINT}"
        )
    return f"did not arrive: could not connect to {base} ({text}); {_TUNNEL_HINT}"


def _missed(started: float, message: str) -> CheckResult:
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return CheckResult(False, None, None, None, elapsed_ms, message)


def _slow(elapsed_ms: int) -> str:
    if elapsed_ms < TRADINGVIEW_TIMEOUT_MS:
        return ""
    return f"; but TradingView gives up after {TRADINGVIEW_TIMEOUT_MS} ms: this answer would be too slow"


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _reason(body: dict[str, Any] | None) -> str:
    if body is None:
        return "no reason given"
    return mask_webhook_tokens(str(body.get("reason") or body.get("error") or body.get("status")))


def _describe(exc: Exception) -> str:
    return mask_webhook_tokens(str(exc) or type(exc).__name__)


def _base(url: str) -> str:
    """``https://host/webhook/x/token`` → ``https://host``: what messages and logs may show."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
