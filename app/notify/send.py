"""One try of one message to one target through Apprise (blocking: run it on a worker thread).

Apprise 2.2's ``Apprise.notify`` returns an ``AppriseResult``: one ``NotifyResult`` per service,
each with its attempts and the log lines Apprise captured for them (apprise/result.py). The
service's own failure line ("A Connection error occurred sending JSON notification to …",
"Failed to send Telegram notification: Unauthorized …") is the reason given to the trader,
scrubbed. ``timeout`` bounds the whole call: a target that hangs reports TIMEOUT and Apprise
stops waiting (its worker thread ends on the service's own socket timeout).
"""

from __future__ import annotations

from dataclasses import dataclass

import apprise
from apprise.result import AppriseResult, AppriseResultStatus

from app.domain.notices import NoticeLevel
from app.notify.targets import Target
from app.redact import scrub

NOTIFY_TYPE = {
    NoticeLevel.INFO: apprise.NotifyType.INFO,
    NoticeLevel.WARNING: apprise.NotifyType.WARNING,
    NoticeLevel.CRITICAL: apprise.NotifyType.FAILURE,
}
NO_ANSWER = "no answer within"
# A reason is one line on a page and in a journal row.
MAX_REASON = 300


@dataclass(frozen=True)
class Tried:
    """One try's outcome: ``ok``, else ``reason`` (scrubbed, one line)."""

    ok: bool
    reason: str = ""


def send(target: Target, *, title: str, body: str, level: NoticeLevel, timeout_s: float) -> Tried:
    """Send ``title``/``body`` (already scrubbed) to ``target`` once; never raises."""
    try:
        result = target.service.notify(
            body=body, title=title, notify_type=NOTIFY_TYPE[level], timeout=timeout_s
        )
    except Exception as exc:  # noqa: BLE001 — a plugin's bug is this target's failure, not ours
        return Tried(False, _line(f"{type(exc).__name__}: {exc}"))
    if bool(result):
        return Tried(True)
    return Tried(False, reason(result, timeout_s))


def reason(result: AppriseResult, timeout_s: float) -> str:
    """Why ``result`` is not a success, in one scrubbed line."""
    if result.status is AppriseResultStatus.TIMEOUT or any(
        r.status is AppriseResultStatus.TIMEOUT for r in result
    ):
        return f"{NO_ANSWER} {timeout_s:g} s"
    lines = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    if lines:
        return _line(lines[-1])
    if result.status is AppriseResultStatus.NOMATCH:
        return "Apprise found no service for this URL"
    return f"Apprise reported {result.status.name.lower()}"


def _line(text: str) -> str:
    one = " ".join(scrub(text).split())
    return one if len(one) <= MAX_REASON else one[: MAX_REASON - 1] + "…"
