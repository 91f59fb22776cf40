"""Futures products as the gateway names them, and the day each contract month stops trading.

``ROOT_SEGMENTS`` is the one table from a TradingView root (``ES``) to the product segment of a
ProjectX contract id (``CON.F.US.<SEGMENT>.<M><YY>``: ES trades as EP). Source:
reference/projectx-api.md §13 note 4 (ES→EP, NQ→ENQ, CL→CLE, GC→GCE, SI→SIE, MCL→MCLE, MGC→GMET;
YM, MES, MNQ, MYM, SIL unchanged) and §8.11 (RTY, M2K).

The gateway's ContractModel has no expiry field (§4.2: id, name, description, tickSize,
tickValue, activeContract, symbolId), so the last trading day is computed here from the
exchange's standard rule per product family (CME/NYMEX/COMEX contract specifications):

- equity index futures (ES MES NQ MNQ RTY M2K YM MYM): the third Friday of the contract month;
- WTI crude (CL): 3 business days before the 25th of the month before the contract month (4 when
  the 25th is not a business day); Micro WTI (MCL): the business day before CL's;
- gold and silver (GC MGC SI SIL): the third-last business day of the contract month.

Business days are Monday to Friday minus the ``holidays`` given ([risk] holidays); the exchange's
own holiday calendar is not known here, so a holiday near expiry can move the true day earlier.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from app.domain.models import Contract

MONTH_CODES = "FGHJKMNQUVXZ"  # January … December, the exchanges' month letters
ROLL_WARNING_DAYS = 5  # trading days before the last trading day when the roll warning starts

# TradingView root → product segment of the gateway's contract ids (§13 note 4, §8.11).
ROOT_SEGMENTS: dict[str, str] = {
    "ES": "EP",
    "MES": "MES",
    "NQ": "ENQ",
    "MNQ": "MNQ",
    "RTY": "RTY",
    "M2K": "M2K",
    "YM": "YM",
    "MYM": "MYM",
    "CL": "CLE",
    "MCL": "MCLE",
    "GC": "GCE",
    "MGC": "GMET",
    "SI": "SIE",
    "SIL": "SIL",
}

_EQUITY_INDEX = frozenset({"EP", "MES", "ENQ", "MNQ", "RTY", "M2K", "YM", "MYM"})
_METALS = frozenset({"GCE", "GMET", "MGC", "SIE", "SIL"})  # MGC: some clients' id for GMET
_ID = re.compile(r"^CON\.F\.US\.(?P<segment>[A-Z0-9]+)\.(?P<month>[FGHJKMNQUVXZ])(?P<yy>\d{2})$")


@dataclass(frozen=True, order=True)
class ContractMonth:
    """One product month read from a contract id: ``CON.F.US.MNQ.Z26`` → MNQ, 2026, 12."""

    year: int  # first, so months sort year first (§13 note 4)
    month: int  # 1-12
    segment: str

    @property
    def label(self) -> str:
        """``September 2024``."""
        return f"{calendar.month_name[self.month]} {self.year}"


def parse_contract_id(contract_id: str) -> ContractMonth | None:
    """Read ``CON.F.US.<SEGMENT>.<M><YY>``; None for any other shape (years are 20YY)."""
    match = _ID.match(contract_id)
    if match is None:
        return None
    return ContractMonth(2000 + int(match["yy"]), MONTH_CODES.index(match["month"]) + 1, match["segment"])


_ROOTS = {segment: root for root, segment in ROOT_SEGMENTS.items()}


def contract_name(month: ContractMonth) -> str:
    """As the platform names it: ``MNQH6`` (the TradingView root, month letter, year digit);
    ``CON.F.US.EP.H26`` is ``ESH6``, ``CON.F.US.GMET.Z25`` is ``MGCZ5``."""
    root = _ROOTS.get(month.segment, month.segment)
    return f"{root}{MONTH_CODES[month.month - 1]}{month.year % 10}"


def contract_words(contract_id: str) -> str:
    """How a trader names a contract id: ``CON.F.US.MNQ.H26`` → ``MNQH6``; any other id as it is."""
    month = parse_contract_id(contract_id)
    return contract_id if month is None else contract_name(month)


def segment_of(symbol_id: str) -> str:
    """The product segment of a symbol id or contract id prefix: ``F.US.EP`` → ``EP``."""
    return symbol_id.removeprefix("CON.").split(".")[-1]


def _business_day(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def _business_days_before(day: date, count: int, holidays: frozenset[date]) -> date:
    while count:
        day -= timedelta(days=1)
        if _business_day(day, holidays):
            count -= 1
    return day


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(calendar.FRIDAY - first.weekday()) % 7 + 14)


def _crude_last_day(year: int, month: int, holidays: frozenset[date]) -> date:
    before = (year - 1, 12) if month == 1 else (year, month - 1)
    the_25th = date(*before, 25)
    count = 3 if _business_day(the_25th, holidays) else 4
    return _business_days_before(the_25th, count, holidays)


def last_trading_day(month: ContractMonth, holidays: Iterable[date] = ()) -> date | None:
    """The last trading day of ``month`` by its family's rule (module doc); None for a product
    without a known rule (a root added under [gateway.symbols])."""
    days = frozenset(holidays)
    if month.segment in _EQUITY_INDEX:
        return _third_friday(month.year, month.month)
    if month.segment == "CLE":
        return _crude_last_day(month.year, month.month, days)
    if month.segment == "MCLE":
        return _business_days_before(_crude_last_day(month.year, month.month, days), 1, days)
    if month.segment in _METALS:
        after_end = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
        after_end += timedelta(days=1)
        return _business_days_before(after_end, 3, days)
    return None


def has_expired(month: ContractMonth, today: date, holidays: Iterable[date] = ()) -> bool:
    """Whether ``month`` stopped trading before ``today`` (without a rule: its month has passed)."""
    last = last_trading_day(month, holidays)
    if last is None:
        return (month.year, month.month) < (today.year, today.month)
    return last < today


def trading_days_until(last_day: date, today: date, holidays: Iterable[date] = ()) -> int:
    """Business days after ``today`` up to and including ``last_day``: 0 on the last trading day
    itself, 1 the business day before; negative (-1) once ``last_day`` has passed."""
    if last_day < today:
        return -1
    days = frozenset(holidays)
    span = (last_day - today).days
    return sum(_business_day(today + timedelta(days=n), days) for n in range(1, span + 1))


def roll_warning(contract: Contract, today: date, holidays: Iterable[date] = ()) -> str | None:
    """A warning when ``contract`` stops trading within ROLL_WARNING_DAYS trading days of
    ``today`` (a date in exchange time), or has already; None otherwise, and for an id or
    product without a known rule.
    """
    month = parse_contract_id(contract.contract_id)
    last = None if month is None else last_trading_day(month, holidays)
    if month is None or last is None:
        return None
    left = trading_days_until(last, today, holidays)
    if left > ROLL_WARNING_DAYS:
        return None
    name = f"{contract.name} ({contract.contract_id})"
    if left < 0:
        return f"{name} stopped trading on {last:%a %Y-%m-%d}: orders in it are refused; use the next month"
    when = "today" if left == 0 else f"in {left} trading day{'s' if left > 1 else ''}"
    return (
        f"{name} has its last trading day {when} ({last:%a %Y-%m-%d}); the gateway then rolls to the "
        f"next month: alerts using a continuous ticker follow it, dated tickers for {month.label} "
        f"will be refused. Positions still open in it must be closed before then"
    )
