"""ProjectXGateway: the engine's Gateway (app/engine/ports.py) over the ProjectX REST API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app.config import GatewaySettings
from app.domain.bars import MAX_BARS_PER_CALL, Bar, BarUnit
from app.domain.events import Fill
from app.domain.models import Account, BrokerOrder, Contract, OrderRequest, Position
from app.errors import ConfigError, OrderRejected, OutcomeUnknown
from app.gateway import wire
from app.gateway.contracts import ContractResolver
from app.gateway.rest import RestClient

PLACE = "Order/place"
# Order/v2/query pages: 100 rows at most each (§4.8); more than 1,000 held orders is not a thing.
QUERY_PAGE_SIZE = 100
QUERY_PAGES = 10


class ProjectXGateway:
    """The live (or simulated) ProjectX gateway, in the bridge's own words.

    Order-changing calls are sent once and never retried (reference/projectx-api.md §3, §8).
    """

    def __init__(self, rest: RestClient, resolver: ContractResolver) -> None:
        self.rest = rest
        self.resolver = resolver

    @property
    def token_expires_at(self) -> datetime | None:
        """When the session token expires (UTC), for the status page; None before start."""
        return self.rest.token_expires_at

    @property
    def failing_since(self) -> datetime | None:
        """Since when (UTC) the gateway has not answered (transport failure or 5xx), for the
        unreachable alarm; None while it answers."""
        return self.rest.failing_since

    async def start(self) -> None:
        """Log in (Auth/loginKey, §2.1). Raises GatewayAuthError with the gateway's reason."""
        await self.rest.login()

    async def close(self) -> None:
        """Release connections."""
        await self.rest.aclose()

    async def accounts(self) -> list[Account]:
        """Active accounts (Account/search with onlyActiveAccounts, §4.1)."""
        envelope = await self.rest.call("Account/search", {"onlyActiveAccounts": True}, mutating=False)
        return [wire.to_account(row) for row in envelope.get("accounts") or []]

    def roll_warnings(self) -> list[str]:
        """Today's roll warnings of the contracts resolved so far (ContractResolver.roll_warnings)."""
        return self.resolver.roll_warnings()

    def known_contracts(self) -> list[Contract]:
        """The contracts the resolver has cached (ContractResolver.known): no request."""
        return self.resolver.known()

    def resolved_contracts(self) -> list[Contract]:
        """The contracts a ticker was resolved to in this run (ContractResolver.resolved)."""
        return self.resolver.resolved()

    async def contract(self, ticker: str) -> Contract:
        """Resolve a TradingView ticker to a contract. Raises AlertInvalidError when unknown."""
        return await self.resolver.resolve(ticker)

    async def place_order(self, request: OrderRequest) -> int:
        """Send Order/place once (§4.6, §6) and return the broker order id.

        Raises OrderRejected (``broker_order_id`` set when the gateway created it anyway),
        OutcomeUnknown after sending, GatewayUnavailable before sending.
        """
        try:
            body = wire.place_order_body(request)
        except ValueError as exc:
            raise OrderRejected(
                f"Order {request.client_order_id} was not sent: {exc}",
                endpoint=PLACE,
                error_name="InvalidRequest",
            ) from None
        envelope = await self.rest.call(PLACE, body, mutating=True)
        broker_order_id = envelope.get("orderId")
        if isinstance(broker_order_id, bool) or not isinstance(broker_order_id, int):
            raise OutcomeUnknown(
                f"{PLACE}: the gateway said success but sent orderId {broker_order_id!r} for "
                f"customTag {request.client_order_id}; reconciliation looks it up by customTag",
                endpoint=PLACE,
            )
        return broker_order_id

    async def cancel_order(self, account_id: int, broker_order_id: int) -> None:
        """Send Order/cancel once (§4.7). Raises OrderRejected (e.g. OrderNotFound),
        OutcomeUnknown, GatewayUnavailable."""
        await self.rest.call(
            "Order/cancel", wire.cancel_order_body(account_id, broker_order_id), mutating=True
        )

    async def modify_order(
        self,
        account_id: int,
        broker_order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        """Send Order/modify once (§4.7): only the given fields (contracts, absolute points).

        Raises OrderRejected (OrderNotFound, Rejected: the order is no longer working, …),
        OutcomeUnknown after sending, GatewayUnavailable before sending.
        """
        body = modify_order_body(
            account_id, broker_order_id, size=size, limit_price=limit_price, stop_price=stop_price
        )
        await self.rest.call("Order/modify", body, mutating=True)

    async def close_position(self, account_id: int, contract_id: str) -> None:
        """Send Position/closeContract once: close at market (§4.9). Raises OrderRejected
        (PositionNotFound, …), OutcomeUnknown, GatewayUnavailable."""
        await self.rest.call(
            "Position/closeContract", wire.close_position_body(account_id, contract_id), mutating=True
        )

    async def partial_close_position(self, account_id: int, contract_id: str, size: int) -> None:
        """Send Position/partialCloseContract once: close ``size`` contracts at market (§4.9; no
        order id comes back). Raises OrderRejected (InvalidCloseSize, OrderRejected: errorCode 6
        with no message means the market is closed or has no price, §8.17), OutcomeUnknown,
        GatewayUnavailable."""
        await self.rest.call(
            "Position/partialCloseContract",
            wire.partial_close_body(account_id, contract_id, size),
            mutating=True,
        )

    async def search_orders(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[BrokerOrder]:
        """Orders created between ``since`` and ``until`` (UTC) by Order/search (§4.8).

        Suspended bracket children are not listed by the gateway.
        """
        return await self._orders("Order/search", _window(account_id, since, until))

    async def search_trades(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[Fill]:
        """Fills between ``since`` and ``until`` (UTC) by Trade/search (§4.10), oldest first.

        The live gateway lists them newest first; one order may have several fills.
        """
        envelope = await self.rest.call("Trade/search", _window(account_id, since, until), mutating=False)
        fills = [wire.to_fill(row) for row in envelope.get("trades") or []]
        return sorted(fills, key=lambda fill: (fill.filled_at, fill.trade_id))

    async def open_orders(self, account_id: int) -> list[BrokerOrder]:
        """Working (status Open) orders by Order/searchOpen (§4.8)."""
        return await self._orders("Order/searchOpen", {"accountId": account_id})

    async def suspended_orders(self, account_id: int) -> list[BrokerOrder]:
        """Bracket children waiting for their entry to fill (status Suspended), which Order/search
        and Order/searchOpen do not list: Order/v2/query with statuses [8] (§4.8), page by page
        (100 rows, row offsets), at most QUERY_PAGES pages."""
        orders: list[BrokerOrder] = []
        for page in range(QUERY_PAGES):
            body = {
                "filter": {"accountId": account_id, "statuses": [int(wire.OrderStatus.SUSPENDED)]},
                "pageSize": QUERY_PAGE_SIZE,
                "pageOffset": page * QUERY_PAGE_SIZE,
                "sortBy": 1,  # Id
                "sortDirection": 0,  # Asc
            }
            envelope = await self.rest.call("Order/v2/query", body, mutating=False)
            rows = envelope.get("orders") or []
            orders += [wire.to_broker_order(row) for row in rows]
            if len(rows) < QUERY_PAGE_SIZE:
                break
        return orders

    async def open_positions(self, account_id: int) -> list[Position]:
        """Open positions by Position/searchOpen (§4.9); size in contracts."""
        envelope = await self.rest.call("Position/searchOpen", {"accountId": account_id}, mutating=False)
        rows = envelope.get("positions") or []
        return [wire.to_position(row) for row in rows if row.get("size")]

    async def last_price(self, contract_id: str) -> Decimal | None:
        """The contract's latest traded price (points): the close of its newest one-minute bar,
        the partial one included, by History/retrieveBars (§4.5; 50 requests / 30 s, §3).
        None when the gateway has no bar in the last 15 minutes (market closed)."""
        now = datetime.now(UTC)
        body = {
            "contractId": contract_id,
            "live": False,
            "startTime": wire.format_timestamp(now - timedelta(minutes=15)),
            "endTime": wire.format_timestamp(now),
            "unit": 2,  # AggregateBarUnit Minute
            "unitNumber": 1,
            "limit": 1,
            "includePartialBar": True,
        }
        envelope = await self.rest.call("History/retrieveBars", body, mutating=False)
        bars = [bar for bar in envelope.get("bars") or [] if bar.get("c") is not None]
        if not bars:
            return None
        newest = max(bars, key=lambda bar: str(bar.get("t") or ""))  # ISO 8601 UTC: sorts as text
        return Decimal(str(newest["c"]))

    async def bars(
        self, contract_id: str, start: datetime, end: datetime, unit: BarUnit = BarUnit.MINUTE
    ) -> list[Bar]:
        """History/retrieveBars (§4.5; 50 requests / 30 s, §3): bars of one ``unit`` in
        [``start``, ``end``] (UTC), the partial one included, oldest first (the gateway answers
        newest first). At most MAX_BARS_PER_CALL: the gateway keeps the newest of the window.
        Raises GatewayError (error_name ContractNotFound, UnitInvalid, …), GatewayUnavailable."""
        body = {
            "contractId": contract_id,
            "live": False,
            "startTime": wire.format_timestamp(start),
            "endTime": wire.format_timestamp(end),
            "unit": int(unit),
            "unitNumber": 1,
            "limit": MAX_BARS_PER_CALL,
            "includePartialBar": True,
        }
        envelope = await self.rest.call("History/retrieveBars", body, mutating=False)
        bars = [wire.to_bar(row) for row in envelope.get("bars") or [] if row.get("c") is not None]
        return sorted(bars, key=lambda bar: bar.at)

    def place_order_body(self, request: OrderRequest) -> dict[str, Any]:
        """The exact JSON body Order/place would send for ``request`` (for ``tvbridge render``)."""
        return wire.place_order_body(request)

    async def _orders(self, endpoint: str, body: dict[str, Any]) -> list[BrokerOrder]:
        envelope = await self.rest.call(endpoint, body, mutating=False)
        return [wire.to_broker_order(row) for row in envelope.get("orders") or []]


def modify_order_body(
    account_id: int,
    broker_order_id: int,
    *,
    size: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
) -> dict[str, Any]:
    """The Order/modify body (§4.7). Only the fields being changed are sent: whether a null means
    "unchanged" is undocumented, and live use sends only the changed field."""
    body: dict[str, Any] = {"accountId": account_id, "orderId": broker_order_id}
    if size is not None:
        body["size"] = size
    if limit_price is not None:
        body["limitPrice"] = float(str(limit_price))
    if stop_price is not None:
        body["stopPrice"] = float(str(stop_price))
    return body


def _window(account_id: int, since: datetime, until: datetime | None) -> dict[str, Any]:
    """The body of a search by time (Order/search, Trade/search): startTimestamp is always sent."""
    body: dict[str, Any] = {"accountId": account_id, "startTimestamp": wire.format_timestamp(since)}
    if until is not None:
        body["endTimestamp"] = wire.format_timestamp(until)
    return body


def build_gateway(
    settings: GatewaySettings,
    *,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProjectXGateway:
    """Build the gateway from ``[gateway]`` settings.

    ``base_url`` overrides ``settings.resolved_api_url`` (the in-process simulator's URL when
    kind is "sim"). Raises ConfigError when there is no URL to talk to.
    """
    url = base_url or settings.resolved_api_url
    if not url:
        raise ConfigError(
            f"gateway kind '{settings.kind}' has no REST URL; set gateway.api_url in tvbridge.toml"
        )
    rest = RestClient(
        url,
        settings.username,
        settings.api_key,
        timeout_s=settings.timeout_s,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        refresh_margin_s=settings.token_refresh_margin_s,
        transport=transport,
    )
    resolver = ContractResolver(rest, settings.symbols, refresh_s=settings.contract_refresh_s)
    return ProjectXGateway(rest, resolver)
