"""Fills, positions and account states from the gateway; latency and slippage on order rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Portable like 0001: prices are exact decimal strings (VARCHAR(40)), enums their string values,
gateway ids BIGINT, times TIMESTAMP WITH TIME ZONE. A fill is unique by (trade_id, account_id):
the gateway's trade id, so a fill sent twice (hub and Trade/search) is journaled once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
DECIMAL = sa.String(40)
ENUM = sa.String(32)

ORDER_TIMES = ("sent_at", "acknowledged_at", "first_fill_at", "last_fill_at", "broker_updated_at")
ORDER_PRICES = ("reference_price", "tick_size", "tick_value")


def upgrade() -> None:
    with op.batch_alter_table("order_record") as batch:
        for name in ORDER_TIMES:
            batch.add_column(sa.Column(name, UTC_TIME, nullable=True))
        for name in ORDER_PRICES:
            batch.add_column(sa.Column(name, DECIMAL, nullable=True))
    op.create_table(
        "fill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=False),
        sa.Column("broker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_record_id", sa.Integer(), nullable=True),
        sa.Column("side", ENUM, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("price", DECIMAL, nullable=False),
        sa.Column("fees", DECIMAL, nullable=True),
        sa.Column("commissions", DECIMAL, nullable=True),
        sa.Column("profit_and_loss", DECIMAL, nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("filled_at", UTC_TIME, nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fill")),
        sa.ForeignKeyConstraint(
            ["order_record_id"], ["order_record.id"], name=op.f("fk_fill_order_record_id_order_record")
        ),
        sa.UniqueConstraint("trade_id", "account_id", name=op.f("uq_fill_trade_id_account_id")),
    )
    op.create_index("ix_fill_broker_order_id", "fill", ["broker_order_id"], unique=False)
    op.create_index("ix_fill_order_record_id", "fill", ["order_record_id"], unique=False)
    op.create_table(
        "position",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=False),
        sa.Column("side", ENUM, nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("average_price", DECIMAL, nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position")),
        sa.UniqueConstraint("account_id", "contract_id", name=op.f("uq_position_account_id_contract_id")),
    )
    op.create_table(
        "account_state",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("balance", DECIMAL, nullable=False),
        sa.Column("can_trade", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_state")),
    )


def downgrade() -> None:
    op.drop_table("account_state")
    op.drop_table("position")
    op.drop_index("ix_fill_order_record_id", table_name="fill")
    op.drop_index("ix_fill_broker_order_id", table_name="fill")
    op.drop_table("fill")
    with op.batch_alter_table("order_record") as batch:
        for name in reversed(ORDER_TIMES + ORDER_PRICES):
            batch.drop_column(name)
