"""The fake tunnel clients (tests/tunnel/fakes), and a bridge whose webhook listener they reach."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.config import TunnelSettings
from app.ingest.auth import load_secrets, webhook_path
from tests.e2e.conftest import Env, make_settings, running
from tests.helpers import eventually, free_port
from tests.web.conftest import web  # noqa: F401 — the pages' fixture, for the page tests here

FAKES = Path(__file__).parent / "fakes"
KNOBS = (
    "FAKE_TUNNEL_CLIENT_IP",
    "FAKE_TUNNEL_PORT",
    "FAKE_TUNNEL_EXIT_AFTER_S",
    "FAKE_TUNNEL_NO_URL",
    "FAKE_TUNNEL_FAIL",
    "FAKE_TUNNEL_IGNORE_TERM",
    "FAKE_TUNNEL_ARGV_FILE",
    "FAKE_TUNNEL_TARGET",
    "FAKE_TUNNEL_ECHO_TOKEN",
    "TUNNEL_TOKEN",
)


@pytest.fixture(autouse=True)
def fake_knobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Every test starts with the fakes' knobs unset (the fakes inherit this environment)."""
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def tunnel_settings(kind: str = "cloudflared", **overrides: Any) -> TunnelSettings:
    """Settings for a fake client that restarts fast."""
    values: dict[str, Any] = {
        "kind": kind,
        "command": str(FAKES / ("ngrok" if kind == "ngrok" else "cloudflared")),
        "restart_delay_s": 0.05,
        "restart_max_delay_s": 0.2,
        "start_timeout_s": 10,
        "check": False,
    }
    return TunnelSettings(**{**values, **overrides})


async def until(condition: Callable[[], object], *, timeout_s: float = 10) -> None:
    """Wait until ``condition()`` is truthy (polled; fails after ``timeout_s``)."""

    async def check() -> object:
        return condition()

    await eventually(check, timeout_s=timeout_s)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # a zombie of ours is gone, not alive
        if done:
            return False
    return True


@dataclass
class Served:
    """A bridge on the simulator with its webhook listener served on ``webhook_url``."""

    env: Env
    webhook_url: str

    def signed_url(self, base: str, strategy: str = "mnq-market") -> str:
        secret = load_secrets(self.env.settings.server.secrets_file)[strategy]
        return base.rstrip("/") + webhook_path(strategy, secret)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_bridge(tmp_path) as bridge:
        yield bridge


@contextlib.asynccontextmanager
async def serve_bridge(root: Path, **server: Any) -> AsyncIterator[Served]:
    """The whole bridge in this process (``server`` settings overridden), its webhook listener
    (the app a tunnel points at) on a free 127.0.0.1 port."""
    from app.web.webhook_app import create_webhook_app

    port = free_port()
    settings = make_settings(root)
    for key, value in {**server, "webhook_port": port}.items():
        setattr(settings.server, key, value)
    async with running(settings, root) as env:
        config = uvicorn.Config(
            create_webhook_app(env.runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        listener = uvicorn.Server(config)
        task = asyncio.create_task(listener.serve())

        async def started() -> bool:
            return listener.started

        await eventually(started, timeout_s=5)
        try:
            yield Served(env, f"http://127.0.0.1:{port}")
        finally:
            listener.should_exit = True
            await task
