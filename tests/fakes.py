"""One hand-written gateway for the engine's unit tests: the engine's Gateway Protocol
(app/engine/ports.py) over plain dictionaries the test reads and sets.

Orders stay as the test leaves them (``fill``, ``update``); positions are the ones the test holds
(``positions``) plus the net of the orders' fills, as a gateway's are. Every order-changing call
is logged in ``calls`` in order, and may be refused (``refused_tags``, ``cancel_errors``); reads of
an ``unreadable`` account fail as an unreachable gateway does. ``conforms`` makes mypy check that
the fake is a complete Gateway.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.bars import Bar, BarUnit
from app.domain.enums import OrderState, OrderType, Side
from app.domain.events import Fill, OrderEvent
from app.domain.models import Account, BrokerOrder, Contract, OrderRequest, Position
from app.domain.notices import Notice, NoticeKind
from app.engine.ports import Gateway
from app.errors import GatewayUnavailable, OrderRejected
from app.gateway import wire

AUTO, OTHER = 70000001, 70000002
MNQ = Contract("CON.F.US.MNQ.H26", "MNQH6", "MNQ", Decimal("0.25"), Decimal("0.50"), "F.US.MNQ")
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
FIRST_ORDER_ID = 3_350_000_001


def _accounts() -> list[Account]:
    return [
        Account(AUTO, "SIM-AUTO-OCO", Decimal(50000), True),
        Account(OTHER, "SIM-POSITION-BRACKETS", Decimal(50000), True),
    ]


@dataclass
class FakeGateway:
    """A gateway whose state is what the test set: see the module's docstring."""

    account_list: list[Account] = field(default_factory=_accounts)
    contract_for: Contract = MNQ  # what every ticker resolves to
    orders: dict[int, BrokerOrder] = field(default_factory=dict)
    positions: dict[tuple[int, str], Position] = field(default_factory=dict)  # held before any fill
    trades: list[Fill] = field(default_factory=list)  # what Trade/search lists, oldest first
    prices: dict[str, Decimal] = field(default_factory=dict)  # contract id → last traded price
    bar_history: dict[str, list[Bar]] = field(default_factory=dict)  # contract id → its bars
    # What the engine sent, in order: ("place", tag), ("cancel", id), ("modify", id),
    # ("close", (account id, contract id)); and per kind below.
    calls: list[tuple[str, Any]] = field(default_factory=list)
    requests: list[OrderRequest] = field(default_factory=list)
    cancels: list[int] = field(default_factory=list)
    modifies: list[tuple[int, int | None]] = field(default_factory=list)  # (order id, new size)
    placed_state: OrderState = OrderState.WORKING  # what a new non-market order starts as
    refused_tags: tuple[str, ...] = ()  # tag endings Order/place refuses (code 2)
    cancel_errors: dict[int, Exception] = field(default_factory=dict)  # order id → what cancel raises
    unreadable: set[int] = field(default_factory=set)  # accounts whose reads fail (not reachable)
    before_send: Callable[[], None] | None = None  # called before each order-changing call
    token_expires_at: datetime | None = None
    failing_since: datetime | None = None  # since when the gateway has not answered (UTC)
    started: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_ORDER_ID))
    _ticks: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the Gateway Protocol -------------------------------------------------------------------

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def accounts(self) -> list[Account]:
        return list(self.account_list)

    def known_contracts(self) -> list[Contract]:
        return [self.contract_for]

    def resolved_contracts(self) -> list[Contract]:
        return [self.contract_for]

    async def contract(self, ticker: str) -> Contract:
        return self.contract_for

    def place_order_body(self, request: OrderRequest) -> dict[str, Any]:
        return wire.place_order_body(request)

    async def place_order(self, request: OrderRequest) -> int:
        """A market order fills at once (price 0); any other starts as ``placed_state``."""
        self._sending("place", request.client_order_id)
        self.requests.append(request)
        if request.client_order_id.endswith(self.refused_tags or ("\0",)):
            raise OrderRejected("Invalid price", endpoint="Order/place", error_name="OrderRejected")
        broker_order_id = next(self._ids)
        market = request.order_type is OrderType.MARKET
        self.orders[broker_order_id] = BrokerOrder(
            broker_order_id,
            request.account_id,
            request.contract_id,
            OrderState.FILLED if market else self.placed_state,
            str(request.order_type),
            request.side,
            request.size,
            fill_volume=request.size if market else 0,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_order_id=request.client_order_id,
            created_at=datetime.now(UTC),
            updated_at=self.now(),
        )
        return broker_order_id

    async def cancel_order(self, account_id: int, broker_order_id: int) -> None:
        """Cancelled, unless ``cancel_errors`` names the order (an OrderNotFound error: it went
        away between the engine's read and now, so it is gone all the same)."""
        self._sending("cancel", broker_order_id)
        self.cancels.append(broker_order_id)
        error = self.cancel_errors.get(broker_order_id)
        if error is None or getattr(error, "error_name", "") == "OrderNotFound":
            self.update(broker_order_id, state=OrderState.CANCELLED)
        if error is not None:
            raise error

    async def modify_order(
        self,
        account_id: int,
        broker_order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        self._sending("modify", broker_order_id)
        self.modifies.append((broker_order_id, size))
        order = self.orders[broker_order_id]
        self.update(
            broker_order_id,
            size=order.size if size is None else size,
            limit_price=order.limit_price if limit_price is None else limit_price,
            stop_price=order.stop_price if stop_price is None else stop_price,
        )

    async def close_position(self, account_id: int, contract_id: str) -> None:
        """Flat at once: the held position goes, and a market fill offsets what fills made."""
        self._sending("close", (account_id, contract_id))
        self.positions.pop((account_id, contract_id), None)
        net = self._net_of_fills(account_id).get(contract_id, 0)
        if net:
            broker_order_id = next(self._ids)
            side = Side.SELL if net > 0 else Side.BUY
            self.orders[broker_order_id] = BrokerOrder(
                broker_order_id,
                account_id,
                contract_id,
                OrderState.FILLED,
                str(OrderType.MARKET),
                side,
                abs(net),
                fill_volume=abs(net),
                created_at=datetime.now(UTC),
                updated_at=self.now(),
            )

    async def partial_close_position(self, account_id: int, contract_id: str, size: int) -> None:
        """Reduce the held position by ``size`` contracts (no order, no fill: the e2e tests on
        the simulator cover those)."""
        self._sending("partial_close", (account_id, contract_id, size))
        held = self.positions.get((account_id, contract_id))
        if held is not None:
            left = held.size - size
            if left > 0:
                self.positions[(account_id, contract_id)] = replace(held, size=left)
            else:
                self.positions.pop((account_id, contract_id), None)

    async def search_orders(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[BrokerOrder]:
        self._read(account_id)
        return [o for o in self.orders.values() if o.account_id == account_id]

    async def search_trades(
        self, account_id: int, since: datetime, until: datetime | None = None
    ) -> list[Fill]:
        self._read(account_id)
        return [f for f in self.trades if f.account_id == account_id]

    async def open_orders(self, account_id: int) -> list[BrokerOrder]:
        self._read(account_id)
        return [
            o for o in self.orders.values() if o.account_id == account_id and o.state == OrderState.WORKING
        ]

    async def suspended_orders(self, account_id: int) -> list[BrokerOrder]:
        self._read(account_id)
        return []  # this gateway never holds bracket children back

    async def open_positions(self, account_id: int) -> list[Position]:
        """The held positions plus the net of the account's fills, per contract."""
        self._read(account_id)
        held = {c: p for (a, c), p in self.positions.items() if a == account_id}
        net = {c: (p.size if p.side is Side.BUY else -p.size) for c, p in held.items()}
        fills = self._net_of_fills(account_id)
        for contract_id, size in fills.items():
            net[contract_id] = net.get(contract_id, 0) + size
        result = []
        for contract_id, size in net.items():
            if contract_id in held and contract_id not in fills:
                result.append(held[contract_id])  # as the test set it
            elif size:
                side = Side.BUY if size > 0 else Side.SELL
                result.append(Position(account_id, contract_id, side, abs(size), Decimal(0)))
        return result

    async def last_price(self, contract_id: str) -> Decimal | None:
        return self.prices.get(contract_id)

    async def bars(
        self, contract_id: str, start: datetime, end: datetime, unit: BarUnit = BarUnit.MINUTE
    ) -> list[Bar]:
        """The test's ``bar_history`` of the contract that start in [start, end], oldest first."""
        rows = self.bar_history.get(contract_id, [])
        return sorted((b for b in rows if start <= b.at <= end), key=lambda b: b.at)

    # -- for the test ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """A gateway timestamp: a millisecond later at each call."""
        return T0 + timedelta(milliseconds=next(self._ticks))

    def by_tag(self, tag: str) -> BrokerOrder:
        return next(o for o in self.orders.values() if o.client_order_id == tag)

    def working(self) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if o.state == OrderState.WORKING]

    def update(self, broker_order_id: int, **changes: Any) -> OrderEvent:
        """Change an order as the gateway would; the User Hub's event for it."""
        order = replace(self.orders[broker_order_id], updated_at=self.now(), **changes)
        self.orders[broker_order_id] = order
        return OrderEvent(order)

    def fill(self, tag: str, volume: int, price: str) -> OrderEvent:
        """The order with ``tag`` filled up to ``volume`` contracts at ``price``; its event."""
        order = self.by_tag(tag)
        state = OrderState.FILLED if volume == order.size else OrderState.WORKING
        return self.update(
            order.broker_order_id, state=state, fill_volume=volume, filled_price=Decimal(price)
        )

    def _net_of_fills(self, account_id: int) -> dict[str, int]:
        net: dict[str, int] = {}
        for o in self.orders.values():
            if o.account_id == account_id and o.fill_volume:
                signed = o.fill_volume if o.side is Side.BUY else -o.fill_volume
                net[o.contract_id] = net.get(o.contract_id, 0) + signed
        return net

    def _read(self, account_id: int) -> None:
        if account_id in self.unreadable:
            raise GatewayUnavailable(f"Order/searchOpen: gateway not reachable for account {account_id}")

    def _sending(self, what: str, arg: object) -> None:
        if self.before_send is not None:
            self.before_send()
        self.calls.append((what, arg))


def conforms(fake: FakeGateway) -> Gateway:
    """Never called: mypy checks here that FakeGateway has every member of the Protocol."""
    return fake


class RecordingNotifier:
    """A Notifier (app/engine/ports.py) that keeps every notice it is handed, in order, unsent:
    for tests of what the engine notifies and when (routing and sending are app/notify/'s)."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        """Keep ``notice``."""
        self.notices.append(notice)

    def of(self, kind: NoticeKind) -> list[Notice]:
        """The notices of ``kind``, oldest first."""
        return [notice for notice in self.notices if notice.kind == kind]
