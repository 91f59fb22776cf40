"""The trader's page in a real browser (Debian's Chromium), against a real ``tvbridge serve`` on
the simulator: log in, watch an alert and its fills arrive live, break and fix a template and try
it, copy a webhook URL, pause, flatten. Every page is saved as a screenshot (test-artifacts/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LIVE_MS, PASSWORD, Served, log_in, screenshot
from tests.helpers import SHIPPED_ALERTS

pytestmark = pytest.mark.xdist_group("browser-pages")  # its module-scoped fixture starts once


def send(served: Served, strategy: str, example: str, **changes: str) -> dict[str, Any]:
    """``tvbridge send`` an alert file, as the trader does from a terminal; return the reply.
    ``changes`` alter the example's fields, so that each test's alert is a new one (not a
    duplicate of another test's within the dedupe window)."""
    body = json.loads((SHIPPED_ALERTS / example).read_text())
    body.update(changes)
    n = len(list(served.workdir.glob("alert-*")))
    if "id" in body:  # the template's dedupe key
        body["id"] = f"{body['id']}-{n}"
    path: Path = served.workdir / f"alert-{strategy}-{n}.json"
    path.write_text(json.dumps(body))
    done = served.tvbridge("send", str(path), "--strategy", strategy)
    assert done.stdout.startswith("HTTP "), done.stderr
    return json.loads(done.stdout.split("\n", 1)[1])


def wait_live(page: Page) -> None:
    expect(page.locator("#live-text")).to_have_text("live")


def test_log_in(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))  # the journal needs a login
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("wrong password", ignore_case=True)
    screenshot(page, "login")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#mode-badge")).to_have_text("SIM")
    expect(page.get_by_role("navigation", name="Pages")).to_be_visible()


def test_an_alert_and_its_fills_appear_live(page: Page, served: Served) -> None:
    wait_live(page)
    page.evaluate("window.notReloaded = true")

    reply = send(served, "mnq-bracket", "mnq-bracket.example.json", price="21501.00")

    row = page.locator(f"#alert-{reply['alert_id']}")
    expect(row).to_be_visible(timeout=LIVE_MS)
    expect(row.locator(".status").first).to_have_text("executed", timeout=LIVE_MS)
    row.locator("summary").first.click()  # open it, then the fill comes in without a reload
    expect(row.locator("table.fills tbody tr")).to_have_count(1, timeout=LIVE_MS)
    expect(row.locator("table.orders tbody tr")).to_have_count(3)
    expect(row.locator("table.orders")).to_contain_text("FILLED")
    assert row.evaluate("el => el.open")  # still open after the live update
    assert page.evaluate("window.notReloaded") is True
    time_cell = row.locator("summary time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", time_cell.get_attribute("title") or "")
    screenshot(page, "journal")


def test_break_a_template_see_the_line_then_fix_it_and_try_it(page: Page, served: Served) -> None:
    page.get_by_role("link", name="Templates").click()
    expect(page.locator("#strategies")).to_contain_text("mnq-market")
    screenshot(page, "templates")
    page.locator("#strategy-mnq-market").get_by_role("link", name="Edit").click()
    editor = page.locator("#text")
    original = editor.input_value()

    editor.fill(original.replace('type = "market"', 'type = "markt"'))
    page.locator("#save-button").click()

    problems = page.locator(".errors")
    expect(problems).to_contain_text(re.compile(r"mnq-market\.toml:\d+: .*markt"))
    screenshot(page, "template-error")
    assert (served.workdir / "templates" / "mnq-market.toml").read_text() == original

    page.locator("#text").fill(original.replace("quantity = ", "# quantity from the alert\nquantity = "))
    page.locator("#save-button").click()
    expect(page.locator(".banner-ok, .banner-info").first).to_contain_text("saved", ignore_case=True)

    page.locator("#body").fill((SHIPPED_ALERTS / "mnq-market.example.json").read_text())
    page.locator("#try-button").click()
    result = page.locator("#try-result")
    expect(result).to_contain_text("Order/place")
    expect(result).to_contain_text('"isAutomated": true')
    expect(result).to_contain_text('"size": 1')
    screenshot(page, "template-try")


def test_copy_a_webhook_url(page: Page, served: Served) -> None:
    page.get_by_role("link", name="Webhooks").click()
    expected = served.tvbridge("url", "mnq-market").stdout.strip()

    page.locator("#copy-url-mnq-market").click()

    expect(page.locator("#copy-url-mnq-market")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert page.locator("#url-mnq-market").input_value() == expected
    screenshot(page, "webhooks")


def test_pause_then_an_alert_is_journaled_as_paused(page: Page, served: Served) -> None:
    page.locator("#pause-button").click()
    expect(page.locator("#paused-note")).to_be_visible()
    try:
        wait_live(page)
        reply = send(served, "mnq-market", "mnq-market.example.json", price="21502.00")

        assert reply["status"] == "paused"
        row = page.locator(f"#alert-{reply['alert_id']}")
        expect(row.locator(".status").first).to_have_text("paused", timeout=LIVE_MS)
        expect(row).to_contain_text("paused since")
        screenshot(page, "journal-paused")
    finally:
        page.locator("#resume-button").click()
    expect(page.locator("#pause-button")).to_be_visible()


def test_flatten_all_after_a_confirmation_listing_what_closes(page: Page, served: Served) -> None:
    reply = send(served, "mnq-bracket", "mnq-bracket.example.json", price="21503.00")
    assert reply["status"] == "executed"
    # The status page is read once, as the User Hub last reported: wait until the hub's
    # position reached the journal (the strip is live) before opening it.
    expect(page.locator("#strip")).to_contain_text("long 1", timeout=10_000)
    page.get_by_role("link", name="Status").click()
    expect(page.locator("table.positions").first).to_be_visible()
    screenshot(page, "status")

    page.locator("#flatten-link").click()

    expect(page.locator("#flatten-form")).to_be_visible()
    expect(page.locator("table.positions").first).to_contain_text("long")
    expect(page.locator("table.orders").first).to_contain_text("stop")
    screenshot(page, "flatten-confirm")
    page.locator("#flatten-button").click()

    expect(page.locator(".banner-ok")).to_be_visible()
    page.get_by_role("link", name="Status").click()
    expect(page.locator("table.positions")).to_have_count(0)
    expect(page.locator("table.working")).to_have_count(0)
    page.locator("#resume-button").click()  # flatten paused the bridge first
    page.get_by_role("link", name="Journal").click()
    expect(page.locator("details.alert").first).to_contain_text("(kill switch)")


def test_the_keyboard_reaches_the_content_and_every_page(page: Page) -> None:
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    for _ in range(4):  # from the skip link through the nav: Journal, Trades, Performance, Templates
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Templates")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/templates$"))


def test_log_in_again_is_needed_after_log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.goto("/status")
    expect(page).to_have_url(re.compile(r"/login"))
    log_in(page)
    page.goto("/status")
    expect(page.locator("h1")).to_have_text("Status")
