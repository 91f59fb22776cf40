"""Secrets never leave: a body carrying the right webhook secret in any shape (malformed JSON,
text that does not match, the secret quoted in another field, percent-encoded, JSON escapes)
is refused with a reason, and neither the secret nor the URL token appears in the reply, the
journal file, /api/alerts, the journal page, the CSV export or the log (issue 12, attack 2)."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.ingest.auth import load_secrets
from app.web.logsafe import scrub_record
from app.web.webhook_app import create_webhook_app
from tests.web.conftest import Web


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _escaped(text: str) -> str:
    """``text`` as JSON ``\\uXXXX`` escapes, every character."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _percent(text: str) -> str:
    """``text`` with every character percent-encoded (what a form or a URL would carry)."""
    return "".join(f"%{b:02X}" for b in text.encode())


# (name, strategy, signed URL, body made from the secret S and the URL token T)
SHAPES: list[tuple[str, str, bool, Callable[[str, str], str]]] = [
    ("text to a JSON template", "mnq-market", False, lambda s, t: f"secret={s} buy 1 MNQ1!"),
    (
        "unquoted secret: invalid JSON",
        "mnq-market",
        False,
        lambda s, t: f'{{"secret": {s}, "ticker": "MNQ1!", "action": "buy", "quantity": "1"}}',
    ),
    ("text not matching its pattern", "nq-text", False, lambda s, t: f"secret={s} hello {s} there"),
    (
        "secret inside another field",
        "mnq-market",
        False,
        lambda s, t: json.dumps(
            {"secret": s, "ticker": f"X{s}", "action": "buy", "quantity": "1", "price": "1", "time": _now()}
        ),
    ),
    (
        "JSON escapes",
        "mnq-market",
        False,
        lambda s, t: (
            f'{{"secret": "{_escaped(s)}", "ticker": "X{_escaped(s)}", "action": "buy", '
            f'"quantity": "1", "price": "1", "time": "{_now()}"}}'
        ),
    ),
    ("percent-encoded, signed URL", "mnq-market", True, lambda s, t: f"secret={_percent(s)}&token={t} buy"),
    (
        "percent-encoded in a JSON field, signed URL",
        "mnq-market",
        True,
        lambda s, t: json.dumps({"ticker": f"X{_percent(s)}", "action": f"{t}", "quantity": "1"}),
    ),
]


def _forms(secret: str, token: str) -> list[str]:
    """Every spelling of the credentials that must not be found anywhere."""
    return [
        secret,
        token,
        _percent(secret),
        _percent(secret).lower(),
        _escaped(secret),
        urllib.parse.quote(secret, safe=""),
    ]


def _absent(where: str, text: str | bytes, forms: list[str]) -> None:
    data = text.encode() if isinstance(text, str) else text
    for form in forms:
        assert form.encode() not in data, f"{form!r} found in {where}"


@pytest.fixture
async def page(web: Web) -> Web:
    assert (await web.login()).status_code == 303
    return web


@pytest.mark.parametrize(("name", "strategy", "signed", "make"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_a_refused_body_carrying_the_secret_leaks_it_nowhere(
    page: Web,
    caplog: pytest.LogCaptureFixture,
    name: str,
    strategy: str,
    signed: bool,
    make: Callable[[str, str], str],
) -> None:
    caplog.set_level(logging.DEBUG)
    env = page.env
    secret = load_secrets(env.settings.server.secrets_file)[strategy]
    token = env.url(strategy).rsplit("/", 1)[1]
    forms = _forms(secret, token)

    reply = await env.send(strategy, make(secret, token), signed=signed, fresh_time=False)

    assert reply.status_code in (400, 422), reply.text  # authenticated, then refused with a reason
    alert_id = reply.json()["alert_id"]
    _absent("the reply", reply.content, forms)
    record = env.journal.get_alert(alert_id)
    assert record.reason, "the refusal has a reason"
    _absent("the alert's reason and body", f"{record.reason}\n{record.raw_body}", forms)
    api = await page.client.get("/api/alerts")
    assert api.status_code == 200 and str(alert_id) in api.text
    _absent("/api/alerts", api.content, forms)
    html = await page.client.get("/")
    assert html.status_code == 200 and f"alert-{alert_id}" in html.text
    _absent("the journal page", html.content, forms)
    rows = await page.client.get(f"/journal/rows?ids={alert_id}")
    _absent("the journal rows", rows.content, forms)
    csv = await page.client.get("/journal.csv")
    assert csv.status_code == 200
    _absent("the CSV export", csv.content, forms)
    _absent("the journal file", _journal_bytes(env.root), forms)
    _absent("the log", caplog.text, forms)


def _journal_bytes(root: Path) -> bytes:
    files = list(root.glob("tvbridge.db*")) + list(root.glob("*.db*"))
    return b"".join(p.read_bytes() for p in dict.fromkeys(files) if p.is_file())


async def test_a_log_line_quoting_a_secret_or_token_is_scrubbed(
    page: Web, caplog: pytest.LogCaptureFixture
) -> None:
    """Any record, from any logger (a child of a filtered one too), with the credential as
    message, argument, exception or percent-encoded path."""
    caplog.set_level(logging.DEBUG)
    env = page.env
    secret = load_secrets(env.settings.server.secrets_file)["mnq-market"]
    token = env.url("mnq-market").rsplit("/", 1)[1]
    log = logging.getLogger("tvbridge.somewhere.deep")
    log.warning("body was %s", f'{{"secret": {secret}}}')
    log.warning(f"inline {secret}")
    log.error("path %s", f"/WEBHOOK/mnq-market/{token}")
    log.error("path %s", {"raw": f"/webhook%2fmnq-market%2f{token}"})
    try:
        raise ValueError(f"bad body {_percent(secret)}")
    except ValueError:
        log.exception("refused")
    _absent("the log", caplog.text, _forms(secret, token))
    assert "/WEBHOOK/mnq-market/***" in caplog.text
    assert "%2fmnq-market%2f***" in caplog.text


async def test_an_encoded_webhook_path_is_not_routed(page: Web) -> None:
    """Only the path as `tvbridge url` prints it reaches the bridge, on either listener: one
    spelling to mask. The webhook listener answers a bare 404."""
    env = page.env
    transport = httpx.ASGITransport(app=create_webhook_app(env.runtime), client=("203.0.113.7", 40000))
    listener = httpx.AsyncClient(transport=transport, base_url="http://tvbridge.test")
    path = env.url("mnq-market")
    body = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500", "time": _now()})
    strategy, token = path.split("/")[2:]
    for spelt in (
        f"/webhook%2f{strategy}%2f{token}",
        f"/webhook/{strategy}%2F{token}",
        f"/%77ebhook/{strategy}/{token}",
        f"/WEBHOOK/{strategy}/{token}",
        f"/Webhook/{strategy}/{token}",
    ):
        url = httpx.URL(f"http://tvbridge.test{spelt}")
        reply = await listener.post(url, content=body)
        assert (reply.status_code, reply.text) == (404, "Not Found"), spelt
        on_pages = httpx.URL(f"http://localhost{spelt}")  # the pages listener's own host
        assert (await page.client.post(on_pages, content=body)).status_code == 404, spelt
    await listener.aclose()
    assert env.journal.recent_alerts() == [] and env.place_requests() == []
    assert (await env.client.post(path, content=body)).status_code == 200  # as printed: executed


def test_the_log_mask_covers_every_spelling_of_the_webhook_path() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/WEBHOOK/mnq/AbC-xyz", "1.1", 404),
        None,
    )
    scrub_record(record)
    assert record.getMessage() == '127.0.0.1:5000 - "POST /WEBHOOK/mnq/*** HTTP/1.1" 404'
    for path, masked in (
        ("/Webhook/mnq/AbC", "/Webhook/mnq/***"),
        ("/webhook%2fmnq%2fAbC", "/webhook%2fmnq%2f***"),
        ("/webhook%2Fmnq%2FAbC?x=1", "/webhook%2Fmnq%2F***?x=1"),
        ("/%77%45bhook/mnq/AbC", "/%77%45bhook/mnq/***"),
        ("/webhook%252fmnq%252fAbC", "/webhook%252fmnq%252f***"),
        ("/webhooks/mnq/test", "/webhooks/mnq/test"),
        ("/webhook/mnq", "/webhook/mnq"),
    ):
        record.args = ("127.0.0.1:5000", "POST", path, "1.1", 404)
        scrub_record(record)
        assert masked in record.getMessage(), path
