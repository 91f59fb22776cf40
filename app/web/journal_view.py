"""How the journal reads to a trader: one shape for the terminal table and for JSON.

Times are stored in UTC and shown in the machine's local time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any


def alerts_json(alerts: Sequence[Any], orders: Mapping[int, Sequence[Any]]) -> list[dict[str, Any]]:
    """Alerts, newest first, each with its order rows."""
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
            "orders": [_order_json(o) for o in orders.get(a.id, [])],
        }
        for a in alerts
    ]


def _order_json(o: Any) -> dict[str, Any]:
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
        "stop_loss_ticks": o.stop_loss_ticks,
        "take_profit_ticks": o.take_profit_ticks,
        "state": str(o.state),
        "client_order_id": o.client_order_id,
        "broker_order_id": o.broker_order_id,
        "fill_volume": o.fill_volume,
        "filled_price": _num(o.filled_price),
        "message": o.message,
    }


def alerts_table(alerts: Sequence[Any], orders: Mapping[int, Sequence[Any]]) -> str:
    """A plain-text table: one line per alert, then one indented line per order row."""
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
        for o in orders.get(a.id, []):
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
    return "\n".join(lines)


def _local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
