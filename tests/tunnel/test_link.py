"""The tunnel wired to the bridge: the webhook URLs printed for the trader, the loud warning when
the public URL changed, the state in the journal and on the pages."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.ingest.auth import load_secrets, webhook_path
from app.journal import Journal
from app.web.tunnel_link import public_base_url, start_tunnel
from tests.helpers import free_port, journal_url
from tests.tunnel.conftest import Served, tunnel_settings, until
from tests.web.conftest import Web


async def start_on(served: Served, **tunnel: Any) -> tuple[Any, list[str]]:
    """start_tunnel on the served bridge with the fake cloudflared; return it and what it printed."""
    served.env.settings.tunnel = tunnel_settings(**tunnel)
    printed: list[str] = []
    supervisor = await start_tunnel(served.env.settings, served.env.runtime, out=printed.append)
    served.env.runtime.tunnel = supervisor
    return supervisor, printed


async def test_every_strategys_webhook_url_is_printed_never_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    supervisor, printed = await start_on(served)
    try:
        await until(lambda: supervisor.state.status == "up" and any("Webhook URLs" in p for p in printed))
        public = supervisor.state.public_url
        secrets = load_secrets(served.env.settings.server.secrets_file)
        text = "\n".join(printed)
        for name in served.env.runtime.bridge.templates:
            assert public + webhook_path(name, secrets[name]) in text
        recorded = served.env.journal.tunnel_state()
        assert recorded["status"] == "up" and recorded["public_url"] == public
        assert recorded["by"] == "tvbridge serve --tunnel"
    finally:
        await supervisor.stop()
    assert public in caplog.text  # the log names the base URL …
    for name, secret in secrets.items():  # … and never a signed URL
        assert webhook_path(name, secret) not in caplog.text
    assert served.env.journal.tunnel_state()["status"] == "stopped"


async def test_the_check_runs_after_the_url_is_up_and_is_journaled_as_a_test(served: Served) -> None:
    supervisor, printed = await start_on(served, check=True, check_timeout_s=10)
    try:
        await until(lambda: supervisor.state.reachable is not None)
        assert supervisor.state.reachable is True
        assert "arrived at the bridge" in (supervisor.state.check_message or "")
        assert any(p.startswith("reachability check (mnq-bracket): arrived") for p in printed)
        tests = [a for a in served.env.journal.recent_alerts(limit=10) if a.status == "test"]
        assert len(tests) == 1 and tests[0].strategy == "mnq-bracket"
        await until(lambda: (served.env.journal.tunnel_state() or {}).get("reachable") is True)
    finally:
        await supervisor.stop()
    assert served.env.place_requests() == []


async def test_a_changed_public_url_is_warned_loudly_and_journaled(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    old = "https://oklahoma-solo-younger-truck.trycloudflare.com"
    served.env.journal.set_tunnel_state({"kind": "cloudflared", "public_url": old, "status": "stopped"})
    supervisor, printed = await start_on(served)
    try:
        await until(lambda: any("Webhook URLs" in p for p in printed))
    finally:
        await supervisor.stop()
    new = supervisor.state.public_url
    banner = next(p for p in printed if "changed" in p)
    assert f"The public webhook URL changed from {old} to {new}" in banner
    assert "update the webhook URL in every TradingView alert" in banner
    assert "[tunnel] kind = 'cloudflared-named'" in banner
    assert banner.startswith("!!!!")
    event = served.env.journal.latest_event("tunnel.url_changed")
    assert event is not None and event.level == "warning"
    assert event.data == {"previous_url": old, "public_url": new, "kind": "cloudflared"}
    assert any(r.levelno == logging.WARNING and "changed from" in r.getMessage() for r in caplog.records)
    assert supervisor.state.previous_url == old


async def test_a_named_tunnel_back_at_its_url_is_no_change(served: Served, fake_knobs: Any) -> None:
    port = free_port()
    fake_knobs.setenv("FAKE_TUNNEL_PORT", str(port))  # the fake edge's address stands for the hostname
    public = f"http://127.0.0.1:{port}"
    served.env.settings.server.public_url = public
    served.env.journal.set_tunnel_state(
        {"kind": "cloudflared-named", "public_url": public, "status": "stopped"}
    )
    supervisor, printed = await start_on(served, kind="cloudflared-named", name="bridge")
    try:
        await until(lambda: any("Webhook URLs" in p for p in printed))
    finally:
        await supervisor.stop()
    assert supervisor.state.public_url == public and not supervisor.state.url_changed
    assert not any("changed" in p for p in printed)
    assert served.env.journal.latest_event("tunnel.url_changed") is None


def recorded(public_url: str, *, status: str = "up", age_s: float = 0) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return {
        "kind": "cloudflared",
        "public_url": public_url,
        "status": status,
        "up_since": at.isoformat(),
        "restarts": 0,
        "previous_url": "https://before.trycloudflare.com",
        "by": "tvbridge tunnel",
        "pid": 4242,
        "recorded_at": at.isoformat(),
    }


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return load_settings(
        None, journal={"url": journal_url(tmp_path)}, server={"public_url": "bridge.example.com"}
    )


def test_public_base_url_prefers_a_running_tunnel_then_the_setting(settings: Any) -> None:
    journal = Journal(settings.journal.url)
    journal.upgrade()
    try:
        assert public_base_url(settings, None) == "https://bridge.example.com"
        journal.set_tunnel_state(recorded("https://now.trycloudflare.com"))
        assert public_base_url(settings, None) == "https://now.trycloudflare.com"
        journal.set_tunnel_state(recorded("https://gone.trycloudflare.com", age_s=600))  # its process died
        assert public_base_url(settings, None) == "https://bridge.example.com"
        journal.set_tunnel_state(recorded("https://done.trycloudflare.com", status="stopped"))
        assert public_base_url(settings, None) == "https://bridge.example.com"
        settings.server.public_url = None
        assert public_base_url(settings, None) is None
    finally:
        journal.close()


def test_public_base_url_does_not_create_a_journal(tmp_path: Path) -> None:
    settings = load_settings(None, journal={"url": f"sqlite:///{tmp_path / 'none.db'}"})

    assert public_base_url(settings, None) is None
    assert not (tmp_path / "none.db").exists()


async def test_the_pages_show_a_tunnel_run_beside_the_bridge(web: Web) -> None:
    assert (await web.login()).status_code == 303
    journal = web.env.journal
    journal.set_tunnel_state(recorded("https://now.trycloudflare.com"))
    secret = load_secrets(web.env.settings.server.secrets_file)["mnq-market"]

    hooks = html.unescape((await web.client.get("/webhooks")).text)
    status = html.unescape((await web.client.get("/status")).text)
    api = (await web.client.get("/api/status")).json()

    assert f'value="https://now.trycloudflare.com{webhook_path("mnq-market", secret)}"' in hooks
    assert 'id="url-changed"' in hooks and "The public URL changed: update your alerts." in hooks
    assert 'id="tunnel"' in hooks and 'id="no-tunnel"' not in hooks
    assert 'the webhook listener): <span class="mono">http://127.0.0.1:8001/webhook/mnq-market/' in hooks
    assert "cloudflared up since" in status and "https://now.trycloudflare.com" in status
    assert "URL changed from" in status
    assert api["tunnel"]["public_url"] == "https://now.trycloudflare.com"
    assert api["tunnel"]["by"] == "tvbridge tunnel" and api["tunnel"]["stale"] is False


async def test_the_pages_say_when_the_tunnels_process_is_gone(web: Web) -> None:
    assert (await web.login()).status_code == 303
    web.env.journal.set_tunnel_state(recorded("https://gone.trycloudflare.com", age_s=600))

    hooks = (await web.client.get("/webhooks")).text
    status = (await web.client.get("/status")).text

    assert "https://gone.trycloudflare.com/webhook" not in hooks and 'id="no-tunnel"' in hooks
    assert 'id="url-changed"' not in hooks
    assert "the process that ran it is gone" in hooks
    assert "no news since" in status
