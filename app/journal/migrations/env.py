"""Alembic environment for the tvbridge journal.

tvbridge runs it from code (app/journal/migrate.py) and hands over a connection already inside a
transaction. By hand (``alembic upgrade head``) the URL comes from ``sqlalchemy.url``, else
``TVBRIDGE_JOURNAL__URL``, else the default ``sqlite:///tvbridge.db``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import app.journal.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.config import JournalSettings
from app.journal.db import make_engine
from app.journal.migrate import migration_connection

config = context.config
if config.config_file_name is not None and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    """The URL to migrate: the Config's, else the environment's, else the default."""
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("TVBRIDGE_JOURNAL__URL")
        or JournalSettings().url
    )


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection``; batch mode on SQLite (it cannot ALTER much)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the connection tvbridge handed over, or open the database at database_url()."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(database_url())
    try:
        with migration_connection(engine) as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
