"""The schema: migrations make exactly the tables the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from app.journal import Journal, migrate
from app.journal.db import make_engine
from tests.journal.conftest import T0, sqlite_url

TABLES = {
    "alembic_version",
    "alert",
    "order_record",
    "order_status",
    "event",
    "journal_meta",
    "fill",
    "position",
    "account_state",
    "oco_group",
    "lockout",
    "notification",
}


def test_upgrade_is_idempotent_and_turns_wal_on(journal: Journal, journal_path: Path) -> None:
    tag = journal.instance
    journal.upgrade()
    journal.upgrade()

    assert journal.instance == tag
    engine = make_engine(sqlite_url(journal_path))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert set(inspect(connection).get_table_names()) == TABLES
    engine.dispose()


def test_migrated_tables_match_the_models(journal: Journal) -> None:
    engine = make_engine(str(journal._engine.url.render_as_string(hide_password=False)))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    engine.dispose()

    assert diffs == []


def test_instance_tag_is_stable_across_reopen_and_unique_per_database(tmp_path: Path) -> None:
    first = Journal(sqlite_url(tmp_path / "a.db"))
    first.upgrade()
    tag = first.instance
    first.close()

    reopened = Journal(sqlite_url(tmp_path / "a.db"))
    other = Journal(sqlite_url(tmp_path / "b.db"))
    other.upgrade()

    assert re.fullmatch(r"[a-z0-9]{6}", tag)
    assert reopened.instance == tag  # read back, not made again
    assert other.instance != tag
    reopened.close()
    other.close()


def test_downgrade_to_base_drops_every_table_and_upgrade_restores_them(
    journal: Journal, journal_path: Path
) -> None:
    journal.close()
    engine = make_engine(sqlite_url(journal_path))

    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}

    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_migration_renders_for_postgresql_without_sqlite_types() -> None:
    out = io.StringIO()
    config = migrate.alembic_config("postgresql://tvb@127.0.0.1/tvbridge")
    config.output_buffer = out

    command.upgrade(config, "head", sql=True)
    command.downgrade(config, "head:base", sql=True)

    sql = out.getvalue()
    assert "CREATE TABLE order_record" in sql
    assert "account_id BIGINT NOT NULL" in sql
    assert "broker_order_id BIGINT" in sql
    assert "received_at TIMESTAMP WITH TIME ZONE NOT NULL" in sql
    assert "DROP TABLE alert" in sql


@pytest.mark.parametrize("in_memory", [False, True])
def test_journal_opened_on_one_thread_works_on_the_worker_thread(journal_path: Path, in_memory: bool) -> None:
    journal = Journal("sqlite://" if in_memory else sqlite_url(journal_path))
    journal.upgrade()
    with ThreadPoolExecutor(max_workers=1) as worker:
        entry = worker.submit(
            journal.record_alert, strategy="mnq-trend", raw_body="{}", received_at=T0
        ).result()
        alert = worker.submit(journal.get_alert, entry.alert_id).result()

    assert alert is not None and alert.strategy == "mnq-trend"
    assert journal.recent_alerts()[0].id == entry.alert_id  # and back on this thread
    journal.close()
