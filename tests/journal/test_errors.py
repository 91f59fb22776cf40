"""Failures: every database problem is a JournalError a trader can read, never a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import JournalError
from app.journal import Journal
from tests.journal.conftest import T0

PASSWORD = "s3cret-Pw"


def test_read_only_database_raises_journal_error(journal: Journal, journal_path: Path) -> None:
    journal.close()
    read_only = Journal(f"sqlite:///file:{journal_path}?mode=ro&uri=true")

    with pytest.raises(JournalError, match="readonly") as caught:
        read_only.check_writable()
    with pytest.raises(JournalError, match="record an alert for strategy 'mnq-trend'"):
        read_only.record_alert(strategy="mnq-trend", raw_body="{}", received_at=T0)
    assert "[SQL:" not in str(caught.value)  # the driver's reason, not the statement
    assert read_only.recent_alerts() == []  # reading still works
    read_only.close()


def test_check_writable_leaves_nothing_behind(journal: Journal, journal_path: Path) -> None:
    journal.check_writable()
    journal.check_writable()  # a leftover row would collide here

    assert journal.instance


def test_missing_folder_raises_journal_error(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'no-such-folder' / 'journal.db'}")

    with pytest.raises(JournalError, match="unable to open database file"):
        journal.upgrade()
    journal.close()


@pytest.mark.parametrize(
    "url",
    [
        # No driver installed, or nothing listening on port 1: either way no password shown.
        f"postgresql://tvbridge:{PASSWORD}@127.0.0.1:1/journal",
        f"postgresql+psycopg://tvbridge:{PASSWORD}@127.0.0.1:1/journal",
        f"sqlite://tvbridge:{PASSWORD}@/journal.db",
        f"nosuchdb://tvbridge:{PASSWORD}@127.0.0.1/journal",
    ],
)
def test_error_message_never_holds_the_password(url: str) -> None:
    with pytest.raises(JournalError) as caught:
        journal = Journal(url)
        try:
            journal.upgrade()
        finally:
            journal.close()

    message = str(caught.value)
    assert PASSWORD not in message
    assert "Journal" in message
