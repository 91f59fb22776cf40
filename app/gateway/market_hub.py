"""The ProjectX Market Hub client: live quotes per contract, on the User Hub's supervisor.

``MarketHub`` is app/gateway/hub.py's ``UserHub`` (silence watchdog, rebuild with backoff,
token rotation, ``GatewayLogout``, urgent retries, token-free logs) with other subscriptions
and events: ``SubscribeContractQuotes(contractId)`` per contract, made again after every
(re)connect, and ``GatewayQuote`` events (projectx-api.md §7.4).

Two live facts shape the parsing (projectx-api.md §13 note 6): a quote is tagged by the
product's ``symbolId`` (``F.US.MES``), not by the subscribed contract id, so it is mapped back
through the contracts subscribed (every subscribed contract of that product gets it); and
quotes are sparse (changed fields only), so they are merged per symbol before they are read.
The result is the ``PriceBook``: the latest merged quote per contract id with its UTC time, and
whether the hub is live. signalrcore's own WebSocket reader has no message size limit, so depth
snapshots over 10 KB (§13: a 10 KB limit closes with 1009) never end the connection; at least
1 MiB is required.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.models import Contract
from app.gateway import wire
from app.gateway.hub import TokenSource, UserHub

log = logging.getLogger(__name__)

QUOTE_EVENT = "GatewayQuote"
SUBSCRIBE_QUOTES = "SubscribeContractQuotes"
UNSUBSCRIBE_QUOTES = "UnsubscribeContractQuotes"
# The GatewayQuote fields kept (projectx-api.md §7.4); prices in points.
_PRICE_FIELDS = ("lastPrice", "bestBid", "bestAsk")

OnQuote = Callable[["Quote"], Awaitable[None]]


@dataclass(frozen=True)
class Quote:
    """The latest merged quote of one contract.

    Prices in points (None until the hub sent that field); ``at``: the quote's own time
    (``timestamp``, else ``lastUpdated``, else when it arrived), UTC; ``received_at``: when the
    last part of it arrived, UTC.
    """

    contract_id: str
    symbol_id: str
    last_price: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    at: datetime
    received_at: datetime


def symbol_id_of(contract_id: str) -> str:
    """The product's symbolId of a contract id: ``CON.F.US.MES.U26`` → ``F.US.MES``
    (projectx-api.md §13 note 11; the inverse of contracts.contract_id_for). Prefer the
    contract's own ``symbolId`` when it was read from the gateway."""
    return contract_id.removeprefix("CON.").rsplit(".", 1)[0]


def _price(value: Any) -> Decimal | None:
    """A JSON number as a Decimal without float noise (2100.25, not 2100.25000000001)."""
    return None if value is None else Decimal(str(value))


class PriceBook:
    """The latest quote per contract id, and whether the Market Hub is live.

    ``live()`` is True while the hub is connected and subscribed: a quote kept from before a
    drop is still returned, with its time, and the reader decides how old is too old.
    """

    def __init__(self, live: Callable[[], bool]) -> None:
        self._live = live
        self._quotes: dict[str, Quote] = {}

    @property
    def live(self) -> bool:
        """True while the Market Hub is connected (quotes are current)."""
        return self._live()

    def get(self, contract_id: str) -> Quote | None:
        """The latest quote of ``contract_id``, None when none arrived (or it is unsubscribed)."""
        return self._quotes.get(contract_id)

    def all(self) -> dict[str, Quote]:
        """A copy: contract id → latest quote."""
        return dict(self._quotes)

    def put(self, quote: Quote) -> None:
        self._quotes[quote.contract_id] = quote

    def drop(self, contract_id: str) -> None:
        self._quotes.pop(contract_id, None)


class MarketHub(UserHub):
    """Live quotes for the contracts it is given: ``book`` holds the latest per contract id.

    ``token`` is the session token source (as for UserHub); ``on_quote`` (optional) runs for
    every merged quote, in arrival order, on the event loop: keep it cheap (it may throttle and
    hand work elsewhere); what it raises is logged and counted. The keyword waits are UserHub's
    (seconds).
    """

    NAME = "Market Hub"
    TARGETS = (QUOTE_EVENT,)

    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        on_quote: OnQuote | None = None,
        urgent: Callable[[], bool] | None = None,
        silence_timeout_s: float = 45.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        token_check_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        keep_alive_s: float = 10.0,
    ) -> None:
        super().__init__(
            url,
            token,
            self._deliver,
            self._reconnected,
            urgent=urgent,
            silence_timeout_s=silence_timeout_s,
            backoff_s=backoff_s,
            token_check_s=token_check_s,
            connect_timeout_s=connect_timeout_s,
            keep_alive_s=keep_alive_s,
        )
        self.on_quote = on_quote
        self._contracts: dict[str, Contract] = {}
        self._merged: dict[str, dict[str, Any]] = {}  # symbolId → the fields seen so far
        self.book = PriceBook(lambda: self.state.connected)

    @property
    def contract_ids(self) -> list[str]:
        """The contracts subscribed (sorted)."""
        return sorted(self._contracts)

    async def start_quotes(self, contracts: Iterable[Contract]) -> None:
        """Follow ``contracts``; connect in the background and return at once.

        Raises RuntimeError when already started.
        """
        self._contracts = {contract.contract_id: contract for contract in contracts}
        await self.start([])

    async def subscribe(self, contracts: Iterable[Contract]) -> None:
        """Also follow ``contracts``, now (when connected) and after every reconnect."""
        added = [c for c in contracts if c.contract_id not in self._contracts]
        for contract in added:
            self._contracts[contract.contract_id] = contract
        await self._call_now([(SUBSCRIBE_QUOTES, [c.contract_id]) for c in added])

    async def unsubscribe(self, contract_ids: Iterable[str]) -> None:
        """Stop following ``contract_ids``; their quotes leave the book."""
        removed = [cid for cid in contract_ids if self._contracts.pop(cid, None) is not None]
        for contract_id in removed:
            self.book.drop(contract_id)
        await self._call_now([(UNSUBSCRIBE_QUOTES, [cid]) for cid in removed])

    async def set_contracts(self, contracts: Iterable[Contract]) -> None:
        """Follow exactly ``contracts``: subscribe the new ones, unsubscribe the others."""
        wanted = {contract.contract_id: contract for contract in contracts}
        await self.unsubscribe([cid for cid in self._contracts if cid not in wanted])
        await self.subscribe(wanted.values())

    # -- UserHub's hooks ----------------------------------------------------------------------

    def _subscription_calls(self) -> list[tuple[str, list[Any]]]:
        return [(SUBSCRIBE_QUOTES, [contract_id]) for contract_id in sorted(self._contracts)]

    def _following(self) -> str:
        return f"following contracts {sorted(self._contracts)}"

    def _parse(self, target: str, arguments: list[Any]) -> list[Any]:
        """Merge one GatewayQuote ``(tag, data)`` into the book; return the quotes it changed."""
        if target != QUOTE_EVENT:
            return []
        tag = arguments[0] if arguments and isinstance(arguments[0], str) else None
        data = arguments[-1] if arguments and isinstance(arguments[-1], dict) else None
        if data is None:
            raise ValueError(f"{QUOTE_EVENT} without a data object: {arguments!r}")
        symbol = data.get("symbol") or data.get("symbolId") or tag
        if not isinstance(symbol, str):
            raise ValueError(f"{QUOTE_EVENT} without a symbol: {arguments!r}")
        targets = {cid for cid, c in self._contracts.items() if c.symbol_id == symbol}
        if tag in self._contracts:  # should the hub ever tag by contract id (its documentation)
            targets.add(tag)
            symbol = self._contracts[tag].symbol_id
        merged = self._merged.setdefault(symbol, {})
        merged.update({key: value for key, value in data.items() if value is not None})
        now = datetime.now(UTC)
        at = (
            wire.parse_timestamp(merged.get("timestamp"))
            or wire.parse_timestamp(merged.get("lastUpdated"))
            or now
        )
        last, bid, ask = (_price(merged.get(key)) for key in _PRICE_FIELDS)
        quotes = [Quote(cid, symbol, last, bid, ask, at, now) for cid in sorted(targets)]
        for quote in quotes:
            self.book.put(quote)
        return quotes

    async def _deliver(self, quote: Any) -> None:
        if self.on_quote is not None:
            await self.on_quote(quote)

    async def _reconnected(self, previous_good_at: datetime | None) -> None:
        """Nothing to catch up: the first quote after subscribing is the current one."""
