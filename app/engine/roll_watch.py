"""At serve start, resolve the tickers templates name literally (``ticker = "MNQZ6"``).

The gateway's contract resolver logs, once a day, a roll warning for a contract within 5 trading
days of its last trading day (app/domain/expiry.py roll_warning); resolving the fixed tickers at
start makes that warning, or an expired month's refusal, show in the log before the first alert.
Tickers rendered from the alert (``{{ alert.ticker }}``) are warned of at their first alert.

``RollWatch`` tells the trader (ROLL_APPROACHING, through the Notifier): once per contract per
trading day, for the contracts the followed accounts hold (the watchdog hands it the open
positions at every check) and the templates' fixed tickers at start, with the last trading day
and the next contract to use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

from app.domain.calendar import TradingCalendar
from app.domain.expiry import (
    MONTH_CODES,
    ROLL_WARNING_DAYS,
    ContractMonth,
    contract_name,
    last_trading_day,
    parse_contract_id,
    trading_days_until,
)
from app.engine.health_notices import roll_approaching
from app.engine.ports import Gateway, Notifier, NullNotifier
from app.engine.shutdown import Held
from app.errors import BridgeError
from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)

# The months each product family lists (CME/NYMEX/COMEX): the next one is the contract to use.
_QUARTERLY = "HMUZ"
_CYCLES: dict[str, str] = {
    **dict.fromkeys(("EP", "MES", "ENQ", "MNQ", "RTY", "M2K", "YM", "MYM"), _QUARTERLY),
    **dict.fromkeys(("CLE", "MCLE"), MONTH_CODES),
    **dict.fromkeys(("GCE", "GMET", "MGC"), "GJMQVZ"),
    **dict.fromkeys(("SIE", "SIL"), "HKNUZ"),
}


def next_month(month: ContractMonth) -> ContractMonth | None:
    """The product's next listed month after ``month`` (None for a product without a known cycle)."""
    cycle = _CYCLES.get(month.segment)
    if cycle is None:
        return None
    later = [MONTH_CODES.index(code) + 1 for code in cycle if MONTH_CODES.index(code) + 1 > month.month]
    if later:
        return ContractMonth(month.year, later[0], month.segment)
    return ContractMonth(month.year + 1, MONTH_CODES.index(cycle[0]) + 1, month.segment)


def _exchange_today() -> date:
    return TradingCalendar().trading_day(datetime.now(UTC))


class RollWatch:
    """Notify each contract within ROLL_WARNING_DAYS trading days of its last trading day, once
    per contract per trading day (``today``: the exchange's trading day)."""

    def __init__(self, notifier: Notifier | None = None, today: Callable[[], date] = _exchange_today) -> None:
        self.notifier: Notifier = notifier if notifier is not None else NullNotifier()
        self.today = today
        self._noticed: dict[str, date] = {}  # contract id → the trading day it was notified

    def check(self, contract_ids: Iterable[str], held: Iterable[Held] = ()) -> None:
        """Notify the contracts of ``contract_ids`` whose roll is near, naming the positions of
        ``held`` in them. Never raises for an id it cannot read (no rule: no notice)."""
        today = self.today()
        held = list(held)
        for contract_id in dict.fromkeys(contract_ids):
            if self._noticed.get(contract_id) == today:
                continue
            month = parse_contract_id(contract_id)
            last = None if month is None else last_trading_day(month)
            if month is None or last is None:
                continue
            left = trading_days_until(last, today)
            if left > ROLL_WARNING_DAYS:
                continue
            self._noticed[contract_id] = today
            following = next_month(month)
            self.notifier.notify(
                roll_approaching(
                    contract_id=contract_id,
                    name=contract_name(month),
                    last_day=last,
                    days_left=left,
                    next_name=None if following is None else contract_name(following),
                    today=today,
                    held=held,
                )
            )


def fixed_tickers(templates: Iterable[StrategyTemplate]) -> dict[str, str]:
    """The literal tickers of ``templates`` (expressions left out): ticker → first template's name."""
    found: dict[str, str] = {}
    for template in templates:
        value = template.order_values.get("ticker")
        if value is not None and not value.is_expression and isinstance(value.literal, str):
            found.setdefault(value.literal.strip(), template.name)
    return found


async def check_fixed_tickers(
    gateway: Gateway, templates: Iterable[StrategyTemplate], rolls: RollWatch | None = None
) -> None:
    """Resolve each fixed ticker once; a refusal (expired month, unknown root) is logged as a
    warning naming the template, and gateway trouble is left to the first alert. ``rolls``:
    notifies the resolved contracts whose roll is near."""
    for ticker, name in fixed_tickers(templates).items():
        try:
            contract = await gateway.contract(ticker)
        except BridgeError as exc:
            log.warning("template '%s': ticker %s cannot be traded now: %s", name, ticker, exc)
            continue
        if rolls is not None:
            rolls.check([contract.contract_id])
