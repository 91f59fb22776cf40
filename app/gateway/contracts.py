"""TradingView ticker → ProjectX contract: the one place the two naming schemes meet.

Continuous (``NQ1!``) and bare roots (``MNQ``) mean the gateway's active contract of the root's
product segment (``Contract/available``, else the fuzzy ``Contract/search``); dated tickers
(``MNQZ2025``, ``MNQZ25``, ``MNQZ5``) are built into a contract id and checked with
``Contract/searchById`` (reference/projectx-api.md §4.3, §4.4, §8.11, §8.12, §13 note 4;
tradingview.md §2.3).

A contract is chosen by the product segment of its id (``CON.F.US.EP.Z26`` is ES), never by the
first row or by ``activeContract`` alone: a search for "ES" also lists MES, yen and Treasury
futures, all active (§13 note 4). The root → segment table is app/domain/expiry.py's
ROOT_SEGMENTS.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from app.domain.calendar import TradingCalendar
from app.domain.expiry import (
    MONTH_CODES,
    ROOT_SEGMENTS,
    ContractMonth,
    has_expired,
    last_trading_day,
    parse_contract_id,
    roll_warning,
    segment_of,
)
from app.domain.models import Contract
from app.errors import AlertInvalidError, ContractExpiredError, GatewayError
from app.gateway.rest import RestClient
from app.gateway.wire import to_contract

log = logging.getLogger(__name__)

# TradingView root → ProjectX symbol id, from the one root → segment table (§13 note 4).
DEFAULT_SYMBOLS: dict[str, str] = {root: f"F.US.{segment}" for root, segment in ROOT_SEGMENTS.items()}
_CONTINUOUS = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<n>\d+)!$")
_MONTH_YEAR = re.compile(rf"^(?P<month>[{MONTH_CODES}])(?P<year>\d{{4}}|\d{{2}}|\d)$")
_SEARCH_BY_ID = "Contract/searchById"


def contract_year(digits: str, month: int, today: date) -> int:
    """Read a ticker's year: 4 digits as is; 1 or 2 digits as the year ending in them whose
    ``month`` is nearest ``today`` (MNQU4 in 2026 is September 2024, not 2034; a tie goes to
    the later year)."""
    if len(digits) == 4:
        return int(digits)
    span = 10 if len(digits) == 1 else 100
    base = today.year - today.year % span + int(digits)
    now = today.year * 12 + today.month
    candidates = (base - span, base, base + span)
    return min(candidates, key=lambda year: (abs(year * 12 + month - now), -year))


def contract_id_for(symbol_id: str, month: str, year: int) -> str:
    """Build ``CON.F.US.<tail>.<M><YY>`` from ``F.US.<tail>`` (the inferred grammar, §8.11)."""
    return f"CON.{symbol_id.removeprefix('CON.')}.{month}{year % 100:02d}"


class ContractResolver:
    """Resolve TradingView tickers to gateway contracts, with a cache.

    ``symbols`` (``[gateway.symbols]``) extends and overrides DEFAULT_SYMBOLS. The active
    contract list is read once per ``refresh_s`` seconds, and a dated contract is re-checked as often
    (it stops being active at the roll).
    """

    def __init__(
        self,
        rest: RestClient,
        symbols: Mapping[str, str] | None = None,
        refresh_s: float = 3600,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: TradingCalendar().trading_day(datetime.now(UTC)),
        holidays: Iterable[date] = (),
    ) -> None:
        self._rest = rest
        self.symbols = {**DEFAULT_SYMBOLS, **{k.upper(): v for k, v in (symbols or {}).items()}}
        # Longest first, so MNQZ5 is MNQ + Z5 and never a shorter root.
        self._roots = sorted(self.symbols, key=len, reverse=True)
        self._refresh_s = refresh_s
        self._clock = clock
        self._today = today
        self._holidays = frozenset(holidays)
        self._rolls: dict[str, tuple[date, str]] = {}  # contract id → (the day warned, warning)
        self._resolved: dict[str, Contract] = {}  # contract id → the contract a resolve answered
        self._searched: dict[str, tuple[list[dict[str, Any]], float]] = {}
        self._available: list[dict[str, Any]] | None = None
        self._available_at = 0.0
        self._dated: dict[str, tuple[Contract, float]] = {}
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the active contracts (after a roll: place answered ContractNotActive)."""
        self._available = None

    async def resolve(self, ticker: str) -> Contract:
        """Resolve ``ticker`` (``NQ1!``, ``CME_MINI:NQ1!``, ``MNQ``, ``MNQZ2025``, ``MNQZ25``,
        ``MNQZ5``; any case) to a gateway Contract (tick size in points, tick value in USD).

        Raises AlertInvalidError naming the ticker when the root is unknown, the continuous
        number is not 1, or the gateway has no such contract; ContractExpiredError (an
        AlertInvalidError) naming the month and the active contract when a dated ticker's month
        has stopped trading; GatewayError when it cannot be asked.
        """
        contract = await self._resolve(ticker)
        self._note_roll(contract)
        self._resolved[contract.contract_id] = contract
        return contract

    def resolved(self) -> list[Contract]:
        """The contracts ``resolve`` answered in this run, newest state of each: no request."""
        return list(self._resolved.values())

    def roll_warning(self, contract: Contract) -> str | None:
        """``contract``'s roll warning on this resolver's today (app/domain/expiry.py), or None."""
        return roll_warning(contract, self._today(), self._holidays)

    def roll_warnings(self) -> list[str]:
        """Today's roll warnings (app/domain/expiry.py roll_warning) of the contracts resolved
        so far, for the Status page: a contract within 5 trading days of its last trading day."""
        today = self._today()
        return [warning for day, warning in self._rolls.values() if day == today]

    def _note_roll(self, contract: Contract) -> None:
        """Log a contract's roll warning once a day (the first resolve of the day: at serve start
        for the templates' fixed tickers, else the first alert)."""
        today = self._today()
        seen = self._rolls.get(contract.contract_id)
        if seen is not None and seen[0] == today:
            return
        warning = roll_warning(contract, today, self._holidays)
        if warning is None:
            self._rolls.pop(contract.contract_id, None)
            return
        self._rolls[contract.contract_id] = (today, warning)
        log.warning("contract roll: %s", warning)

    async def _resolve(self, ticker: str) -> Contract:
        # An exchange prefix (CME_MINI:, CME_MINI_DL:) says nothing the root does not.
        text = ticker.strip().rsplit(":", 1)[-1].strip().upper()
        if text in self.symbols:
            return await self._active(ticker, text)
        continuous = _CONTINUOUS.match(text)
        if continuous and continuous["root"] in self.symbols:
            root = continuous["root"]
            if continuous["n"] != "1":
                raise AlertInvalidError(
                    f"Ticker '{ticker}': only the front continuous contract ({root}1!) is "
                    f"supported; use a dated ticker such as {root}Z2025 instead"
                )
            return await self._active(ticker, root)
        for root in self._roots:
            dated = _MONTH_YEAR.match(text[len(root) :]) if text.startswith(root) else None
            if dated:
                month = MONTH_CODES.index(dated["month"]) + 1
                year = contract_year(dated["year"], month, self._today())
                return await self._dated_contract(ticker, root, dated["month"], year)
        root = continuous["root"] if continuous else text
        raise AlertInvalidError(
            f"Ticker '{ticker}': unknown futures root '{root}'. Known roots: "
            f"{', '.join(sorted(self.symbols))}. Add it under [gateway.symbols] in tvbridge.toml "
            f'(e.g. {root} = "F.US.{root}") or send NQ1!, MNQ or MNQZ2025-style tickers'
        )

    async def _active(self, ticker: str, root: str) -> Contract:
        symbol = self.symbols[root]
        # Clients disagree on some segments (MGC: GMET or MGC), so try the root itself too.
        segments = tuple(dict.fromkeys((segment_of(symbol), root)))
        chosen = _choose(await self._available_rows(), segments)
        if chosen is None:  # an empty or partial catalogue (§13 note 5): ask the fuzzy search
            chosen = _choose(await self._search_rows(root), segments)
        if chosen is None:
            raise AlertInvalidError(
                f"Ticker '{ticker}': the gateway lists no active contract for symbol {symbol}. "
                f"Check {root} under [gateway.symbols] in tvbridge.toml, or send a dated ticker "
                f"(e.g. {root}Z2025)"
            )
        return to_contract(chosen)

    async def _search_rows(self, root: str) -> list[dict[str, Any]]:
        cached = self._searched.get(root)
        if cached is not None and self._clock() - cached[1] < self._refresh_s:
            return cached[0]
        envelope = await self._rest.call(
            "Contract/search", {"live": False, "searchText": root}, mutating=False
        )
        rows = [r for r in envelope.get("contracts") or [] if isinstance(r, dict)]
        self._searched[root] = (rows, self._clock())
        return rows

    def known(self) -> list[Contract]:
        """The contracts read so far (Contract/available, searches, dated look-ups), from the
        cache only: no request, whatever their age. Rows the gateway sent malformed are skipped."""
        rows = [*(self._available or []), *(r for found, _ in self._searched.values() for r in found)]
        known: dict[str, Contract] = {}
        for row in rows:
            try:
                contract = to_contract(row)
            except (GatewayError, TypeError, ValueError, ArithmeticError):
                continue
            known.setdefault(contract.contract_id, contract)
        for contract, _ in self._dated.values():
            known.setdefault(contract.contract_id, contract)
        return list(known.values())

    async def available(self) -> list[Contract]:
        """What ``Contract/available`` lists (``live: false``: with practice credentials ``live:
        true`` answers empty lists, §4.4, §13 item 5), read through this resolver's cache, so the
        pre-flight and the first alert share one read. Raises GatewayError."""
        return [to_contract(row) for row in await self._available_rows()]

    async def _available_rows(self) -> list[dict[str, Any]]:
        async with self._lock:  # one read per refresh, however many alerts arrive at once
            fresh = self._clock() - self._available_at < self._refresh_s
            if self._available is None or not fresh:
                envelope = await self._rest.call("Contract/available", {"live": False}, mutating=False)
                self._available = [r for r in envelope.get("contracts") or [] if isinstance(r, dict)]
                self._available_at = self._clock()
                log.info("read %d available contracts", len(self._available))
            return self._available

    async def _dated_contract(self, ticker: str, root: str, month: str, year: int) -> Contract:
        contract_id = contract_id_for(self.symbols[root], month, year)
        wanted = ContractMonth(year, MONTH_CODES.index(month) + 1, segment_of(self.symbols[root]))
        if has_expired(wanted, self._today()):
            raise await self._expired(ticker, root, wanted)
        cached = self._dated.get(contract_id)
        if cached is not None and self._clock() - cached[1] < self._refresh_s:
            return cached[0]
        try:
            envelope = await self._rest.call(_SEARCH_BY_ID, {"contractId": contract_id}, mutating=False)
        except GatewayError as exc:
            if exc.endpoint != _SEARCH_BY_ID or exc.error_code != 1:  # 1 ContractNotFound
                raise
            envelope = {}
        row = envelope.get("contract")
        if row is None and envelope.get("contracts"):  # the older DOC shape (§11 #9)
            row = envelope["contracts"][0]
        if not isinstance(row, dict):
            raise AlertInvalidError(
                f"Ticker '{ticker}': the gateway has no contract {contract_id}. "
                f"Use the active month ({root}1!) or a month the exchange lists"
            )
        contract = to_contract(row)
        if not contract.active:
            # ProjectX takes orders only in the active month (§8.12): refuse before sending, and
            # do not cache, since this month becomes the active one at the next roll.
            raise AlertInvalidError(
                f"Ticker '{ticker}': {contract_id} is not the active contract on the gateway "
                f"(expired, or not yet the front month), so it cannot be traded. "
                f"Use the active month ({root}1!)"
            )
        self._dated[contract_id] = (contract, self._clock())
        return contract

    async def _expired(self, ticker: str, root: str, wanted: ContractMonth) -> ContractExpiredError:
        """The refusal of an expired month, naming the active one when the gateway lists it."""
        name = ticker.strip().rsplit(":", 1)[-1].strip().upper()
        last = last_trading_day(wanted)
        when = f" (last trading day {last:%Y-%m-%d})" if last else ""
        message = f"Ticker '{ticker}': {name} expired in {wanted.label}{when}"
        try:
            active = await self._active(ticker, root)
        except AlertInvalidError:
            return ContractExpiredError(f"{message}: use {root}1! for the active month")
        return ContractExpiredError(
            f"{message}; the active {root} contract is {active.name}: use {root}1! or {active.name}"
        )


def _choose(rows: list[dict[str, Any]], segments: tuple[str, ...]) -> dict[str, Any] | None:
    """The row of the first of ``segments`` (by the id's product segment, §13 note 4): the
    active one if the gateway marks one, then the nearest month (sorted year first)."""
    for segment in segments:
        found: list[tuple[ContractMonth, dict[str, Any]]] = []
        for row in rows:
            month = parse_contract_id(str(row.get("id", "")))
            if month is not None and month.segment == segment:
                found.append((month, row))
        active = [pair for pair in found if pair[1].get("activeContract") is True]
        if active or found:
            return min(active or found, key=lambda pair: pair[0])[1]
    return None
