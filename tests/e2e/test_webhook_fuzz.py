"""Property: whatever reaches the webhook listener (paths, methods, headers, bodies), the answer
is never a 5xx and no order is sent without the strategy's secret."""

from __future__ import annotations

import json
import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.sender import RefusalLimiter
from app.web.webhook_app import create_webhook_app
from tests.e2e.conftest import Env

STRATEGIES = ["mnq-market", "mnq-bracket", "nq-text", "traderspost", "no-such-strategy", ""]
HEADER_NAMES = st.sampled_from(
    ["Content-Type", "Content-Length", "X-Forwarded-For", "CF-Connecting-IP", "X-TVBridge-Check",
     "Transfer-Encoding", "Cookie", "Authorization", "X-Custom"]
)  # fmt: skip
HEADER_VALUE = st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=80)
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=60)
JSON_ALERT = st.fixed_dictionaries(
    {
        "ticker": st.sampled_from(["MNQ1!", "NQ1!", "CME_MINI:MNQ1!", "", "{{ticker}}"]),
        "action": st.sampled_from(["buy", "sell", "exit", "reverse", "cancel", "", "BUY"]),
        "quantity": st.one_of(st.integers(-5, 50), st.text(max_size=5), st.floats(allow_nan=True)),
        "price": st.one_of(st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True)),
        "secret": st.text(max_size=40),  # a guessed body secret: never the right one
    }
).map(lambda d: json.dumps(d).encode())
BODY = st.one_of(st.binary(max_size=2048), JSON_ALERT, st.text(max_size=500).map(str.encode))
PATH = st.one_of(
    st.tuples(st.sampled_from(STRATEGIES), st.one_of(st.none(), TOKEN)).map(
        lambda p: f"/webhook/{p[0]}" + (f"/{p[1]}" if p[1] else "")
    ),
    st.text(alphabet=string.ascii_letters + "/._-%", max_size=40).map(lambda s: "/" + s),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "OPTIONS"]),
    path=PATH,
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUE, max_size=4),
    body=BODY,
)
async def test_no_5xx_and_no_order_without_the_secret(
    env: Env, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    headers = {k: v for k, v in headers.items() if k not in ("Content-Length", "Transfer-Encoding")}
    # Keep every example going through parsing and authentication, not stopped by the lockout.
    env.runtime.bridge.intake.limiter = RefusalLimiter(10**9, 1.0)
    transport = httpx.ASGITransport(app=create_webhook_app(env.runtime), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tvbridge.test") as client:
        response = await client.request(method, path, headers=headers, content=body)
    assert response.status_code < 500, (method, path, headers, body[:200], response.text)
    assert env.place_requests() == []
    assert env.sim.requests_to("Position/closeContract") == []
    assert env.sim.requests_to("Order/cancel") == []
