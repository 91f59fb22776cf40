"""The bridge's notifier: built from ``[notify]`` when it has URLs, its outcomes journaled, its
state for the Status page and /api/status.

Apprise is imported only when there is a URL (app/notify/__init__.py says why).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.web.journal_view import utc_iso

if TYPE_CHECKING:
    from app.engine.runner import JournalRunner
    from app.notify.notifier import AppriseNotifier
    from app.notify.outcome import Outcome, Record
    from app.web.app import Runtime

log = logging.getLogger(__name__)

# Rows of the Status page's recent notifications.
RECENT = 20


def build_notifier(settings: Settings) -> AppriseNotifier | None:
    """The notifier of ``[notify]`` (not started), or None without a URL. Raises ConfigError for
    an unknown notice kind (even without a URL) or a URL Apprise cannot use."""
    from app.notify.routing import check_kinds

    check_kinds(settings.notify)
    if not settings.notify.all_urls():
        return None
    from app.notify.notifier import AppriseNotifier

    return AppriseNotifier(settings.notify)


def journal_record(runner: JournalRunner) -> Record:
    """Write each outcome to the journal through the bridge's runner (after it shut down, while
    the bridge stops: on a thread of its own)."""
    journal = runner.journal

    def add(outcome: Outcome) -> int:
        return journal.add_notification(
            at=outcome.at,
            kind=outcome.kind,
            level=outcome.level,
            title=outcome.title,
            target=outcome.target,
            status=outcome.status.value,
            detail=outcome.detail,
            attempts=outcome.attempts,
        )

    async def record(outcome: Outcome) -> None:
        try:
            await runner.run(add, outcome)
        except RuntimeError:  # the runner's worker thread is shut down: the bridge is stopping
            await asyncio.to_thread(add, outcome)

    return record


async def notifications_json(runtime: Runtime) -> dict[str, Any]:
    """``targets`` (Apprise's privacy form), ``counts`` since start (None without a notifier)
    and the ``recent`` outcomes from the journal, newest first; no secret anywhere."""
    notifier = runtime.notifier
    rows = await runtime.bridge.runner.run(runtime.journal.recent_notifications, RECENT)
    return {
        "targets": notifier.shown if notifier is not None else [],
        "counts": notifier.stats() if notifier is not None else None,
        "recent": [
            {
                "at": utc_iso(row.at),
                "kind": row.kind,
                "level": row.level,
                "title": row.title,
                "target": row.target,
                "status": row.status,
                "detail": row.detail,
                "attempts": row.attempts,
            }
            for row in rows
        ],
    }
