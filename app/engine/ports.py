"""The engine's view of a ProjectX gateway: the live client and the simulator-backed one alike.

app/gateway/projectx.py implements it (app/gateway/dryrun.py wraps it); tests' fakes implement it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from app.domain.bars import Bar, BarUnit
from app.domain.events import Fill
from app.domain.models import Account, BrokerOrder, Contract, OrderRequest, Position
from app.domain.notices import Notice


class Gateway(Protocol):
    """What the engine may ask of the gateway. Every call may raise a GatewayError subclass.

    Order-changing calls (place, cancel, modify, close) are sent once and never retried: after sending,
    a timeout, 5xx, 429 or dropped connection raises OutcomeUnknown (reference/projectx-api.md
    §3, §8). Reads may be retried by the implementation.

    ProjectXGateway (live, or pointed at the simulator) and DryRunGateway implement all of it;
    ``mypy --strict`` checks that they do wherever one is passed as a Gateway.
    """

    @property
    def token_expires_at(self) -> datetime | None:
        """When the session token expires (UTC), for the status page; None before start."""

    @property
    def failing_since(self) -> datetime | None:
        """Since when (UTC) the gateway has not answered (transport failure or 5xx), for the
        unreachable alarm; None while it answers."""

    async def start(self) -> None:
        """Log in (Auth/loginKey). Raises GatewayAuthError with the gateway's reason."""

    async def close(self) -> None:
        """Release connections."""

    async def accounts(self) -> list[Account]:
        """Active accounts (Account/search, onlyActiveAccounts=true)."""

    def known_contracts(self) -> list[Contract]:
        """The contracts read so far (tick size and value), from the cache: no request."""

    def resolved_contracts(self) -> list[Contract]:
        """The contracts a ticker was resolved to in this run (the templates' fixed tickers at
        start, then each alert's), from the cache: no request."""

    async def contract(self, ticker: str) -> Contract:
        """Resolve a TradingView ticker (``NQ1!``, ``CME_MINI:NQ1!``, ``MNQZ2025``, ``MNQZ5``,
        ``MNQ``) to the gateway contract. Raises AlertInvalidError naming an unknown ticker."""

    async def place_order(self, request: OrderRequest) -> int:
        """Order/place; return the broker order id.

        Raises OrderRejected (with ``broker_order_id`` when the gateway created it anyway),
        OutcomeUnknown after sending, GatewayUnavailable before sending.
        """

    async def cancel_order(self, account_id: int, broker_order_id: int) -> None:
        """Order/cancel. Raises OrderRejected (e.g. OrderNotFound), OutcomeUnknown."""

    async def modify_order(
        self,
        account_id: int,
        broker_order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        """Order/modify: change only the given fields (size in contracts, prices in points).
        Never retried. Raises OrderRejected (OrderNotFound, no longer working), OutcomeUnknown."""

    async def close_position(self, account_id: int, contract_id: str) -> None:
        """Position/closeContract at market. Raises OrderRejected (PositionNotFound, …)."""

    async def partial_close_position(self, account_id: int, contract_id: str, size: int) -> None:
        """Position/partialCloseContract: close ``size`` contracts (1 … the position's size) at
        market; the gateway answers no order id (§4.9). Never retried. Raises OrderRejected
        (InvalidCloseSize, OrderRejected: market closed or no current price, …), OutcomeUnknown."""

    async def search_orders(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[BrokerOrder]:
        """Order/search between ``since`` and ``until`` (UTC). Suspended bracket children are
        not listed by the gateway (§4.8)."""

    async def search_trades(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[Fill]:
        """Trade/search between ``since`` and ``until`` (UTC): one Fill per fill, oldest first
        (§4.10)."""

    async def open_orders(self, account_id: int) -> list[BrokerOrder]:
        """Order/searchOpen: working (status Open) orders only."""

    async def suspended_orders(self, account_id: int) -> list[BrokerOrder]:
        """Bracket children waiting for their entry to fill (Order/v2/query, statuses [8],
        §4.8): the orders Order/search does not list."""

    async def open_positions(self, account_id: int) -> list[Position]:
        """Position/searchOpen."""

    async def last_price(self, contract_id: str) -> Decimal | None:
        """The contract's latest traded price (points), for the risk monitor; None when the
        gateway has no recent bar (market closed)."""

    async def bars(
        self, contract_id: str, start: datetime, end: datetime, unit: BarUnit = BarUnit.MINUTE
    ) -> list[Bar]:
        """History/retrieveBars (§4.5): the bars of one ``unit`` (unitNumber 1) starting in
        [``start``, ``end``] (UTC), the partial bar included, oldest first; at most
        MAX_BARS_PER_CALL (the newest are kept). Raises GatewayError naming the gateway's
        error (ContractNotFound, …), GatewayUnavailable."""

    def place_order_body(self, request: OrderRequest) -> dict[str, Any]:
        """The exact JSON body Order/place would send for ``request`` (for ``tvbridge render``)."""


class Notifier(Protocol):
    """Where the engine hands a notice for the trader (app/notify/ implements it).

    ``notify`` returns at once and never raises: routing, deduplication within a window, quiet
    hours, the bounded queue and the sending (with retries) happen off the caller's path, so a
    notice never delays or fails an alert. A full queue drops the notice and counts it."""

    def notify(self, notice: Notice) -> None:
        """Queue ``notice`` for the targets its kind and level are routed to."""


class NullNotifier:
    """No notification targets configured: notices are dropped (they are journaled as events
    where the engine journals them anyway)."""

    def notify(self, notice: Notice) -> None:
        """Drop ``notice``."""


class LiveQuote(Protocol):
    """One contract's latest quote, as a PriceFeed holds it (app/gateway/market_hub.Quote)."""

    @property
    def last_price(self) -> Decimal | None:
        """The last traded price, points; None until the hub sent one."""

    @property
    def received_at(self) -> datetime:
        """When the quote's last part arrived, UTC."""


class PriceFeed(Protocol):
    """Live prices of the contracts held (the Market Hub's PriceBook, app/gateway/market_hub.py)."""

    @property
    def live(self) -> bool:
        """True while the feed is connected: a quote it holds is the current price however old
        it is (a quote comes only when the price changes)."""

    def all(self) -> Mapping[str, LiveQuote]:
        """contract id → its latest quote (the contracts followed and quoted so far)."""
