"""Every page at a laptop's size (1366×768) and a phone's (390×844), in Chromium (issue 16, items
1 and 4): the document never scrolls sideways, the strip is there with its numbers (not on the
login page), and during a lockout the phone's first screen still shows more than one alert.
Screenshots: test-artifacts/screenshots/<page>-desktop.png and <page>-phone.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from app.journal import Journal
from tests.browser.conftest import LIVE_MS, Served, log_in, screenshot
from tests.browser.test_pages import send

pytestmark = pytest.mark.xdist_group("browser-fits")  # its module-scoped fixture starts once

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# Every page: (screenshot name, path, what to click first or None). Add a page here and it is
# checked at both sizes (e.g. ("trades", "/trades", None), ("performance", "/performance", None)).
PAGES: tuple[tuple[str, str, str | None], ...] = (
    ("journal", "/", None),
    ("journal-alert", "/", "details.alert > summary"),
    ("trades", "/trades?range=all", None),
    ("performance", "/performance?range=all", None),
    ("templates", "/templates", None),
    ("template-edit", "/templates/mnq-bracket", None),
    ("webhooks", "/webhooks", None),
    ("status", "/status", None),
    ("flatten-confirm", "/control/flatten", None),
)
AUTO_OCO = 70000001  # SIM-AUTO-OCO: the shipped templates' account
_MONEY = re.compile(r"^-?[\d,]+\.\d\d$")


@pytest.fixture(scope="module")
def traded(served: Served) -> Served:
    """A few alerts with fills: one position open (a bracket), so every page has something."""
    send(served, "mnq-market", "mnq-market.example.json", price="21500.00")
    send(served, "mnq-bracket", "mnq-bracket.example.json", price="21501.00")
    send(served, "mnq-market", "mnq-market.example.json", action="sell", price="21499.00")
    return served


def fits(page: Page) -> None:
    """The document is no wider than the window: nothing scrolls sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    if width > inner:
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
            "window.innerWidth + 1).slice(-5).map(e => e.outerHTML.slice(0, 120))"
        )
        raise AssertionError(f"{page.url}: {width} px wide in a {inner} px window: {wide}")


def strip_numbers(page: Page) -> None:
    """The strip is shown with its day P&L as a number and its health items."""
    strip = page.locator("#strip")
    expect(strip).to_be_visible()
    expect(strip.locator("summary")).to_be_visible()
    day = strip.locator("#strip-day-pnl")
    expect(day).to_be_visible()
    assert _MONEY.match(day.inner_text().strip()), day.inner_text()
    expect(strip.locator("#strip-health")).to_contain_text("Gateway")
    expect(strip.locator("#strip-last")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_fits_the_window_and_shows_the_strip(browser: Browser, traded: Served, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    context = browser.new_context(base_url=traded.url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/login")
        screenshot(page, f"login-{size}")
        fits(page)
        expect(page.locator("#strip")).to_have_count(0)  # behind the login
        log_in(page)
        for name, path, click in PAGES:
            page.goto(path)
            if click:
                page.locator(click).first.click()
            strip_numbers(page)
            screenshot(page, f"{name}-{size}")
            fits(page)
        if size == "phone":  # the details open on a tap, and still fit
            page.goto("/status")
            page.locator("#strip summary").click(position={"x": 4, "y": 4})
            expect(page.locator("#strip .strip-detail")).to_be_visible()
            screenshot(page, "strip-open-phone")
            page.locator("#strip").screenshot(path=str(screenshot(page, "strip-open-phone-strip")))
            fits(page)
            account = page.locator("section.card[id^=account-]").last  # positions, working orders
            account.scroll_into_view_if_needed()
            account.screenshot(path=str(screenshot(page, "status-positions-phone")))
    finally:
        context.close()


def test_during_a_lockout_the_phones_first_screen_shows_more_than_one_alert(
    browser: Browser, traded: Served
) -> None:
    journal = Journal(f"sqlite:///{traded.workdir / 'tvbridge.db'}")
    now = datetime.now(UTC)
    journal.lock_account(
        AUTO_OCO,
        "SIM-AUTO-OCO",
        reason="daily loss -500.00 USD reached the limit -500.00 USD on SIM-AUTO-OCO",
        until=now + timedelta(hours=3),
        by="risk gate",
        now=now,
    )
    context = browser.new_context(base_url=traded.url, viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/")
        expect(page.locator("#lockout-banner")).to_be_visible()
        expect(page.locator("#strip")).to_contain_text("Locked SIM-AUTO-OCO")
        screenshot(page, "journal-lockout-phone")
        page.screenshot(path=str(screenshot(page, "journal-lockout-phone-first-screen")), full_page=False)
        fits(page)
        tops = page.evaluate(
            "[...document.querySelectorAll('details.alert')].map(e => e.getBoundingClientRect().top)"
        )
        assert sum(1 for top in tops if top < PHONE["height"] - 30) >= 2, tops
    finally:
        context.close()
        journal.unlock_account(AUTO_OCO, by="cli")
        journal.close()


def test_the_strip_updates_live_when_an_alert_fills(browser: Browser, traded: Served) -> None:
    context = browser.new_context(base_url=traded.url, viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/templates")  # not the journal: every page follows the strip
        expect(page.locator("#strip")).to_be_visible()
        page.evaluate("window.notReloaded = true")

        reply = send(
            traded, "mnq-market", "mnq-market.example.json", action="buy", quantity="2", price="21505.00"
        )

        assert reply["status"] == "executed", reply
        last = page.locator("#strip-last")
        expect(last).to_contain_text(f"#{reply['alert_id']} mnq-market", timeout=LIVE_MS)
        expect(page.locator("#strip-positions")).to_contain_text(
            re.compile(r"MNQ[FGHJKMNQUVXZ]\d long"), timeout=LIVE_MS
        )
        assert page.evaluate("window.notReloaded") is True
        screenshot(page, "strip-live-desktop")
    finally:
        context.close()
