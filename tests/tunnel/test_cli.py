"""``tvbridge serve --tunnel``, ``tvbridge tunnel`` and ``tvbridge tunnel --check`` as a trader runs
them, with the fake cloudflared first on PATH; nothing reaches the internet."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.ingest.auth import load_secrets, webhook_path
from app.journal import Journal
from tests.helpers import SHIPPED_TEMPLATES, free_port, start_serve
from tests.notify_receiver import Receiver, notify_receiver
from tests.tunnel.conftest import FAKES

__all__ = ["notify_receiver"]  # the fixture, used by name


class Running:
    """A ``tvbridge`` process whose output lines are read as they come."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = 20) -> str:
        """The first line containing ``text`` (fails with the output so far after ``timeout_s``)."""
        for line in self.lines:
            if text in line:
                return line
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self._queue.empty():
                    break
                continue
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}; output:\n" + "\n".join(self.lines))

    def interrupt(self) -> int:
        """Ctrl-C; return the exit code."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=20)
        with pytest.raises(AssertionError):
            self.wait_for("\0", timeout_s=0.5)  # collect the last lines
        self._pumping.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()  # an open pipe left to the garbage collector is a ResourceWarning
        return code


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    monkeypatch.chdir(tmp_path)  # for main() in this process: the settings' relative paths
    return tmp_path


def with_fakes() -> dict[str, str]:
    return {"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}"}


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_serve_with_tunnel_prints_webhook_urls_that_work_and_exposes_nothing_else(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages_port, webhook_port = free_port(), free_port()
    env = {
        **with_fakes(),
        "TVBRIDGE_SERVER__PORT": str(pages_port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(webhook_port),
    }
    serve = Running(["serve", "--tunnel"], workdir, env)
    try:
        up = serve.wait_for("Public URL: ")
        public = up.split()[2]
        line = serve.wait_for("mnq-market  ")
        printed = line.split()[-1]
        secret = load_secrets(workdir / "webhook_secrets.toml")["mnq-market"]
        assert printed == public + webhook_path("mnq-market", secret)
        assert f"tunnel to http://127.0.0.1:{webhook_port})" in up
        # The automatic check after the URL came up went through the tunnel to the bridge.
        assert "arrived at the bridge" in serve.wait_for("reachability check (")

        checked = main(["tunnel", "--check", "--strategy", "mnq-market"])  # reads the recorded URL
        check = capsys.readouterr().out

        for path in ("/", "/status", "/api/status", "/login", "/webhooks"):
            assert httpx.get(public + path).status_code == 404, path
        assert httpx.get(f"http://127.0.0.1:{pages_port}/healthz").status_code == 200
    finally:
        code = serve.interrupt()
    assert checked == 0, check
    assert check.splitlines()[-2].startswith("ARRIVED (HTTP 200, ")
    assert "the bridge saw the request come from 203.0.113.7" in check
    assert code in (0, 130), "\n".join(serve.lines)
    assert refused(public)  # the tunnel client stopped with the bridge
    logged = [line for line in serve.lines if " WARNING " in line or " INFO " in line]
    assert all(secret not in line and printed not in line for line in logged)


def test_tunnel_beside_serve_records_its_url_for_the_other_commands(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "TVBRIDGE_SERVER__PORT": str(free_port()),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        "TVBRIDGE_TUNNEL__CHECK": "false",
    }
    serve = start_serve(workdir, env, subprocess.DEVNULL)
    try:
        tunnel = Running(["tunnel"], workdir, {**env, **with_fakes()})
        try:
            public = tunnel.wait_for("Public URL: ").split()[2]
            assert main(["url", "mnq-market"]) == 0
            url = capsys.readouterr().out.strip()
        finally:
            code = tunnel.interrupt()
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    assert url.startswith(public + "/webhook/mnq-market/")
    assert code == 130, "\n".join(tunnel.lines)
    assert refused(public)
    assert "stopped" in (workdir / "tvbridge.db").read_bytes().decode("latin-1")  # the recorded state


@pytest.mark.parametrize("command", [["tunnel"], ["serve", "--tunnel"]])
def test_tunnel_without_the_client_installed_says_how_to_install_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    empty = workdir / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("TVBRIDGE_SERVER__PORT", str(free_port()))
    monkeypatch.setenv("TVBRIDGE_SERVER__WEBHOOK_PORT", str(free_port()))

    code = main(command)

    err = capsys.readouterr().err
    assert code == 2
    assert "cloudflared (the tunnel client for [tunnel] kind = 'cloudflared') is not installed" in err
    for how in (
        "winget install --id Cloudflare.cloudflared",
        "brew install cloudflared",
        "apt-get install",
    ):
        assert how in err
    assert not (workdir / "tvbridge.db").exists()  # nothing was started: no journal, no login


def test_tunnel_check_exits_1_when_nothing_arrives(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "webhook_secrets.toml").write_text('mnq-market = "a-secret-for-this-test-only"\n')
    base = f"http://127.0.0.1:{free_port()}"

    code = main(["tunnel", "--check", "--url", base])

    out = capsys.readouterr().out
    assert code == 1
    assert "NOT ARRIVED (no HTTP answer" in out and f"could not connect to {base}" in out


def test_tunnel_check_without_a_public_url_says_what_to_do(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["tunnel", "--check"])

    err = capsys.readouterr().err
    assert code == 2
    assert "no public URL to check" in err and "--url" in err


@pytest.fixture(autouse=True)
def _no_fake_knobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [k for k in os.environ if k.startswith(("FAKE_TUNNEL_", "TVBRIDGE_"))]:
        monkeypatch.delenv(name)
    yield


def test_tunnel_beside_serve_notifies_a_changed_public_url(workdir: Path, notify_receiver: Receiver) -> None:
    # Run on its own, `tvbridge tunnel` is what sees the quick tunnel's URL change: it tells the trader.
    journal = Journal("sqlite:///tvbridge.db", gateway="test")
    journal.upgrade()
    old = "https://oklahoma-solo-younger-truck.trycloudflare.com"
    journal.set_tunnel_state({"kind": "cloudflared", "public_url": old, "status": "stopped"})
    journal.close()
    env = {
        "TVBRIDGE_SERVER__PORT": str(free_port()),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        "TVBRIDGE_TUNNEL__CHECK": "false",
        "TVBRIDGE_NOTIFY__URLS": json.dumps([notify_receiver.url]),
    }
    tunnel = Running(["tunnel"], workdir, {**env, **with_fakes()})
    try:
        public = tunnel.wait_for("Public URL: ").split()[2]
        deadline = time.monotonic() + 10
        while not notify_receiver.received() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        code = tunnel.interrupt()
    assert code == 130, "\n".join(tunnel.lines)
    [message] = notify_receiver.received()
    assert message.title == f"Tunnel address changed to {public}: update every TradingView alert"
    assert old in message.body
