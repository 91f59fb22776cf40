"""At serve start, resolve the tickers templates name literally (``ticker = "MNQZ6"``).

The gateway's contract resolver logs, once a day, a roll warning for a contract within 5 trading
days of its last trading day (app/domain/expiry.py roll_warning); resolving the fixed tickers at
start makes that warning, or an expired month's refusal, show in the log before the first alert.
Tickers rendered from the alert (``{{ alert.ticker }}``) are warned of at their first alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from app.engine.ports import Gateway
from app.errors import BridgeError
from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)


def fixed_tickers(templates: Iterable[StrategyTemplate]) -> dict[str, str]:
    """The literal tickers of ``templates`` (expressions left out): ticker → first template's name."""
    found: dict[str, str] = {}
    for template in templates:
        value = template.order_values.get("ticker")
        if value is not None and not value.is_expression and isinstance(value.literal, str):
            found.setdefault(value.literal.strip(), template.name)
    return found


async def check_fixed_tickers(gateway: Gateway, templates: Iterable[StrategyTemplate]) -> None:
    """Resolve each fixed ticker once; a refusal (expired month, unknown root) is logged as a
    warning naming the template, and gateway trouble is left to the first alert."""
    for ticker, name in fixed_tickers(templates).items():
        try:
            await gateway.contract(ticker)
        except BridgeError as exc:
            log.warning("template '%s': ticker %s cannot be traded now: %s", name, ticker, exc)
