"""Trades, not just orders: round trips built from the journal's fills (FIFO per account and
contract), the numbers a trader reads (side, size, average entry and exit, ticks, P&L, fees).

Pure: no I/O. The journal hands its fills over as ``TradeFill`` (with the alert and strategy of
the order that filled, when the order was the bridge's); ``match_trades`` pairs them.

Units: sizes in contracts, prices in points, ``fees`` and P&L in USD, times UTC. A contract's
``point_value`` (USD per point per contract) is ``tick_value / tick_size``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.enums import Side


@dataclass(frozen=True)
class TradeFill:
    """One fill as the trade matcher reads it.

    ``fees``: the gateway's fees plus commissions for this fill (USD, ≥ 0). ``alert_id`` and
    ``strategy``: of the bridge's order that filled (None for a fill from outside the bridge:
    a manual trade on the platform). ``closed_by``: what sent the order, as the trader names
    it: "alert", "stop loss", "take profit", "flatten", "sync", "outside".
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
    opened / closed it. ``strategy``: the opening alert's strategy (None: opened outside the
    bridge). ``closed_by``: what sent the closing fill(s) (see TradeFill), "" while open.
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
    raise NotImplementedError("issue 16: trades helper")
