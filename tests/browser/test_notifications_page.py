"""The Status page's Notifications card in Chromium, at a laptop's width and a phone's (390 px):
the targets in Apprise's privacy form, the counts, the recent notifications with the failures'
reasons, everything escaped; screenshots in test-artifacts/screenshots/notifications-*.png."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.journal import Journal
from tests.browser.conftest import ARTIFACTS, PASSWORD, Served, log_in, screenshot
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, free_port, start_serve
from tests.notify_receiver import Receiver

PASSWORD_IN_URL = "S3cretPassw0rd"
SCRIPT = "<script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def notifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    receiver = Receiver().start()
    workdir = tmp_path_factory.mktemp("notifying")
    shutil.copytree(SHIPPED_TEMPLATES, workdir / "templates")
    shutil.copytree(SHIPPED_ALERTS, workdir / "alerts")
    port = free_port()
    urls = (
        f'["json://trader:{PASSWORD_IN_URL}@127.0.0.1:{receiver.port}/", "json://127.0.0.1:{free_port()}/"]'
    )
    env = {
        "TVBRIDGE_SERVER__PORT": str(port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
        "TVBRIDGE_NOTIFY__URLS": urls,
    }
    served = Served(f"http://127.0.0.1:{port}", workdir, env)
    assert served.tvbridge("set-password", "--stdin", stdin=PASSWORD + "\n").returncode == 0
    log = (workdir / "serve.log").open("w")
    process = start_serve(workdir, env, log)
    try:
        _seed(workdir / "tvbridge.db")
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        log.close()
        receiver.stop()


def _seed(path: Path) -> None:
    """Notification rows as the bridge journals them (the engine's notices come from other code)."""
    journal = Journal(f"sqlite:///{path}")
    now = datetime.now(UTC)
    rows = [
        (
            "position.unprotected",
            "critical",
            "UNPROTECTED: SIM-AUTO-OCO long 2 MNQZ6 without a stop loss",
            "json://trader:****@127.0.0.1:1/",
            "sent",
            "",
            1,
        ),
        (
            "hub.lost",
            "critical",
            "User Hub lost for 60 s",
            "json://127.0.0.1:2/",
            "failed",
            "A Connection error occurred sending JSON notification to 127.0.0.1.",
            4,
        ),
        (
            "order.rejected",
            "warning",
            f"Order rejected {SCRIPT}",
            "",
            "duplicate",
            "sent less than 600 s ago",
            0,
        ),
        (
            "alert.refused",
            "warning",
            "Alert refused on SIM-AUTO-OCO: daily loss limit",
            "",
            "quiet",
            "not critical, during quiet hours 22:00-07:00",
            0,
        ),
    ]
    for n, (kind, level, title, target, status, detail, attempts) in enumerate(reversed(rows)):
        journal.add_notification(
            at=now - timedelta(minutes=len(rows) - n),
            kind=kind,
            level=level,
            title=title,
            target=target,
            status=status,
            detail=detail,
            attempts=attempts,
        )
    journal.close()


@pytest.fixture
def status_page(browser: Browser, notifying: Served) -> Iterator[Page]:
    context = browser.new_context(base_url=notifying.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page)
    page.goto("/status")
    yield page
    context.close()


def test_the_notifications_card_at_laptop_and_phone_width(status_page: Page) -> None:
    page = status_page
    card = page.locator("#notifications")
    expect(card).to_be_visible()
    targets = page.locator("#notify-targets")
    expect(targets).to_contain_text("json://trader:****@127.0.0.1:")
    expect(page.locator("#notify-counts")).to_contain_text("0 failed")
    rows = page.locator("#notify-recent tbody tr")
    expect(rows).to_have_count(4)
    failed = page.locator("#notify-recent tr.notify-failed")
    expect(failed).to_contain_text("after 4 tries")
    expect(failed).to_contain_text("A Connection error occurred")
    expect(page.locator("#notify-recent")).to_contain_text(SCRIPT)  # shown as text, not run
    assert page.title() != "pwned"
    assert PASSWORD_IN_URL not in page.content()
    card.scroll_into_view_if_needed()
    desktop = screenshot(page, "notifications-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(card).to_be_visible()
    # The page does not scroll sideways on a phone: each row is a block, long URLs wrap.
    wide = page.evaluate(
        "[...document.querySelectorAll('#notifications *')]"
        ".filter(e => e.getBoundingClientRect().right > 390).map(e => e.outerHTML.slice(0, 80))"
    )
    assert wide == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone = screenshot(page, "notifications-phone")
    card.screenshot(path=str(ARTIFACTS / "notifications-card-phone.png"))
    assert desktop.stat().st_size > 0 and phone.stat().st_size > 0
