"""Session-wide test setup: every test in its own folder with no ``TVBRIDGE_*`` setting from the
outside, and the one migrated journal per test that every package's tests use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Variables the test harness itself reads, never settings of the bridge: the PostgreSQL pass's
# server (TVBRIDGE_TEST_POSTGRES, .ci/run), the browser tests' Chromium, the sizes of the chaos and
# load tests. Every other TVBRIDGE_* is a setting (or a failpoint) and is cleared.
HARNESS_VARIABLES = frozenset({"TVBRIDGE_CHROMIUM"})
HARNESS_PREFIXES = ("TVBRIDGE_TEST_", "TVBRIDGE_CHAOS_", "TVBRIDGE_LOAD_")


def _outside_settings() -> list[str]:
    return [
        name
        for name in os.environ
        if name.startswith("TVBRIDGE_")
        and name not in HARNESS_VARIABLES
        and not name.startswith(HARNESS_PREFIXES)
    ]


# Cleared before anything of app/ is imported: app/failpoints.py reads TVBRIDGE_FAILPOINTS at import.
for _name in _outside_settings():
    del os.environ[_name]

import pytest  # noqa: E402

from app.journal import Journal  # noqa: E402
from tests.helpers import drop_created_databases, journal_url  # noqa: E402


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own empty folder (its ``tmp_path``) with no ``TVBRIDGE_*`` setting,
    so a ``tvbridge.toml`` in the folder pytest was started from, or a variable a trader (or an
    earlier test) set, cannot change what a test sees. A test sets what it needs with monkeypatch."""
    for name in _outside_settings():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A migrated journal: SQLite in tmp_path, or PostgreSQL with TVBRIDGE_TEST_POSTGRES."""
    journal = Journal(journal_url(tmp_path))
    journal.upgrade()
    yield journal
    journal.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_created_databases()  # PostgreSQL pass only: one database per test was made
