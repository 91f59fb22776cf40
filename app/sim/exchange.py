"""The simulated exchange: accounts, prices, orders, fills, positions, trades and their events.

Everything here runs on the event loop thread, synchronously: no locks, no awaits inside a
state change. Listeners are called synchronously with ``(event_name, payload)`` where the
payload is the live User Hub argument ``{"action": int, "data": {...}}`` with null fields
omitted (projectx-api.md §7.3): orders action 1, positions 1 (2 with ``type 0, size 0`` when
closed), trades 0, accounts 1.

Over 400 lines on purpose: ``Exchange`` is one matching engine whose orders, brackets, fills,
positions and balances change together in one synchronous step and are persisted as one change
set; the pure parts live beside it (rules.py, ledger.py, contracts.py, models.py, store.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.sim import rules
from app.sim.bars import PriceHistory
from app.sim.contracts import Catalogue, SimContract
from app.sim.ledger import CENT, apply_fill
from app.sim.models import (
    WORKING,
    BracketMode,
    BracketSpec,
    OrderStatus,
    OrderTicket,
    OrderType,
    Rejected,
    Side,
    SimAccount,
    SimOrder,
    SimPosition,
    SimTrade,
)
from app.sim.store import Changes, SimStore, Snapshot
from app.sim.wire import without_nulls

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
Clock = Callable[[], datetime]

AUTO_OCO_ACCOUNT_ID = 70000001
POSITION_BRACKETS_ACCOUNT_ID = 70000002
STARTING_BALANCE = Decimal("50000")  # USD

ORDER_EVENT = "GatewayUserOrder"
POSITION_EVENT = "GatewayUserPosition"
TRADE_EVENT = "GatewayUserTrade"
ACCOUNT_EVENT = "GatewayUserAccount"

_FIRST_ORDER_ID = 3_350_000_001  # int64-scale like the live ids (§1.2)
_FIRST_TRADE_ID = 2_900_000_001
_FIRST_POSITION_ID = 830_000_001


def _crossing_price(order: SimOrder, price: Decimal) -> Decimal | None:
    """The fill price if ``price`` triggers the working order, else None.

    Limits fill at their limit once the market trades through it; stops fill at the market
    price once it reaches the stop.
    """
    buying = order.side == Side.BID
    if order.type == OrderType.LIMIT and order.limit_price is not None:
        crossed = price <= order.limit_price if buying else price >= order.limit_price
        return order.limit_price if crossed else None
    if order.type in (OrderType.STOP, OrderType.TRAILING_STOP) and order.stop_price is not None:
        crossed = price >= order.stop_price if buying else price <= order.stop_price
        return price if crossed else None
    return price if order.type == OrderType.MARKET else None


class Exchange:
    """Two practice accounts trading the catalogue's contracts against a seeded price walk."""

    def __init__(self, *, seed: int, clock: Clock, walk_ticks: int = 2) -> None:
        self.clock = clock
        self.seed = seed
        self.walk_ticks = walk_ticks  # largest move of one walk step, in ticks
        self.contracts = Catalogue(clock().date())
        self.accounts: dict[int, SimAccount] = {
            AUTO_OCO_ACCOUNT_ID: SimAccount(
                AUTO_OCO_ACCOUNT_ID, "SIM-AUTO-OCO", STARTING_BALANCE, BracketMode.AUTO_OCO
            ),
            POSITION_BRACKETS_ACCOUNT_ID: SimAccount(
                POSITION_BRACKETS_ACCOUNT_ID,
                "SIM-POSITION-BRACKETS",
                STARTING_BALANCE,
                BracketMode.POSITION_BRACKETS,
            ),
        }
        self.prices: dict[str, Decimal] = {
            contract.id: contract.product.start_price for contract in self.contracts.all()
        }
        self.history = PriceHistory()  # one-minute bars of the prices above, for retrieveBars
        for contract_id, price in self.prices.items():
            self.history.record(contract_id, clock(), price)
        self.orders: dict[int, SimOrder] = {}
        self.positions: dict[tuple[int, str], SimPosition] = {}
        self.trades: list[SimTrade] = []
        self._open: dict[int, SimOrder] = {}  # status Open orders, the ones prices can fill
        # Contracts whose market is closed or halted (tests set it): partialCloseContract answers
        # errorCode 6 with errorMessage null there, as the gateway does (§4.9, §8.17).
        self.halted: set[str] = set()
        self._children: dict[int, list[SimOrder]] = {}  # entry id → bracket children
        self._tags: set[tuple[int, str]] = set()  # (account id, customTag) in use
        self._rng = random.Random(seed)
        self._listeners: list[Listener] = []
        self._next_order_id = _FIRST_ORDER_ID
        self._next_trade_id = _FIRST_TRADE_ID
        self._next_position_id = _FIRST_POSITION_ID
        # This simulator's tag: kept in its state file, new for a new file or an in-memory sim.
        # The bridge journals under "sim:<tag>", so a new simulator's restarted ids never meet
        # an old one's rows.
        self.instance = secrets.token_hex(4)
        self._store: SimStore | None = None
        self._changes = Changes()

    def add_practice_accounts(self, count: int) -> list[SimAccount]:
        """Add ``count`` more practice accounts, ``SIM-EXTRA-1``…, bracket mode AUTO_OCO, each
        with the starting balance; return them. For the benches and tests that send one alert
        to many accounts (a trader's funded accounts): the product never calls it."""
        added = []
        for _ in range(count):
            account_id = max(self.accounts) + 1
            extra = sum(a.name.startswith("SIM-EXTRA-") for a in self.accounts.values())
            account = SimAccount(account_id, f"SIM-EXTRA-{extra + 1}", STARTING_BALANCE, BracketMode.AUTO_OCO)
            self.accounts[account_id] = account
            if self._store is not None:
                self._changes.accounts[account_id] = account
            added.append(account)
        self.persist()
        return added

    # -- the state file ----------------------------------------------------------------------

    def attach_store(self, store: SimStore) -> None:
        """Keep this exchange in ``store``: load what it holds (orders, trades, positions,
        accounts, prices, id counters), or write the fresh state into a new file. From then on
        every change is written by ``persist()``."""
        self._store = store
        snapshot = store.load()
        if snapshot is None:
            self._changes.accounts.update(self.accounts)
            self._changed_meta(prices=True)
            self.persist()
        else:
            self._restore(snapshot)

    def detach_store(self) -> None:
        """Write what is pending, then close the state file."""
        if self._store is not None:
            self.persist()
            self._store.close()
            self._store = None

    def persist(self) -> None:
        """Write every change since the last call in one transaction (no-op without a store).

        Called before an answer leaves the simulator, so an acknowledged order survives a crash.
        """
        if self._store is None or not self._changes:
            return
        changes, self._changes = self._changes, Changes()
        self._store.save(changes)

    def _changed_meta(self, *, prices: bool = False) -> None:
        if self._store is None:
            return
        meta = self._changes.meta
        meta["instance"] = self.instance
        meta["next_order_id"] = self._next_order_id
        meta["next_trade_id"] = self._next_trade_id
        meta["next_position_id"] = self._next_position_id
        if prices:
            meta["prices"] = {contract_id: str(price) for contract_id, price in self.prices.items()}

    def _restore(self, snapshot: Snapshot) -> None:
        self.accounts = {account.id: account for account in snapshot.accounts} or self.accounts
        for order in snapshot.orders:
            self._store_order(order)
            if order.parent_order_id is not None:
                self._children.setdefault(order.parent_order_id, []).append(order)
        self.trades = sorted(snapshot.trades, key=lambda trade: trade.id)
        self.positions = {(p.account_id, p.contract_id): p for p in snapshot.positions}
        meta = snapshot.meta
        self.instance = str(meta.get("instance") or self.instance)
        self._next_order_id = int(meta["next_order_id"])
        self._next_trade_id = int(meta["next_trade_id"])
        self._next_position_id = int(meta["next_position_id"])
        for contract_id, price in dict(meta.get("prices") or {}).items():
            if contract_id in self.prices:  # a contract that rolled off keeps no price
                self.prices[contract_id] = Decimal(price)
                self.history.record(contract_id, self.clock(), self.prices[contract_id])

    def _take_id(self, kind: str) -> int:
        """The next order, trade or position id; the counter is saved with the change."""
        name = f"_next_{kind}_id"
        value: int = getattr(self, name)
        setattr(self, name, value + 1)
        self._changed_meta()
        return value

    # -- market ----------------------------------------------------------------------------

    def price(self, contract_id: str) -> Decimal:
        """Current price (points) of a listed contract. Raises KeyError for others."""
        return self.prices[contract_id]

    def set_price(self, contract_id: str, price: Decimal) -> None:
        """Move a listed contract to ``price`` (points, on its tick grid) and fill what crosses.

        Raises ValueError for an unlisted contract or an off-grid price.
        """
        contract = self.contracts.listed.get(contract_id)
        if contract is None:
            raise ValueError(f"contract {contract_id!r} is not listed by the simulator")
        if price <= 0 or price % contract.tick_size != 0:
            raise ValueError(f"price {price} of {contract_id} is not on its {contract.tick_size} grid")
        self.prices[contract_id] = price
        self.history.record(contract_id, self.clock(), price)
        self._match(contract_id)
        self._changed_meta(prices=True)
        self.persist()

    def step(self) -> None:
        """Advance every contract one walk step (up to ``walk_ticks`` ticks) and fill what crosses."""
        for contract_id in sorted(self.prices):
            tick_size = self.contracts.listed[contract_id].tick_size
            move = self._rng.randint(-self.walk_ticks, self.walk_ticks) * tick_size
            self.prices[contract_id] = max(self.prices[contract_id] + move, tick_size)
            self.history.record(contract_id, self.clock(), self.prices[contract_id])
        for contract_id in sorted(self.prices):
            self._match(contract_id)
        self._changed_meta(prices=True)
        self.persist()

    async def run_price_walk(self, interval_s: float) -> None:
        """Step the prices every ``interval_s`` seconds until cancelled (serve mode)."""
        while True:
            await asyncio.sleep(interval_s)
            self.step()

    # -- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event_name, {"action", "data"})`` on every user-hub change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: str, action: int, data: dict[str, Any]) -> None:
        payload = {"action": action, "data": without_nulls(data)}
        for listener in list(self._listeners):
            try:
                listener(event, payload)
            except Exception:
                # A broken listener must not leave an order half-filled.
                log.exception("sim listener %r failed on %s", listener, event)

    def _emit_order(self, order: SimOrder) -> None:
        if self._store is not None:  # every order change is emitted: keep it for persist()
            self._changes.orders[order.id] = order
        self._emit(ORDER_EVENT, 1, order.to_wire())

    def _emit_position(self, position: SimPosition) -> None:
        data = position.to_wire()
        data["contractDisplayName"] = position.contract_name
        self._emit(POSITION_EVENT, 2 if position.net == 0 else 1, data)

    # -- queries -----------------------------------------------------------------------------

    def account(self, account_id: int) -> SimAccount:
        """The account with this id. Raises Rejected(AccountNotFound)."""
        account = self.accounts.get(account_id)
        if account is None:
            raise Rejected("AccountNotFound", f"Account {account_id} was not found.")
        return account

    def search_orders(self, account_id: int, start: datetime, end: datetime | None = None) -> list[SimOrder]:
        """Orders created in [start, end] (UTC), oldest first, without suspended children (§4.8)."""
        self.account(account_id)
        return [
            order
            for order in self.orders.values()
            if order.account_id == account_id
            and order.status != OrderStatus.SUSPENDED
            and start <= order.created_at
            and (end is None or order.created_at <= end)
        ]

    def open_orders(self, account_id: int) -> list[SimOrder]:
        """Working orders in status Open (1) only (§4.8)."""
        self.account(account_id)
        return [order for order in self._open.values() if order.account_id == account_id]

    def open_positions(self, account_id: int) -> list[SimPosition]:
        """Non-flat positions of the account (§4.9)."""
        self.account(account_id)
        return [p for p in self.positions.values() if p.account_id == account_id]

    def open_pnl(self, account_id: int) -> Decimal:
        """The account's open P&L now (USD, to the cent): Σ over its positions of (current price −
        average price) / tick size × tick value × signed size. Raises Rejected(AccountNotFound)."""
        total = Decimal(0)
        for position in self.open_positions(account_id):
            contract = self._contract(position.contract_id)
            ticks = (self.prices[position.contract_id] - position.average_price) / contract.tick_size
            total += ticks * contract.tick_value * position.net
        return total.quantize(CENT)

    def search_trades(
        self, account_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[SimTrade]:
        """Fills in [start, end] (UTC), newest first like the live REST (§4.10)."""
        self.account(account_id)
        return [
            trade
            for trade in reversed(self.trades)
            if trade.account_id == account_id
            and (start is None or start <= trade.created_at)
            and (end is None or trade.created_at <= end)
        ]

    # -- commands ----------------------------------------------------------------------------

    def place_order(self, ticket: OrderTicket) -> int:
        """Order/place (§4.6, §6): create the order (and bracket children), fill if it can.

        Market orders fill at once at the current price; a limit or stop the price has already
        crossed fills at once too (the sim does not refuse a stop on the wrong side).
        Returns the entry's order id. Raises Rejected with reason AccountNotFound,
        ContractNotFound, ContractNotActive or OrderRejected; the Position Brackets rejection
        carries the id of the order it still created (status 5 Rejected). Other rejections
        create nothing.
        """
        account = self.account(ticket.account_id)
        contract = self._active_contract(ticket.contract_id)
        if problem := rules.entry_problem(ticket, contract.tick_size):
            raise Rejected("OrderRejected", problem)
        tag = ticket.custom_tag or None
        if tag is not None and (account.id, tag) in self._tags:
            raise Rejected(
                "OrderRejected",
                f"Custom tag already in use. customTag '{tag}' was already used on account "
                f"{account.id}; send a new one.",
            )
        now = self.clock()
        bracketed = ticket.stop_loss is not None or ticket.take_profit is not None
        if bracketed and account.bracket_mode is BracketMode.POSITION_BRACKETS:
            order = self._new_order(ticket, contract, now, OrderStatus.REJECTED)
            self._emit_order(order)
            raise Rejected("OrderRejected", rules.BRACKETS_NEED_AUTO_OCO, order_id=order.id)
        if problem := rules.bracket_problem(ticket):
            raise Rejected("OrderRejected", problem)
        trailing = ticket.type == OrderType.TRAILING_STOP
        last = self.prices.get(contract.id)
        if trailing and (
            problem := rules.trail_problem(ticket.trail_price, last, contract.tick_size, placing=True)
        ):
            raise Rejected("OrderRejected", problem)

        market = ticket.type == OrderType.MARKET
        entry = self._new_order(ticket, contract, now, OrderStatus.PENDING if market else OrderStatus.OPEN)
        if trailing:
            assert ticket.trail_price is not None and last is not None  # trail_problem checked both
            self._start_trail(entry, ticket.trail_price, last, contract.tick_size)
        stop_loss = self._new_child(entry, ticket.stop_loss, "SL", None)
        take_profit = self._new_child(entry, ticket.take_profit, "TP", stop_loss.id if stop_loss else None)
        # The live hub sends one interleaved batch: SL child, entry, TP child (§8.10).
        for created in (stop_loss, entry, take_profit):
            if created is not None:
                self._emit_order(created)
        if market:
            self._fill(entry, self.prices[contract.id])
        self._match(contract.id)
        return entry.id

    def cancel_order(self, account_id: int, order_id: int) -> None:
        """Order/cancel (§4.7); cancelling an entry cancels its bracket children too.

        Cancelling one bracket leg leaves its sibling working (live behaviour unknown, §6.4).

        Raises Rejected: AccountNotFound, OrderNotFound, Rejected (order no longer working).
        """
        order = self._own_order(account_id, order_id)
        if order.status not in WORKING:
            raise Rejected(
                "Rejected",
                f"Order {order_id} is {order.status.name.lower()}; only working orders can be cancelled.",
            )
        now = self.clock()
        self._cancel(order, now)
        for child in self._children.get(order.id, []):
            if child.status in WORKING:
                self._cancel(child, now)

    def modify_order(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
    ) -> None:
        """Order/modify (§4.7): change only the given fields of an Open order, then re-match.

        A trailing stop's ``trail_price`` is a new absolute start price: the distance is measured
        again from the last price and the stop restarts there; no 1000-tick maximum (§6.2).
        Raises Rejected: AccountNotFound, OrderNotFound, Rejected (not Open, bad size, a price
        the order type does not have, or off the tick grid).
        """
        order = self._own_order(account_id, order_id)
        if order.status != OrderStatus.OPEN:
            raise Rejected(
                "Rejected",
                f"Order {order_id} is {order.status.name.lower()}; only open orders can be modified.",
            )
        contract = self._contract(order.contract_id)
        if size is not None and size <= 0:
            raise Rejected("Rejected", "Invalid order size specified")
        for price, field, order_type in (
            (limit_price, "limitPrice", OrderType.LIMIT),
            (stop_price, "stopPrice", OrderType.STOP),
        ):
            if price is None:
                continue
            if order.type != order_type:
                raise Rejected(
                    "Rejected",
                    f"Order {order_id} is a {order.type.name.lower()} order; it has no {field}.",
                )
            if problem := rules.price_problem(price, field, contract.tick_size):
                raise Rejected("Rejected", problem)
        last = self.prices.get(order.contract_id)
        if trail_price is not None:
            if order.type != OrderType.TRAILING_STOP:
                raise Rejected(
                    "Rejected",
                    f"Order {order_id} is a {order.type.name.lower()} order; it has no trailPrice.",
                )
            if problem := rules.trail_problem(trail_price, last, contract.tick_size, placing=False):
                raise Rejected("Rejected", problem)
            assert last is not None  # trail_problem checked it
            self._start_trail(order, trail_price, last, contract.tick_size)
        order.size = size if size is not None else order.size
        order.limit_price = limit_price if limit_price is not None else order.limit_price
        order.stop_price = stop_price if stop_price is not None else order.stop_price
        order.updated_at = self.clock()
        self._emit_order(order)
        self._match(order.contract_id)

    def close_position(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        """Position/closeContract (``size`` None) or partialCloseContract at market (§4.9).

        Creates a market order without customTag and fills it at the current price; working
        bracket legs of the position are left alone (the caller cancels them). Raises
        Rejected: AccountNotFound, ContractNotFound, ContractNotActive, PositionNotFound,
        InvalidCloseSize (partial size not in 1..position size); a partial close in a ``halted``
        contract, or one without a current price, OrderRejected with no message (§8.17: the
        gateway gives none for either).
        """
        self.account(account_id)
        contract = self._active_contract(contract_id)
        position = self.positions.get((account_id, contract_id))
        if position is None:
            raise Rejected("PositionNotFound", f"Account {account_id} has no open position in {contract_id}.")
        held = abs(position.net)
        if size is not None and not 0 < size <= held:
            raise Rejected(
                "InvalidCloseSize",
                f"Close size {size} is invalid: the position in {contract_id} is {held} contracts.",
            )
        if size is not None and (contract_id in self.halted or contract_id not in self.prices):
            raise Rejected("OrderRejected", None)
        ticket = OrderTicket(
            account_id=account_id,
            contract_id=contract_id,
            type=OrderType.MARKET,
            side=Side.ASK if position.net > 0 else Side.BID,
            size=size if size is not None else held,
        )
        order = self._new_order(ticket, contract, self.clock(), OrderStatus.PENDING)
        self._emit_order(order)
        self._fill(order, self.prices[contract_id])
        self._match(contract_id)

    # -- internals ---------------------------------------------------------------------------

    def _contract(self, contract_id: str) -> SimContract:
        contract = self.contracts.get(contract_id)
        if contract is None:
            raise Rejected("ContractNotFound", f"Contract {contract_id} was not found.")
        return contract

    def _active_contract(self, contract_id: str) -> SimContract:
        contract = self._contract(contract_id)
        if not contract.active:
            raise Rejected(
                "ContractNotActive",
                f"Contract {contract_id} is not the active contract; use the front month.",
            )
        return contract

    def _own_order(self, account_id: int, order_id: int) -> SimOrder:
        self.account(account_id)
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise Rejected("OrderNotFound", f"Order {order_id} was not found on account {account_id}.")
        return order

    def _store_order(self, order: SimOrder) -> SimOrder:
        self.orders[order.id] = order
        if order.custom_tag is not None:
            self._tags.add((order.account_id, order.custom_tag))
        if order.status == OrderStatus.OPEN:
            self._open[order.id] = order
        return order

    def _new_order(
        self, ticket: OrderTicket, contract: SimContract, now: datetime, status: OrderStatus
    ) -> SimOrder:
        order_type = OrderType(ticket.type)
        return self._store_order(
            SimOrder(
                id=self._take_id("order"),
                account_id=ticket.account_id,
                contract_id=contract.id,
                symbol_id=contract.symbol_id,
                created_at=now,
                updated_at=now,
                status=status,
                type=order_type,
                side=Side(ticket.side),
                size=ticket.size,
                limit_price=ticket.limit_price if order_type == OrderType.LIMIT else None,
                stop_price=ticket.stop_price if order_type == OrderType.STOP else None,
                custom_tag=ticket.custom_tag or None,
            )
        )

    def _new_child(
        self,
        entry: SimOrder,
        bracket: BracketSpec | None,
        suffix: str,
        linked_order_id: int | None,
    ) -> SimOrder | None:
        """A suspended bracket child without prices (§6.4), tagged ``<entry tag>-SL``/``-TP``.

        Copied from the entry, so it shares the entry's creationTimestamp and size.
        """
        if bracket is None:
            return None
        child = self._store_order(
            replace(
                entry,
                id=self._take_id("order"),
                status=OrderStatus.SUSPENDED,
                type=OrderType(bracket.type),
                side=Side.ASK if entry.side == Side.BID else Side.BID,
                limit_price=None,
                stop_price=None,
                custom_tag=f"{entry.custom_tag}-{suffix}" if entry.custom_tag else None,
                parent_order_id=entry.id,
                linked_order_id=linked_order_id,
                bracket_ticks=bracket.ticks,
            )
        )
        self._children.setdefault(entry.id, []).append(child)
        return child

    def _start_trail(self, order: SimOrder, trail_price: Decimal, last: Decimal, tick_size: Decimal) -> None:
        """Trail ``order`` by |last − trailPrice| whole ticks (§6.2), its stop that far from the
        last price: below it for a sell stop, above it for a buy stop."""
        distance = rules.trail_ticks(trail_price, last, tick_size) * tick_size
        order.trail_distance = distance
        order.stop_price = last - distance if order.side == Side.ASK else last + distance

    def _trail(self, contract_id: str, price: Decimal) -> None:
        """Move the working trailing stops on the contract after ``price``: a sell stop follows
        the price up by its distance and never down, a buy stop follows it down, never up."""
        for order in list(self._open.values()):
            if order.contract_id != contract_id or order.type != OrderType.TRAILING_STOP:
                continue
            if order.trail_distance is None or order.stop_price is None:
                continue
            selling = order.side == Side.ASK
            moved = price - order.trail_distance if selling else price + order.trail_distance
            if (moved > order.stop_price) if selling else (moved < order.stop_price):
                order.stop_price = moved
                order.updated_at = self.clock()
                self._emit_order(order)

    def _set_status(self, order: SimOrder, status: OrderStatus, now: datetime) -> None:
        order.status = status
        order.updated_at = now
        if status == OrderStatus.OPEN:
            self._open[order.id] = order
        else:
            self._open.pop(order.id, None)

    def _cancel(self, order: SimOrder, now: datetime) -> None:
        self._set_status(order, OrderStatus.CANCELLED, now)
        self._emit_order(order)

    def _match(self, contract_id: str) -> None:
        """Fill every Open order on the contract that the current price crosses, oldest first.

        Loops because a fill can open bracket children that the same price crosses.
        """
        price = self.prices.get(contract_id)
        if price is None:
            return
        self._trail(contract_id, price)
        while True:
            for order in sorted(self._open.values(), key=lambda o: o.id):
                if order.contract_id != contract_id:
                    continue
                fill_price = _crossing_price(order, price)
                if fill_price is not None:
                    self._fill(order, fill_price)
                    break
            else:
                return

    def _fill(self, order: SimOrder, price: Decimal) -> None:
        """Fill the whole order at ``price``, book it, then run its bracket/OCO consequences."""
        now = self.clock()
        self._set_status(order, OrderStatus.FILLED, now)
        order.fill_volume = order.size
        order.filled_price = price
        self._emit_order(order)
        self._book(order, price, now)
        for child in self._children.get(order.id, []):
            if child.status == OrderStatus.SUSPENDED:
                self._activate(child, price, now)
        if order.parent_order_id is not None:
            # One bracket leg filled: the other one is cancelled (OCO, §6.4 item 5).
            for sibling in self._children.get(order.parent_order_id, []):
                if sibling is not order and sibling.status in WORKING:
                    self._cancel(sibling, now)

    def _activate(self, child: SimOrder, entry_price: Decimal, now: datetime) -> None:
        """Give a suspended child its absolute price: entry fill + signed ticks × tick size."""
        tick_size = self._contract(child.contract_id).tick_size
        assert child.bracket_ticks is not None  # set on every child
        price = entry_price + child.bracket_ticks * tick_size
        if child.type == OrderType.LIMIT:
            child.limit_price = price
        else:
            child.stop_price = price
        self._set_status(child, OrderStatus.OPEN, now)
        self._emit_order(child)

    def _book(self, order: SimOrder, price: Decimal, now: datetime) -> None:
        """Record the fill as a trade, update the position and the account balance."""
        contract = self._contract(order.contract_id)
        account = self.accounts[order.account_id]
        key = (order.account_id, order.contract_id)
        position = self.positions.get(key)
        if position is None:
            position = SimPosition(
                id=self._take_id("position"),
                account_id=order.account_id,
                contract_id=order.contract_id,
                contract_name=contract.name,
                created_at=now,
                net=0,
                average_price=price,
            )
            self.positions[key] = position
        realised = apply_fill(
            position, order.side, order.size, price, contract.tick_size, contract.tick_value
        )
        fees = contract.product.fee * order.size
        trade = SimTrade(
            id=self._take_id("trade"),
            account_id=order.account_id,
            contract_id=order.contract_id,
            created_at=now,
            price=price,
            profit_and_loss=realised,
            fees=fees,
            side=order.side,
            size=order.size,
            order_id=order.id,
        )
        self.trades.append(trade)
        account.balance += (realised or Decimal(0)) - fees
        if position.net == 0:
            del self.positions[key]
        if self._store is not None:
            self._changes.trades.append(trade)
            self._changes.accounts[account.id] = account
            self._changes.positions[key] = position if position.net != 0 else None
        self._emit(TRADE_EVENT, 0, trade.to_wire())
        self._emit_position(position)
        self._emit(ACCOUNT_EVENT, 1, account.to_wire())
