"""Property: whatever reaches the webhook listener (paths, methods, headers, bodies), the answer
is never a 5xx and no order is sent without the strategy's secret."""

from __future__ import annotations

import json
import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.auth import load_secrets
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


# Issue 12's attacks as generators: nesting, huge numbers, placeholder floods, 64 KiB of one
# shape, each sent with and without the strategy's secret (in the URL or in the body).
MAX_BODY = 64 * 1024
OPENERS = st.sampled_from(["[", "{", '{"a":', "[{", '{"a":[', "{{", '"', "\\", "{{ticker}}"])
NESTED = st.tuples(OPENERS, st.integers(1, 3_000), st.booleans()).map(
    lambda t: t[0] * t[1] + ("1" + "]}" * t[1] if t[2] else "")
)
DIGITS = st.tuples(
    st.sampled_from(["", "-"]),
    st.integers(1, 6_000),
    st.sampled_from(["", ".5", "." + "0" * 500, "e999999999", "E-999999999", "e+40"]),
).map(lambda t: f"{t[0]}{'9' * t[1]}{t[2]}")
HUGE_NUMBER = st.tuples(st.sampled_from(["quantity", "price", "time", "id"]), DIGITS, st.booleans()).map(
    lambda t: (
        '{"ticker": "MNQ1!", "action": "buy", "quantity": 1, "price": 1, '
        + f'"{t[0]}": '
        + (json.dumps(t[1]) if t[2] else t[1])
        + "}"
    )
)
FLOOD = st.tuples(
    st.sampled_from(["{{", "}}", "{{ticker", "{{ {{", "{%", "{#", "%{{", "secret=", '"secret":"']),
    st.integers(1, 32_000),
    st.sampled_from(["", "}}", '"}', "buy 1 NQ1! @ 1"]),
).map(lambda t: t[0] * t[1] + t[2])
HOSTILE_BODY = st.one_of(NESTED, HUGE_NUMBER, FLOOD, st.text(max_size=200)).map(
    lambda s: s.encode("utf-8", "surrogatepass")[:MAX_BODY]
)
PROOF = st.sampled_from(["none", "token", "body secret", "wrong token"])


@settings(
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(strategy=st.sampled_from(["mnq-market", "nq-text", "mnq-oco"]), body=HOSTILE_BODY, proof=PROOF)
async def test_hostile_bodies_with_or_without_the_secret_never_5xx(
    env: Env, strategy: str, body: bytes, proof: str
) -> None:
    env.runtime.bridge.intake.limiter = RefusalLimiter(10**9, 1.0)
    path = f"/webhook/{strategy}"
    if proof == "token":
        path = env.url(strategy)
    elif proof == "wrong token":
        path += "/" + "A" * 43
    elif proof == "body secret":
        secret = load_secrets(env.settings.server.secrets_file)[strategy]
        body = (b'{"secret": "' + secret.encode() + b'", ' + body)[:MAX_BODY]
    transport = httpx.ASGITransport(app=create_webhook_app(env.runtime), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tvbridge.test") as client:
        response = await client.post(path, content=body)
    assert response.status_code < 500, (path, body[:200], response.text)
    if proof in ("none", "wrong token"):
        assert response.status_code in (401, 429), response.text
