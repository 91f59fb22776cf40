"""A whole bridge on the simulator behind the web login, and a browser-like client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from app.web.access import set_password
from app.web.app import create_app
from app.web.login import LoginPages
from tests.e2e.conftest import Env, make_settings, running

PASSWORD = "correct horse battery"
# argon2's defaults take ~50 ms per check by design; the tests need speed, not strength.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
CLIENT_ADDRESS = "203.0.113.7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Web:
    """The running bridge (``env``), its web app, and a client with its own cookie jar."""

    env: Env
    app: Starlette
    client: httpx.AsyncClient

    @property
    def auth_file(self) -> Path:
        return self.env.settings.server.auth_file

    def browser(self) -> httpx.AsyncClient:
        """Another client (a second browser: its own cookies) on the same app."""
        transport = httpx.ASGITransport(app=self.app, client=(CLIENT_ADDRESS, 40001))
        return httpx.AsyncClient(transport=transport, base_url="http://localhost")

    async def csrf(self, client: httpx.AsyncClient | None = None, path: str = "/login") -> str:
        """The CSRF token a page shows (made for the client's session)."""
        page = await (client or self.client).get(path)
        found = _CSRF.search(page.text)
        assert found, page.text
        return found.group(1)

    async def login(
        self, password: str = PASSWORD, *, client: httpx.AsyncClient | None = None, next: str = ""
    ) -> httpx.Response:
        client = client or self.client
        token = await self.csrf(client)
        form = {"csrf_token": token, "password": password, **({"next": next} if next else {})}
        return await client.post("/login", data=form)

    def login_pages(self) -> LoginPages:
        """The app's login routes' object (its throttle, for a test clock)."""
        for route in self.app.routes:
            owner = getattr(getattr(route, "endpoint", None), "__self__", None)
            if isinstance(owner, LoginPages):
                return owner
        raise AssertionError("no LoginPages route")


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    settings = make_settings(tmp_path)
    settings.server.auth_file = tmp_path / "tvbridge_auth.toml"
    set_password(settings.server.auth_file, PASSWORD, hasher=FAST_HASHER)
    async with running(settings, tmp_path) as env:
        app = create_app(settings)
        app.state.runtime, app.state.bridge = env.runtime, env.runtime.bridge
        transport = httpx.ASGITransport(app=app, client=(CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield Web(env, app, client)
