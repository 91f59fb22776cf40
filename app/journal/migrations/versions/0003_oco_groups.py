"""OCO groups: the pairs the bridge manages (OCO templates, managed brackets) and their state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Portable like 0001 and 0002. ``oco_group.state`` is working, done, raced or failed; ``kind``
is "oco" or "managed_bracket"; ``policy`` what to do when both legs fill ("flatten" | "keep")
or when a managed bracket cannot be verified ("close" | "keep"). Order rows point at their group
through the nullable ``order_record.oco_group_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
ENUM = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "oco_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("policy", ENUM, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oco_group")),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_oco_group_alert_id_alert")),
    )
    op.create_index("ix_oco_group_state", "oco_group", ["state"], unique=False)
    with op.batch_alter_table("order_record") as batch:
        batch.add_column(sa.Column("oco_group_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_order_record_oco_group_id_oco_group"), "oco_group", ["oco_group_id"], ["id"]
        )
        batch.create_index("ix_order_record_oco_group_id", ["oco_group_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_record") as batch:
        batch.drop_index("ix_order_record_oco_group_id")
        batch.drop_constraint(op.f("fk_order_record_oco_group_id_oco_group"), type_="foreignkey")
        batch.drop_column("oco_group_id")
    op.drop_index("ix_oco_group_state", table_name="oco_group")
    op.drop_table("oco_group")
