"""How the journal reads to a trader: one shape for the terminal table and for JSON.

Times are stored in UTC and shown in the machine's local time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.domain.enums import Side
from app.text import printable

if TYPE_CHECKING:
    from app.journal import AlertRecord, OrderRecord
    from app.journal.journal import LatencyChain
    from app.journal.tables import FillRecord, PositionRecord


@dataclass(frozen=True)
class AlertDetail:
    """What the journal holds about one alert besides the alert row."""

    orders: Sequence[OrderRecord] = ()
    fills: Sequence[FillRecord] = ()
    latency: LatencyChain | None = None


def utc_iso(at: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC, for JSON; None stays None."""
    return at.astimezone(UTC).isoformat() if at else None


def alerts_json(
    alerts: Sequence[AlertRecord], details: Mapping[int | None, AlertDetail]
) -> list[dict[str, Any]]:
    """Alerts, newest first, each with its order rows, fills, latency chain and slippage."""
    return [
        {
            "alert_id": a.id,
            "strategy": a.strategy,
            "received_at": a.received_at.isoformat(),
            "alert_time": a.alert_time.isoformat() if a.alert_time else None,
            "status": str(a.status),
            "reason": a.reason,
            "ticker": a.ticker,
            "contract_id": a.contract_id,
            "source_ip": a.source_ip,
            "duplicate_of": a.duplicate_of,
            "orders": [order_json(o) for o in details[a.id].orders],
            "fills": [fill_json(f) for f in details[a.id].fills],
            "latency_s": _latency_json(details[a.id].latency),
            "slippage": _slippage_json(details[a.id].latency),
        }
        for a in alerts
    ]


def position_json(p: PositionRecord) -> dict[str, Any]:
    """One position row as JSON: side long/short (None when flat), size contracts, price points."""
    return {
        "account_id": p.account_id,
        "contract_id": p.contract_id,
        "side": None if not p.size else ("long" if p.side == Side.BUY else "short"),
        "size": p.size,
        "average_price": _num(p.average_price),
        "updated_at": p.updated_at.astimezone(UTC).isoformat(),
    }


def fill_json(f: FillRecord) -> dict[str, Any]:
    """One fill row as JSON: size contracts, price points, fees and P&L USD (strings, exact)."""
    return {
        "trade_id": f.trade_id,
        "account_id": f.account_id,
        "contract_id": f.contract_id,
        "broker_order_id": f.broker_order_id,
        "order_record_id": f.order_record_id,
        "side": str(f.side),
        "size": f.size,
        "price": _num(f.price),
        "fees": _num(f.fees),
        "commissions": _num(f.commissions),
        "profit_and_loss": _num(f.profit_and_loss),
        "filled_at": f.filled_at.isoformat(),
        "voided": f.voided,
    }


def _latency_json(chain: LatencyChain | None) -> dict[str, float]:
    return {f"{a}→{b}": round(seconds, 3) for a, b, seconds in chain.steps()} if chain else {}


def _slippage_json(chain: LatencyChain | None) -> list[dict[str, Any]]:
    if chain is None:
        return []
    return [
        {
            "order_record_id": s.order_record_id,
            "reference_price": _num(s.reference_price),
            "fill_price": _num(s.fill_price),
            "ticks": _num(s.ticks),
            "usd": _num(s.usd),
        }
        for s in chain.slippage
    ]


def order_json(o: OrderRecord) -> dict[str, Any]:
    """One order row as JSON: size contracts, prices points (exact strings), ticks whole."""
    return {
        "order_record_id": o.id,
        "leg": str(o.leg),
        "action": str(o.action),
        "account_id": o.account_id,
        "account_name": o.account_name,
        "contract_id": o.contract_id,
        "side": str(o.side) if o.side else None,
        "order_type": str(o.order_type) if o.order_type else None,
        "size": o.size,
        "limit_price": _num(o.limit_price),
        "stop_price": _num(o.stop_price),
        "tick_size": _num(o.tick_size),
        "stop_loss_ticks": o.stop_loss_ticks,
        "take_profit_ticks": o.take_profit_ticks,
        "state": str(o.state),
        "client_order_id": o.client_order_id,
        "broker_order_id": o.broker_order_id,
        "alert_id": o.alert_id,
        "fill_volume": o.fill_volume,
        "filled_price": _num(o.filled_price),
        "message": o.message,
    }


def alerts_table(alerts: Sequence[AlertRecord], details: Mapping[int | None, AlertDetail]) -> str:
    """A plain-text table: one line per alert, then its order rows, fills, latency and slippage;
    control characters in journaled text shown as visible escapes (app/text.py)."""
    if not alerts:
        return "The journal is empty: no alert received yet."
    lines = []
    for a in alerts:
        target = f"  {a.ticker} → {a.contract_id}" if a.ticker else ""
        lines.append(
            f"#{a.id:<5} {_local(a.received_at)}  {a.strategy:<16} {str(a.status).upper():<16}{target}"
        )
        if a.reason:
            lines.append(f"       {a.reason}")
        detail = details[a.id]
        for o in detail.orders:
            price = o.filled_price or o.limit_price or o.stop_price
            lines.append(
                "       "
                + "  ".join(
                    [
                        f"{str(o.leg):<11}",
                        f"{str(o.side or ''):<4}",
                        f"{o.size if o.size is not None else '':>3}",
                        f"{(str(price) if price is not None else ''):>10}",
                        f"{o.account_name:<22}",
                        f"{str(o.state):<10}",
                        f"broker {o.broker_order_id or '-':<11}",
                        o.client_order_id or "",
                    ]
                )
            )
            if o.message and str(o.state) in ("REJECTED", "NOT_PLACED", "UNKNOWN"):
                lines.append(f"{'':<20}{o.message}")
        for f in detail.fills:
            pnl = f"  P&L {f.profit_and_loss} USD" if f.profit_and_loss is not None else ""
            lines.append(
                f"       fill {f.trade_id}  {f.side} {f.size} @ {f.price}  fees {f.fees or 0}"
                f"{pnl}  {_local(f.filled_at)}{'  VOIDED' if f.voided else ''}"
            )
        if detail.latency is not None and detail.latency.steps():
            steps = ", ".join(f"{b} +{seconds * 1000:.0f} ms" for _, b, seconds in detail.latency.steps())
            lines.append(f"       latency: {steps}")
            for s in detail.latency.slippage:
                usd = f" = {s.usd} USD" if s.usd is not None else ""
                lines.append(
                    f"       slippage: filled {s.fill_price} vs {s.reference_price}: {s.ticks} ticks{usd}"
                )
    # Each line escaped whole: a strategy name or reason (anyone can post one) can neither send
    # escape codes to the terminal nor break into a line of its own.
    return "\n".join(printable(line) for line in lines)


def _local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
