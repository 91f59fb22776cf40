"""The strip on every page (issue 16, item 1): after real fills on the simulator on two followed
accounts, its day P&L (realised + open, per account and total, fees included) and its open
positions equal numbers computed here from the simulator's own fills; no gateway request to
show it; escaped; not on the login page."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.expiry import contract_words
from app.sim import AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID
from app.sim.models import Side
from tests.helpers import SHIPPED_TEMPLATES, eventually
from tests.web.conftest import Web

PAGES = ("/", "/templates", "/templates/mnq-market", "/webhooks", "/status", "/control/flatten")
POINT_VALUE = Decimal("2.00")  # MNQ: tick 0.25 point = 0.50 USD
CENT = Decimal("0.01")


@pytest.fixture
def second_account(tmp_path: Path) -> None:
    """The shipped templates plus one trading SIM-POSITION-BRACKETS: two followed accounts."""
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    text = (SHIPPED_TEMPLATES / "mnq-market.toml").read_text()
    other = text.replace('accounts = ["SIM-AUTO-OCO"]', 'accounts = ["SIM-POSITION-BRACKETS"]')
    assert other != text
    (tmp_path / "templates" / "mnq-market-b.toml").write_text(other)


@pytest.fixture
async def page(second_account: None, web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


async def _market(web: Web, strategy: str, action: str, quantity: int, price: str) -> None:
    """Move the simulator's MNQ to ``price``, send a market alert there, wait for its fill."""
    contract = await web.env.runtime.bridge.gateway.contract("MNQ1!")
    web.env.sim.set_price(contract.contract_id, Decimal(price))
    body = {"ticker": "MNQ1!", "action": action, "quantity": str(quantity), "price": price, "time": ""}
    reply = (await web.env.send(strategy, json.dumps(body))).json()
    assert reply["status"] == "executed", reply
    await eventually(lambda: _filled(web, reply["alert_id"]), timeout_s=5)


async def _filled(web: Web, alert_id: int) -> bool:
    return bool(web.env.journal.alert_fills(alert_id))


def _by_hand(trades: list[Any]) -> dict[int, dict[str, Any]]:
    """Per account, from the simulator's fills alone: realised P&L (FIFO lots, less every fill's
    fees), what is left open (signed size, lots), and open P&L at the last fill's price."""
    lots: dict[int, list[list[Decimal]]] = defaultdict(list)  # [signed size, price]
    realised: dict[int, Decimal] = defaultdict(Decimal)
    last = trades[-1].price
    for t in trades:
        signed = Decimal(t.size if t.side == Side.BID else -t.size)
        realised[t.account_id] -= t.fees
        book = lots[t.account_id]
        while signed and book and (book[0][0] > 0) != (signed > 0):
            lot = book[0]
            closed = min(abs(lot[0]), abs(signed))
            direction = 1 if lot[0] > 0 else -1
            realised[t.account_id] += (t.price - lot[1]) * direction * closed * POINT_VALUE
            lot[0] -= direction * closed
            signed += direction * closed
            if not lot[0]:
                book.pop(0)
        if signed:
            book.append([signed, t.price])
    result = {}
    for account, book in lots.items():
        size = sum(lot[0] for lot in book)
        open_pnl = sum((last - lot[1]) * lot[0] * POINT_VALUE for lot in book)
        average = sum(lot[0] * lot[1] for lot in book) / size if size else None
        result[account] = {"realised": realised[account], "open": open_pnl, "size": size, "average": average}
    return result


def _usd(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):.2f}"


async def test_the_strips_numbers_equal_the_simulators_fills_computed_by_hand(page: Web) -> None:
    await _market(page, "mnq-market", "buy", 2, "21500.00")
    await _market(page, "mnq-market", "sell", 1, "21490.00")
    await _market(page, "mnq-market-b", "buy", 1, "21490.00")
    await _market(page, "mnq-market", "buy", 1, "21495.00")  # a: 2 long, average 21497.50

    hand = _by_hand(page.env.sim.trades)
    # By hand: a closed 1 from 21500.00 at 21490.00 (-20.00) and paid 4 fills' fees (4 x 0.37);
    # b paid 1 fill's fee. Open at the last fill, 21495.00: a 2 x (21495.00 - 21497.50) x 2.00
    # = -10.00; b 1 x (21495.00 - 21490.00) x 2.00 = +10.00.
    a, b = hand[AUTO_OCO_ACCOUNT_ID], hand[POSITION_BRACKETS_ACCOUNT_ID]
    assert (a["realised"], a["open"], a["size"], a["average"]) == (
        Decimal("-21.48"),
        Decimal("-10.00"),
        2,
        Decimal("21497.50"),
    )
    assert (b["realised"], b["open"], b["size"]) == (Decimal("-0.37"), Decimal("10.00"), 1)

    async def strip() -> dict[str, Any]:
        reply = await page.client.get("/api/strip")
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    async def settled() -> bool:  # the hub's position reports reached the journal
        sizes = {(p["account_id"], p["size"], p["average_price"]) for p in (await strip())["positions"]}
        return sizes == {(AUTO_OCO_ACCOUNT_ID, 2, "21497.5"), (POSITION_BRACKETS_ACCOUNT_ID, 1, "21490")}

    await eventually(settled, timeout_s=5)
    requests = len(page.env.sim.requests)
    data = await strip()
    made = [r.path for r in page.env.sim.requests[requests:]]
    # The journal's numbers: no gateway request (the bridge's own sync of the alerts' orders,
    # Order/search just after each alert, may still land meanwhile: it is not the strip's).
    assert [path for path in made if not path.endswith("/Order/search")] == []

    accounts = {row["account_id"]: row for row in data["accounts"]}
    assert set(accounts) == {AUTO_OCO_ACCOUNT_ID, POSITION_BRACKETS_ACCOUNT_ID}
    for account_id, numbers in hand.items():
        row = accounts[account_id]
        assert (row["realised_pnl"], row["open_pnl"], row["day_pnl"]) == (
            _usd(numbers["realised"]),
            _usd(numbers["open"]),
            _usd(numbers["realised"] + numbers["open"]),
        ), row
    realised = sum(n["realised"] for n in hand.values())
    unrealised = sum(n["open"] for n in hand.values())
    assert data["total"] == {
        "realised_pnl": _usd(realised),
        "open_pnl": _usd(unrealised),
        "day_pnl": _usd(realised + unrealised),
    }
    assert data["total"]["day_pnl"] == "-21.85"
    positions = {p["account_id"]: p for p in data["positions"]}
    for account_id, numbers in hand.items():
        p = positions[account_id]
        assert (p["contract"], p["side"], p["size"], Decimal(p["average_price"]), p["open_pnl"]) == (
            contract_words(p["contract_id"]),  # the month held, as the platform names it: MNQZ6
            "long",
            numbers["size"],
            numbers["average"],
            _usd(numbers["open"]),
        )
    assert data["last_alert"]["strategy"] == "mnq-market" and data["last_alert"]["status"] == "executed"
    assert data["health"]["gateway"]["ok"] is True and data["health"]["hub"]["connected"] is True
    assert data["health"]["paused"] is None and data["health"]["lockouts"] == []

    # Every page shows the same numbers in its strip.
    name = contract_words(data["positions"][0]["contract_id"])
    for path in PAGES:
        text = _strip_text((await page.client.get(path)).text)
        assert "Day P&L -21.85" in text, (path, text)
        assert f"{name} long 2 @ 21497.50 -10.00" in text, (path, text)
        assert f"{name} long 1 @ 21490.00 10.00" in text, (path, text)
        assert "SIM-AUTO-OCO -31.48" in text and "SIM-POSITION-BRACKETS 9.63" in text, (path, text)


async def test_the_strip_escapes_what_a_stranger_sent_and_is_not_on_the_login_page(page: Web) -> None:
    body = {"ticker": "MNQ1!", "action": "<img src=x onerror=alert(1)>", "quantity": "1", "time": ""}
    reply = (await page.env.send("mnq-market", json.dumps(body))).json()
    assert reply["status"] != "executed"
    html = (await page.client.get("/status")).text
    strip = _strip_html(html)
    assert "<img" not in strip
    assert f"#{reply['alert_id']}" in strip
    async with page.browser() as stranger:
        assert 'id="strip"' not in (await stranger.get("/login")).text
        assert (await stranger.get("/api/strip")).status_code in (401, 303)


_TAGS = re.compile(r"<[^>]+>")


def _strip_html(page: str) -> str:
    found = re.search(r'<details class="strip" id="strip">.*?</details>', page, re.S)
    assert found, "no strip on the page"
    return found.group(0)


def _strip_text(page: str) -> str:
    import html

    return " ".join(html.unescape(_TAGS.sub(" ", _strip_html(page))).split())
