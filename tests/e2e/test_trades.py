"""Trades on the simulator: after an entry, a partial exit from outside the bridge, an exit alert
(Position/closeContract), a bracket's stop loss and a reversal by a manual order, the trades'
P&L and fees equal what this test computes from the SIMULATOR's own fills (its Trade records,
not the journal), to the cent; the exit alert links to the trade it closed; the trades list,
its CSV and /api/trades carry the same numbers; the journal row of each alert shows its money.

MNQ on the simulator: tick 0.25 point = 0.50 USD (2 USD a point), fees 0.37 USD a contract a fill.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.sim.models import OrderTicket, OrderType, SimTrade
from app.sim.models import Side as SimSide
from tests.helpers import eventually
from tests.web.conftest import Web
from tests.web.conftest import web as web  # noqa: PLC0414 - the fixture, used here too

AUTO_OCO = 70000001  # SIM-AUTO-OCO, the account of the shipped mnq-* templates
POINT = Decimal(2)  # USD a point of MNQ
CENT = Decimal("0.01")


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


_SEQ = itertools.count(1)


async def _send(page: Web, strategy: str, body: dict[str, Any]) -> int:
    body.setdefault("time", "2026-03-02T14:30:00Z")
    body["seq"] = next(_SEQ)  # two alerts alike within 60 s would be one alert sent twice
    response = await page.env.send(strategy, json.dumps(body))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "executed", reply
    return int(reply["alert_id"])


def _manual(page: Web, contract_id: str, side: SimSide, size: int) -> None:
    """A trade the trader makes on the platform: a market order without our tag."""
    page.env.sim.place_order(OrderTicket(AUTO_OCO, contract_id, int(OrderType.MARKET), int(side), size))


async def _journaled(page: Web) -> None:
    """Wait until the journal holds every fill the simulator made (the User Hub delivers them)."""
    sim_ids = {t.id for t in page.env.sim.trades if t.account_id == AUTO_OCO}

    async def all_in() -> bool:
        got = {f.trade_id for f in page.env.journal.find_fills(account_id=AUTO_OCO, limit=1000)}
        assert got == sim_ids, sorted(sim_ids - got)
        return True

    await eventually(all_in, timeout_s=10)


def _cycles(trades: list[SimTrade]) -> list[tuple[Decimal, Decimal, Decimal]]:
    """The simulator's fills cut into flat-to-flat cycles (a reversal fill split by size):
    (gross P&L as the simulator booked it, the same from cash in and out, fees) per closed cycle."""
    out: list[tuple[Decimal, Decimal, Decimal]] = []
    net, booked, cash, fees = 0, Decimal(0), Decimal(0), Decimal(0)
    for t in sorted(trades, key=lambda t: t.id):
        signed = t.size if t.side == SimSide.BID else -t.size
        closing = min(t.size, abs(net)) if net and (net > 0) != (signed > 0) else 0
        part = closing if abs(signed) > closing and closing else t.size
        # the part of this fill in the current cycle
        share = Decimal(part) / t.size
        booked += t.profit_and_loss or Decimal(0)  # the simulator books P&L on closing fills only
        cash += (-t.price if signed > 0 else t.price) * part * POINT
        fees += t.fees * share
        net += signed if part == t.size else (-net)
        if net == 0:
            out.append((booked, cash, fees))
            booked, cash, fees = Decimal(0), Decimal(0), Decimal(0)
        if part != t.size:  # a reversal: the rest opens the next cycle
            rest = t.size - part
            net = rest if signed > 0 else -rest
            cash = (-t.price if signed > 0 else t.price) * rest * POINT
            fees = t.fees - t.fees * share
    return out


async def test_trades_match_the_simulators_fills_to_the_cent(page: Web) -> None:
    env = page.env
    contract_id = (await env.runtime.bridge.gateway.contract("MNQ1!")).contract_id
    price = env.sim.prices[contract_id]

    entry = await _send(
        page, "mnq-market", {"ticker": "MNQ1!", "action": "buy", "quantity": "2", "price": str(price)}
    )
    env.sim.set_price(contract_id, price + Decimal("3.25"))
    _manual(page, contract_id, SimSide.ASK, 1)  # a partial exit from outside the bridge
    env.sim.set_price(contract_id, price + Decimal("5.50"))
    exit_alert = await _send(page, "mnq-exit", {"ticker": "MNQ1!", "action": "exit"})

    bracket = await _send(
        page,
        "mnq-bracket",
        {"id": "b-1", "ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": str(price)},
    )
    env.sim.set_price(contract_id, price - Decimal(20))  # through the 40-tick stop loss

    env.sim.set_price(contract_id, price)
    long_one = await _send(
        page, "mnq-market", {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": str(price)}
    )
    env.sim.set_price(contract_id, price + Decimal("1.75"))
    _manual(page, contract_id, SimSide.ASK, 3)  # a reversal from outside: long 1 → short 2
    env.sim.set_price(contract_id, price - Decimal("2.25"))
    close_short = await _send(page, "mnq-exit", {"ticker": "MNQ1!", "action": "exit"})
    await _journaled(page)

    api = (await page.client.get("/api/trades")).json()
    trades = [t for t in api["trades"] if t["account_id"] == AUTO_OCO]
    sim_fills = [t for t in env.sim.trades if t.account_id == AUTO_OCO and t.contract_id == contract_id]
    expected = _cycles(sim_fills)
    assert len(expected) == 4 and all(not t["open"] for t in trades)
    assert [(Decimal(t["pnl"]), Decimal(t["fees"])) for t in trades] == [
        (booked.quantize(CENT), fees.quantize(CENT)) for booked, _, fees in expected
    ]
    assert [Decimal(t["pnl"]) for t in trades] == [cash for _, cash, _ in expected]
    assert Decimal(api["totals"]["net"]) == sum((b - f for b, _, f in expected), Decimal(0)).quantize(CENT)

    first, stopped, reversed_long, short = trades
    assert (first["side"], first["size"], first["closed_by"]) == ("long", 2, "outside, exit")
    assert first["entry_alert_ids"] == [entry] and first["exit_alert_ids"] == [exit_alert]
    assert stopped["closed_by"] == "stop loss" and stopped["exit_alert_ids"] == [bracket]
    assert Decimal(stopped["ticks"]) < 0 and stopped["strategy"] == "mnq-bracket"
    assert reversed_long["entry_alert_ids"] == [long_one] and reversed_long["closed_by"] == "outside"
    assert (short["side"], short["size"], short["strategy"]) == ("short", 2, None)  # opened outside
    assert short["exit_alert_ids"] == [close_short] and short["closed_by"] == "exit"

    # The exit alert's closing fill (Position/closeContract: no order id of ours) is its own.
    [closing] = env.journal.alert_fills(exit_alert)
    [sim_closing] = [t for t in sim_fills if t.id == closing.trade_id]
    assert sim_closing.size == 1 and sim_closing.profit_and_loss is not None

    # The CSV carries the same numbers.
    text = (await page.client.get("/trades.csv")).text
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["account_id"] == str(AUTO_OCO)]
    assert [(r["pnl_usd"], r["fees_usd"], r["net_usd"]) for r in rows] == [
        (t["pnl"], t["fees"], t["net"]) for t in trades
    ]

    # The trades list and the journal rows show them.
    listing = (await page.client.get("/trades")).text
    for t in trades:
        assert f'id="trade-{t["key"]}"' in listing
    journal = (await page.client.get("/")).text
    assert f'href="/trades#trade-{first["key"]}"' in journal
    exit_row = journal.split(f'id="alert-{exit_alert}"', 1)[1].split("</summary>", 1)[0]
    net = sim_closing.profit_and_loss - sim_closing.fees  # what it realised, less its own fees
    assert "sell" in exit_row and f"data-net>{net:,.2f}</strong>" in exit_row, exit_row


async def test_api_trades_filters_and_bad_values(page: Web, tmp_path: Path) -> None:
    env = page.env
    contract_id = (await env.runtime.bridge.gateway.contract("MNQ1!")).contract_id
    price = env.sim.prices[contract_id]
    await _send(
        page, "mnq-market", {"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": str(price)}
    )
    env.sim.set_price(contract_id, price + 1)
    await _send(page, "mnq-exit", {"ticker": "MNQ1!", "action": "exit"})
    await _journaled(page)

    async def listed(query: str) -> list[dict[str, Any]]:
        response = await page.client.get(f"/api/trades{query}")
        assert response.status_code == 200, response.text
        trades: list[dict[str, Any]] = response.json()["trades"]
        return trades

    [trade] = await listed("?range=today")
    assert (trade["pnl"], trade["fees"], trade["net"]) == ("2.00", "0.74", "1.26")
    assert await listed("?strategy=mnq-market") == [trade]
    assert await listed("?strategy=mnq-bracket") == []
    assert await listed(f"?account={AUTO_OCO}&range=month") == [trade]
    assert await listed("?account=1") == []
    bad = await page.client.get("/api/trades?range=year")
    assert bad.status_code == 400 and "range 'year'" in bad.json()["error"]
    logged_out = page.browser()
    assert (await logged_out.get("/api/trades")).status_code == 401
