"""RestClient at the httpx edge (respx): envelope, token, retries, never-resend, rate limit."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayUnavailable,
    OrderRejected,
    OutcomeUnknown,
)
from app.gateway.rest import RateLimiter, RestClient, jwt_expiry

BASE = "https://gw.test"
API_KEY = "pxk-SECRET-api-key-0123456789"


def make_jwt(exp: float | None, tag: str = "a") -> str:
    claims = {"sub": "trader1", "tag": tag} | ({} if exp is None else {"exp": int(exp)})
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig-{tag}"


TOKEN = make_jwt(time.time() + 86400, "login")
NEW_TOKEN = make_jwt(time.time() + 86400, "validated")


def ok(**payload: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "errorCode": 0, "errorMessage": None, **payload})


def fail(code: int, message: str | None = None, **payload: object) -> httpx.Response:
    return httpx.Response(200, json={"success": False, "errorCode": code, "errorMessage": message, **payload})


def bearer(route: respx.Route, n: int = -1) -> str:
    return route.calls[n].request.headers.get("Authorization", "")


class Clock:
    """A monotonic clock the test moves; sleeping advances it and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_called=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_client(router: respx.Router, clock: Clock) -> AsyncIterator[Callable[..., RestClient]]:
    made: list[RestClient] = []

    def make(**kw: object) -> RestClient:
        client = RestClient(
            BASE,
            "trader1",
            SecretStr(API_KEY),
            transport=httpx.MockTransport(router.async_handler),
            clock=clock,
            sleep=clock.sleep,
            **kw,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def login(router: respx.Router) -> respx.Route:
    return router.post("/api/Auth/loginKey").mock(return_value=ok(token=TOKEN))


@pytest.fixture
async def client(make_client: Callable[..., RestClient], login: respx.Route) -> RestClient:
    rest = make_client()
    await rest.login()
    return rest


# -- login and the envelope -----------------------------------------------------------------


async def test_login_sends_the_key_and_later_calls_carry_the_token(
    client: RestClient, router: respx.Router, login: respx.Route
) -> None:
    search = router.post("/api/Account/search").mock(return_value=ok(accounts=[]))
    envelope = await client.call("Account/search", {"onlyActiveAccounts": True}, mutating=False)
    assert envelope["accounts"] == []
    assert json.loads(login.calls[0].request.content) == {"userName": "trader1", "apiKey": API_KEY}
    assert "Authorization" not in login.calls[0].request.headers
    assert bearer(search) == f"Bearer {TOKEN}"
    assert client.token_expires_at == jwt_expiry(TOKEN)


@pytest.mark.parametrize(
    ("code", "name", "advice"),
    [
        (3, "InvalidCredentials", "check gateway.username (your platform login, not e-mail)"),
        (9, "ApiSubscriptionNotFound", "subscribe to the API add-on"),
        (7, "AgreementsNotSigned", "complete the required agreements"),
    ],
)
async def test_login_failure_names_the_reason_and_what_to_do(
    make_client: Callable[..., RestClient],
    router: respx.Router,
    code: int,
    name: str,
    advice: str,
) -> None:
    router.post("/api/Auth/loginKey").mock(return_value=fail(code, token=None))
    with pytest.raises(GatewayAuthError) as caught:
        await make_client().login()
    assert caught.value.error_name == name and caught.value.error_code == code
    assert name in str(caught.value) and advice in str(caught.value)
    assert "trader1" in str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "code", "name", "error"),
    [
        ("Order/search", 1, "AccountNotFound", GatewayError),
        ("Contract/searchById", 1, "ContractNotFound", GatewayError),
        ("Order/cancel", 2, "OrderNotFound", OrderRejected),
        ("Position/closeContract", 2, "PositionNotFound", OrderRejected),
        ("Position/partialCloseContract", 6, "OrderRejected", OrderRejected),
        ("Order/place", 9, "ContractNotActive", OrderRejected),
    ],
)
async def test_envelope_failure_carries_the_endpoints_error_name(
    client: RestClient,
    router: respx.Router,
    endpoint: str,
    code: int,
    name: str,
    error: type[GatewayError],
) -> None:
    router.post(f"/api/{endpoint}").mock(return_value=fail(code, "gateway says no"))
    mutating = error is OrderRejected
    with pytest.raises(error) as caught:
        await client.call(endpoint, {"accountId": 1}, mutating=mutating)
    assert type(caught.value) is error
    assert (caught.value.endpoint, caught.value.error_code) == (endpoint, code)
    assert caught.value.error_name == name
    assert name in str(caught.value) and "gateway says no" in str(caught.value)


async def test_rejected_but_created_carries_the_broker_order_id(
    client: RestClient, router: respx.Router
) -> None:
    message = "Brackets cannot be used with Position Brackets. You must enable Auto OCO Brackets."
    router.post("/api/Order/place").mock(return_value=fail(2, message, orderId=9057))
    with pytest.raises(OrderRejected) as caught:
        await client.call("Order/place", {"customTag": "t"}, mutating=True)
    assert caught.value.broker_order_id == 9057
    assert caught.value.error_name == "OrderRejected"
    assert "Auto OCO Brackets under Settings > Risk Settings" in str(caught.value)


async def test_plain_rejection_has_no_broker_order_id(client: RestClient, router: respx.Router) -> None:
    router.post("/api/Order/place").mock(return_value=fail(5, None, orderId=0))
    with pytest.raises(OrderRejected) as caught:
        await client.call("Order/place", {}, mutating=True)
    assert caught.value.broker_order_id is None
    assert "OutsideTradingHours" in str(caught.value)


async def test_http_400_is_a_rejection_with_the_problem_details(
    client: RestClient, router: respx.Router
) -> None:
    problem = {
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {"accountId": ["The accountId field is required."]},
    }
    router.post("/api/Order/place").mock(return_value=httpx.Response(400, json=problem))
    router.post("/api/Order/search").mock(return_value=httpx.Response(400, json=problem))
    with pytest.raises(OrderRejected, match="accountId: The accountId field is required"):
        await client.call("Order/place", {}, mutating=True)
    with pytest.raises(GatewayError, match="validation errors") as caught:
        await client.call("Order/search", {}, mutating=False)
    assert not isinstance(caught.value, OrderRejected)


# -- token refresh ---------------------------------------------------------------------------


async def test_401_on_a_read_refreshes_then_retries_once(
    client: RestClient, router: respx.Router, login: respx.Route
) -> None:
    validate = router.post("/api/Auth/validate").mock(return_value=httpx.Response(401))
    login.mock(return_value=ok(token=NEW_TOKEN))
    search = router.post("/api/Order/searchOpen").mock(side_effect=[httpx.Response(401), ok(orders=[])])
    assert (await client.call("Order/searchOpen", {"accountId": 1}, mutating=False))["orders"] == []
    assert validate.call_count == 1 and login.call_count == 2
    assert search.call_count == 2
    assert bearer(search, 0) == f"Bearer {TOKEN}" and bearer(search, 1) == f"Bearer {NEW_TOKEN}"


async def test_401_twice_on_a_read_is_an_auth_error(client: RestClient, router: respx.Router) -> None:
    router.post("/api/Auth/validate").mock(return_value=ok(newToken=NEW_TOKEN))
    search = router.post("/api/Order/searchOpen").mock(return_value=httpx.Response(401))
    with pytest.raises(GatewayAuthError, match="HTTP 401"):
        await client.call("Order/searchOpen", {"accountId": 1}, mutating=False)
    assert search.call_count == 2


@pytest.mark.parametrize(
    ("validate_answer", "logins"),
    [(ok(newToken=NEW_TOKEN), 1), (fail(3, newToken=None), 2), (httpx.Response(401), 2)],
    ids=["validate", "validate-refused-login", "validate-401-login"],
)
async def test_token_near_expiry_is_refreshed_first(
    make_client: Callable[..., RestClient],
    router: respx.Router,
    login: respx.Route,
    validate_answer: httpx.Response,
    logins: int,
) -> None:
    # The first token expires inside the 1800 s margin: validate, else log in again.
    login.mock(side_effect=[ok(token=make_jwt(time.time() + 600)), ok(token=NEW_TOKEN)])
    validate = router.post("/api/Auth/validate").mock(return_value=validate_answer)
    search = router.post("/api/Account/search").mock(return_value=ok(accounts=[]))
    rest = make_client()
    await rest.login()
    await rest.call("Account/search", {"onlyActiveAccounts": True}, mutating=False)
    assert validate.call_count == 1 and login.call_count == logins
    assert bearer(search) == f"Bearer {NEW_TOKEN}"
    assert rest.token_expires_at == jwt_expiry(NEW_TOKEN)
    await rest.call("Account/search", {"onlyActiveAccounts": True}, mutating=False)
    assert validate.call_count == 1  # the new token is fresh


async def test_refresh_follows_the_clock_and_a_token_without_exp_lives_24h(
    make_client: Callable[..., RestClient],
    router: respx.Router,
    login: respx.Route,
    clock: Clock,
) -> None:
    login.mock(return_value=ok(token=make_jwt(None)))
    validate = router.post("/api/Auth/validate").mock(return_value=ok(newToken=NEW_TOKEN))
    router.post("/api/Account/search").mock(return_value=ok(accounts=[]))
    rest = make_client(refresh_margin_s=1800)
    await rest.login()
    clock.now += 86400 - 1801
    await rest.call("Account/search", {}, mutating=False)
    assert validate.call_count == 0
    clock.now += 2
    await rest.call("Account/search", {}, mutating=False)
    assert validate.call_count == 1


async def test_a_call_before_login_logs_in_first(
    make_client: Callable[..., RestClient], router: respx.Router, login: respx.Route
) -> None:
    search = router.post("/api/Account/search").mock(return_value=ok(accounts=[]))
    await make_client().call("Account/search", {}, mutating=False)
    assert login.call_count == 1 and bearer(search) == f"Bearer {TOKEN}"


# -- order-changing calls are sent exactly once ----------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(429),
        httpx.Response(401),
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
    ],
    ids=lambda a: str(getattr(a, "status_code", type(a).__name__)),
)
@pytest.mark.parametrize("endpoint", ["Order/place", "Order/cancel", "Position/closeContract"])
async def test_mutating_call_after_sending_is_unknown_and_never_retried(
    client: RestClient,
    router: respx.Router,
    clock: Clock,
    endpoint: str,
    answer: httpx.Response | Exception,
) -> None:
    route = router.post(f"/api/{endpoint}").mock(side_effect=[answer, ok(orderId=1)])
    with pytest.raises(OutcomeUnknown, match="NOT resent"):
        await client.call(endpoint, {"accountId": 1}, mutating=True)
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.PoolTimeout("pool timed out"),
    ],
)
async def test_mutating_call_that_never_left_is_unavailable(
    client: RestClient, router: respx.Router, error: Exception
) -> None:
    route = router.post("/api/Order/place").mock(side_effect=[error, ok(orderId=1)])
    with pytest.raises(GatewayUnavailable, match="nothing was sent"):
        await client.call("Order/place", {}, mutating=True)
    assert route.call_count == 1


async def test_mutating_endpoint_is_never_retried_even_if_called_as_a_read(
    client: RestClient, router: respx.Router
) -> None:
    route = router.post("/api/Order/place").mock(side_effect=[httpx.Response(500), ok(orderId=1)])
    with pytest.raises(OutcomeUnknown):
        await client.call("Order/place", {}, mutating=False)
    assert route.call_count == 1


async def test_401_on_place_refreshes_the_token_before_the_next_call(
    client: RestClient, router: respx.Router
) -> None:
    validate = router.post("/api/Auth/validate").mock(return_value=ok(newToken=NEW_TOKEN))
    router.post("/api/Order/place").mock(return_value=httpx.Response(401))
    search = router.post("/api/Order/searchOpen").mock(return_value=ok(orders=[]))
    with pytest.raises(OutcomeUnknown):
        await client.call("Order/place", {}, mutating=True)
    assert validate.call_count == 0
    await client.call("Order/searchOpen", {"accountId": 1}, mutating=False)
    assert validate.call_count == 1
    assert search.call_count == 1 and bearer(search) == f"Bearer {NEW_TOKEN}"


# -- reads are retried -----------------------------------------------------------------------


async def test_read_is_retried_on_5xx_and_timeouts_then_succeeds(
    client: RestClient, router: respx.Router, clock: Clock
) -> None:
    route = router.post("/api/Order/search").mock(
        side_effect=[httpx.Response(502), httpx.ReadTimeout("slow"), ok(orders=[])]
    )
    assert (await client.call("Order/search", {}, mutating=False))["orders"] == []
    assert route.call_count == 3
    assert clock.sleeps == [0.2, 0.6]


async def test_read_gives_up_after_three_attempts(client: RestClient, router: respx.Router) -> None:
    route = router.post("/api/Order/search").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(GatewayUnavailable, match="after 3 attempts"):
        await client.call("Order/search", {}, mutating=False)
    assert route.call_count == 3


async def test_429_on_a_read_is_unavailable_without_waiting(
    client: RestClient, router: respx.Router, clock: Clock
) -> None:
    route = router.post("/api/Order/search").mock(return_value=httpx.Response(429))
    with pytest.raises(GatewayUnavailable, match="rate limited by the gateway"):
        await client.call("Order/search", {}, mutating=False)
    assert route.call_count == 1 and clock.sleeps == []


# -- rate limit ------------------------------------------------------------------------------


async def test_rate_limiter_never_starts_more_than_n_per_window(clock: Clock) -> None:
    limiter = RateLimiter(3, clock=clock, sleep=clock.sleep)
    starts = []
    for step in (0, 1, 1, 5, 10, 0, 70, 1, 1):
        clock.now += step
        await limiter.acquire()
        starts.append(clock.now)
    for start in starts:
        assert sum(start <= s < start + 60 for s in starts) <= 3
    assert clock.sleeps  # it had to wait


async def test_client_waits_for_the_window_before_sending(
    make_client: Callable[..., RestClient], router: respx.Router, login: respx.Route, clock: Clock
) -> None:
    sent_at: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now)
        return ok(orders=[])

    router.post("/api/Order/search").mock(side_effect=record)
    rest = make_client(rate_limit_per_minute=2)
    for _ in range(5):
        await rest.call("Order/search", {}, mutating=False)
    starts = [1000.0, *sent_at]  # the login counts too
    for start in starts:
        assert sum(start <= s < start + 60 for s in starts) <= 2
    assert len(sent_at) == 5 and sent_at[-1] >= 1000.0 + 120


# -- secrets ---------------------------------------------------------------------------------


async def test_api_key_and_token_never_reach_logs_or_errors(
    make_client: Callable[..., RestClient],
    router: respx.Router,
    login: respx.Route,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rest = make_client()
    texts: list[str] = []
    router.post("/api/Auth/validate").mock(return_value=fail(2, f"bad session {TOKEN}"))
    router.post("/api/Order/searchOpen").mock(side_effect=[httpx.Response(401), ok(orders=[])])
    router.post("/api/Order/place").mock(
        side_effect=[fail(2, f"echo {API_KEY} {TOKEN}"), httpx.ReadTimeout(API_KEY)]
    )
    router.post("/api/Order/search").mock(return_value=httpx.Response(400, json={"title": f"bad {API_KEY}"}))
    await rest.login()
    await rest.call("Order/searchOpen", {"accountId": 1}, mutating=False)
    for endpoint, mutating in [("Order/place", True), ("Order/place", True), ("Order/search", False)]:
        with pytest.raises(GatewayError) as caught:
            await rest.call(endpoint, {}, mutating=mutating)
        texts.append(str(caught.value))
    login.mock(return_value=fail(3, f"no such key {API_KEY}"))
    with pytest.raises(GatewayAuthError) as caught:
        await make_client().login()
    texts.append(str(caught.value))
    assert "***" in texts[0] and "***" in texts[-1]
    everything = caplog.text + "\n".join(texts)
    assert API_KEY not in everything and TOKEN not in everything
    assert "Order/searchOpen" in caplog.text  # the log does say what happened
