"""Alembic, run from code: migrate the journal database up to head (or down, for tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

from app.errors import JournalError
from app.journal.db import journal_error, redact

# Inside the package (package-data in pyproject.toml), so an installed wheel can migrate its journal.
# Alembic reads env.py and versions/ from disk: a package installed from a wheel is on disk.
MIGRATIONS_DIR = Path(str(resources.files("app.journal") / "migrations"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``. Raises JournalError.

    A database already at the newest revision is left as it is without loading Alembic (a
    tenth of a second of every start, which a restart after a crash should not pay)."""
    if revision == "head" and _at_head(engine):
        return
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database behind ``engine`` down to ``revision``. Raises JournalError."""
    _run(engine, "downgrade", revision)


_REVISION = re.compile(r"^revision(?:: str)? = [\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.MULTILINE)


def _at_head(engine: Engine) -> bool:
    """True when the database's alembic_version holds exactly the one head of app/journal/migrations/versions
    (read from the scripts' ``revision`` / ``down_revision`` lines). Anything unexpected (a
    script not read, several heads, no version table) is False: Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return False
        revisions.add(revision.group(1))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        return False
    try:
        with engine.connect() as connection:
            held = [row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")]
    except SQLAlchemyError:
        return False
    return held == sorted(heads)


def alembic_config(url: str) -> Config:
    """An Alembic Config for migrations/ with ``sqlalchemy.url`` set to ``url``."""
    from alembic.config import Config

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
    from alembic import command  # loaded only when there is something to migrate
    from alembic.util import CommandError

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
