"""TradingView ticker → ProjectX contract: the one place the two naming schemes meet.

Continuous (``NQ1!``) and bare roots (``MNQ``) mean the gateway's active contract
(``Contract/available``); dated tickers (``MNQZ2025``, ``MNQZ25``, ``MNQZ5``) are built into a
contract id and checked with ``Contract/searchById`` (reference/projectx-api.md §4.3, §4.4, §8.11,
§8.12; tradingview.md §2.3).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.domain.models import Contract
from app.errors import AlertInvalidError, GatewayError
from app.gateway.rest import RestClient
from app.gateway.wire import to_contract

log = logging.getLogger(__name__)

# TradingView root → ProjectX symbol id. ES trades as EP, NQ as ENQ, MGC as GMET (§8.11).
DEFAULT_SYMBOLS: dict[str, str] = {
    "ES": "F.US.EP",
    "MES": "F.US.MES",
    "NQ": "F.US.ENQ",
    "MNQ": "F.US.MNQ",
    "RTY": "F.US.RTY",
    "M2K": "F.US.M2K",
    "YM": "F.US.YM",
    "MYM": "F.US.MYM",
    "CL": "F.US.CLE",
    "MCL": "F.US.MCLE",
    "GC": "F.US.GCE",
    "MGC": "F.US.GMET",
}
MONTH_CODES = "FGHJKMNQUVXZ"
_CONTINUOUS = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<n>\d+)!$")
_MONTH_YEAR = re.compile(rf"^(?P<month>[{MONTH_CODES}])(?P<year>\d{{4}}|\d{{2}}|\d)$")
_SEARCH_BY_ID = "Contract/searchById"


def expand_year(digits: str, this_year: int) -> int:
    """Read a ticker's year: 4 digits as is, 2 as 20YY, 1 as the year in
    [this_year - 1, this_year + 8] that ends in that digit."""
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        return 2000 + int(digits)
    first = this_year - 1
    return first + (int(digits) - first) % 10


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
    ) -> None:
        self._rest = rest
        self.symbols = {**DEFAULT_SYMBOLS, **{k.upper(): v for k, v in (symbols or {}).items()}}
        # Longest first, so MNQZ5 is MNQ + Z5 and never a shorter root.
        self._roots = sorted(self.symbols, key=len, reverse=True)
        self._refresh_s = refresh_s
        self._clock = clock
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
        number is not 1, or the gateway has no such contract; GatewayError when it cannot be
        asked.
        """
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
                year = expand_year(dated["year"], datetime.now(UTC).year)
                return await self._dated_contract(ticker, root, dated["month"], year)
        root = continuous["root"] if continuous else text
        raise AlertInvalidError(
            f"Ticker '{ticker}': unknown futures root '{root}'. Known roots: "
            f"{', '.join(sorted(self.symbols))}. Add it under [gateway.symbols] in tvbridge.toml "
            f'(e.g. {root} = "F.US.{root}") or send NQ1!, MNQ or MNQZ2025-style tickers'
        )

    async def _active(self, ticker: str, root: str) -> Contract:
        rows = await self._available_rows()
        symbol = self.symbols[root]
        # Clients disagree on some symbol ids (MGC: GMET or MGC), so try F.US.<ROOT> too.
        for wanted in dict.fromkeys((symbol, f"F.US.{root}")):
            active = [r for r in rows if r.get("symbolId") == wanted and r.get("activeContract")]
            if active:
                if len(active) > 1:
                    log.warning(
                        "%d active contracts for %s; using %s",
                        len(active),
                        wanted,
                        active[0].get("id"),
                    )
                return to_contract(active[0])
        raise AlertInvalidError(
            f"Ticker '{ticker}': the gateway lists no active contract for symbol {symbol}. "
            f"Check {root} under [gateway.symbols] in tvbridge.toml, or send a dated ticker "
            f"(e.g. {root}Z2025)"
        )

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
