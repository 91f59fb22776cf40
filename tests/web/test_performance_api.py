"""/api/performance, /api/bars and the Performance page, on a whole bridge on the simulator.

Trades come from ``load_trades`` (app/web/trades_view.py); until the trades helper is merged these
tests hand the page trades built here (monkeypatched), with real journal rows (a bracket alert's
stop loss and take profit) behind them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.enums import Leg, OrderState, Side
from app.domain.trades import Trade
from app.web import performance_page
from app.web.app import Runtime
from tests.helpers import SHIPPED_ALERTS, eventually
from tests.web.conftest import Web

BRACKET = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_text()


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    assert (await web.login()).status_code == 303
    yield web


async def mnq(web: Web) -> str:
    return (await web.env.runtime.bridge.gateway.contract("MNQ")).contract_id


class Loaded:
    """A stand-in for load_trades: returns ``trades`` and records the filters it was given."""

    def __init__(self, trades: list[Trade]) -> None:
        self.trades = trades
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, runtime: Runtime, **filters: Any) -> list[Trade]:
        self.calls.append(filters)
        return list(self.trades)


def trade(
    net_pnl: str,
    closed_at: datetime,
    *,
    contract_id: str = "CON.F.US.MNQ.H26",
    account_id: int = 1,
    strategy: str | None = "mnq-bracket",
    alerts: tuple[int, ...] = (),
    open_: bool = False,
) -> Trade:
    return Trade(
        account_id=account_id,
        contract_id=contract_id,
        side=Side.BUY,
        size=1,
        entry_price=Decimal("21000.25"),
        exit_price=None if open_ else Decimal("21004.50"),
        opened_at=closed_at - timedelta(minutes=3),
        closed_at=None if open_ else closed_at,
        ticks=None,
        pnl=None if open_ else Decimal(net_pnl) + Decimal("0.74"),
        fees=Decimal("0.74"),
        entry_alert_ids=alerts,
        strategy=strategy,
        closed_by="" if open_ else "take profit",
    )


async def test_api_bars_answers_the_simulators_minute_bar(page: Web) -> None:
    contract = await mnq(page)
    price = page.env.runtime.sim.state.price(contract)  # type: ignore[union-attr]
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(hours=1)
    answer = await page.client.get(
        "/api/bars", params={"contract": contract, "start": start.isoformat(), "end": end.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["contract_id"] == contract and body["unit"] == "minute"
    bars = body["bars"]
    assert bars and Decimal(bars[-1]["c"]) == price  # oldest first: the newest closes at the price
    times = [datetime.fromisoformat(b["t"]) for b in bars]
    assert times == sorted(times) and start - timedelta(minutes=1) <= times[0] and times[-1] <= end
    assert all(Decimal(b["l"]) <= Decimal(b["c"]) <= Decimal(b["h"]) for b in bars)
    assert page.env.sim.requests_to("History/retrieveBars")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({}, "contract is required"),
        ({"contract": "CON.F.US.MNQ.H26;drop"}, "is not a contract id"),
        ({"contract": "CON.F.US.MNQ.H26", "start": "yesterday"}, "is not a time"),
        ({"contract": "CON.F.US.MNQ.H26", "start": "2026-03-02T14:00:00"}, "has no time zone"),
        (
            {"contract": "CON.F.US.MNQ.H26", "start": "2026-03-02T14:00:00Z", "end": "2026-03-02T13:00:00Z"},
            "is not before end",
        ),
        (
            {"contract": "CON.F.US.MNQ.H26", "start": "2026-03-01T14:00:00Z", "end": "2026-03-02T14:01:00Z"},
            "more than one day",
        ),
        ({"contract": "CON.F.US.NOPE.H26"}, "is not known to the gateway"),
    ],
)
async def test_api_bars_refuses_a_bad_query_with_400_naming_it(
    page: Web, query: dict[str, str], says: str
) -> None:
    answer = await page.client.get("/api/bars", params=query)
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]


async def test_the_performance_api_and_page_need_the_login(web: Web) -> None:
    for path in ("/api/bars?contract=CON.F.US.MNQ.H26", "/api/performance"):
        assert (await web.client.get(path)).status_code == 401
    assert (await web.client.get("/performance")).status_code == 303


async def test_api_performance_numbers_and_the_chart_of_trades(
    page: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real bracket alert: its stop loss and take profit rows are the chart's lines.
    alert_id: int = (await page.env.send("mnq-bracket", BRACKET)).json()["alert_id"]

    async def legs_priced() -> bool:
        legs = [o for o in page.env.journal.alert_orders(alert_id) if o.leg is not Leg.ENTRY]
        return len(legs) == 2 and all(
            o.state is OrderState.WORKING and (o.stop_price or o.limit_price) for o in legs
        )

    await eventually(legs_priced, timeout_s=5)
    orders = {o.leg: o for o in page.env.journal.alert_orders(alert_id)}
    entry = orders[Leg.ENTRY]
    now = datetime.now(UTC)
    closed = [
        trade(
            "9.26", now - timedelta(minutes=30), contract_id=entry.contract_id, account_id=entry.account_id
        ),
        trade(
            "-5.74", now - timedelta(minutes=20), contract_id=entry.contract_id, account_id=entry.account_id
        ),
        trade(
            "2.00", now - timedelta(minutes=10), strategy=None, account_id=2, contract_id="CON.F.US.MES.H26"
        ),
    ]
    bracket = trade(
        "0", now, contract_id=entry.contract_id, account_id=entry.account_id, alerts=(alert_id,), open_=True
    )
    loaded = Loaded([*closed, bracket])
    monkeypatch.setattr(performance_page, "load_trades", loaded)

    answer = await page.client.get("/api/performance", params={"range": "all"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert loaded.calls == [{"since": None, "account_id": None, "strategy": None}]
    total = body["total"]
    assert (total["trades"], total["wins"], total["losses"], total["breakeven"]) == (3, 2, 1, 0)
    assert total["net"] == "5.52" and total["fees"] == "2.22" and total["gross"] == "7.74"
    assert total["win_rate"] == "0.6667" and total["profit_factor"] == "1.96"
    assert total["max_drawdown"] == "5.74" and total["largest_loss"] == "-5.74"
    assert [s["strategy"] for s in body["strategies"]] == ["mnq-bracket", "outside"]
    assert [e["equity"] for e in body["equity"]] == ["9.26", "3.52", "5.52"]
    assert body["open_trades"] == 1
    # The chart shows the most recently traded contract: the bracket's, with its two legs.
    chart = body["chart"]
    assert chart["contract_id"] == entry.contract_id
    assert len(chart["trades"]) == 3  # two closed and the open bracket trade
    lines = {(p["leg"], Decimal(p["price"])) for p in chart["protection"]}
    assert lines == {
        ("stop_loss", orders[Leg.STOP_LOSS].stop_price),
        ("take_profit", orders[Leg.TAKE_PROFIT].limit_price),
    }
    assert all(p["until"] is None for p in chart["protection"])  # the trade is still open
    start, end = (datetime.fromisoformat(chart[k]) for k in ("start", "end"))
    assert (
        start <= now - timedelta(minutes=33) and end <= datetime.now(UTC) and end - start <= timedelta(days=1)
    )


async def test_api_performance_passes_the_filters_and_the_range_to_load_trades(
    page: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    loaded = Loaded([trade("10", now - timedelta(days=40)), trade("1", now - timedelta(minutes=1))])
    monkeypatch.setattr(performance_page, "load_trades", loaded)
    answer = await page.client.get("/api/performance?range=today&account=7&strategy=mnq-bracket")
    assert answer.status_code == 200, answer.text
    [call] = loaded.calls
    assert call["account_id"] == 7 and call["strategy"] == "mnq-bracket"
    calendar = performance_page.calendar_of(page.env.runtime)
    assert call["since"] == calendar.day_start_at(calendar.trading_day(now))
    # A trade that closed before the range is left out even when load_trades returns it.
    assert answer.json()["total"]["trades"] == 1


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("range=year", "range 'year' is not a range"),
        ("account=x", "account 'x'"),
        ("contract=%3Cb%3E", "contract"),
    ],
)
async def test_api_performance_refuses_a_bad_filter(page: Web, query: str, says: str) -> None:
    answer = await page.client.get(f"/api/performance?{query}")
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert "<" not in answer.text


async def test_the_performance_page_shows_the_tables_and_the_chart_data(
    page: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    loaded = Loaded([trade("9.26", now - timedelta(minutes=5)), trade("-5.74", now - timedelta(minutes=2))])
    monkeypatch.setattr(performance_page, "load_trades", loaded)
    answer = await page.client.get("/performance?range=today")
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert 'href="/performance" aria-current="page"' in text
    assert 'id="stats-total"' in text and "3.52" in text and "-5.74" in text
    assert 'id="performance-data"' in text and 'id="price-chart"' in text and 'id="equity-chart"' in text
    assert "vendor/lightweight-charts.standalone.production.js" in text
    assert "<script>" not in text  # no inline script: the CSP allows scripts from 'self' only
    bad = await page.client.get("/performance?range=year")
    assert bad.status_code == 400 and "is not a range" in bad.text
