"""The trades list's pieces that need no bridge: its filters' ranges, how long a trade was held,
and each journal row's money (app/web/trades_page.py, app/web/alert_money.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from app.domain.enums import Side
from app.domain.trades import ContractSpec, TradeFill, match_trades
from app.web.alert_money import alert_money, trade_key
from app.web.queries import FilterError
from app.web.trades_page import TradeFilter, held, trade_json

MNQ = "CON.F.US.MNQ.Z26"
T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _local(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone().astimezone(UTC)


def test_ranges_start_at_local_midnight_monday_and_the_first() -> None:
    wednesday = date(2026, 12, 2)
    assert TradeFilter("today").since(wednesday) == _local(wednesday)
    assert TradeFilter("week").since(wednesday) == _local(date(2026, 11, 30))
    assert TradeFilter("month").since(wednesday) == _local(date(2026, 12, 1))
    assert TradeFilter("all").since(wednesday) is None


def test_filters_from_the_query_string() -> None:
    flt = TradeFilter.from_query({"range": "week", "account": "7", "strategy": "mnq"})
    assert flt == TradeFilter("week", 7, "mnq")
    assert flt.query_string() == "range=week&account=7&strategy=mnq"
    assert TradeFilter.from_query({}) == TradeFilter()
    with pytest.raises(FilterError, match="range 'year'"):
        TradeFilter.from_query({"range": "year"})
    with pytest.raises(FilterError, match="account"):
        TradeFilter.from_query({"account": "-1"})


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0.4, "0 s"),
        (45, "45 s"),
        (125, "2 min 5 s"),
        (3 * 3600 + 1200, "3 h 20 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_how_long_a_trade_was_held(seconds: float | None, shown: str) -> None:
    assert held(seconds) == shown


def _fill(trade_id: int, side: Side, size: int, price: str, minute: int, alert: int | None) -> TradeFill:
    return TradeFill(
        trade_id,
        1,
        MNQ,
        side,
        size,
        Decimal(price),
        T0.replace(minute=minute),
        Decimal("0.37") * size,
        alert,
        "s",
    )


def _record(f: TradeFill) -> Any:
    """A journal fill row as alert_money reads it."""
    return SimpleNamespace(
        side=f.side, size=f.size, price=f.price, fees=f.fees, commissions=None, voided=False
    )


def test_an_alert_shows_its_side_size_average_fees_realised_and_trades() -> None:
    fills = [
        _fill(1, Side.BUY, 1, "100", 0, 10),
        _fill(2, Side.BUY, 1, "101", 1, 10),
        _fill(3, Side.SELL, 2, "103", 2, 11),
    ]
    trades = match_trades(fills, {MNQ: ContractSpec(Decimal("0.25"), Decimal("0.50"))})
    money = alert_money({10: [_record(f) for f in fills[:2]], 11: [_record(fills[2])], 12: []}, trades)

    entry, exit_ = money[10], money[11]
    assert (entry.side, entry.size, entry.average, entry.fees) == (
        "buy",
        2,
        Decimal("100.5"),
        Decimal("0.74"),
    )
    assert entry.realised is None and entry.net is None
    assert (exit_.side, exit_.size, exit_.realised, exit_.net) == ("sell", 2, Decimal(10), Decimal("9.26"))
    assert [(link.role, link.key) for link in exit_.links] == [("closed", trade_key(trades[0]))]
    assert [link.role for link in entry.links] == ["opened"]
    assert 12 not in money  # no fill, no money

    row = trade_json(trades[0])
    assert (row["side"], row["pnl"], row["fees"], row["net"], row["ticks"]) == (
        "long",
        "10.00",
        "1.48",
        "8.52",
        "10.00",
    )
    assert row["key"] == "1-1" and row["duration_s"] == 120.0
