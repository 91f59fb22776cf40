"""The simulator's Market Hub at ``/hubs/market``: quotes from its own price walk.

The same SignalR server as its User Hub (app/sim/hub.py: handshake, negotiate, pings, the
``HubFaults`` switches ``drop_all``, ``refuse_for``, ``silent``, ``expire_tokens``,
``logout_all``), with the Market Hub's methods (projectx-api.md §7.4):
``Subscribe{ContractQuotes,ContractTrades,ContractMarketDepth}(contractId)`` and their
Unsubscribe twins. Only quotes are sent (the trade and depth subscriptions are accepted and
stay quiet). Like the live hub (§13 note 6) a quote is tagged by the product's symbolId, in
the first argument and in ``symbol``, never by the contract id, and is sparse: the first quote
after subscribing carries every field, later ones only what changed, the last price and the
book in two separate messages. ``bestBid`` is the walk's price and ``bestAsk`` one tick above.
The ``duplicate`` and ``reorder_batch`` switches act on User Hub events only.

``market_hub_faults(state)`` gives the switches (kept as ``state.market_hub``); its
``quote_interval_s`` is how often each connection looks at the prices (seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from starlette.routing import BaseRoute

from app.sim.hub import HubFaults, _UserHubServer, mount_hub
from app.sim.hub_connection import Connection
from app.sim.state import SimState
from app.sim.wire import format_timestamp

MARKET_HUB_PATH = "/hubs/market"
QUOTE_EVENT = "GatewayQuote"
DEFAULT_QUOTE_INTERVAL_S = 0.05
_METHODS = ("ContractQuotes", "ContractTrades", "ContractMarketDepth")


class MarketHubFaults(HubFaults):
    """The User Hub's switches (see HubFaults) plus ``quote_interval_s`` (seconds)."""

    def __init__(self, hub: _UserHubServer) -> None:
        super().__init__(hub)
        self.quote_interval_s = DEFAULT_QUOTE_INTERVAL_S


class _MarketHubServer(_UserHubServer):
    """``/hubs/market``: subscriptions per connection and one quote pump per connection."""

    def __init__(self, state: SimState) -> None:
        super().__init__(state)
        self.faults = MarketHubFaults(self)
        self.market_faults = self.faults

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """User Hub events are not the Market Hub's."""

    def _invoke(self, connection: Connection, target: Any, arguments: Any) -> str | None:
        args = arguments if isinstance(arguments, list) else []
        name = str(target)
        subscribe = name.startswith("Subscribe")
        if name.removeprefix("Subscribe").removeprefix("Unsubscribe") not in _METHODS:
            return f"Unknown hub method '{target}'"
        if len(args) != 1 or not isinstance(args[0], str):
            return f"Failed to invoke '{target}': send one argument, the contract id string; got {args!r}."
        contract_id = args[0]
        if contract_id not in self.state.prices:
            return f"Failed to invoke '{target}': contract {contract_id} is not listed."
        if name.endswith("ContractQuotes"):
            if subscribe:
                connection.contracts.add(contract_id)
            else:
                connection.contracts.discard(contract_id)
        return None

    def _more_loops(self, connection: Connection) -> list[Coroutine[Any, Any, None]]:
        return [self._pump_quotes(connection)]

    async def _pump_quotes(self, connection: Connection) -> None:
        """Send each subscribed contract's price when it changed (the first one in full)."""
        sent: dict[str, Decimal] = {}
        while True:
            await asyncio.sleep(self.market_faults.quote_interval_s)
            for contract_id in sorted(connection.contracts):
                price = self.state.prices.get(contract_id)
                if price is None or sent.get(contract_id) == price:
                    continue
                for data in self._quotes(contract_id, price, full=contract_id not in sent):
                    connection.push({"type": 1, "target": QUOTE_EVENT, "arguments": [data["symbol"], data]})
                sent[contract_id] = price
            for contract_id in set(sent) - connection.contracts:
                del sent[contract_id]  # subscribing again starts with a full quote

    def _quotes(self, contract_id: str, price: Decimal, *, full: bool) -> list[dict[str, Any]]:
        contract = self.state.contracts.listed[contract_id]
        now = format_timestamp(self.state.clock())
        stamp = {"symbol": contract.symbol_id, "lastUpdated": now, "timestamp": now}
        trade = {**stamp, "lastPrice": float(price)}
        book = {**stamp, "bestBid": float(price), "bestAsk": float(price + contract.tick_size)}
        if full:
            start = float(contract.product.start_price)
            return [
                {
                    **trade,
                    **book,
                    "symbolName": f"/{contract.product.ticker}",
                    "change": float(price) - start,
                    "open": start,
                },
            ]
        return [trade, book]


def market_hub_faults(state: SimState) -> MarketHubFaults:
    """The Market Hub of ``state`` (its switches), made on first use, kept as ``state.market_hub``."""
    faults = getattr(state, "market_hub", None)
    if not isinstance(faults, MarketHubFaults):
        faults = _MarketHubServer(state).market_faults
        state.market_hub = faults  # type: ignore[attr-defined]  # SimState stands beside the hub
    return faults


def market_hub_routes() -> list[BaseRoute]:
    """The Market Hub's routes, to mount before the REST catch-all (the app's ``state.sim``)."""
    return mount_hub(MARKET_HUB_PATH, lambda state: market_hub_faults(state)._hub)
