"""Every way a webhook can fail authentication: 401/413, journaled, never an order."""

from __future__ import annotations

import json
from typing import Any

from app.domain.enums import AlertStatus
from app.ingest.auth import ensure_secrets, load_secrets, url_token
from app.strategies import load_templates
from tests.e2e.conftest import Env

BODY = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25"})


def _last_alert(env: Env) -> Any:
    [row] = env.journal.recent_alerts(limit=1)
    return row


async def test_missing_secret_is_401_journaled_with_source_address(env: Env) -> None:
    response = await env.send("mnq-market", BODY, signed=False)

    assert response.status_code == 401
    assert "tvbridge url mnq-market" in response.json()["error"]
    row = _last_alert(env)
    assert row.status == AlertStatus.UNAUTHORIZED
    assert row.source_ip == "203.0.113.7"
    assert row.raw_body == ""  # an unauthenticated body is not the trader's: not stored
    assert env.place_requests() == []


async def test_wrong_url_token_is_401(env: Env) -> None:
    response = await env.client.post("/webhook/mnq-market/not-the-token", content=BODY)

    assert response.status_code == 401
    assert "not-the-token" not in response.text
    assert env.place_requests() == []


async def test_token_of_another_strategy_is_401(env: Env) -> None:
    other = load_secrets(env.settings.server.secrets_file)["mnq-bracket"]
    token = url_token("mnq-bracket", other)

    response = await env.client.post(f"/webhook/mnq-market/{token}", content=BODY)

    assert response.status_code == 401
    assert env.place_requests() == []


async def test_unknown_strategy_answers_exactly_like_a_wrong_secret_and_is_journaled_as_unknown(
    env: Env,
) -> None:
    """Issue 12 (was 404, changed on purpose): the answer must not tell that the name does not
    exist, whether the secret came in the URL, in the body or not at all; the journal keeps the
    real reason."""
    secret_body = json.dumps({"secret": "guess", **json.loads(BODY)})
    for path, body in (("/webhook/{}/abc", BODY), ("/webhook/{}", secret_body), ("/webhook/{}", BODY)):
        known = await env.client.post(path.format("mnq-market"), content=body)
        unknown = await env.client.post(path.format("mnq-marker"), content=body)
        assert (known.status_code, unknown.status_code) == (401, 401)
        told, real = known.json(), unknown.json()
        assert set(told) == set(real) == {"alert_id", "status", "error", "orders"}
        assert real["status"] == told["status"] == "unauthorized"
        assert real["error"] == told["error"].replace("mnq-market", "mnq-marker")
        row = _last_alert(env)
        assert row.status == AlertStatus.UNKNOWN_STRATEGY
        assert "unknown strategy 'mnq-marker': there is no templates/mnq-marker.toml" in row.reason
    assert env.place_requests() == []


async def test_body_over_64_kib_is_413(env: Env) -> None:
    response = await env.client.post(env.url("mnq-market"), content=b"x" * (64 * 1024 + 1))

    assert response.status_code == 413
    assert _last_alert(env).status == AlertStatus.TOO_LARGE
    assert env.place_requests() == []


async def _with_secret(env: Env, strategy: str, secret: str) -> None:
    path = env.settings.server.secrets_file
    path.write_text(path.read_text() + f'{strategy} = "{secret}"\n')
    env.runtime.bridge.secrets = load_secrets(path)


async def test_secret_in_the_body_authenticates_and_is_not_stored(env: Env) -> None:
    secret = "a-long-body-secret-for-c18-style-alerts"
    templates = env.settings.server.templates_dir
    (templates / "body-secret.toml").write_text((templates / "mnq-market.toml").read_text())
    env.runtime.bridge.templates = load_templates(templates)
    await _with_secret(env, "body-secret", secret)
    body = json.dumps({**json.loads(BODY), "secret": secret})

    response = await env.send("body-secret", body, signed=False)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "executed"
    stored = env.journal.get_alert(response.json()["alert_id"]).raw_body
    assert secret not in stored and "secret" not in json.loads(stored)

    wrong = json.dumps({**json.loads(BODY), "secret": "Xq7-not-the-secret", "price": "1"})
    refused = await env.send("body-secret", wrong, signed=False)
    assert refused.status_code == 401 and "Xq7-not-the-secret" not in refused.text
    assert len(env.place_requests()) == 1


async def test_broken_json_with_the_right_body_secret_gets_the_exact_422(env: Env) -> None:
    secret = "another-long-body-secret-value"
    templates = env.settings.server.templates_dir
    (templates / "body-secret.toml").write_text((templates / "mnq-market.toml").read_text())
    env.runtime.bridge.templates = load_templates(templates)
    await _with_secret(env, "body-secret", secret)
    body = f'{{\n"secret": "{secret}",\n\u201cticker\u201d: "MNQ1!"\n}}'

    response = await env.send("body-secret", body, signed=False)

    assert response.status_code == 422
    assert "line 3: typographic quote \u201c" in response.json()["error"]
    row = env.journal.get_alert(response.json()["alert_id"])
    assert row.status == AlertStatus.INVALID and secret not in row.raw_body


async def test_a_strategy_without_a_secret_refuses_everything(env: Env) -> None:
    templates = env.settings.server.templates_dir
    (templates / "fresh.toml").write_text((templates / "mnq-market.toml").read_text())
    env.runtime.bridge.templates = load_templates(templates)

    response = await env.send("fresh", BODY, signed=False)

    assert response.status_code == 401
    assert "webhook_secrets.toml" in response.json()["error"] or "secret" in response.json()["error"]
    ensure_secrets(env.settings.server.secrets_file, ["fresh"])  # what the next start does
    assert "fresh" in load_secrets(env.settings.server.secrets_file)
