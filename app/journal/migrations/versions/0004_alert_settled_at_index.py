"""An index on alert.settled_at: the web page's live feed asks for alerts settled since its last look.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-11

Portable like 0001–0003. The kill switch's pause state needs no schema change: it is the
``paused`` row of ``journal_meta`` (JSON ``{"since": ISO UTC, "by": text}``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alert_settled_at", "alert", ["settled_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_settled_at", table_name="alert")
