"""The tunnel's notices for the trader: a changed public URL (every TradingView alert now posts
to a dead address) and a failed reachability check, each once, naming hosts only: never a
webhook token."""

from __future__ import annotations

from typing import Any

from app.domain.notices import NoticeKind, NoticeLevel
from app.ingest.auth import load_secrets, url_token
from app.web.tunnel_link import start_tunnel
from tests.fakes import RecordingNotifier
from tests.helpers import free_port
from tests.tunnel.conftest import Served, tunnel_settings, until


async def start_on(served: Served, **tunnel: Any) -> tuple[Any, RecordingNotifier]:
    """start_tunnel on the served bridge (its notifier recorded) with the fake cloudflared."""
    recorder = RecordingNotifier()
    served.env.runtime.bridge.notifier = recorder
    served.env.settings.tunnel = tunnel_settings(**tunnel)
    supervisor = await start_tunnel(served.env.settings, served.env.runtime, out=lambda line: None)
    served.env.runtime.tunnel = supervisor
    return supervisor, recorder


def tokens(served: Served) -> list[str]:
    secrets = load_secrets(served.env.settings.server.secrets_file)
    return [*secrets.values(), *(url_token(name, secret) for name, secret in secrets.items())]


async def test_a_changed_public_url_is_notified_once_with_the_new_host_and_no_token(served: Served) -> None:
    old = "https://oklahoma-solo-younger-truck.trycloudflare.com"
    served.env.journal.set_tunnel_state({"kind": "cloudflared", "public_url": old, "status": "stopped"})
    supervisor, recorder = await start_on(served)
    try:
        await until(lambda: recorder.of(NoticeKind.TUNNEL_URL_CHANGED))
    finally:
        await supervisor.stop()
    new = supervisor.state.public_url
    [notice] = recorder.of(NoticeKind.TUNNEL_URL_CHANGED)
    assert notice.severity is NoticeLevel.CRITICAL
    assert notice.title == f"Tunnel address changed to {new}: update every TradingView alert"
    assert f"Every TradingView alert still posts to {old}/webhook/…" in notice.body
    assert f"update the webhook URL of each alert to {new}/webhook/<strategy>/***" in notice.body
    assert "[tunnel] kind = 'cloudflared-named'" in notice.body
    for token in tokens(served):
        assert token not in notice.title + notice.body
    assert recorder.of(NoticeKind.TUNNEL_UNREACHABLE) == []  # tunnel.check is off


async def test_a_first_start_is_no_change(served: Served) -> None:
    supervisor, recorder = await start_on(served)
    try:
        await until(lambda: supervisor.state.status == "up")
    finally:
        await supervisor.stop()
    assert recorder.notices == []


async def test_a_failed_reachability_check_is_notified_once(served: Served) -> None:
    served.env.settings.server.webhook_port = free_port()  # the tunnel points where nothing listens
    supervisor, recorder = await start_on(served, check=True, check_timeout_s=1)
    try:
        await until(lambda: supervisor.state.reachable is not None, timeout_s=15)
    finally:
        await supervisor.stop()
    assert supervisor.state.reachable is False
    [notice] = recorder.of(NoticeKind.TUNNEL_UNREACHABLE)
    host = supervisor.state.public_url
    assert notice.title == f"Webhooks do not reach tvbridge through {host}"
    assert "did not arrive at tvbridge" in notice.body and "`tvbridge tunnel --check`" in notice.body
    for token in tokens(served):
        assert token not in notice.title + notice.body
