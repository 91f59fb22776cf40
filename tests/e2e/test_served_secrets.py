"""``tvbridge serve`` as a process: a refused body carrying the right secret, and the webhook
path spelt in capitals or percent-encoded, leave no secret, URL token or API key in the
process's output (its access log included) or in the journal file (issue 12)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import httpx

from app.ingest.auth import load_secrets, webhook_path
from tests.helpers import SHIPPED_TEMPLATES, free_port, start_serve

API_KEY = "pk-test-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_secrets_stay_out_of_the_served_output_and_the_journal(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    pages_port, webhook_port = free_port(), free_port()
    env = {
        "TVBRIDGE_SERVER__PORT": str(pages_port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(webhook_port),
        "TVBRIDGE_GATEWAY__API_KEY": API_KEY,
    }
    process = start_serve(tmp_path, env, subprocess.PIPE)
    try:
        hooks = f"http://127.0.0.1:{webhook_port}"
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-market"]
        token = webhook_path("mnq-market", secret).rsplit("/", 1)[1]
        refused = [
            httpx.post(f"{hooks}/webhook/mnq-market", content=f"secret={secret} buy 1 MNQ1!"),
            httpx.post(f"{hooks}/webhook/mnq-market", content=f'{{"secret": {secret}, "action": "buy"}}'),
            httpx.post(f"{hooks}/webhook/nq-text", content=f"secret={secret} {API_KEY} hello"),
        ]
        assert [r.status_code for r in refused] == [422, 422, 401]  # nq-text has another secret
        for path in (
            f"/WEBHOOK/mnq-market/{token}",
            f"/Webhook/mnq-market/{token}",
            f"/webhook%2fmnq-market%2f{token}",
            f"/webhook/mnq-market%2F{token}",
        ):
            assert httpx.post(httpx.URL(hooks + path), content=b"{}").status_code == 404, path
        for reply in refused:
            for credential in (secret, token, API_KEY):
                assert credential not in reply.text
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode in (0, 130), output
    # The access log shows every spelling of the path with its token masked.
    for masked in (
        "/WEBHOOK/mnq-market/*** ",
        "/Webhook/mnq-market/*** ",
        "/webhook%2fmnq-market%2f*** ",
        "/webhook/mnq-market%2F*** ",
    ):
        assert masked in output, masked
    for credential in (secret, token, API_KEY):
        assert credential not in output
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("tvbridge.db*"))
    assert stored, "the journal file was not found"
    for credential in (secret, token, API_KEY):
        assert credential.encode() not in stored
