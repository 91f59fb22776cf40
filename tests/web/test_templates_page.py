"""The templates page: list, edit and save live (previous kept), try an alert without sending it,
new strategy from a shipped example; against a whole bridge on the simulator, logged in."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ingest.auth import load_secrets
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES
from tests.web.conftest import Web

MARKET_ALERT = (SHIPPED_ALERTS / "mnq-market.example.json").read_text(encoding="utf-8")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CALL = re.compile(
    r'<h3 class="mono call-endpoint">POST /api/([^<]+)</h3>\s*<pre class="call-body">(.*?)</pre>', re.S
)
_TEXTAREA = re.compile(r'<textarea[^>]* id="(\w+)"[^>]*>\n(.*?)</textarea>', re.S)


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    """Logged in, with the shipped alert files offered by the try panel."""
    web.env.settings.server.alerts_dir = SHIPPED_ALERTS
    assert (await web.login()).status_code == 303
    yield web


def template_file(web: Web, name: str) -> Path:
    return web.env.settings.server.templates_dir / f"{name}.toml"


async def post(web: Web, path: str, form: dict[str, str]) -> httpx.Response:
    """Post ``form`` as the browser does: CSRF token of the page, CRLF line ends in textareas."""
    token = _CSRF.search((await web.client.get("/templates")).text)
    assert token is not None
    crlf = {key: value.replace("\n", "\r\n") for key, value in form.items()}
    return await web.client.post(path, data={"csrf_token": token.group(1), **crlf})


def calls(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The (endpoint, body) pairs the try panel shows."""
    return [(endpoint, json.loads(html.unescape(body))) for endpoint, body in _CALL.findall(response.text)]


def textarea(response: httpx.Response, name: str) -> str:
    """What a textarea holds as the browser reads it (its first newline dropped, entities read)."""
    found = {key: html.unescape(value) for key, value in _TEXTAREA.findall(response.text)}
    return found[name]


async def test_the_list_shows_every_shipped_strategy(page: Web) -> None:
    response = await page.client.get("/templates")

    assert response.status_code == 200
    for path in SHIPPED_TEMPLATES.glob("*.toml"):
        assert f'id="strategy-{path.stem}"' in response.text
        assert f'href="/webhooks#{path.stem}"' in response.text
        assert f'<option value="{path.stem}"' in response.text  # "start from" offers every template
    oco = response.text.split('id="strategy-mnq-oco"')[1].split("</tr>")[0]
    assert "<td>oco</td>" in oco
    bracket = response.text.split('id="strategy-mnq-bracket"')[1].split("</tr>")[0]
    assert "<td>native</td>" in bracket and "<time" in bracket


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/templates/nope", "there is no strategy &#39;nope&#39;"),
        ("/templates/Bad%20Name", "&#39;Bad Name&#39; is not a valid strategy name"),
    ],
)
async def test_an_unknown_template_is_a_clear_404(page: Web, path: str, says: str) -> None:
    response = await page.client.get(path)

    assert response.status_code == 404
    assert says in response.text


async def test_an_invalid_save_is_422_with_lines_and_writes_nothing(page: Web) -> None:
    path = template_file(page, "mnq-market")
    before = path.read_bytes()
    live = page.env.runtime.bridge.templates["mnq-market"]
    broken = before.decode().replace('type = "market"', 'type = "markt"') + "# <b>as typed</b>\n"

    response = await post(page, "/templates/mnq-market", {"text": broken})

    assert response.status_code == 422
    assert "mnq-market.toml:14: order.type is &#39;markt&#39;" in response.text
    assert textarea(response, "text") == broken  # the text as typed, for fixing
    assert "<b>as typed</b>" not in response.text
    assert path.read_bytes() == before
    assert not (path.parent / ".previous").exists()
    assert page.env.runtime.bridge.templates["mnq-market"] is live
    reply = await page.env.send("mnq-market", MARKET_ALERT)
    assert reply.json()["status"] == "executed", reply.text
    assert [body["size"] for body in page.env.place_requests()] == [1]


async def test_a_valid_save_is_written_kept_and_live_at_once(page: Web) -> None:
    path = template_file(page, "mnq-market")
    before = path.read_text(encoding="utf-8")
    fixed = before.replace('quantity = "{{ alert.quantity }}"', "quantity = 2")

    response = await post(page, "/templates/mnq-market", {"text": fixed})

    assert response.status_code == 303 and response.headers["location"] == "/templates/mnq-market"
    assert path.read_bytes() == fixed.encode()  # exact, with the browser's CRLF made LF
    [kept] = (path.parent / ".previous").glob("mnq-market.*.toml")
    assert kept.read_text(encoding="utf-8") == before
    shown = await page.client.get("/templates/mnq-market")
    assert f"saved; live now; previous version kept as .previous/{kept.name}" in shown.text
    assert textarea(shown, "text") == fixed
    assert 'id="differs"' not in shown.text and "not live yet" not in shown.text

    reply = await page.env.send("mnq-market", MARKET_ALERT)

    assert reply.json()["status"] == "executed", reply.text
    assert [body["size"] for body in page.env.place_requests()] == [2]
    again = await page.client.get(f"/templates/mnq-market?previous={kept.name}")
    assert textarea(again, "text") == before  # a kept version loads into the editor
    path.write_text(before, encoding="utf-8")  # changed by hand: the page says it is not live
    assert 'id="differs"' in (await page.client.get("/templates/mnq-market")).text


async def test_try_shows_the_exact_place_body_and_sends_nothing(page: Web) -> None:
    text = template_file(page, "mnq-market").read_text(encoding="utf-8")

    response = await post(page, "/templates/mnq-market/try", {"text": text, "body": MARKET_ALERT})

    assert response.status_code == 200, response.text
    [(endpoint, shown)] = calls(response)
    assert endpoint == "Order/place"
    assert page.env.place_requests() == []
    assert page.env.journal.recent_alerts() == []
    # The very body a real alert sends, but for the customTag (it carries the alert id).
    reply = await page.env.send("mnq-market", MARKET_ALERT)
    assert reply.json()["status"] == "executed", reply.text
    [sent] = page.env.place_requests()
    assert {**shown, "customTag": None} == {**json.loads(json.dumps(sent, default=float)), "customTag": None}
    assert shown["isAutomated"] is True and shown["size"] == 1 and shown["side"] == 0


async def test_try_runs_the_unsaved_editor_text(page: Web) -> None:
    path = template_file(page, "mnq-bracket")
    before = path.read_text(encoding="utf-8")
    edited = before.replace("ticks = 40", "ticks = 12")
    body = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_text(encoding="utf-8")

    response = await post(page, "/templates/mnq-bracket/try", {"text": edited, "body": body})

    [(_, shown)] = calls(response)
    assert shown["stopLossBracket"] == {"ticks": -12, "type": 4}
    assert textarea(response, "text") == edited and textarea(response, "body") == body
    assert path.read_text(encoding="utf-8") == before
    assert page.env.place_requests() == []


async def test_try_with_a_bad_body_shows_the_webhooks_exact_422_message(page: Web) -> None:
    text = template_file(page, "mnq-market").read_text(encoding="utf-8")
    bad = '{"ticker": "MNQ1!", "action": "buy",}'

    response = await post(page, "/templates/mnq-market/try", {"text": text, "body": bad})

    assert response.status_code == 200
    assert calls(response) == [] and page.env.journal.recent_alerts() == []
    reply = await page.env.send("mnq-market", bad)
    assert reply.status_code == 422
    assert f'<div class="errors" role="alert" id="try-error">{html.escape(reply.json()["error"])}</div>' in (
        response.text
    )


async def test_try_with_an_invalid_editor_text_lists_its_problems(page: Web) -> None:
    response = await post(page, "/templates/mnq-market/try", {"text": "[order\n", "body": MARKET_ALERT})

    assert response.status_code == 422
    assert "mnq-market.toml:1: not valid TOML" in response.text
    assert calls(response) == [] and page.env.place_requests() == []


async def test_bodies_are_picked_from_alert_files_and_the_journal(page: Web) -> None:
    shown = await page.client.get("/templates/mnq-market?body_from=alerts/mnq-market.example.json")
    assert textarea(shown, "body") == MARKET_ALERT
    assert 'value="alerts/nq-text.example.txt"' in shown.text and 'value="alerts/mnq-oco.txt"' in shown.text

    alert_id = (await page.env.send("mnq-market", MARKET_ALERT)).json()["alert_id"]
    text = template_file(page, "mnq-market").read_text(encoding="utf-8")
    form = {"text": text + "# unsaved\n", "body": "", "body_from": f"alert:{alert_id}", "pick": "1"}
    picked = await post(page, "/templates/mnq-market/try", form)

    assert f'<option value="alert:{alert_id}" selected>' in picked.text
    stored = page.env.journal.get_alert(alert_id).raw_body
    assert textarea(picked, "body") == stored and "secret" not in stored
    assert textarea(picked, "text") == text + "# unsaved\n"  # picking keeps the editor's text
    assert calls(picked) == []  # picking only fills the box

    escape = await page.client.get("/templates/mnq-market?body_from=alerts/../pyproject.toml")
    assert "no alert body &#39;alerts/../pyproject.toml&#39;" in escape.text
    assert textarea(escape, "body") == ""


async def test_new_strategy_from_a_shipped_example_is_live_with_a_secret(page: Web) -> None:
    response = await post(page, "/templates", {"name": "mnq-scalp", "from": "mnq-market"})

    assert response.status_code == 303 and response.headers["location"] == "/templates/mnq-scalp"
    path = template_file(page, "mnq-scalp")
    assert 'description = "Copy of mnq-market: MNQ market order' in path.read_text(encoding="utf-8")
    secret = load_secrets(page.env.settings.server.secrets_file)["mnq-scalp"]
    assert page.env.runtime.bridge.secrets["mnq-scalp"] == secret
    reply = await page.env.send("mnq-scalp", MARKET_ALERT)
    assert reply.json()["status"] == "executed", reply.text
    assert len(page.env.place_requests()) == 1
    listed = await page.client.get("/templates")
    assert 'id="strategy-mnq-scalp"' in listed.text


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("mnq-bracket", "strategy &#39;mnq-bracket&#39; already exists"),
        ("MNQ Scalp", "&#39;MNQ Scalp&#39; is not a valid strategy name: use up to 64 lower-case"),
    ],
)
async def test_new_strategy_names_are_refused(page: Web, name: str, says: str) -> None:
    before = sorted(p.name for p in template_file(page, "x").parent.iterdir())

    response = await post(page, "/templates", {"name": name, "from": "mnq-market"})

    assert response.status_code == 422
    assert says in response.text
    assert sorted(p.name for p in template_file(page, "x").parent.iterdir()) == before


async def test_a_save_without_the_csrf_token_is_refused(page: Web) -> None:
    path = template_file(page, "mnq-market")
    before = path.read_bytes()

    response = await page.client.post("/templates/mnq-market", data={"text": "description = 'x'\n"})

    assert response.status_code == 403
    assert path.read_bytes() == before
