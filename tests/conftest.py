"""Session-wide test setup."""

from __future__ import annotations

from tests.helpers import drop_created_databases


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    drop_created_databases()  # PostgreSQL pass only: one database per test was made
