"""Each test gets its own migrated journal: SQLite in tmp_path, or PostgreSQL (tests/helpers.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

T0 = datetime(2025, 3, 14, 14, 30, 0, 250000, tzinfo=UTC)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """The SQLite file of the ``journal`` fixture, for tests of SQLite itself (WAL, read-only
    files); they run in the SQLite pass and are skipped in the PostgreSQL one."""
    if os.environ.get("TVBRIDGE_TEST_POSTGRES"):
        pytest.skip("checks the SQLite file itself")
    return tmp_path / "journal.db"
