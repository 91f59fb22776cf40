"""Alembic, run from code: migrate the journal database up to head (or down, for tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

import app
from app.errors import JournalError
from app.journal.db import journal_error, redact

MIGRATIONS_DIR = Path(app.__file__).resolve().parents[1] / "migrations"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``. Raises JournalError."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database behind ``engine`` down to ``revision``. Raises JournalError."""
    _run(engine, "downgrade", revision)


def alembic_config(url: str) -> Config:
    """An Alembic Config for migrations/ with ``sqlalchemy.url`` set to ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolates "%": a percent-encoded password would break without this.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside one transaction for migrations; commit when the block ends.

    On SQLite, foreign keys are off meanwhile (batch mode copies and drops tables) and checked
    before the commit; any dangling reference rolls the whole migration back.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if dangling:
                        raise JournalError(
                            f"Migration left {len(dangling)} rows pointing at missing rows "
                            f"(first: table {dangling[0][0]}); the database was not changed"
                        )
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection, outside any transaction: SQLite ignores it inside one.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _run(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with migration_connection(engine) as connection:
            # env.py uses this connection, so the migration runs in our transaction.
            config.attributes["connection"] = connection
            getattr(command, direction)(config, revision)
    except CommandError as exc:
        raise JournalError(
            f"Journal {redact(engine.url)} could not {direction} to {revision}: {exc}. A database "
            "made by a newer tvbridge needs that version (or a new journal URL)."
        ) from exc
    except SQLAlchemyError as exc:
        raise journal_error(engine.url, f"{direction} the schema to {revision}", exc) from exc
