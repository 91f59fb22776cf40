"""A whole bridge on the in-process simulator, in a temp directory, driven through its ASGI app."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings, load_settings
from app.engine.ports import Notifier
from app.gateway.hub import UserHub
from app.ingest.auth import load_secrets, webhook_path
from app.sim.server import SimServer
from app.strategies import refresh_alert_time
from app.web.app import Runtime, create_app, start_runtime, stop_runtime
from tests.helpers import SHIPPED_TEMPLATES, eventually, journal_url


@dataclass
class Env:
    """The running bridge: post alerts with ``send``; look at ``journal`` and ``sim``."""

    runtime: Runtime
    client: httpx.AsyncClient
    settings: Settings
    root: Path

    @property
    def sim_server(self) -> SimServer:
        """The in-process simulator these tests run against (gateway = "sim")."""
        assert self.runtime.sim is not None, "the e2e tests run on the built-in simulator"
        return self.runtime.sim

    @property
    def sim(self) -> Any:
        return self.sim_server.state

    @property
    def journal(self) -> Any:
        return self.runtime.journal

    @property
    def hub(self) -> UserHub:
        """The bridge's User Hub client (always started on the simulator)."""
        assert self.runtime.hub is not None
        return self.runtime.hub

    def url(self, strategy: str) -> str:
        secret = load_secrets(self.settings.server.secrets_file)[strategy]
        return webhook_path(strategy, secret)

    async def send(
        self, strategy: str, body: bytes | str, *, signed: bool = True, fresh_time: bool = True
    ) -> httpx.Response:
        """POST ``body`` as TradingView would fire it now: the template's time field (its
        ``{{timenow}}``) is set to this moment unless ``fresh_time`` is False."""
        raw = body.encode() if isinstance(body, str) else body
        if fresh_time:
            raw = refresh_alert_time(raw, self.runtime.bridge.templates.get(strategy))
        path = self.url(strategy) if signed else f"/webhook/{strategy}"
        return await self.client.post(path, content=raw, headers={"Content-Type": "text/plain"})

    def place_requests(self) -> list[dict[str, Any]]:
        """The bodies of every Order/place the simulator received."""
        return [r.json_body for r in self.sim.requests_to("Order/place")]

    def orders(self, alert_id: int) -> list[Any]:
        return self.journal.alert_orders(alert_id)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """A simulator that outlives the bridge: a test restarts its bridge on the same market
    (``on_sim``). A module whose market must keep still overrides it (test_live_stops.py)."""
    server = SimServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_settings(root: Path, *, risk: dict[str, Any] | None = None, **gateway: Any) -> Settings:
    """Settings for a bridge in ``root`` on the simulator; ``risk``: the ``[risk]`` table."""
    templates = root / "templates"
    if not templates.exists():
        shutil.copytree(SHIPPED_TEMPLATES, templates)
    return load_settings(
        None,
        journal={"url": journal_url(root)},
        server={
            "secrets_file": root / "webhook_secrets.toml",
            "templates_dir": templates,
            "auth_file": root / "tvbridge_auth.toml",
        },
        engine={"reconcile_delay_s": 0.05, "reconcile_attempts": 3},
        # No Market Hub unless a test asks (tests/e2e/test_market_hub_serve.py, test_live_risk.py):
        # a second socket and a quote stream per test would load the suite for nothing.
        gateway={"kind": "sim", "timeout_s": 0.5, "market_hub": False, **gateway},
        risk=risk or {},
        # Its own state file per test (the default beside the journal is not in tmp with PostgreSQL).
        sim={"state_file": str(root / "sim-state.db")},
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as e:
        yield e


# pyproject's pytest timeout (600 s) less a minute; lower both to hunt a hang in a loop:
# `HUNG_AFTER_S=60 pytest -o timeout=90 ...`
HUNG_AFTER_S = float(os.environ.get("HUNG_AFTER_S", "540"))


def print_task_stacks() -> None:
    """Print every asyncio task of the running loop with its stack (where it awaits) to stderr."""
    print(f"--- asyncio tasks still running after {HUNG_AFTER_S:g} s ---", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)


class running:
    """``async with running(settings, root) as env``: start the runtime, stop it after."""

    def __init__(self, settings: Settings, root: Path, *, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.root = root
        self.notifier = notifier

    async def __aenter__(self) -> Env:
        # A hang shows where it waits: every asyncio task's stack, before pytest-timeout's fail.
        self._hung = asyncio.get_running_loop().call_later(HUNG_AFTER_S, print_task_stacks)
        self.runtime = await start_runtime(self.settings, notifier=self.notifier)
        await self._settled()
        app = create_app(self.settings)
        app.state.runtime = self.runtime
        app.state.bridge = self.runtime.bridge
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://localhost")
        return Env(self.runtime, self.client, self.settings, self.root)

    async def _settled(self) -> None:
        """Wait until the User Hub is connected and its first catch-up (one Position/searchOpen
        per followed account) is done, so tests start from a quiet bridge."""
        followed = len(await self.runtime.bridge.followed_account_ids())
        assert self.runtime.sim is not None, "the e2e tests run on the built-in simulator"
        sim = self.runtime.sim.state

        async def quiet() -> bool:
            return (
                self.runtime.hub is not None
                and self.runtime.hub.state.connected
                and len(sim.requests_to("Position/searchOpen")) >= followed
            )

        await eventually(quiet, timeout_s=10)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await stop_runtime(self.runtime)
        self._hung.cancel()


async def stop_risk_checks(env: Env) -> None:
    """Stop the risk monitor's own checks and those on quotes and fills (app/engine/live_risk.py):
    the test calls ``risk_monitor.check()`` itself, so the moment of a lockout is known."""
    await env.runtime.bridge.risk_monitor.stop()
    await env.runtime.bridge.live_risk.stop()


async def watch_often(env: Env, interval_s: float = 0.2) -> None:
    """Restart the unreachable alarm's watchdog checking every ``interval_s``: a check already
    asleep for the default interval (5 s) would look only after a short outage ended."""
    watchdog = env.runtime.watchdog
    assert watchdog is not None
    await watchdog.stop()
    watchdog.interval_s = interval_s
    watchdog.start()


async def hub_dropped(env: Env, refuse_s: float = 1.0) -> None:
    """Drop the simulator's User Hub connections, refusing reconnects for ``refuse_s`` seconds,
    and return once the bridge's hub client sees itself disconnected (it is deaf from then on)."""
    hub = env.hub
    env.sim.hub.refuse_for(refuse_s)
    env.sim.hub.drop_all()

    async def dropped() -> bool:
        return not hub.state.connected

    await eventually(dropped, timeout_s=5)
