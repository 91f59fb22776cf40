"""The supervisor with the fake clients: the URL is found, a dead client is restarted (its new
URL reported as changed), and stop() never leaves the child running."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from app.errors import ConfigError
from app.tunnel import TunnelMissing, TunnelState, TunnelSupervisor
from tests.tunnel.conftest import pid_alive, tunnel_settings, until

LOCAL = "http://127.0.0.1:9"  # nothing listens: these tests look at the client, not the bridge


class Recorder:
    """on_url / on_change listeners that keep what they were given."""

    def __init__(self) -> None:
        self.urls: list[TunnelState] = []
        self.changes: list[TunnelState] = []

    async def on_url(self, state: TunnelState) -> None:
        self.urls.append(state)

    async def on_change(self, state: TunnelState) -> None:
        self.changes.append(state)


def supervisor(recorder: Recorder, kind: str = "cloudflared", **kw: object) -> TunnelSupervisor:
    public_url = kw.pop("public_url", None)
    last_url = kw.pop("last_url", None)
    return TunnelSupervisor(
        tunnel_settings(kind, **kw),
        LOCAL,
        public_url=public_url,  # type: ignore[arg-type]
        last_url=last_url,  # type: ignore[arg-type]
        on_url=recorder.on_url,
        on_change=recorder.on_change,
    )


async def test_the_quick_tunnel_url_is_found_and_reported() -> None:
    recorder = Recorder()
    tunnel = supervisor(recorder)
    await tunnel.start()
    try:
        await until(lambda: recorder.urls, timeout_s=10)
        state = recorder.urls[0]
        assert state.status == "up" and state.public_url and state.public_url.startswith("http://127.0.0.1:")
        assert state.up_since is not None and state.previous_url is None and state.restarts == 0
        # The URL is the fake edge's: it answers (502: nothing listens behind it).
        assert httpx.get(state.public_url + "/x").status_code == 502
    finally:
        await tunnel.stop()
    assert tunnel.state.status == "stopped"
    assert recorder.changes[-1].status == "stopped"


async def test_a_dead_client_is_restarted_and_its_new_url_reported_as_changed(
    fake_knobs: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_knobs.setenv("FAKE_TUNNEL_EXIT_AFTER_S", "0.5")
    recorder = Recorder()
    tunnel = supervisor(recorder)
    await tunnel.start()
    try:
        await until(lambda: len(recorder.urls) >= 2, timeout_s=15)
    finally:
        await tunnel.stop()
    first, second = recorder.urls[:2]
    assert second.public_url != first.public_url  # a quick tunnel: a new URL at every start
    assert second.previous_url == first.public_url and second.url_changed
    assert second.restarts == 1
    assert "cloudflared exited with code 1: connection lost" in (second.last_error or "")
    assert any("starting it again" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_the_previous_runs_url_counts_as_the_last_one() -> None:
    recorder = Recorder()
    tunnel = supervisor(recorder, last_url="https://old-name.trycloudflare.com")
    await tunnel.start()
    try:
        await until(lambda: recorder.urls, timeout_s=10)
    finally:
        await tunnel.stop()
    assert recorder.urls[0].previous_url == "https://old-name.trycloudflare.com"


async def test_stop_kills_a_client_that_ignores_terminate(fake_knobs: pytest.MonkeyPatch) -> None:
    fake_knobs.setenv("FAKE_TUNNEL_IGNORE_TERM", "1")
    recorder = Recorder()
    tunnel = supervisor(recorder)
    tunnel.stop_timeout_s = 0.3
    await tunnel.start()
    await until(lambda: recorder.urls, timeout_s=10)
    process = tunnel._process
    assert process is not None and pid_alive(process.pid)

    await tunnel.stop()

    assert process.returncode is not None
    assert not pid_alive(process.pid)


async def test_stop_ends_the_client_while_it_is_starting() -> None:
    recorder = Recorder()
    tunnel = supervisor(recorder)
    await tunnel.start()

    await until(lambda: tunnel._process is not None)
    process = tunnel._process
    await tunnel.stop()

    assert process is not None and process.returncode is not None
    assert tunnel.state.status == "stopped"


async def test_a_client_without_url_is_restarted_after_the_start_timeout(
    fake_knobs: pytest.MonkeyPatch,
) -> None:
    fake_knobs.setenv("FAKE_TUNNEL_NO_URL", "1")
    recorder = Recorder()
    tunnel = supervisor(recorder, start_timeout_s=0.5)
    await tunnel.start()
    try:
        await until(lambda: tunnel.state.restarts >= 1, timeout_s=10)
    finally:
        await tunnel.stop()
    assert recorder.urls == []
    assert "gave no public URL within 0.5 s" in (tunnel.state.last_error or "")


async def test_a_failing_client_is_explained_and_retried(fake_knobs: pytest.MonkeyPatch) -> None:
    fake_knobs.setenv("FAKE_TUNNEL_FAIL", "1")
    recorder = Recorder()
    tunnel = supervisor(recorder, "ngrok")
    await tunnel.start()
    try:
        await until(lambda: tunnel.state.restarts >= 2, timeout_s=10)
    finally:
        await tunnel.stop()
    error = tunnel.state.last_error or ""
    assert error.startswith("ngrok exited with code 1 before the tunnel was up: ")
    assert "authentication failed" in error and "ngrok config add-authtoken <token>" in error
    assert any("authentication failed" in line for line in tunnel.output)


async def test_ngrok_reports_its_url() -> None:
    recorder = Recorder()
    tunnel = supervisor(recorder, "ngrok")
    await tunnel.start()
    try:
        await until(lambda: recorder.urls, timeout_s=10)
    finally:
        await tunnel.stop()
    assert (recorder.urls[0].public_url or "").startswith("http://127.0.0.1:")
    assert recorder.urls[0].kind == "ngrok"


async def test_a_named_tunnel_is_up_at_the_public_url_and_its_token_stays_out_of_argv_and_logs(
    fake_knobs: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    argv_file = tmp_path / "argv.json"
    fake_knobs.setenv("FAKE_TUNNEL_ARGV_FILE", str(argv_file))
    fake_knobs.setenv("FAKE_TUNNEL_EXIT_AFTER_S", "0.3")
    fake_knobs.setenv("FAKE_TUNNEL_ECHO_TOKEN", "1")
    token = "eyJhIjoiZmFrZS1hY2NvdW50In0-named-token"
    recorder = Recorder()
    tunnel = supervisor(recorder, "cloudflared-named", token=token, public_url="bridge.example.com")
    await tunnel.start()
    try:
        await until(lambda: recorder.urls and tunnel.state.restarts >= 1, timeout_s=10)
    finally:
        await tunnel.stop()
    assert recorder.urls[0].public_url == "https://bridge.example.com"
    started = json.loads(argv_file.read_text())
    assert started == {"argv": ["tunnel", "--no-autoupdate", "run"], "token_in_env": True}
    assert token not in caplog.text and token not in "".join(tunnel.output)
    assert "token *** refused" in caplog.text and token not in (tunnel.state.last_error or "")


async def test_a_missing_client_raises_before_anything_starts(
    fake_knobs: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_knobs.setenv("PATH", str(tmp_path))
    recorder = Recorder()
    tunnel = supervisor(recorder, command="")

    with pytest.raises(TunnelMissing, match="winget install --id Cloudflare.cloudflared"):
        await tunnel.start()

    assert tunnel._task is None and tunnel.state.status == "stopped"
    await tunnel.stop()  # harmless


async def test_a_named_tunnel_without_public_url_raises_before_anything_starts() -> None:
    tunnel = supervisor(Recorder(), "cloudflared-named", name="bridge")

    with pytest.raises(ConfigError, match="public_url"):
        await tunnel.start()

    assert tunnel._task is None
