"""What became of a notice for one target: sent, failed (with the reason) or dropped (and why).

The notifier hands each one to a ``record`` callback the wiring gives (app/web/app.py journals
it), so app/notify never imports the journal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Status(StrEnum):
    """A notice's fate for one target (or for all, when dropped before routing to one)."""

    SENT = "sent"
    FAILED = "failed"  # every try failed; ``detail`` says why
    DUPLICATE = "duplicate"  # the same condition was sent within [notify] dedupe_s
    QUIET = "quiet"  # not critical, during [notify] quiet_hours
    QUEUE_FULL = "queue_full"  # the target's queue held [notify] queue_size notices

    @property
    def dropped(self) -> bool:
        """True for the notices never tried."""
        return self in (Status.DUPLICATE, Status.QUIET, Status.QUEUE_FULL)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """One row of the notifications' record. ``target``: the privacy form ("" when the notice
    was dropped before it was routed to one target); ``title`` scrubbed; ``attempts``: tries
    made; ``at``: UTC, when it was settled."""

    kind: str
    level: str
    title: str
    target: str
    status: Status
    detail: str = ""
    attempts: int = 0
    at: datetime = field(default_factory=_now)


Record = Callable[[Outcome], Awaitable[None]]
