"""Render the real TradingView alert messages of tests/corpus/ as TradingView would.

``render_corpus("C10")`` substitutes every known placeholder with a realistic value
(reference/tradingview.md §5) and leaves unknown ones, such as ``{{strategy.order_id}}``,
untouched, as TradingView does. Override a value by its placeholder name:
``render_corpus("C15", close="")`` or ``render_corpus("C10", **{"strategy.order.action": "sell"})``.
"""

from __future__ import annotations

import re
from pathlib import Path

# The corpus travels with the tests (tests/corpus/README.md: where each message comes from).
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

# A strategy that bought 2 NQ contracts from flat, on a 5-minute chart.
VALUES: dict[str, str] = {
    "ticker": "NQ1!",
    "exchange": "CME_MINI",
    "open": "21490.00",
    "high": "21510.75",
    "low": "21485.50",
    "close": "21500.25",
    "volume": "1250",
    "time": "2026-03-02T14:25:00Z",
    "timenow": "2026-03-02T14:30:00Z",
    "interval": "5",
    "plot_0": "55.3",
    "plot_1": "1180.5",
    'plot("RSI")': "55.3",
    "strategy.order.action": "buy",
    "strategy.order.contracts": "2",
    "strategy.order.price": "21500.25",
    "strategy.order.id": "Long",
    "strategy.order.comment": "Long",
    "strategy.order.alert_message": "",  # orders placed without alert_message send ""
    "strategy.market_position": "long",
    "strategy.market_position_size": "2",
    "strategy.prev_market_position": "flat",
    "strategy.prev_market_position_size": "0",
    "strategy.position_size": "2",
}

_PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}")


def corpus_names() -> list[str]:
    """The corpus message names, e.g. ["C01", "C02", …]."""
    return sorted(path.stem for path in CORPUS_DIR.glob("C*.txt"))


def corpus_message(name: str) -> str:
    """The message as typed into TradingView's Message box (placeholders unsubstituted)."""
    return (CORPUS_DIR / f"{name.removesuffix('.txt')}.txt").read_text(encoding="utf-8")


def render_corpus(name: str, **overrides: str) -> bytes:
    """Return the body TradingView would POST for corpus message ``name`` (UTF-8 bytes)."""
    values = {**VALUES, **overrides}

    def substitute(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return _PLACEHOLDER.sub(substitute, corpus_message(name)).encode("utf-8")
