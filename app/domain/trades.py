"""Trades, not just orders: round trips built from the journal's fills (FIFO per account and
contract), the numbers a trader reads (side, size, average entry and exit, ticks, P&L, fees).

Pure: no I/O. The journal hands its fills over as ``TradeFill`` (with the alert and strategy of
the order that filled, when the order was the bridge's); ``match_trades`` pairs them.

Units: sizes in contracts, prices in points, ``fees`` and P&L in USD, times UTC. A contract's
``point_value`` (USD per point per contract) is ``tick_value / tick_size``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from app.domain.enums import Side

_T = TypeVar("_T")


@dataclass(frozen=True)
class TradeFill:
    """One fill as the trade matcher reads it.

    ``fees``: the gateway's fees plus commissions for this fill (USD, ≥ 0). ``alert_id`` and
    ``strategy``: of the bridge's order that filled (None for a fill from outside the bridge:
    a manual trade on the platform). ``closed_by``: what sent the order, as the trader names
    it: "alert" (an entry), "exit" (an exit alert's close, Position/closeContract included),
    "stop loss", "take profit", "flatten" (the kill switch), "outside".
    """

    trade_id: int
    account_id: int
    contract_id: str
    side: Side
    size: int
    price: Decimal
    filled_at: datetime
    fees: Decimal = Decimal(0)
    alert_id: int | None = None
    strategy: str | None = None
    closed_by: str = "outside"


@dataclass(frozen=True)
class Trade:
    """One round trip: from flat (or the reversal that opened it) back to flat, or still open.

    ``side``: BUY for a long trade, SELL for a short one. ``size``: the largest position it held
    (contracts; a scale-in adds to it). ``entry_price`` / ``exit_price``: size-weighted averages
    (points; ``exit_price`` None while open). ``ticks``: (exit − entry) in ticks for a long,
    (entry − exit) for a short, averaged per contract (None while open or without a tick size).
    ``pnl``: gross realised P&L in USD (None while open); ``fees``: USD of every fill in it;
    ``net``: pnl − fees. ``entry_alert_ids`` / ``exit_alert_ids``: the alerts whose orders
    opened (or added to) / closed (or reduced, while still open) it. ``strategy``: the opening
    alert's strategy (None: opened outside the bridge). ``closed_by``: what sent the closing
    fill(s) (see TradeFill), "" while open.
    """

    account_id: int
    contract_id: str
    side: Side
    size: int
    entry_price: Decimal
    exit_price: Decimal | None
    opened_at: datetime
    closed_at: datetime | None
    ticks: Decimal | None
    pnl: Decimal | None
    fees: Decimal
    entry_alert_ids: tuple[int, ...] = ()
    exit_alert_ids: tuple[int, ...] = ()
    strategy: str | None = None
    closed_by: str = ""
    fill_ids: tuple[int, ...] = ()  # the gateway trade ids of its fills
    # (alert id, gross USD) realised by each exit alert's closing fills (FIFO), partial exits of
    # a trade still open included; empty without a contract spec.
    realised_by_alert: tuple[tuple[int, Decimal], ...] = ()

    @property
    def open(self) -> bool:
        """True while the position it opened is not closed."""
        return self.closed_at is None

    @property
    def net(self) -> Decimal | None:
        """Realised P&L less fees, USD (None while open)."""
        return None if self.pnl is None else self.pnl - self.fees

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first fill to the last closing fill (None while open)."""
        return None if self.closed_at is None else (self.closed_at - self.opened_at).total_seconds()


@dataclass(frozen=True)
class ContractSpec:
    """What P&L needs of a contract: ``tick_size`` points, ``tick_value`` USD per tick per contract."""

    tick_size: Decimal
    tick_value: Decimal

    @property
    def point_value(self) -> Decimal:
        """USD per point per contract."""
        return self.tick_value / self.tick_size


def match_trades(fills: Iterable[TradeFill], specs: Mapping[str, ContractSpec]) -> list[Trade]:
    """Pair ``fills`` (any order; sorted here by time, then trade id) into trades, FIFO per
    account and contract: partial fills add up, a scale-in grows the trade, a fill larger than
    the position closes it and opens the opposite trade with the rest (a reversal). ``specs``
    by contract id; a contract without a spec gives trades with ``pnl`` and ``ticks`` None.
    Returns closed and open trades, oldest first."""
    books: dict[tuple[int, str], _Open] = {}
    trades: list[Trade] = []
    for fill in sorted(fills, key=lambda f: (f.filled_at, f.trade_id)):
        if fill.size <= 0:
            continue
        key = (fill.account_id, fill.contract_id)
        spec = specs.get(fill.contract_id)
        book = books.get(key)
        if book is None:
            books[key] = _Open.start(fill, fill.size, fill.fees)
            continue
        if fill.side == book.side:
            book.add(fill, fill.size, fill.fees)
            continue
        closing = min(fill.size, book.position)
        rest = fill.size - closing
        # A reversal's fees go to both trades by size; the cents that do not split evenly stay
        # with the closing part, so the fees of all trades add up to the fills' fees exactly.
        close_fees = fill.fees if rest == 0 else _cents(fill.fees * closing / fill.size)
        book.reduce(fill, closing, close_fees, spec)
        if book.position == 0:
            trades.append(book.finish(spec))
            del books[key]
        if rest:
            books[key] = _Open.start(fill, rest, fill.fees - close_fees)
    trades.extend(book.finish(specs.get(book.contract_id)) for book in books.values())
    trades.sort(key=lambda t: (t.opened_at, t.account_id, t.contract_id, t.fill_ids[:1]))
    return trades


def _cents(usd: Decimal) -> Decimal:
    return usd.quantize(_CENT, rounding=ROUND_HALF_UP)


_CENT = Decimal("0.01")
_MAX_PLACES = 6  # an average price that does not divide evenly is cut to this many decimals


def _average(total: Decimal, size: int) -> Decimal:
    """``total / size`` exactly when it ends within _MAX_PLACES decimals, else rounded there."""
    value = total / size
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _MAX_PLACES:
        return value.quantize(Decimal(1).scaleb(-_MAX_PLACES), rounding=ROUND_HALF_UP)
    return value


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


@dataclass
class _Lot:
    """Contracts of one opening fill not closed yet (FIFO: the oldest close first)."""

    size: int
    price: Decimal


@dataclass
class _Open:
    """A trade being built: its FIFO lots (size, price) still open, and the sums so far."""

    account_id: int
    contract_id: str
    side: Side
    opened_at: datetime
    strategy: str | None
    lots: deque[_Lot] = field(default_factory=deque)
    largest: int = 0
    entry_size: int = 0
    entry_total: Decimal = Decimal(0)
    exit_size: int = 0
    exit_total: Decimal = Decimal(0)
    pnl_points: Decimal = Decimal(0)  # Σ (exit − entry) × size of the matched lots, signed
    alert_points: dict[int, Decimal] = field(default_factory=dict)  # the same, per exit alert
    fees: Decimal = Decimal(0)
    entry_alerts: list[int] = field(default_factory=list)
    exit_alerts: list[int] = field(default_factory=list)
    closers: list[str] = field(default_factory=list)
    fill_ids: list[int] = field(default_factory=list)
    closed_at: datetime | None = None

    @classmethod
    def start(cls, fill: TradeFill, size: int, fees: Decimal) -> _Open:
        book = cls(fill.account_id, fill.contract_id, fill.side, fill.filled_at, fill.strategy)
        book.add(fill, size, fees)
        return book

    @property
    def position(self) -> int:
        return sum(lot.size for lot in self.lots)

    def add(self, fill: TradeFill, size: int, fees: Decimal) -> None:
        """An opening fill (or a scale-in): a new lot at the back of the queue."""
        self.lots.append(_Lot(size, fill.price))
        self.largest = max(self.largest, self.position)
        self.entry_size += size
        self.entry_total += fill.price * size
        self._took(fill, fees)
        if fill.alert_id is not None:
            self.entry_alerts.append(fill.alert_id)

    def reduce(self, fill: TradeFill, size: int, fees: Decimal, spec: ContractSpec | None) -> None:
        """A closing fill of ``size`` contracts: matched against the oldest lots first."""
        sign = 1 if self.side == Side.BUY else -1
        left = size
        while left:
            lot = self.lots[0]
            taken = min(left, lot.size)
            points = sign * (fill.price - lot.price) * taken
            self.pnl_points += points
            if fill.alert_id is not None:
                self.alert_points[fill.alert_id] = self.alert_points.get(fill.alert_id, Decimal(0)) + points
            lot.size -= taken
            left -= taken
            if not lot.size:
                self.lots.popleft()
        self.exit_size += size
        self.exit_total += fill.price * size
        self._took(fill, fees)
        if fill.alert_id is not None:
            self.exit_alerts.append(fill.alert_id)
        self.closers.append(fill.closed_by)
        self.closed_at = fill.filled_at if not self.lots else None

    def _took(self, fill: TradeFill, fees: Decimal) -> None:
        self.fees += fees
        if not self.fill_ids or self.fill_ids[-1] != fill.trade_id:
            self.fill_ids.append(fill.trade_id)

    def finish(self, spec: ContractSpec | None) -> Trade:
        closed = self.closed_at is not None
        pnl = ticks = None
        if closed and spec is not None:
            pnl = self.pnl_points * spec.point_value
            ticks = (self.pnl_points / spec.tick_size / self.exit_size).quantize(_CENT, ROUND_HALF_UP)
        return Trade(
            account_id=self.account_id,
            contract_id=self.contract_id,
            side=self.side,
            size=self.largest,
            entry_price=_average(self.entry_total, self.entry_size),
            exit_price=_average(self.exit_total, self.exit_size) if closed else None,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            ticks=ticks,
            pnl=pnl,
            fees=self.fees,
            entry_alert_ids=_unique(self.entry_alerts),
            exit_alert_ids=_unique(self.exit_alerts),
            strategy=self.strategy,
            closed_by=", ".join(_unique(self.closers)) if closed else "",
            fill_ids=tuple(self.fill_ids),
            realised_by_alert=()
            if spec is None
            else tuple((a, points * spec.point_value) for a, points in self.alert_points.items()),
        )
