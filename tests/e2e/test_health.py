"""Health: /healthz answers while the process runs; /readyz says whether alerts can run now."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Env


async def test_healthz_answers(env: Env) -> None:
    response = await env.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_is_ready_with_a_token_and_a_writable_journal(env: Env) -> None:
    response = await env.client.get("/readyz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["ready"] is True
    assert body["checks"]["gateway"]["ok"] and body["checks"]["gateway"]["token_expires_at"]
    assert body["checks"]["journal"] == {"ok": True}


async def test_readyz_is_503_when_the_journal_refuses_writes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.errors import JournalError

    def refuse() -> None:
        raise JournalError("journal sqlite:///x could not write: disk I/O error")

    monkeypatch.setattr(env.journal, "check_writable", refuse)

    response = await env.client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and "disk I/O error" in body["checks"]["journal"]["error"]
