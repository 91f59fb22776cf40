"""The notification rows: written scrubbed, read newest first, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import redact
from app.journal import Journal, notifications
from app.journal.common import NOTIFICATION

T0 = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)


def _add(journal: Journal, n: int, **overrides: object) -> int:
    row: dict[str, object] = {
        "at": T0 + timedelta(seconds=n),
        "kind": "order.rejected",
        "level": "warning",
        "title": f"Order rejected #{n}",
        "target": "tgram://1...w/",
        "status": "sent",
        **overrides,
    }
    return journal.add_notification(**row)  # type: ignore[arg-type]


def test_rows_come_back_newest_first_with_every_field(journal: Journal) -> None:
    _add(journal, 1)
    _add(journal, 2, status="failed", detail="no answer within 10 s", attempts=4)

    newest, oldest = journal.recent_notifications(10)

    assert (newest.title, newest.status, newest.detail, newest.attempts) == (
        "Order rejected #2",
        "failed",
        "no answer within 10 s",
        4,
    )
    assert newest.at == T0 + timedelta(seconds=2) and newest.at.tzinfo is not None
    assert (oldest.kind, oldest.level, oldest.target, oldest.detail) == (
        "order.rejected",
        "warning",
        "tgram://1...w/",
        "",
    )


def test_texts_are_scrubbed_of_remembered_secrets(journal: Journal) -> None:
    redact.remember(["AAHdqTcvCH1vGWJx"], scope="notify")
    try:
        _add(journal, 1, title="token AAHdqTcvCH1vGWJx", detail="url bot AAHdqTcvCH1vGWJx/send", target="x")
    finally:
        redact.remember([], scope="notify")

    [row] = journal.recent_notifications(1)
    assert "AAHdqTcvCH1vGWJx" not in f"{row.title}{row.detail}{row.target}"


def test_only_the_newest_rows_are_kept(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications, "NOTIFICATIONS_KEPT", 5)
    for n in range(12):
        _add(journal, n)

    with journal._read("count") as conn:
        count = conn.execute(select(func.count()).select_from(NOTIFICATION)).scalar()
    assert count == 5
    assert [r.title for r in journal.recent_notifications(10)][-1] == "Order rejected #7"
