"""What the gateway reports: order events, fills by trade id, positions and account states.

Called for every hub event and every reconciliation, so the writes run prebuilt Core
statements. A gateway's ids key only its own rows (migration 0006): every read and write here
takes the gateway's identity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.domain.enums import OrderState, Side
from app.domain.events import Fill, PositionEvent
from app.domain.models import Account, BrokerOrder
from app.errors import JournalError
from app.journal.common import ACCOUNT, FILL, ORDER, POSITION, as_utc, given, now
from app.journal.orders import UPDATE_ORDER, update_order
from app.journal.tables import AccountStateRecord, FillRecord, OrderRecord, PositionRecord
from app.journal.trade_fills import close_row_for

log = logging.getLogger(__name__)

_INSERT_FILL = insert(FILL)
_UPDATE_FILL = update(FILL).where(FILL.c.id == bindparam("row_id"))
_FILL_BY_TRADE = core_select(FILL.c.id, FILL.c.voided, FILL.c.order_record_id).where(
    FILL.c.gateway == bindparam("of_gateway"),
    FILL.c.account_id == bindparam("account"),
    FILL.c.trade_id == bindparam("trade"),
)
_FILLS_OF_ORDER = core_select(FILL.c.size, FILL.c.price, FILL.c.filled_at).where(
    FILL.c.order_record_id == bindparam("row_id"), FILL.c.voided.is_(False)
)
_ATTACH_FILLS = (
    update(FILL)
    .where(
        FILL.c.account_id == bindparam("account"),
        FILL.c.broker_order_id == bindparam("broker"),
        FILL.c.order_record_id.is_(None),
        # The order row's own gateway: ids restart per gateway (migration 0006).
        FILL.c.gateway
        == core_select(ORDER.c.gateway).where(ORDER.c.id == bindparam("row")).scalar_subquery(),
    )
    .values(order_record_id=bindparam("row"))
)
_ORDER_AS_HELD = core_select(
    ORDER.c.account_id,
    ORDER.c.state,
    ORDER.c.broker_order_id,
    ORDER.c.broker_updated_at,
    ORDER.c.fill_volume,
    ORDER.c.filled_price,
    ORDER.c.limit_price,
    ORDER.c.stop_price,
).where(ORDER.c.id == bindparam("row_id"))
_UPDATE_POSITION = update(POSITION).where(
    POSITION.c.gateway == bindparam("of_gateway"),
    POSITION.c.account_id == bindparam("account"),
    POSITION.c.contract_id == bindparam("contract"),
)
_INSERT_POSITION = insert(POSITION)
_UPDATE_ACCOUNT = update(ACCOUNT).where(
    ACCOUNT.c.gateway == bindparam("of_gateway"), ACCOUNT.c.account_id == bindparam("account")
)
_INSERT_ACCOUNT = insert(ACCOUNT)
_ACCOUNT_HIGH_WATER = core_select(ACCOUNT.c.high_water).where(
    ACCOUNT.c.gateway == bindparam("of_gateway"), ACCOUNT.c.account_id == bindparam("account")
)


def apply_events(
    conn: Connection,
    gateway: str,
    orders: Iterable[tuple[int, BrokerOrder, OrderState | None]],
    fills: Iterable[tuple[Fill, int | None]],
    positions: Iterable[PositionEvent],
    accounts: Iterable[Account],
) -> list[bool]:
    """Journal.apply_events' work, in the caller's transaction; per fill, whether it was new."""
    at = now()
    for row_id, order, state in orders:
        apply_order(conn, at, row_id, order, state)
    new = [record_fill(conn, fill, row_id, gateway) for fill, row_id in fills]
    for position in positions:
        set_position(conn, position, gateway)
    for account in accounts:
        set_account(conn, account, gateway)
    return new


def apply_order(
    conn: Connection, now: datetime, row_id: int, order: BrokerOrder, state: OrderState | None
) -> bool:
    """apply_order_event's work for one row, inside the caller's transaction."""
    held = conn.execute(_ORDER_AS_HELD, {"row_id": row_id}).first()
    if held is None:
        raise JournalError(f"order_record {row_id} is not in the journal")
    stored = OrderState(held.state)
    new_state = OrderState(state or order.state)
    values: dict[str, Any] = {}
    if held.broker_order_id is None:
        values["broker_order_id"] = order.broker_order_id  # a bracket leg found by its tag
    if not stored.is_open and _is_newer(order, new_state, held):
        values.update(
            given(
                filled_price=order.filled_price,
                limit_price=order.limit_price,  # bracket legs get theirs when the entry fills
                stop_price=order.stop_price,
                broker_updated_at=order.updated_at,
            ),
            fill_volume=order.fill_volume,
        )
        values = {name: value for name, value in values.items() if getattr(held, name) != value}
        if values or new_state != stored:
            update_order(conn, row_id, new_state, now, values, previous=stored)
        else:
            return False
    elif values:
        conn.execute(UPDATE_ORDER, {"row_id": row_id, "updated_at": now, **values})
    else:
        return False
    if order.fill_volume:
        attached = conn.execute(
            _ATTACH_FILLS, {"account": held.account_id, "broker": order.broker_order_id, "row": row_id}
        )
        if attached.rowcount:
            _refresh_fills(conn, row_id)
    return True


def _is_newer(order: BrokerOrder, state: OrderState, held: Row[*tuple[Any, ...]]) -> bool:
    """True when ``order`` (with ``state``) is newer than the state held in the row."""
    if held.broker_updated_at is None:
        return True
    if order.updated_at is None:
        return False
    held_at = as_utc(held.broker_updated_at)
    if order.updated_at != held_at:
        return order.updated_at > held_at
    # Same time: a final state or more filled contracts is the later snapshot.
    return (state.is_final, order.fill_volume) > (OrderState(held.state).is_final, held.fill_volume)


def record_fill(conn: Connection, fill: Fill, order_record_id: int | None, gateway: str) -> bool:
    """Journal.record_fill's work, in the caller's transaction."""
    key = {"of_gateway": gateway, "account": fill.account_id, "trade": fill.trade_id}
    held = conn.execute(_FILL_BY_TRADE, key).first()
    if held is None and order_record_id is None:
        # A Position/closeContract fill: its order id is none of ours (trade_fills.py).
        order_record_id = close_row_for(
            conn, gateway, fill.account_id, fill.contract_id, Side(fill.side), fill.filled_at
        )
    if held is None:
        conn.execute(_INSERT_FILL, {**_fill_row(fill, order_record_id), "gateway": gateway})
    else:
        changes = given(
            voided=fill.voided if held.voided != fill.voided else None,
            order_record_id=order_record_id if held.order_record_id is None else None,
        )
        if not changes:
            return False
        conn.execute(_UPDATE_FILL, {"row_id": held.id, **changes})
        order_record_id = order_record_id or held.order_record_id
    if order_record_id is not None:
        _refresh_fills(conn, order_record_id)
    return held is None


def _fill_row(fill: Fill, order_record_id: int | None) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "account_id": fill.account_id,
        "contract_id": fill.contract_id,
        "broker_order_id": fill.broker_order_id,
        "order_record_id": order_record_id,
        "side": Side(fill.side),
        "size": fill.size,
        "price": fill.price,
        "fees": fill.fees,
        "commissions": fill.commissions,
        "profit_and_loss": fill.profit_and_loss,
        "voided": fill.voided,
        "filled_at": fill.filled_at,
        "recorded_at": now(),
    }


def _refresh_fills(conn: Connection, order_record_id: int) -> None:
    """Set an order row's first and last fill times from its fills (voided ones left out), and
    raise its fill volume and average price to theirs when its own event reported less."""
    fills = conn.execute(_FILLS_OF_ORDER, {"row_id": order_record_id}).all()
    held = conn.execute(_ORDER_AS_HELD, {"row_id": order_record_id}).first()
    assert held is not None
    times = [as_utc(f.filled_at) for f in fills]
    values: dict[str, Any] = {
        "first_fill_at": min(times) if times else None,
        "last_fill_at": max(times) if times else None,
    }
    volume = sum(f.size for f in fills)
    if volume > held.fill_volume:
        values["fill_volume"] = volume
        values["filled_price"] = sum(f.price * f.size for f in fills) / volume
    conn.execute(UPDATE_ORDER, {"row_id": order_record_id, **values})


def set_position(conn: Connection, event: PositionEvent, gateway: str) -> None:
    """Keep the latest position of ``event``'s account in its contract (side None = flat)."""
    flat = event.side is None or event.size == 0
    values = {
        "side": None if flat else event.side,
        "size": 0 if flat else event.size,
        "average_price": None if flat else event.average_price,
        "updated_at": now(),
    }
    key = {"of_gateway": gateway, "account": event.account_id, "contract": event.contract_id}
    if conn.execute(_UPDATE_POSITION, {**key, **values}).rowcount == 0:
        row = {"gateway": gateway, "account_id": event.account_id, "contract_id": event.contract_id}
        conn.execute(_INSERT_POSITION, {**row, **values})


def set_account(conn: Connection, account: Account, gateway: str) -> None:
    """Keep the latest state of ``account`` and the highest balance it had (high_water)."""
    key = {"of_gateway": gateway, "account": account.account_id}
    held = conn.execute(_ACCOUNT_HIGH_WATER, key).first()
    # Compared here, not in SQL: balances are decimal strings, and "9" > "10" as text.
    high_water = account.balance
    if held is not None and held.high_water is not None:
        high_water = max(held.high_water, account.balance)
    values = {
        "name": account.name,
        "balance": account.balance,
        "can_trade": account.can_trade,
        "updated_at": now(),
        "high_water": high_water,
    }
    if held is None:
        conn.execute(_INSERT_ACCOUNT, {"gateway": gateway, "account_id": account.account_id, **values})
    else:
        conn.execute(_UPDATE_ACCOUNT, {**key, **values})


def fills_of_alerts(session: Session, alert_ids: list[int]) -> list[FillRecord]:
    """The fills of several alerts' orders, oldest first."""
    query = (
        select(FillRecord)
        .join(OrderRecord, col(FillRecord.order_record_id) == col(OrderRecord.id))
        .where(col(OrderRecord.alert_id).in_(alert_ids))
        .order_by(col(FillRecord.filled_at), col(FillRecord.trade_id))
    )
    return list(session.exec(query).all())


def alert_fills(session: Session, alert_id: int) -> list[FillRecord]:
    """The fills of one alert's orders (bracket legs included), oldest first."""
    query = (
        select(FillRecord)
        .join(OrderRecord, col(FillRecord.order_record_id) == col(OrderRecord.id))
        .where(OrderRecord.alert_id == alert_id)
        .order_by(col(FillRecord.filled_at), col(FillRecord.trade_id))
    )
    return list(session.exec(query).all())


def tick_sizes(session: Session) -> dict[str, Decimal]:
    """contract id → tick size (points), from the order rows that recorded one."""
    query = (
        core_select(ORDER.c.contract_id, func.max(ORDER.c.tick_size))
        .where(ORDER.c.tick_size.is_not(None))
        .group_by(ORDER.c.contract_id)
    )
    return {contract: Decimal(str(size)) for contract, size in session.execute(query)}


def positions(session: Session, gateway: str, account_id: int | None) -> list[PositionRecord]:
    """The latest positions (flat ones included), of one account when given."""
    query = (
        select(PositionRecord)
        .where(PositionRecord.gateway == gateway)
        .order_by(col(PositionRecord.account_id), col(PositionRecord.contract_id))
    )
    if account_id is not None:
        query = query.where(PositionRecord.account_id == account_id)
    return list(session.exec(query).all())


def account_states(session: Session, gateway: str) -> list[AccountStateRecord]:
    """The latest state of every account the gateway reported, by account id."""
    query = (
        select(AccountStateRecord)
        .where(AccountStateRecord.gateway == gateway)
        .order_by(col(AccountStateRecord.account_id))
    )
    return list(session.exec(query).all())


def last_gateway_time(session: Session, gateway: str, account_id: int) -> datetime | None:
    """The newest gateway time journaled for the account (fill time or order updateTimestamp)."""
    fills = core_select(func.max(FILL.c.filled_at)).where(
        FILL.c.gateway == gateway, FILL.c.account_id == account_id
    )
    orders = core_select(func.max(ORDER.c.broker_updated_at)).where(
        ORDER.c.gateway == gateway, ORDER.c.account_id == account_id
    )
    times = [session.execute(fills).scalar(), session.execute(orders).scalar()]
    known = [as_utc(t) for t in times if t is not None]
    return max(known) if known else None


def oldest_open_order_at(session: Session, gateway: str, account_id: int) -> datetime | None:
    """When the oldest of the account's tagged orders that are not final was written, or None."""
    finals = [state for state in OrderState if state.is_final]
    query = core_select(func.min(ORDER.c.created_at)).where(
        ORDER.c.gateway == gateway,
        ORDER.c.account_id == account_id,
        ORDER.c.client_order_id.is_not(None),
        ORDER.c.state.not_in(finals),
    )
    oldest = session.execute(query).scalar()
    return None if oldest is None else as_utc(oldest)
