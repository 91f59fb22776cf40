"""``tvbridge serve`` as a tunnel sees it: two listeners, only the webhook on the tunnel's port,
and no secret, token or API key in the process's output or in the journal file."""

from __future__ import annotations

import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx

from app.ingest.auth import load_secrets, webhook_path
from tests.helpers import SHIPPED_TEMPLATES, free_port, start_serve

API_KEY = "pk-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def alert(n: int) -> dict[str, str]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": f"{21500 + n}", "time": now}


def test_only_the_webhook_is_served_on_the_webhook_port_and_secrets_stay_out_of_logs(
    tmp_path: Path,
) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    pages_port, webhook_port = free_port(), free_port()
    env = {
        "TVBRIDGE_SERVER__PORT": str(pages_port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(webhook_port),
        "TVBRIDGE_GATEWAY__API_KEY": API_KEY,  # unused on the simulator; must never be printed
    }
    process = start_serve(tmp_path, env, subprocess.PIPE)
    try:
        pages = f"http://127.0.0.1:{pages_port}"
        hooks = f"http://127.0.0.1:{webhook_port}"
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-market"]
        signed = webhook_path("mnq-market", secret)
        wrong_token = "Zm9yZ2VkLXRva2VuLXRoYXQtaXMtd3Jvbmc"

        assert httpx.get(f"{pages}/healthz").status_code == 200
        assert httpx.get(f"{pages}/", follow_redirects=False).status_code in (200, 303)
        for path in ("/", "/status", "/api/status", "/login", "/healthz", "/static/app.css", signed):
            assert httpx.get(hooks + path).status_code == 404, path
        assert httpx.post(f"{hooks}/login", data={"password": "x"}).status_code == 404

        by_url = httpx.post(hooks + signed, json=alert(1))
        by_body = httpx.post(f"{hooks}/webhook/mnq-market", json={**alert(2), "secret": secret})
        forged = httpx.post(f"{hooks}/webhook/mnq-market/{wrong_token}", json=alert(3))
        assert (by_url.status_code, by_body.status_code, forged.status_code) == (200, 200, 401)
        assert by_url.json()["status"] == by_body.json()["status"] == "executed"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode in (0, 130), output
    assert "POST /webhook/mnq-market/*** " in output  # the access log masks the URL token
    token = signed.rsplit("/", 1)[1]
    for credential in (secret, token, wrong_token, API_KEY):
        assert credential not in output
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("tvbridge.db*"))
    assert stored, "the journal file was not found"
    for credential in (secret, token, API_KEY):
        assert credential.encode() not in stored
