"""The cockpit's money, checked against the simulator: after the shipped alerts (a win, a loss, a
bracket's stop loss) the performance page's numbers, /api/trades' totals and the strip's day P&L
equal what this test computes from the SIMULATOR's own fills (its Trade records: booked P&L and
fees), to the cent, fees included. The trades' own numbers per round trip are pinned in
test_trades.py; the stats' definitions in tests/domain/test_performance.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.e2e.test_trades import AUTO_OCO, CENT, _cycles, _journaled, _send
from tests.helpers import eventually
from tests.web.conftest import Web
from tests.web.conftest import web as web  # noqa: PLC0414 - the fixture, used here too


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


def _usd(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):.2f}"


async def test_performance_trades_and_strip_equal_the_simulators_fills(page: Web) -> None:
    env = page.env
    contract_id = (await env.runtime.bridge.gateway.contract("MNQ1!")).contract_id
    price = env.sim.prices[contract_id]

    # A win: long 2, out 4.50 points higher.
    await _send(
        page, "mnq-market", {"ticker": "MNQ1!", "action": "buy", "quantity": "2", "price": str(price)}
    )
    env.sim.set_price(contract_id, price + Decimal("4.50"))
    await _send(page, "mnq-exit", {"ticker": "MNQ1!", "action": "exit"})
    # A loss: short 1, out 3.25 points higher.
    await _send(
        page, "mnq-market", {"ticker": "MNQ1!", "action": "sell", "quantity": "1", "price": str(price)}
    )
    env.sim.set_price(contract_id, price + Decimal("7.75"))
    await _send(page, "mnq-exit", {"ticker": "MNQ1!", "action": "exit"})
    # A bracket's stop loss: long 1 with the 40-tick stop, the price through it.
    env.sim.set_price(contract_id, price)
    await _send(
        page,
        "mnq-bracket",
        {"id": "c-1", "ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": str(price)},
    )
    env.sim.set_price(contract_id, price - Decimal(20))
    await _journaled(page)

    async def flat() -> bool:
        return not [p for p in env.sim.open_positions(AUTO_OCO) if p.contract_id == contract_id and p.size]

    await eventually(flat, timeout_s=10)
    await _journaled(page)

    # Independently, from the simulator's fills: (booked gross P&L, fees) per round trip, in order.
    fills = [t for t in env.sim.trades if t.account_id == AUTO_OCO and t.contract_id == contract_id]
    cycles = [(booked, fees) for booked, _, fees in _cycles(fills)]
    assert len(cycles) == 3
    nets = [(booked - fees).quantize(CENT) for booked, fees in cycles]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    gross = sum((b for b, _ in cycles), Decimal(0))
    fees = sum((f for _, f in cycles), Decimal(0))
    peak = equity = drawdown = Decimal(0)
    for n in nets:
        equity += n
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)

    perf = (await page.client.get(f"/api/performance?range=all&account={AUTO_OCO}")).json()
    total = perf["total"]
    assert (total["trades"], total["wins"], total["losses"]) == (3, len(wins), len(losses))
    assert total["net"] == _usd(sum(nets, Decimal(0)))
    assert total["gross"] == _usd(gross) and total["fees"] == _usd(fees)
    assert total["largest_loss"] == _usd(min(losses)) and total["largest_win"] == _usd(max(wins))
    assert total["max_drawdown"] == _usd(drawdown)
    assert Decimal(total["profit_factor"]) == (sum(wins, Decimal(0)) / -sum(losses, Decimal(0))).quantize(
        CENT
    )
    assert total["expectancy"] == _usd(sum(nets, Decimal(0)) / 3)
    strategies = {s["strategy"]: s for s in perf["strategies"]}
    assert strategies["mnq-bracket"]["net"] == _usd(nets[2])
    assert strategies["mnq-market"]["net"] == _usd(nets[0] + nets[1])
    assert [point["equity"] for point in perf["equity"]][-1] == _usd(sum(nets, Decimal(0)))

    trades = (await page.client.get(f"/api/trades?range=all&account={AUTO_OCO}")).json()
    assert trades["totals"]["net"] == total["net"]

    # The strip: flat, so the day's P&L is all realised: the same net, fees included. (The hub's
    # flat position may reach the journal a moment after the last fill.)

    async def journal_flat() -> bool:
        return not [p for p in env.journal.positions(AUTO_OCO) if p.size]

    await eventually(journal_flat)
    strip = (await page.client.get("/api/strip")).json()
    [account] = [a for a in strip["accounts"] if a["account_id"] == AUTO_OCO]
    assert (account["realised_pnl"], account["open_pnl"]) == (total["net"], "0.00")

    # And the page shows them.
    html = (await page.client.get(f"/performance?range=all&account={AUTO_OCO}")).text
    assert total["net"] in html and total["max_drawdown"] in html
