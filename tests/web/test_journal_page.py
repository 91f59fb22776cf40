"""The journal page: alerts newest first with orders and fills, refusals with their reasons,
filters, the live feed, and the CSV export; against a whole bridge on the simulator, logged in."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from app.web.feed import alert_changes
from tests.helpers import SHIPPED_ALERTS, eventually
from tests.web.conftest import Web

BRACKET = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_text()
MARKET = (SHIPPED_ALERTS / "mnq-market.example.json").read_text()


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


async def filled(web: Web, alert_id: int) -> None:
    """Wait until the alert's entry fill is journaled (the User Hub brings it)."""

    async def has_fill() -> bool:
        return bool(web.env.journal.alert_fills(alert_id))

    await eventually(has_fill, timeout_s=5)


def alert_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<details class="alert[^"]*" id="alert-(\d+)"', html)]


async def test_alerts_newest_first_with_orders_fills_latency_and_slippage(page: Web) -> None:
    first = (await page.env.send("mnq-bracket", BRACKET)).json()
    second = (await page.env.send("mnq-market", MARKET)).json()
    await filled(page, first["alert_id"])

    html = (await page.client.get("/")).text

    assert alert_ids(html) == [second["alert_id"], first["alert_id"]]
    bracket = html.split(f'id="alert-{first["alert_id"]}"')[1]
    for leg in ("entry", "stop_loss", "take_profit"):
        assert f"<td>{leg}</td>" in bracket
    [order] = [o for o in page.env.orders(first["alert_id"]) if o.leg == "entry"]
    assert str(order.broker_order_id) in bracket and order.client_order_id in bracket
    [fill] = page.env.journal.alert_fills(first["alert_id"])
    assert str(fill.trade_id) in bracket
    assert "Latency</strong>" in bracket and "Slippage</strong>" in bracket
    # Prices on the tick grid (MNQ: 0.25 → two decimals), quantities right-aligned.
    assert f'<td class="num">{fill.price:.2f}</td>' in bracket
    assert '<td class="num">1</td>' in bracket
    # Times local with UTC on hover.
    assert re.search(r'<time datetime="[0-9T:.-]+Z" title="[0-9 :.-]+ UTC">', bracket)


async def test_refused_alerts_are_listed_with_their_reason(page: Web) -> None:
    await page.env.send("mnq-market", MARKET, signed=False)  # no secret: 401
    await page.env.send("no-such-strategy", MARKET, signed=False)  # 401, journaled unknown_strategy
    await page.env.send("mnq-market", '{"ticker": “MNQ1!”}')  # typographic quotes: 422

    html = (await page.client.get("/")).text

    assert 'status-unauthorized">unauthorized' in html
    assert 'status-unknown_strategy">unknown_strategy' in html and "no-such-strategy" in html
    assert 'status-invalid">invalid' in html and "typographic quote" in html


async def test_filters_by_strategy_status_account_and_date(page: Web) -> None:
    market = (await page.env.send("mnq-market", MARKET)).json()["alert_id"]
    rejected = (await page.env.send("mnq-bracket", BRACKET.replace('"1"', '"0"'))).json()["alert_id"]
    today = date.today()

    by_strategy = alert_ids((await page.client.get("/?strategy=mnq-market")).text)
    by_status = alert_ids((await page.client.get("/?status=invalid")).text)
    [account] = {o.account_id for o in page.env.orders(market)}
    by_account = alert_ids((await page.client.get(f"/?account={account}")).text)
    today_only = alert_ids((await page.client.get(f"/?since={today}&until={today}")).text)
    tomorrow = alert_ids((await page.client.get(f"/?since={today + timedelta(days=1)}")).text)

    assert by_strategy == [market]
    assert by_status == [rejected]
    assert market in by_account and rejected not in by_account
    assert set(today_only) == {market, rejected}
    assert tomorrow == []


async def test_a_bad_filter_is_a_400_naming_the_value(page: Web) -> None:
    response = await page.client.get("/?status=sent&since=yesterday")

    assert response.status_code == 400
    assert "status &#39;sent&#39; is not an alert status" in response.text


async def test_rows_of_the_live_feed_keep_the_page_filters(page: Web) -> None:
    market = (await page.env.send("mnq-market", MARKET)).json()["alert_id"]
    refused = (await page.env.send("mnq-market", MARKET, signed=False)).json()["alert_id"]

    rows = await page.client.get(f"/journal/rows?ids={market},{refused}&status=unauthorized")

    assert alert_ids(rows.text) == [refused]


async def test_the_feed_names_a_new_alert_and_its_fill_within_a_second(page: Web) -> None:
    runtime = page.env.runtime

    async def changes_since(cursor: object) -> tuple[object, list[int]]:
        return await runtime.bridge.runner.run(runtime.journal.changes_since, cursor)

    assert runtime.feed is not None
    stream = alert_changes(runtime.feed, changes_since, min_interval_s=0.05)
    assert (await anext(stream)).startswith("retry:")
    sent = asyncio.create_task(page.env.send("mnq-market", MARKET))

    message = await asyncio.wait_for(anext(stream), timeout=1.0)

    alert_id = (await sent).json()["alert_id"]
    assert message.startswith("event: alerts\ndata: ")
    assert alert_id in json.loads(message.split("data: ")[1])
    await filled(page, alert_id)
    # The fill arrives after the reply: the feed names the alert again.
    names = []
    while alert_id not in names:
        names = json.loads((await asyncio.wait_for(anext(stream), timeout=1.0)).split("data: ")[1])
    await stream.aclose()  # type: ignore[attr-defined]  # an async generator, typed as its iterator


async def test_csv_exports_what_the_filter_shows_one_line_per_order(page: Web) -> None:
    bracket = (await page.env.send("mnq-bracket", BRACKET)).json()["alert_id"]
    await page.env.send("mnq-market", MARKET)
    # A strategy name comes from the URL: a spreadsheet must not run it as a formula.
    await page.env.send("=HYPERLINK(1)", MARKET, signed=False)

    response = await page.client.get("/journal.csv?strategy=mnq-bracket")
    every = list(csv.DictReader(io.StringIO((await page.client.get("/journal.csv")).text)))

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["leg"] for r in rows] == ["entry", "stop_loss", "take_profit"]
    assert {r["alert_id"] for r in rows} == {str(bracket)}
    assert rows[0]["client_order_id"] and rows[0]["broker_order_id"]
    assert rows[0]["received_at_utc"].endswith("+00:00")
    assert any(r["strategy"] == "'=HYPERLINK(1)" for r in every)
