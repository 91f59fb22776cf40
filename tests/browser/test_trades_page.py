"""Trades in Chromium, at a laptop's width (1366×768) and a phone's (390×844): after an entry of 2
and an exit alert on the simulator, the journal rows show side, size, average fill and the exit's
P&L with a link to its trade, and the trades list shows the trade with its net; the document is
never wider than the viewport. Screenshots: test-artifacts/screenshots/trades-*.png."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LIVE_MS, Served, screenshot
from tests.helpers import SHIPPED_ALERTS

pytestmark = pytest.mark.xdist_group("browser-trades")  # its module-scoped bridge starts once


def send(served: Served, strategy: str, example: str, **changes: str) -> dict[str, Any]:
    body = json.loads((SHIPPED_ALERTS / example).read_text())
    body.update(changes)
    path = served.workdir / f"trades-{strategy}-{len(list(served.workdir.glob('trades-*')))}.json"
    path.write_text(json.dumps(body))
    done = served.tvbridge("send", str(path), "--strategy", strategy)
    assert done.stdout.startswith("HTTP "), done.stderr
    reply: dict[str, Any] = json.loads(done.stdout.split("\n", 1)[1])
    assert reply["status"] == "executed", reply
    return reply


def no_sideways_scroll(page: Page, width: int) -> None:
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll'))"
        f".filter(e => e.getBoundingClientRect().right > {width} + 1).map(e => e.outerHTML.slice(0, 80))"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wide


def test_journal_rows_and_trades_list_at_laptop_and_phone_sizes(page: Page, served: Served) -> None:
    expect(page.locator("#live-text")).to_have_text("live")
    entry = send(served, "mnq-market", "mnq-market.example.json", quantity="2")
    entry_trades = page.locator(f"#alert-{entry['alert_id']} table.alert-trades tbody tr")
    expect(entry_trades).to_contain_text("open", timeout=LIVE_MS)
    exit_ = send(served, "mnq-exit", "mnq-exit.example.json")
    # The exit's fill closes the trade: the entry's row shows it closed, without a reload.
    expect(entry_trades).to_contain_text("-1.48", timeout=LIVE_MS)

    page.reload()
    row = page.locator(f"#alert-{exit_['alert_id']}")
    expect(row.locator("[data-money]")).to_contain_text("sell", timeout=LIVE_MS)
    expect(row.locator("[data-net]")).to_have_text("-0.74", timeout=LIVE_MS)  # flat price: fees only
    expect(page.locator(f"#alert-{entry['alert_id']} [data-money]")).to_contain_text("buy 2 @")
    row.locator("summary").first.click()
    link = row.locator("table.alert-trades a").first
    expect(link).to_be_visible()
    screenshot(page, "trades-journal-1366")
    no_sideways_scroll(page, 1366)

    link.click()
    expect(page).to_have_url(re.compile(r"/trades#trade-"))
    trade = page.locator("#trades tbody tr").first
    expect(trade).to_contain_text("long")
    expect(trade.locator("[data-net]")).to_have_text("-1.48")  # 4 fills' worth of fees: 2 in, 2 out
    expect(page.locator("#trade-totals-net")).to_have_text("-1.48")
    screenshot(page, "trades-list-1366")
    no_sideways_scroll(page, 1366)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#trades")).to_be_visible()
    screenshot(page, "trades-list-390")
    no_sideways_scroll(page, 390)
    page.goto("/")
    page.locator(f"#alert-{exit_['alert_id']} summary").first.click()
    screenshot(page, "trades-journal-390")
    no_sideways_scroll(page, 390)
