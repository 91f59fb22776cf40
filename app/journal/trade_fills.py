"""The fills the trade matcher reads (app/domain/trades.py), and the link of a Position/
closeContract (or partialCloseContract) fill to the CLOSE (PARTIAL_CLOSE) row that asked for it.

A close through Position/closeContract returns no order id (reference/projectx-api.md §4.9): the
gateway makes a market order without our tag, so its fill names a broker order id no row holds
and, unlinked, the alert that closed the position showed no fill and no P&L. Such a fill belongs
to the CLOSE row written just before it on the same account, contract and side that is not yet
filled in full: ``close_row_for`` finds it, when the fill is journaled (broker_state.record_fill)
and again when fills are read (for fills journaled before this link existed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_
from sqlalchemy import select as core_select

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.trades import TradeFill
from app.journal.common import ALERT, FILL, ORDER, maybe_utc

# A closeContract fill follows its CLOSE row within this time (the row is written before the
# call, the fill comes back with its answer). Never before it: a manual fill just before an exit
# alert must stay the trader's (the doctor checks that our clock agrees with the gateway's).
CLOSE_FILL_WINDOW = timedelta(minutes=2)
KILL_SWITCH = "(kill switch)"  # the strategy of a flatten's alert row (app/engine/flatten.py)

_CLOSE_ROW_FOR_FILL = (
    core_select(ORDER.c.id)
    .where(
        ORDER.c.gateway == bindparam("of_gateway"),
        ORDER.c.account_id == bindparam("account"),
        ORDER.c.contract_id == bindparam("contract"),
        # Position/closeContract (untagged: reconcile.py reads it so) or partialCloseContract
        # (tagged by the bridge only, the gateway takes no tag): neither answers an order id.
        or_(
            and_(ORDER.c.leg == Leg.CLOSE, ORDER.c.client_order_id.is_(None)),
            ORDER.c.leg == Leg.PARTIAL_CLOSE,
        ),
        ORDER.c.side == bindparam("side"),
        ORDER.c.state.not_in([OrderState.REJECTED, OrderState.NOT_PLACED]),
        ORDER.c.created_at >= bindparam("earliest"),
        ORDER.c.created_at <= bindparam("latest"),
        ORDER.c.fill_volume < func.coalesce(ORDER.c.size, 0),
    )
    .order_by(ORDER.c.created_at.desc(), ORDER.c.id.desc())
    .limit(1)
)

_TRADE_FILLS = (
    core_select(
        FILL.c.trade_id,
        FILL.c.account_id,
        FILL.c.contract_id,
        FILL.c.side,
        FILL.c.size,
        FILL.c.price,
        FILL.c.filled_at,
        FILL.c.fees,
        FILL.c.commissions,
        FILL.c.order_record_id,
        ORDER.c.alert_id,
        ORDER.c.leg,
        ORDER.c.action,
        ALERT.c.strategy,
    )
    .select_from(
        FILL.outerjoin(ORDER, FILL.c.order_record_id == ORDER.c.id).outerjoin(
            ALERT, ORDER.c.alert_id == ALERT.c.id
        )
    )
    .where(FILL.c.gateway == bindparam("of_gateway"), FILL.c.voided.is_(False))
    .order_by(FILL.c.filled_at, FILL.c.trade_id)
)
_CLOSE_ROW = (
    core_select(ORDER.c.alert_id, ORDER.c.leg, ORDER.c.action, ALERT.c.strategy)
    .select_from(ORDER.join(ALERT, ORDER.c.alert_id == ALERT.c.id))
    .where(ORDER.c.id == bindparam("row_id"))
)


def close_row_for(
    conn: Connection, gateway: str, account_id: int, contract_id: str, side: Side, filled_at: datetime
) -> int | None:
    """The CLOSE row (Position/closeContract) a fill without an order row of ours belongs to, or
    None: same gateway, account, contract and side, written at most CLOSE_FILL_WINDOW before the
    fill, not rejected, not filled in full; the newest such row."""
    params = {
        "of_gateway": gateway,
        "account": account_id,
        "contract": contract_id,
        "side": Side(side),
        "earliest": filled_at - CLOSE_FILL_WINDOW,
        "latest": filled_at,
    }
    return conn.execute(_CLOSE_ROW_FOR_FILL, params).scalar()


def trade_fills(conn: Connection, gateway: str, *, until: datetime | None = None) -> list[TradeFill]:
    """Every fill of ``gateway`` (voided ones left out) before ``until`` (UTC; None: all), oldest
    first, with the alert, strategy and leg of the bridge's order that filled; a closeContract
    fill not linked when journaled is linked to its CLOSE row here (read only)."""
    query = _TRADE_FILLS if until is None else _TRADE_FILLS.where(FILL.c.filled_at < until)
    out: list[TradeFill] = []
    for row in conn.execute(query, {"of_gateway": gateway}):
        filled_at = maybe_utc(row.filled_at)
        assert filled_at is not None  # the column is NOT NULL
        owner: Any = row
        if row.order_record_id is None:
            row_id = close_row_for(conn, gateway, row.account_id, row.contract_id, Side(row.side), filled_at)
            if row_id is not None:
                owner = conn.execute(_CLOSE_ROW, {"row_id": row_id}).first() or row
        out.append(
            TradeFill(
                trade_id=row.trade_id,
                account_id=row.account_id,
                contract_id=row.contract_id,
                side=Side(row.side),
                size=row.size,
                price=_dec(row.price) or Decimal(0),
                filled_at=filled_at,
                fees=(_dec(row.fees) or Decimal(0)) + (_dec(row.commissions) or Decimal(0)),
                alert_id=owner.alert_id,
                strategy=owner.strategy,
                closed_by=sent_by(owner.leg, owner.action, owner.strategy),
            )
        )
    return out


def sent_by(leg: str | None, action: str | None, strategy: str | None) -> str:
    """What sent an order, as the trader names it (TradeFill.closed_by): "outside" without an
    order row; "flatten" for the kill switch; "stop loss", "take profit"; "exit" for a close or
    an alert's exit; else "alert"."""
    if leg is None:
        return "outside"
    if strategy == KILL_SWITCH:
        return "flatten"
    if leg == Leg.STOP_LOSS:
        return "stop loss"
    if leg == Leg.TAKE_PROFIT:
        return "take profit"
    if leg in (Leg.CLOSE, Leg.PARTIAL_CLOSE) or action == Action.EXIT:
        return "exit"
    return "alert"


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def contract_specs(conn: Connection, gateway: str) -> dict[str, tuple[Decimal, Decimal]]:
    """contract id → (tick size points, tick value USD) as the order rows of ``gateway``
    recorded them (the newest row that has both)."""
    query = (
        core_select(ORDER.c.contract_id, ORDER.c.tick_size, ORDER.c.tick_value)
        .where(
            ORDER.c.gateway == gateway,
            ORDER.c.tick_size.is_not(None),
            ORDER.c.tick_value.is_not(None),
        )
        .order_by(ORDER.c.id)
    )
    specs: dict[str, tuple[Decimal, Decimal]] = {}
    for contract_id, size, value in conn.execute(query):
        specs[contract_id] = (Decimal(str(size)), Decimal(str(value)))
    return specs
