"""Each test gets its own migrated SQLite journal in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.journal import Journal

T0 = datetime(2025, 3, 14, 14, 30, 0, 250000, tzinfo=UTC)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    journal = Journal(sqlite_url(journal_path))
    journal.upgrade()
    yield journal
    journal.close()
