"""What each journal row says about money: the side, size and average price of the alert's own
fills, their fees, the P&L its closing fills realised (FIFO, app/domain/trades.py) and the
trades it opened or closed, with a link to each on the trades list.

Sizes in contracts, prices in points, money in USD.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.trades import Trade

if TYPE_CHECKING:
    from app.journal.tables import FillRecord


def trade_key(t: Trade) -> str:
    """A trade's name on the pages and in links (``/trades#trade-<key>``): its account and the
    gateway trade id of its first fill (unique: a fill opens at most one trade)."""
    return f"{t.account_id}-{t.fill_ids[0]}" if t.fill_ids else f"{t.account_id}-?"


@dataclass(frozen=True)
class TradeLink:
    """One trade an alert touched: ``role`` "opened", "closed" or "reduced" (a partial exit)."""

    role: str
    key: str
    trade: Trade


@dataclass(frozen=True)
class AlertMoney:
    """One alert's fills in a trader's words. ``side`` "buy"/"sell" ("mixed" when both),
    ``size`` contracts filled, ``average`` points (size-weighted), ``fees`` USD of its fills,
    ``realised`` gross USD its closing fills realised (None: it closed nothing, or the contract's
    tick value is unknown), ``net`` realised − fees."""

    side: str
    size: int
    average: Decimal
    fees: Decimal
    realised: Decimal | None = None
    links: tuple[TradeLink, ...] = field(default_factory=tuple)

    @property
    def net(self) -> Decimal | None:
        return None if self.realised is None else self.realised - self.fees


def trades_of_alerts(trades: Iterable[Trade]) -> dict[int, list[TradeLink]]:
    """alert id → the trades its fills opened, closed or reduced (a partial exit of a trade
    still open)."""
    out: dict[int, list[TradeLink]] = defaultdict(list)
    for t in trades:
        key = trade_key(t)
        for alert_id in t.entry_alert_ids:
            out[alert_id].append(TradeLink("opened", key, t))
        for alert_id in t.exit_alert_ids:
            out[alert_id].append(TradeLink("reduced" if t.open else "closed", key, t))
    return out


def alert_money(
    fills_by_alert: Mapping[int | None, Sequence[FillRecord]], trades: Sequence[Trade]
) -> dict[int | None, AlertMoney]:
    """alert id → its AlertMoney, for the alerts with at least one fill (voided ones left out)."""
    links = trades_of_alerts(trades)
    realised: dict[int, Decimal] = defaultdict(Decimal)
    closed_any: set[int] = set()
    for t in trades:
        for alert_id, usd in t.realised_by_alert:
            realised[alert_id] += usd
            closed_any.add(alert_id)
    out: dict[int | None, AlertMoney] = {}
    for key, fills in fills_by_alert.items():
        live = [f for f in fills if not f.voided]
        if key is None or not live:
            continue
        alert_id = key
        size = sum(f.size for f in live)
        sides = {str(f.side) for f in live}
        out[alert_id] = AlertMoney(
            side=sides.pop() if len(sides) == 1 else "mixed",
            size=size,
            average=_average(sum((f.price * f.size for f in live), Decimal(0)), size),
            fees=sum(((f.fees or Decimal(0)) + (f.commissions or Decimal(0)) for f in live), Decimal(0)),
            realised=realised[alert_id] if alert_id in closed_any else None,
            links=tuple(links.get(alert_id, ())),
        )
    return out


def _average(total: Decimal, size: int) -> Decimal:
    value = total / size
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal("0.000001")) if isinstance(exponent, int) and exponent < -6 else value
