"""What the bridge tells a trader who is away from the laptop: one notice per condition.

A ``Notice`` is plain data, built by the engine (app/engine/notices.py) where the condition is
found, and handed to a ``Notifier`` (app/engine/ports.py), which routes, deduplicates and sends it
off the alert path (app/notify/). Nothing here sends anything.

Kinds are ``StrEnum`` members so they are their own setting names (``[notify] off = ["fill"]``)
and their own journal text. Add a member (and its default level in ``DEFAULT_LEVEL``) before
raising a new kind; never build a kind from user text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class NoticeLevel(StrEnum):
    """How much a notice needs the trader: ``critical`` means act now (a position without its
    stop loss); ``warning`` something went wrong that may need a look; ``info`` for the record."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (info) to 2 (critical): a notice passes a floor when its rank is at least the floor's."""
        return _RANKS[self]


_RANKS = {NoticeLevel.INFO: 0, NoticeLevel.WARNING: 1, NoticeLevel.CRITICAL: 2}


class NoticeKind(StrEnum):
    """Every condition the bridge notifies, by what raised it."""

    # orders and alerts
    ORDER_REJECTED = "order.rejected"
    ALERT_REFUSED = "alert.refused"  # by the risk gate
    DELIVERIES_REFUSED = "webhook.refused"  # a rate-limited summary of unauthorised or invalid posts
    FILL = "fill"
    # risk
    LOCKOUT = "risk.lockout"
    UNLOCK = "risk.unlock"
    SESSION_FLATTEN = "session.flatten"
    # protection
    UNPROTECTED = "position.unprotected"
    PROTECTED = "position.protected"
    # connections
    GATEWAY_LOST = "gateway.lost"
    GATEWAY_BACK = "gateway.back"
    HUB_LOST = "hub.lost"
    HUB_BACK = "hub.back"
    TOKEN_FAILING = "token.failing"  # noqa: S105 — an event name, not a password
    TUNNEL_URL_CHANGED = "tunnel.url_changed"
    TUNNEL_UNREACHABLE = "tunnel.unreachable"
    # contracts
    ROLL_APPROACHING = "roll.approaching"
    # the bridge itself
    BRIDGE_STARTED = "bridge.started"
    BRIDGE_STOPPED = "bridge.stopped"
    DAILY_SUMMARY = "daily.summary"
    HEARTBEAT = "heartbeat"
    TEST = "test"


# The level a kind is raised at unless its builder says otherwise (a rejected exit is critical).
DEFAULT_LEVEL: dict[NoticeKind, NoticeLevel] = {
    NoticeKind.ORDER_REJECTED: NoticeLevel.WARNING,
    NoticeKind.ALERT_REFUSED: NoticeLevel.WARNING,
    NoticeKind.DELIVERIES_REFUSED: NoticeLevel.WARNING,
    NoticeKind.FILL: NoticeLevel.INFO,
    NoticeKind.LOCKOUT: NoticeLevel.CRITICAL,
    NoticeKind.UNLOCK: NoticeLevel.INFO,
    NoticeKind.SESSION_FLATTEN: NoticeLevel.WARNING,
    NoticeKind.UNPROTECTED: NoticeLevel.CRITICAL,
    NoticeKind.PROTECTED: NoticeLevel.WARNING,
    NoticeKind.GATEWAY_LOST: NoticeLevel.CRITICAL,
    NoticeKind.GATEWAY_BACK: NoticeLevel.WARNING,
    NoticeKind.HUB_LOST: NoticeLevel.CRITICAL,
    NoticeKind.HUB_BACK: NoticeLevel.WARNING,
    NoticeKind.TOKEN_FAILING: NoticeLevel.CRITICAL,
    NoticeKind.TUNNEL_URL_CHANGED: NoticeLevel.CRITICAL,
    NoticeKind.TUNNEL_UNREACHABLE: NoticeLevel.CRITICAL,
    NoticeKind.ROLL_APPROACHING: NoticeLevel.WARNING,
    NoticeKind.BRIDGE_STARTED: NoticeLevel.INFO,
    NoticeKind.BRIDGE_STOPPED: NoticeLevel.WARNING,
    NoticeKind.DAILY_SUMMARY: NoticeLevel.INFO,
    NoticeKind.HEARTBEAT: NoticeLevel.INFO,
    NoticeKind.TEST: NoticeLevel.INFO,
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Notice:
    """One thing to tell the trader.

    ``title``: one line, e.g. "Order rejected on 50KTC-V2-1234: buy 2 MNQZ6". ``body``: what
    happened, with the numbers (prices in points, sizes in contracts, P&L in USD), then what to
    do. ``key``: what makes two notices the same condition (e.g. the account and contract of an
    unprotected position); the notifier sends a key once per dedupe window. Empty: the kind and
    the title. ``account``/``strategy``/``contract``: names as the trader knows them (may be
    empty). ``level`` defaults to the kind's DEFAULT_LEVEL. ``at``: UTC.
    """

    kind: NoticeKind
    title: str
    body: str
    level: NoticeLevel | None = None
    key: str = ""
    account: str = ""
    strategy: str = ""
    contract: str = ""
    at: datetime = field(default_factory=_now)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> NoticeLevel:
        """The level it is sent at: its own, else its kind's default."""
        return self.level if self.level is not None else DEFAULT_LEVEL[self.kind]

    @property
    def dedupe_key(self) -> str:
        """``kind|key`` (``kind|title`` without a key): equal keys are the same condition."""
        return f"{self.kind}|{self.key or self.title}"
