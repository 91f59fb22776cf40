"""Which gateway each account, order, fill, position and event came from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-19

Portable like 0001–0005. A ``gateway`` column (the identity the bridge runs on: ``sim:<tag>``,
``topstepx`` or ``custom:<api url>``; empty for rows written before it) on ``account_state``,
``order_record``, ``fill``, ``position`` and ``event``, so a journal used first with the simulator
and then with a live account never mixes the two: ids restart per gateway, so the keys that make a
fill, a position and an account's state unique now include it. The first bridge that opens the
journal after this migration adopts the rows that have no gateway (Journal.upgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("account_state", "order_record", "fill", "position", "event")


def _gateway() -> sa.Column[str]:
    return sa.Column("gateway", sa.String(), server_default=sa.text("''"), nullable=False)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_gateway())
    with op.batch_alter_table("fill") as batch:
        batch.drop_constraint("uq_fill_trade_id_account_id", type_="unique")
        batch.create_unique_constraint(
            "uq_fill_gateway_trade_id_account_id", ["gateway", "trade_id", "account_id"]
        )
    with op.batch_alter_table("position") as batch:
        batch.drop_constraint("uq_position_account_id_contract_id", type_="unique")
        batch.create_unique_constraint(
            "uq_position_gateway_account_id_contract_id", ["gateway", "account_id", "contract_id"]
        )
    with op.batch_alter_table("account_state") as batch:
        batch.drop_constraint("pk_account_state", type_="primary")
        batch.create_primary_key("pk_account_state", ["gateway", "account_id"])


def downgrade() -> None:
    with op.batch_alter_table("account_state") as batch:
        batch.drop_constraint("pk_account_state", type_="primary")
        batch.create_primary_key("pk_account_state", ["account_id"])
    with op.batch_alter_table("position") as batch:
        batch.drop_constraint("uq_position_gateway_account_id_contract_id", type_="unique")
        batch.create_unique_constraint("uq_position_account_id_contract_id", ["account_id", "contract_id"])
    with op.batch_alter_table("fill") as batch:
        batch.drop_constraint("uq_fill_gateway_trade_id_account_id", type_="unique")
        batch.create_unique_constraint("uq_fill_trade_id_account_id", ["trade_id", "account_id"])
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("gateway")
