"""The web login: what is public, the session cookie, the throttle, CSRF, and the auth file."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.strategies import refresh_alert_time
from app.web import login as login_module
from app.web.access import AuthFile, LoginThrottle, load_auth, set_password, verify_password
from app.web.login import SESSION_COOKIE, safe_next
from tests.helpers import SHIPPED_ALERTS
from tests.web.conftest import CLIENT_ADDRESS, FAST_HASHER, PASSWORD, Web

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def logged_in(web: Web) -> bool:
    """Whether the client's session opens a page that needs the login (404: past the login)."""
    response = await web.client.get("/no-such-page")
    assert response.status_code in (303, 404), response.status_code
    return response.status_code == 404


def session_data(web: Web) -> dict[str, object]:
    """What the signed session cookie holds (signed, not encrypted: readable by design)."""
    cookie = web.client.cookies[SESSION_COOKIE]
    payload = cookie.split(".")[0]
    data: dict[str, object] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return data


# What is public and what needs the login


async def test_pages_redirect_to_the_login_with_next(web: Web) -> None:
    for path in ("/", "/webhooks", "/templates/mnq-bracket", "/status"):
        response = await web.client.get(path)

        assert response.status_code == 303, path
        expected = "/login" if path == "/" else "/login?next=" + path.replace("/", "%2F")
        assert response.headers["location"] == expected


async def test_api_and_json_requests_get_401_json(web: Web) -> None:
    api = await web.client.get("/api/alerts")
    assert api.status_code == 401
    assert "log in" in api.json()["error"]

    wants_json = await web.client.get("/", headers={"Accept": "application/json"})
    assert wants_json.status_code == 401 and "error" in wants_json.json()

    control = await web.client.post("/control/pause")
    assert control.status_code == 303 and control.headers["location"] == "/login"
    assert web.env.runtime.bridge.paused is None


async def test_webhook_health_login_and_static_stay_public(web: Web) -> None:
    sent = await web.env.send("mnq-bracket", BRACKET_ALERT)
    assert sent.status_code == 200 and sent.json()["status"] == "executed"

    for path in ("/healthz", "/readyz", "/login", "/static/app.css"):
        assert (await web.client.get(path)).status_code == 200, path


# Logging in


async def test_login_sets_an_httponly_samesite_strict_cookie_and_opens_the_pages(web: Web) -> None:
    response = await web.login(next="/webhooks")

    assert response.status_code == 303
    assert response.headers["location"] == "/webhooks"
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags
    assert f"max-age={web.env.settings.server.session_max_age_s}" in flags
    assert await logged_in(web)


async def test_login_starts_a_new_session(web: Web) -> None:
    before = await web.csrf()

    await web.login()

    data = session_data(web)
    assert data["user"] == "trader"
    assert before not in json.dumps(data)  # the pre-login session (and its CSRF token) is gone
    assert PASSWORD not in json.dumps(data)


async def test_wrong_password_is_401_and_journaled_without_the_password(web: Web) -> None:
    response = await web.login("not the password")

    assert response.status_code == 401
    assert "Wrong password" in response.text
    assert not await logged_in(web)
    [event] = [e for e in web.env.journal.events() if e.kind == "login.failed"]
    assert event.level == "warning" and CLIENT_ADDRESS in event.message
    assert "not the password" not in event.message + (event.data_json or "")


async def test_five_failures_lock_the_address_without_checking_the_password(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    web.login_pages().throttle = LoginThrottle(clock=clock)
    checked: list[str] = []

    def counting_verify(keys: object, password: str) -> bool:
        checked.append(password)
        return verify_password(keys, password)  # type: ignore[arg-type]

    monkeypatch.setattr(login_module, "verify_password", counting_verify)

    statuses = [(await web.login(f"wrong-{i}")).status_code for i in range(5)]
    assert statuses == [401] * 5

    locked = await web.login()  # the right password, but locked: not even looked at
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "30"
    assert "try again in 30 s" in locked.text
    assert len(checked) == 5
    assert not await logged_in(web)

    clock.now += 31
    again = await web.login("wrong-again")  # one more failure after the lock: twice as long
    assert again.status_code == 401
    assert (await web.login()).headers["retry-after"] == "60"

    clock.now += 61
    assert (await web.login()).status_code == 303  # a success resets the address
    other = web.browser()
    assert (await web.login("wrong", client=other)).status_code == 401  # not 429: counting from zero
    assert len([e for e in web.env.journal.events() if e.kind == "login.failed"]) == 7


def test_throttle_doubles_up_to_fifteen_minutes_and_forgets_after_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    assert [throttle.failed("a") for _ in range(5)] == [0, 0, 0, 0, 30]
    locks = []
    for _ in range(8):
        clock.now += throttle.retry_after("a")
        locks.append(throttle.failed("a"))
    assert locks == [60, 120, 240, 480, 900, 900, 900, 900]
    assert throttle.retry_after("b") == 0  # per address

    clock.now += 2000  # no failure within 15 min: a fresh start
    assert throttle.failed("a") == 0 and throttle.retry_after("a") == 0


async def test_logout_needs_csrf_and_ends_the_session(web: Web) -> None:
    await web.login()
    token = session_data(web)["csrf_token"]  # what every page's forms carry

    refused = await web.client.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert await logged_in(web)

    response = await web.client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert not await logged_in(web)


async def test_a_session_from_before_set_password_stops_working(web: Web) -> None:
    await web.login()
    assert await logged_in(web)

    set_password(web.auth_file, "a brand new password", hasher=FAST_HASHER)

    page = await web.client.get("/webhooks")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fwebhooks"
    api = await web.client.get("/api/alerts")
    assert api.status_code == 401
    assert (await web.login()).status_code == 401  # the old password no longer works
    assert (await web.login("a brand new password")).status_code == 303


async def test_login_without_csrf_token_is_refused(web: Web) -> None:
    await web.csrf()  # a session with a token exists, the form just does not carry it

    missing = await web.client.post("/login", data={"password": PASSWORD})
    wrong = await web.client.post("/login", data={"password": PASSWORD, "csrf_token": "forged"})

    assert missing.status_code == 403 and wrong.status_code == 403
    assert not await logged_in(web)


async def test_login_never_redirects_off_site(web: Web) -> None:
    for next_path in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = await web.login(next=next_path)

        assert response.status_code == 303, next_path
        assert response.headers["location"] == "/", next_path
        await web.client.post("/logout", data={"csrf_token": session_data(web)["csrf_token"]})


def test_safe_next_keeps_same_site_paths_with_their_query() -> None:
    assert safe_next("/webhooks?strategy=mnq") == "/webhooks?strategy=mnq"
    assert safe_next("/login") == "/"
    assert safe_next("/x\r\nSet-Cookie: a=b") == "/"
    assert safe_next("http:/evil") == "/"
    assert safe_next(None) == "/"


async def test_without_a_password_the_page_says_how_to_set_one(web: Web) -> None:
    web.auth_file.write_text(
        "\n".join(line for line in web.auth_file.read_text().splitlines() if "password_hash" not in line)
    )

    page = await web.client.get("/login")
    assert "No password is set. Run `tvbridge set-password` in a terminal on this machine" in page.text
    assert 'type="password"' not in page.text
    token = session_data(web)["csrf_token"]
    posted = await web.client.post("/login", data={"csrf_token": token, "password": PASSWORD})
    assert posted.status_code == 401
    assert not await logged_in(web)


# The auth file


def test_auth_file_is_private_and_made_with_keys(tmp_path: Path) -> None:
    path = tmp_path / "auth.toml"

    keys = load_auth(path, create=True)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.password_hash is None and len(keys.session_secret) >= 40 and len(keys.control_key) >= 40
    assert keys.session_secret != keys.control_key
    assert load_auth(path, create=False) == keys
    assert keys.session_secret not in repr(keys)


def test_set_password_keeps_the_keys_and_refuses_short_passwords(tmp_path: Path) -> None:
    path = tmp_path / "auth.toml"
    keys = load_auth(path, create=True)

    with pytest.raises(ConfigError, match="at least 8"):
        set_password(path, "short", hasher=FAST_HASHER)
    stored = set_password(path, PASSWORD, hasher=FAST_HASHER)

    assert (stored.session_secret, stored.control_key) == (keys.session_secret, keys.control_key)
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in path.read_text()
    assert verify_password(load_auth(path, create=False), PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_auth_file_without_create_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tvbridge serve"):
        load_auth(tmp_path / "auth.toml", create=False)


def test_the_server_sees_a_new_password_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "auth.toml"
    auth = AuthFile(path)
    assert auth.keys().password_fingerprint == ""

    set_password(path, PASSWORD, hasher=FAST_HASHER)
    first = auth.keys().password_fingerprint
    set_password(path, PASSWORD, hasher=FAST_HASHER)  # same password, new salt: a new hash

    assert first and auth.keys().password_fingerprint not in ("", first)
    path.write_text("not = [valid toml")
    assert auth.keys().password_fingerprint  # a broken file keeps the keys read last


async def test_a_webhook_delivery_never_gets_or_reads_a_session(web: Web) -> None:
    assert (await web.login()).status_code == 303  # the client now holds the trader's cookie
    example = (SHIPPED_ALERTS / "mnq-market.example.json").read_bytes()
    body = refresh_alert_time(example, web.env.runtime.bridge.templates["mnq-market"])  # not stale

    response = await web.client.post(web.env.url("mnq-market"), content=body)

    assert response.status_code == 200 and response.json()["status"] == "executed"
    assert "set-cookie" not in response.headers  # the login session is neither read nor renewed
