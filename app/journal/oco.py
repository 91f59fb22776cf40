"""OCO groups: an OCO template's pair, or a managed bracket, and the order rows in each."""

from __future__ import annotations

import logging
from typing import cast

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.domain.kinds import OcoKind, OcoState
from app.domain.records import OcoGroupRow, OrderRow
from app.errors import JournalError
from app.journal.common import GROUP, ORDER, given, new_id, now
from app.journal.tables import OcoGroupRecord

log = logging.getLogger(__name__)

# Read and written for every hub event about one of their orders.
_INSERT_GROUP = insert(GROUP)
_UPDATE_GROUP = update(GROUP).where(GROUP.c.id == bindparam("row_id"))
_UPDATE_WORKING_NOTE = update(GROUP).where(
    GROUP.c.id == bindparam("row_id"), GROUP.c.state == str(OcoState.WORKING)
)
_GROUP_BY_ID = core_select(GROUP).where(GROUP.c.id == bindparam("row_id"))
_ORDERS_OF_GROUP = (
    core_select(ORDER).where(ORDER.c.oco_group_id == bindparam("group_id")).order_by(ORDER.c.id)
)
_SET_ORDER_GROUP = update(ORDER).where(ORDER.c.id == bindparam("row_id"))


def check_group(kind: str, state: str) -> None:
    """Refuse (ValueError) a kind that is not an OcoKind or a state that is not an OcoState."""
    if kind not in tuple(OcoKind):
        raise ValueError(f"OCO group kind {kind!r} is not one of {', '.join(OcoKind)}")
    if state not in tuple(OcoState):
        raise ValueError(f"OCO group state {state!r} is not one of {', '.join(OcoState)}")


def insert_group(
    conn: Connection,
    *,
    alert_id: int,
    account_id: int,
    contract_id: str,
    kind: str,
    policy: str,
    state: str,
    note: str | None,
) -> int:
    """Add one group (kind and state checked by the caller) in the caller's transaction."""
    at = now()
    result = conn.execute(
        _INSERT_GROUP,
        {
            "alert_id": alert_id,
            "account_id": account_id,
            "contract_id": contract_id,
            "kind": str(kind),
            "state": str(state),
            "policy": policy,
            "note": note,
            "created_at": at,
            "updated_at": at,
        },
    )
    return new_id(result)


def set_group(conn: Connection, oco_group_id: int, state: str, note: str | None) -> None:
    """Set a group's state (and note when given); JournalError when it is not in the journal."""
    values = given(note=note)
    result = conn.execute(
        _UPDATE_GROUP, {"row_id": oco_group_id, "state": str(state), "updated_at": now(), **values}
    )
    if result.rowcount == 0:
        raise JournalError(f"oco_group {oco_group_id} is not in the journal")


def set_working_note(conn: Connection, oco_group_id: int, note: str) -> bool:
    """Replace a WORKING group's note; False (nothing written) when it is no longer working, so a
    late writer never puts a plan back on a finished group."""
    result = conn.execute(_UPDATE_WORKING_NOTE, {"row_id": oco_group_id, "note": note, "updated_at": now()})
    return result.rowcount > 0


def group(conn: Connection, oco_group_id: int) -> OcoGroupRow | None:
    """The group row (read-only), or None."""
    return cast("OcoGroupRow | None", conn.execute(_GROUP_BY_ID, {"row_id": oco_group_id}).first())


def group_orders(conn: Connection, oco_group_id: int) -> list[OrderRow]:
    """The order rows of one group (read-only), in the order added."""
    return cast("list[OrderRow]", list(conn.execute(_ORDERS_OF_GROUP, {"group_id": oco_group_id}).all()))


def groups_in(session: Session, state: str) -> list[OcoGroupRecord]:
    """The groups in ``state``, oldest first."""
    query = select(OcoGroupRecord).where(OcoGroupRecord.state == state).order_by(col(OcoGroupRecord.id))
    return list(session.exec(query).all())


def set_order_group(conn: Connection, order_record_id: int, oco_group_id: int) -> None:
    """Put an existing order row into a group; JournalError when the row is not in the journal."""
    result = conn.execute(_SET_ORDER_GROUP, {"row_id": order_record_id, "oco_group_id": oco_group_id})
    if result.rowcount == 0:
        raise JournalError(f"order_record {order_record_id} is not in the journal")
