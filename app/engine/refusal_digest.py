"""Refused webhook deliveries, summed up for the trader: at most one notice per window.

One mistyped alert is the journal's business, not a notice's; a run of refusals (an alert whose
URL went out of date, a template that no longer matches its Message, someone probing the URL)
is. The digest counts each refusal the intake makes (app/engine/intake.py), and once THRESHOLD
of them fall within WINDOW_S with no summary sent in the last WINDOW_S, it makes one
DELIVERIES_REFUSED notice counting them by reason, strategy and address. Refusals after a
summary wait for the next one, which counts every refusal since (up to two windows back). It
keeps counts only: never a token, never a body.

The notices wait in the digest until ``take()``: the web layer, which reaches the bridge's
notifier, hands them over right after answering the delivery (app/web/webhook.py).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.domain.enums import AlertStatus
from app.domain.notices import Notice
from app.engine.health_notices import RefusedSummary, deliveries_refused

THRESHOLD = 5  # refused deliveries within WINDOW_S before a summary is sent
WINDOW_S = 600.0  # at most one summary per 10 minutes
LOCKED_OUT = "locked out"  # a request refused unjournaled while its address is locked out

# Why a delivery was refused, in the trader's words (an unknown strategy is a bad URL too).
REASONS: dict[str, str] = {
    AlertStatus.UNAUTHORIZED: "bad token",
    AlertStatus.UNKNOWN_STRATEGY: "bad token",
    AlertStatus.INVALID: "invalid body",
    AlertStatus.TOO_LARGE: "too large",
    AlertStatus.FORBIDDEN: "not from TradingView",
    LOCKED_OUT: LOCKED_OUT,
}


@dataclass(frozen=True)
class _Refused:
    at: datetime
    reason: str
    strategy: str | None  # None: not a strategy of this bridge
    address: str


class RefusalDigest:
    """Count refused deliveries; make a summary notice when they are worth one (module doc)."""

    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        threshold: int = THRESHOLD,
        window_s: float = WINDOW_S,
    ) -> None:
        self.clock = clock
        self.threshold = threshold
        self.window_s = window_s
        self._seen: deque[_Refused] = deque()
        self._lockouts = 0
        self._sent_at: datetime | None = None
        self._ready: list[Notice] = []

    def refused(self, status: str, *, strategy: str | None, address: str) -> None:
        """Count one refusal: ``status`` an AlertStatus (or LOCKED_OUT); ``strategy`` the
        strategy's name when it is one of this bridge's, else None."""
        now = self.clock()
        self._seen.append(_Refused(now, REASONS.get(status, str(status)), strategy, address))
        # Since the last summary when it is recent (so the next one counts them all), else the
        # last window only.
        recent = self._sent_at is not None and (now - self._sent_at).total_seconds() <= 2 * self.window_s
        keep_s = (now - self._sent_at).total_seconds() if recent and self._sent_at else self.window_s
        while self._seen and (now - self._seen[0].at).total_seconds() > keep_s:
            self._seen.popleft()
        quiet = self._sent_at is None or (now - self._sent_at).total_seconds() >= self.window_s
        if quiet and len(self._seen) >= self.threshold:
            self._ready.append(self._summary())
            self._sent_at = now
            self._seen.clear()
            self._lockouts = 0

    def locked_out(self) -> None:
        """An address was locked out (counted in the next summary)."""
        self._lockouts += 1

    def take(self) -> list[Notice]:
        """The summaries made since the last call, oldest first."""
        ready, self._ready = self._ready, []
        return ready

    def _summary(self) -> Notice:
        seen = list(self._seen)
        summary = RefusedSummary(
            first=seen[0].at,
            last=seen[-1].at,
            by_reason=Counter(r.reason for r in seen),
            by_strategy=Counter(r.strategy for r in seen if r.strategy is not None),
            by_address=Counter(r.address for r in seen),
            lockouts=self._lockouts,
        )
        return deliveries_refused(summary, window_s=(self.clock() - seen[0].at).total_seconds())
