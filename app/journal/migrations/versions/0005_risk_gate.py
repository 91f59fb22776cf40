"""The risk gate: the balance's high-water mark, lockouts, and indexes for the day's numbers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-18

Portable like 0001–0004. ``account_state.high_water`` (exact decimal string, USD) starts at
each account's current balance. ``lockout`` holds at most one row per account (its primary
key), so locking twice keeps the first and a restart finds it. The indexes serve the gate's
reads on every entry: one account's fills by time and by contract, the newest fill of each
contract, and the alerts received since an instant.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
DECIMAL = sa.String(40)
# One account's fills by time (P&L since, the losing streak); the newest fill per contract.
FILL_INDEXES = {
    "ix_fill_account_id_filled_at": ["account_id", "filled_at"],
    "ix_fill_account_id_contract_id_filled_at": ["account_id", "contract_id", "filled_at"],
    "ix_fill_contract_id_filled_at": ["contract_id", "filled_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("account_state") as batch:
        batch.add_column(sa.Column("high_water", DECIMAL, nullable=True))
    # The balance is the highest one known so far: nothing older was kept.
    op.execute("UPDATE account_state SET high_water = balance")
    op.create_table(
        "lockout",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_name", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", UTC_TIME, nullable=False),
        sa.Column("until", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_lockout")),
    )
    for name, columns in FILL_INDEXES.items():
        op.create_index(name, "fill", columns, unique=False)
    op.create_index("ix_alert_received_at", "alert", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_received_at", table_name="alert")
    for name in reversed(FILL_INDEXES):
        op.drop_index(name, table_name="fill")
    op.drop_table("lockout")
    with op.batch_alter_table("account_state") as batch:
        batch.drop_column("high_water")
