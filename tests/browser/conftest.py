"""A real ``tvbridge serve`` on the simulator, driven by Debian's Chromium through Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (or the one named by
``TVBRIDGE_CHROMIUM``), headless, without the sandbox (CI runs as root) and with background
networking off (the machine has no internet; Chromium's own calls out would only fail). Each page
is saved as a screenshot under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, free_port, start_serve, tvbridge

PASSWORD = "browser test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("TVBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# How long a live update may take to show (the issue asks for 1 s; the margin absorbs a slow CI).
LIVE_MS = 3000


@dataclass
class Served:
    """The running ``tvbridge serve``: its URL, working directory and environment."""

    url: str
    workdir: Path
    env: dict[str, str]

    def tvbridge(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``tvbridge`` command in the bridge's directory, as the trader would."""
        return tvbridge(*args, cwd=self.workdir, env=self.env, stdin=stdin)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bridge")
    shutil.copytree(SHIPPED_TEMPLATES, workdir / "templates")
    shutil.copytree(SHIPPED_ALERTS, workdir / "alerts")
    port = free_port()
    env = {
        "TVBRIDGE_SERVER__PORT": str(port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        # A still market: a fill is at the price the alert saw, however slow the machine.
        "TVBRIDGE_SIM__WALK_INTERVAL_S": "0",
    }
    served = Served(f"http://127.0.0.1:{port}", workdir, env)
    done = served.tvbridge("set-password", "--stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    log = (workdir / "serve.log").open("w")
    try:
        process = start_serve(workdir, env, log)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{(workdir / 'serve.log').read_text()}") from None
    yield served
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")  # not session: other modules run asyncio loops of their own
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) or set "
            "TVBRIDGE_CHROMIUM to a Chromium binary; .ci/run installs it"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    # A laptop screen; clipboard allowed so the copy buttons can be checked.
    context = browser.new_context(base_url=served.url, viewport={"width": 1366, "height": 768})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A logged-in page on the journal."""
    page = context.new_page()
    log_in(page)
    return page


def log_in(page: Page, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#mode-badge")).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"/login"))


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
