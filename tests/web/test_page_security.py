"""The pages against an attacker's link or page (issue 12, item 1): markup in any query value is
never reflected as markup, numbers out of range are a 400 (never a 500), every response carries the
Content-Security-Policy and the other security headers, a foreign Host is refused, a cross-site
POST is refused even with a valid cookie and CSRF token, and a logout ends the session on the
server (a copied cookie no longer logs in)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.ingest.auth import webhook_path
from app.strategies import refresh_alert_time
from app.web.access import end_sessions, load_auth, set_password
from app.web.guard import CONTENT_SECURITY_POLICY, allowed_hosts
from app.web.login import SESSION_COOKIE
from tests.helpers import SHIPPED_ALERTS
from tests.web.conftest import CLIENT_ADDRESS, FAST_HASHER, Web

MARKUP = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]
ALERT_FILTERS = ("strategy", "account", "status", "since", "until", "before", "limit")
# Every GET route and the query parameters it reads.
READS = {
    "/": ALERT_FILTERS,
    "/journal/rows": (*ALERT_FILTERS, "ids"),
    "/journal.csv": ALERT_FILTERS,
    "/api/alerts": ALERT_FILTERS,
    "/api/orders": ("account", "state", "since", "limit"),
    "/api/fills": ("account", "since", "limit"),
    "/api/positions": ("account", "flat"),
    "/templates/mnq-bracket": ("body_from", "previous"),
    "/login": ("next",),
    "/status": (),
    "/webhooks": (),
    "/templates": (),
    "/control/flatten": (),
    "/api/status": (),
    "/api/bars": ("contract", "start", "end"),
    "/trades": ("range", "account", "strategy"),
    "/trades.csv": ("range", "account", "strategy"),
    "/api/trades": ("range", "account", "strategy"),
    "/performance": ("range", "account", "strategy", "contract"),
    "/api/performance": ("range", "account", "strategy", "contract"),
}
ALL_PARAMS = sorted({p for params in READS.values() for p in params})
# Numeric parameters and routes that read them; each bad value must be a 400 naming the parameter.
NUMERIC = {
    "/": ("account", "before", "limit"),
    "/journal/rows": ("account", "before", "limit", "ids"),
    "/journal.csv": ("account", "before", "limit"),
    "/api/alerts": ("account", "before", "limit"),
    "/api/orders": ("account", "limit"),
    "/api/fills": ("account", "limit"),
    "/api/positions": ("account",),
}
BAD_NUMBERS = ["12345678901234567890123", "abc", "-1", "1.5", "1e5", "²", "9007199254740992", "٣"]
BAD_DATES = ["9999-12-31", "0001-01-01", "2026-13-01", "12345678901234567890123"]


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


def assert_not_reflected(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    body = response.text.lower()
    assert "<script>alert" not in body and "<img src=x" not in body and "<svg onload" not in body, (
        what,
        response.text[:2000],
    )


async def test_markup_in_any_query_value_of_any_page_is_never_reflected(page: Web) -> None:
    await page.env.send("mnq-bracket", (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes())
    for path, params in READS.items():
        for markup in MARKUP:
            for name in params:
                response = await page.client.get(path, params={name: markup})
                assert_not_reflected(response, f"{path}?{name}=")
                assert response.status_code in (200, 303, 400, 404), (path, name, response.status_code)
            # every parameter at once, on every route (those that read none ignore them)
            response = await page.client.get(path, params=dict.fromkeys(ALL_PARAMS, markup))
            assert_not_reflected(response, f"{path} with all")


async def test_a_bad_query_value_is_a_400_with_the_reason_escaped(page: Web) -> None:
    for path in ("/journal/rows", "/journal.csv"):
        response = await page.client.get(path, params={"status": MARKUP[0]})

        assert response.status_code == 400
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert "is not an alert status" in response.text
        assert response.headers["content-type"].startswith("text/html")


async def test_numbers_out_of_range_are_a_400_naming_the_parameter(page: Web) -> None:
    for path, names in NUMERIC.items():
        for name in names:
            for value in BAD_NUMBERS:
                response = await page.client.get(path, params={name: value})

                assert response.status_code == 400, (path, name, value, response.status_code)
                assert name in response.text, (path, name, value, response.text[:300])
    for path in ("/", "/journal.csv", "/api/alerts", "/api/orders", "/api/fills"):
        for value in BAD_DATES:
            response = await page.client.get(path, params={"since": value, "until": value})
            assert response.status_code == 400, (path, value, response.status_code)
    too_many = ",".join(str(i) for i in range(1, 300))
    assert (await page.client.get("/journal/rows", params={"ids": too_many})).status_code == 400
    assert (await page.client.get("/journal/rows", params={"ids": "1,2,3"})).status_code == 200
    # A huge limit is capped (1000), not refused; an alert id too large for the journal is said.
    assert (await page.client.get("/api/alerts", params={"limit": "999999"})).status_code == 200
    editor = await page.client.get("/templates/mnq-bracket", params={"body_from": "alert:" + "9" * 23})
    assert editor.status_code == 200 and "too large" in editor.text


async def test_every_response_carries_the_csp_and_security_headers(page: Web, web: Web) -> None:
    paths = [*READS, "/static/app.js", "/healthz", "/no-such-page"]
    stranger = web.browser()  # not logged in: the login redirect and page too
    for client in (page.client, stranger):
        for path in [*paths, "/login"]:
            response = await client.get(path)
            headers = response.headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "same-origin", path
            assert headers["x-frame-options"] == "DENY", path
    await stranger.aclose()
    policy = CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy


async def test_every_page_has_no_inline_script_style_or_handler(page: Web) -> None:
    for path in ("/", "/status", "/webhooks", "/templates", "/templates/mnq-bracket", "/control/flatten"):
        html = (await page.client.get(path)).text.lower()
        assert "<script>" not in html and "<style" not in html and " style=" not in html, path
        assert " onclick=" not in html and " onsubmit=" not in html and "javascript:" not in html, path


def client_for(web: Web, base_url: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=web.app, client=(CLIENT_ADDRESS, 40002))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def test_a_foreign_host_is_refused_but_webhooks_are_not(web: Web) -> None:
    async with client_for(web, "http://evil.example") as evil:
        for path in ("/", "/login", "/api/alerts", "/status", "/static/app.js"):
            response = await evil.get(path)
            assert response.status_code == 400, path
            assert "<script" not in response.text
        # A webhook on the pages' listener proves itself with the secret, whatever the Host says
        # (``tvbridge send --base-url``, and the tunnel may name any host).
        bridge = web.env.runtime.bridge
        body = (SHIPPED_ALERTS / "mnq-market.example.json").read_bytes()
        raw = refresh_alert_time(body, bridge.templates["mnq-market"])
        sent = await evil.post(webhook_path("mnq-market", bridge.secrets["mnq-market"]), content=raw)
        assert sent.status_code == 200, sent.text
    for host in ("http://127.0.0.1:8000", "http://localhost", "http://[::1]:8000"):
        async with client_for(web, host) as local:
            assert (await local.get("/login")).status_code == 200, host


def test_allowed_hosts_add_the_configured_host_and_public_url(web: Web) -> None:
    settings = web.env.settings.model_copy(deep=True)
    settings.server.host = "192.168.1.5"
    settings.server.public_url = "https://bridge.example.com/"
    settings.server.allowed_hosts = ["Trader-PC.lan"]

    hosts = allowed_hosts(settings)

    assert {"127.0.0.1", "localhost", "[::1]", "192.168.1.5", "bridge.example.com", "trader-pc.lan"} <= set(
        hosts
    )
    settings.server.host = "0.0.0.0"  # noqa: S104 — a wildcard listen address is no Host name
    assert "0.0.0.0" not in allowed_hosts(settings)  # noqa: S104


async def test_a_cross_site_post_is_refused_even_with_a_valid_cookie_and_csrf(page: Web) -> None:
    token = await page.csrf(path="/")
    bridge = page.env.runtime.bridge
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8001"},  # another port of this computer is another site
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ):
        response = await page.client.post("/control/pause", data={"csrf_token": token}, headers=headers)
        assert response.status_code == 403, headers
        assert "another site" in response.text
        assert bridge.paused is None
    refused = await page.client.post(
        "/api/alerts", headers={"Origin": "http://evil.example", "Accept": "application/json"}
    )
    assert refused.status_code == 403 and "another site" in refused.json()["error"]

    # The page's own form (same origin), and a client that sends neither header, still work.
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    response = await page.client.post("/control/pause", data={"csrf_token": token}, headers=same)
    assert response.status_code == 303 and bridge.paused is not None
    response = await page.client.post("/control/resume", data={"csrf_token": token})
    assert response.status_code == 303 and bridge.paused is None


async def test_logout_ends_the_session_on_the_server(page: Web, web: Web) -> None:
    copied = web.browser()
    copied.cookies.set(SESSION_COOKIE, page.client.cookies[SESSION_COOKIE])
    assert (await copied.get("/api/alerts")).status_code == 200  # the copy works while logged in

    token = await page.csrf(path="/")
    assert (await page.client.post("/logout", data={"csrf_token": token})).status_code == 303

    again = await copied.get("/")
    assert again.status_code == 303 and again.headers["location"] == "/login"
    assert (await copied.get("/api/alerts")).status_code == 401
    await copied.aclose()
    # Logging in again works, with a new session.
    assert (await page.login()).status_code == 303
    assert (await page.client.get("/api/alerts")).status_code == 200


def test_ending_sessions_keeps_the_password_and_keys(web: Web) -> None:
    before = load_auth(web.auth_file, create=False)
    after = end_sessions(web.auth_file)

    assert load_auth(web.auth_file, create=False) == after
    assert after.session_epoch and after.session_epoch != before.session_epoch
    assert (after.session_secret, after.control_key, after.password_hash) == (
        before.session_secret,
        before.control_key,
        before.password_hash,
    )
    assert set_password(web.auth_file, "another long password", hasher=FAST_HASHER).session_epoch not in (
        "",
        after.session_epoch,
    )
