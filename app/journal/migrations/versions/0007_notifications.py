"""Notifications: what became of each notice for each target, for the Status page.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20

Portable like 0001–0006. ``notification`` holds one row per notice and target (sent, failed with
the reason, or dropped as a duplicate, in quiet hours or for a full queue), the newest 1,000 kept
(app/journal/notifications.py). Targets are Apprise's privacy form: no token is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )


def downgrade() -> None:
    op.drop_table("notification")
