"""Order rows and their state history (tables ``order_record``, ``order_status``).

Every state change of a row adds an ``order_status`` row; the webhook's hot path writes with
the prebuilt Core statements here, the pages and the engine's slower reads go through the ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, bindparam, insert, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.records import OrderRow, OrderUpdate
from app.errors import JournalError
from app.journal.common import ORDER, STATUS, given, new_id, to_json
from app.journal.tables import OrderRecord, OrderStatusRecord

log = logging.getLogger(__name__)

_INSERT_ORDER = insert(ORDER)
_INSERT_STATUS = insert(STATUS)
UPDATE_ORDER = update(ORDER).where(ORDER.c.id == bindparam("row_id"))
_ORDER_STATE = core_select(ORDER.c.state).where(ORDER.c.id == bindparam("row_id"))
_ORDER_BY_BROKER = (
    core_select(ORDER)
    .where(
        ORDER.c.gateway == bindparam("of_gateway"),
        ORDER.c.account_id == bindparam("account_id"),
        ORDER.c.broker_order_id == bindparam("broker_order_id"),
        ORDER.c.leg != Leg.CANCEL,
    )
    .order_by(ORDER.c.id)
    .limit(1)
)
_ORDER_BY_TAG = core_select(ORDER).where(
    ORDER.c.gateway == bindparam("of_gateway"),
    ORDER.c.account_id == bindparam("account_id"),
    ORDER.c.client_order_id == bindparam("client_order_id"),
)


def insert_order_once(conn: Connection, *, now: datetime, gateway: str, **row: Any) -> int:
    """insert_order, unless the account already has an order with this tag: then its id."""
    tag = row.get("client_order_id")
    if tag:
        key = {"of_gateway": gateway, "account_id": row["account_id"], "client_order_id": tag}
        held = conn.execute(_ORDER_BY_TAG, key).first()
        if held is not None:
            return int(held.id)
    return insert_order(conn, now=now, gateway=gateway, **row)


def insert_order(
    conn: Connection,
    *,
    now: datetime,
    alert_id: int,
    account_id: int,
    account_name: str,
    contract_id: str,
    leg: Leg,
    action: Action,
    side: Side | None = None,
    order_type: OrderType | None = None,
    size: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    stop_loss_ticks: int | None = None,
    take_profit_ticks: int | None = None,
    client_order_id: str | None = None,
    broker_order_id: int | None = None,
    parent_id: int | None = None,
    state: OrderState = OrderState.SUBMITTING,
    message: str | None = None,
    request: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    reference_price: Decimal | None = None,
    tick_size: Decimal | None = None,
    tick_value: Decimal | None = None,
    oco_group_id: int | None = None,
    gateway: str = "",
) -> int:
    """Add one order row and its first status row in the caller's transaction; return its id."""
    state = OrderState(state)
    result = conn.execute(
        _INSERT_ORDER,
        {
            "gateway": gateway,
            "alert_id": alert_id,
            "account_id": account_id,
            "account_name": account_name,
            "contract_id": contract_id,
            "leg": Leg(leg),
            "action": Action(action),
            "side": None if side is None else Side(side),
            "order_type": None if order_type is None else OrderType(order_type),
            "size": size,
            "limit_price": limit_price,
            "stop_price": stop_price,
            "stop_loss_ticks": stop_loss_ticks,
            "take_profit_ticks": take_profit_ticks,
            "client_order_id": client_order_id,
            "broker_order_id": broker_order_id,
            "parent_id": parent_id,
            "state": state,
            "message": message,
            "request_json": to_json(request),
            "created_at": now,
            "updated_at": now,
            "sent_at": sent_at,
            "reference_price": reference_price,
            "tick_size": tick_size,
            "tick_value": tick_value,
            "oco_group_id": oco_group_id,
        },
    )
    order_record_id = new_id(result)
    conn.execute(
        _INSERT_STATUS, {"order_record_id": order_record_id, "state": state, "at": now, "message": message}
    )
    return order_record_id


def update_values(u: OrderUpdate) -> dict[str, Any]:
    """The columns ``u`` changes (None leaves a column as it is)."""
    return given(
        broker_order_id=u.broker_order_id,
        message=u.message,
        filled_price=u.filled_price,
        fill_volume=u.fill_volume,
        acknowledged_at=u.acknowledged_at,
    )


def apply_updates(conn: Connection, updates: Iterable[OrderUpdate], now: datetime) -> None:
    """update_order for each of ``updates``, in the caller's transaction."""
    for u in updates:
        update_order(conn, u.order_record_id, OrderState(u.state), now, update_values(u), u.previous)


def update_order(
    conn: Connection,
    order_record_id: int,
    state: OrderState,
    now: datetime,
    values: dict[str, Any],
    previous: OrderState | None = None,
) -> None:
    """Set a row's state and ``values``; add a status row when the state changes.

    ``previous`` is the stored state when the caller knows it (saves a read). Raises
    JournalError when the row is not in the journal.
    """
    stored = previous
    if stored is None:
        stored = conn.execute(_ORDER_STATE, {"row_id": order_record_id}).scalar_one_or_none()
        if stored is None:
            raise JournalError(f"order_record {order_record_id} is not in the journal")
    result = conn.execute(
        UPDATE_ORDER, {"row_id": order_record_id, "state": state, "updated_at": now, **values}
    )
    if result.rowcount == 0:
        raise JournalError(f"order_record {order_record_id} is not in the journal")
    if stored != state:
        conn.execute(
            _INSERT_STATUS,
            {"order_record_id": order_record_id, "state": state, "at": now, "message": values.get("message")},
        )


def resend_values(request: dict[str, Any] | None, message: str, now: datetime) -> dict[str, Any]:
    """The columns a NOT_PLACED row gets when it is sent again with the same tag."""
    return {"message": message, "sent_at": now, "request_json": to_json(request)}


def order_for_event(
    conn: Connection, gateway: str, account_id: int, broker_order_id: int | None, client_order_id: str | None
) -> OrderRow | None:
    """Our order row that a gateway event is about: by broker id, else by tag, else None."""
    row = None
    if broker_order_id is not None:
        row = conn.execute(
            _ORDER_BY_BROKER,
            {"of_gateway": gateway, "account_id": account_id, "broker_order_id": broker_order_id},
        ).first()
    if row is None and client_order_id:
        row = conn.execute(
            _ORDER_BY_TAG,
            {"of_gateway": gateway, "account_id": account_id, "client_order_id": client_order_id},
        ).first()
    return cast("OrderRow | None", row)


def orders_of_alerts(session: Session, alert_ids: list[int]) -> list[OrderRecord]:
    """The orders of several alerts, by alert then in the order they were added."""
    query = (
        select(OrderRecord)
        .where(col(OrderRecord.alert_id).in_(alert_ids))
        .order_by(col(OrderRecord.alert_id), col(OrderRecord.id))
    )
    return list(session.exec(query).all())


def alert_orders(session: Session, alert_id: int) -> list[OrderRecord]:
    """The orders of one alert, in the order they were added."""
    query = select(OrderRecord).where(OrderRecord.alert_id == alert_id).order_by(col(OrderRecord.id))
    return list(session.exec(query).all())


def orders_in_states(session: Session, gateway: str, states: list[OrderState]) -> list[OrderRecord]:
    """The gateway's orders whose state is one of ``states``, oldest first."""
    query = (
        select(OrderRecord)
        .where(col(OrderRecord.state).in_(states), OrderRecord.gateway == gateway)
        .order_by(col(OrderRecord.id))
    )
    return list(session.exec(query).all())


def bracket_entries(session: Session, gateway: str, since: datetime) -> list[OrderRecord]:
    """Entry rows sent with a native bracket since ``since`` the gateway did not refuse."""
    query = (
        select(OrderRecord)
        .where(
            OrderRecord.gateway == gateway,
            OrderRecord.leg == Leg.ENTRY,
            col(OrderRecord.oco_group_id).is_(None),
            col(OrderRecord.created_at) >= since,
            col(OrderRecord.state).not_in([OrderState.REJECTED, OrderState.NOT_PLACED]),
            or_(
                col(OrderRecord.stop_loss_ticks).is_not(None),
                col(OrderRecord.take_profit_ticks).is_not(None),
            ),
        )
        .order_by(col(OrderRecord.id))
    )
    return list(session.exec(query).all())


def order_by_client_id(
    session: Session, gateway: str, account_id: int, client_order_id: str
) -> OrderRecord | None:
    """The order with this tag on this account, or None."""
    query = select(OrderRecord).where(
        OrderRecord.gateway == gateway,
        OrderRecord.account_id == account_id,
        OrderRecord.client_order_id == client_order_id,
    )
    return session.exec(query).first()


def order_by_broker_id(
    session: Session, gateway: str, account_id: int, broker_order_id: int
) -> OrderRecord | None:
    """The first order with this ProjectX id on this account, or None."""
    query = (
        select(OrderRecord)
        .where(
            OrderRecord.gateway == gateway,
            OrderRecord.account_id == account_id,
            OrderRecord.broker_order_id == broker_order_id,
        )
        .order_by(col(OrderRecord.id))
    )
    return session.exec(query).first()


def order_history(session: Session, order_record_id: int) -> list[OrderStatusRecord]:
    """The state changes of one order, oldest first."""
    query = (
        select(OrderStatusRecord)
        .where(OrderStatusRecord.order_record_id == order_record_id)
        .order_by(col(OrderStatusRecord.id))
    )
    return list(session.exec(query).all())
