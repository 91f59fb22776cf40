"""The order journal: alerts, orders, their status history, events, and the instance tag.

Revision ID: 0001
Revises:
Create Date: 2026-11-20

Portable: plain VARCHAR/TEXT/INTEGER/BIGINT and TIMESTAMP WITH TIME ZONE; prices are exact
decimal strings (VARCHAR(40)) and enums their string values (VARCHAR(32)), see
app/journal/types.py. Account and broker order ids are BIGINT (ProjectX ids may pass int32).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
DECIMAL = sa.String(40)
ENUM = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "journal_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_journal_meta")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("alert_time", UTC_TIME, nullable=True),
        sa.Column("source_ip", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=True),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("ticker", sa.String(), nullable=True),
        sa.Column("contract_id", sa.String(), nullable=True),
        sa.Column("settled_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.ForeignKeyConstraint(["duplicate_of"], ["alert.id"], name=op.f("fk_alert_duplicate_of_alert")),
    )
    op.create_index("ix_alert_strategy_dedupe_key", "alert", ["strategy", "dedupe_key"], unique=False)
    op.create_table(
        "order_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("account_name", sa.String(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=False),
        sa.Column("leg", ENUM, nullable=False),
        sa.Column("action", ENUM, nullable=False),
        sa.Column("side", ENUM, nullable=True),
        sa.Column("order_type", ENUM, nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("limit_price", DECIMAL, nullable=True),
        sa.Column("stop_price", DECIMAL, nullable=True),
        sa.Column("stop_loss_ticks", sa.Integer(), nullable=True),
        sa.Column("take_profit_ticks", sa.Integer(), nullable=True),
        sa.Column("client_order_id", sa.String(), nullable=True),
        sa.Column("broker_order_id", sa.BigInteger(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("filled_price", DECIMAL, nullable=True),
        sa.Column("fill_volume", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_record")),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_order_record_alert_id_alert")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["order_record.id"],
            name=op.f("fk_order_record_parent_id_order_record"),
        ),
        sa.UniqueConstraint(
            "account_id",
            "client_order_id",
            name=op.f("uq_order_record_account_id_client_order_id"),
        ),
    )
    op.create_index("ix_order_record_alert_id", "order_record", ["alert_id"], unique=False)
    op.create_index("ix_order_record_broker_order_id", "order_record", ["broker_order_id"], unique=False)
    op.create_index("ix_order_record_state", "order_record", ["state"], unique=False)
    op.create_table(
        "order_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_record_id", sa.Integer(), nullable=False),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_status")),
        sa.ForeignKeyConstraint(
            ["order_record_id"],
            ["order_record.id"],
            name=op.f("fk_order_status_order_record_id_order_record"),
        ),
    )
    op.create_index("ix_order_status_order_record_id", "order_status", ["order_record_id"], unique=False)
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("order_record_id", sa.Integer(), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_event_alert_id_alert")),
        sa.ForeignKeyConstraint(
            ["order_record_id"],
            ["order_record.id"],
            name=op.f("fk_event_order_record_id_order_record"),
        ),
    )
    op.create_index("ix_event_alert_id", "event", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_alert_id", table_name="event")
    op.drop_table("event")
    op.drop_index("ix_order_status_order_record_id", table_name="order_status")
    op.drop_table("order_status")
    op.drop_index("ix_order_record_state", table_name="order_record")
    op.drop_index("ix_order_record_broker_order_id", table_name="order_record")
    op.drop_index("ix_order_record_alert_id", table_name="order_record")
    op.drop_table("order_record")
    op.drop_index("ix_alert_strategy_dedupe_key", table_name="alert")
    op.drop_table("alert")
    op.drop_table("journal_meta")
