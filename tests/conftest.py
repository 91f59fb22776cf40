"""Session-wide test setup, and the one migrated journal per test that every package's tests use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.journal import Journal
from tests.helpers import drop_created_databases, journal_url


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A migrated journal: SQLite in tmp_path, or PostgreSQL with TVBRIDGE_TEST_POSTGRES."""
    journal = Journal(journal_url(tmp_path))
    journal.upgrade()
    yield journal
    journal.close()


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    drop_created_databases()  # PostgreSQL pass only: one database per test was made
