"""The tunnel client dies with the bridge, even a bridge killed outright (``kill -9``, End task):
else it would go on forwarding TradingView's alerts to a dead port."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import SHIPPED_TEMPLATES, eventually, free_port
from tests.tunnel.test_cli import Running, refused, with_fakes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="Linux's parent-death signal; Windows uses a job object (not testable here); macOS has neither",
)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_killed_bridge_takes_its_tunnel_client_with_it(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    env = {
        **with_fakes(),
        "TVBRIDGE_SERVER__PORT": str(free_port()),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        "TVBRIDGE_TUNNEL__CHECK": "false",
    }
    serve = Running(["serve", "--tunnel"], tmp_path, env)
    try:
        public = serve.wait_for("Public URL: ").split()[2]
        [client] = children(serve.process.pid)
        assert "cloudflared" in Path(f"/proc/{client}/cmdline").read_text()
        assert not refused(public)
    finally:
        serve.process.send_signal(signal.SIGKILL)  # no code of the bridge runs: no stop()
        serve.process.wait(timeout=20)
        serve._pumping.join(timeout=5)
        assert serve.process.stdout is not None
        serve.process.stdout.close()

    async def client_gone() -> bool:
        return not alive(client)

    try:
        await eventually(client_gone, timeout_s=10)
        assert refused(public)
    finally:
        if alive(client):  # the test failed: leave no client behind
            os.kill(client, signal.SIGKILL)
