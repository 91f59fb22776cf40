"""A gateway that reads for real but records order-changing calls instead of sending them.

Used by ``tvbridge render`` (and the page's "try it" panel) so that a preview runs the very code
path an alert takes, and shows the exact request bodies, without a single order reaching ProjectX.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.bars import Bar, BarUnit
from app.domain.events import Fill
from app.domain.models import Account, BrokerOrder, Contract, OrderRequest, Position
from app.gateway import wire
from app.gateway.projectx import ProjectXGateway, modify_order_body


class DryRunGateway:
    """Wrap a ProjectXGateway: reads pass through, Order/place, cancel, modify and close are recorded.

    ``calls`` holds ``{"endpoint": "Order/place", "body": {…}}`` in the order they would be sent.
    A recorded place answers with a negative broker order id, so it can never be mistaken for a
    real one.
    """

    def __init__(self, inner: ProjectXGateway) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []

    @property
    def token_expires_at(self) -> datetime | None:
        return self.inner.token_expires_at

    @property
    def failing_since(self) -> datetime | None:
        return self.inner.failing_since

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def accounts(self) -> list[Account]:
        return await self.inner.accounts()

    def known_contracts(self) -> list[Contract]:
        return self.inner.known_contracts()

    def resolved_contracts(self) -> list[Contract]:
        return self.inner.resolved_contracts()

    async def contract(self, ticker: str) -> Contract:
        return await self.inner.contract(ticker)

    async def search_orders(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[BrokerOrder]:
        return await self.inner.search_orders(account_id, since, until)

    async def search_trades(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[Fill]:
        return await self.inner.search_trades(account_id, since, until)

    async def open_orders(self, account_id: int) -> list[BrokerOrder]:
        return await self.inner.open_orders(account_id)

    async def suspended_orders(self, account_id: int) -> list[BrokerOrder]:
        return await self.inner.suspended_orders(account_id)

    async def open_positions(self, account_id: int) -> list[Position]:
        return await self.inner.open_positions(account_id)

    async def last_price(self, contract_id: str) -> Decimal | None:
        return await self.inner.last_price(contract_id)

    async def bars(
        self, contract_id: str, start: datetime, end: datetime, unit: BarUnit = BarUnit.MINUTE
    ) -> list[Bar]:
        return await self.inner.bars(contract_id, start, end, unit)

    def place_order_body(self, request: OrderRequest) -> dict[str, Any]:
        return wire.place_order_body(request)

    async def place_order(self, request: OrderRequest) -> int:
        self._record("Order/place", wire.place_order_body(request))
        return -len(self.calls)

    async def cancel_order(self, account_id: int, broker_order_id: int) -> None:
        self._record("Order/cancel", wire.cancel_order_body(account_id, broker_order_id))

    async def modify_order(
        self,
        account_id: int,
        broker_order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        body = modify_order_body(
            account_id, broker_order_id, size=size, limit_price=limit_price, stop_price=stop_price
        )
        self._record("Order/modify", body)

    async def close_position(self, account_id: int, contract_id: str) -> None:
        self._record("Position/closeContract", wire.close_position_body(account_id, contract_id))

    async def partial_close_position(self, account_id: int, contract_id: str, size: int) -> None:
        self._record("Position/partialCloseContract", wire.partial_close_body(account_id, contract_id, size))

    def _record(self, endpoint: str, body: dict[str, Any]) -> None:
        self.calls.append({"endpoint": endpoint, "body": body})
