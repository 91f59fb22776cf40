"""How old an alert is, and whether its entries are too old to send: pure rules, no I/O.

An alert's own time comes from the template's ``time_field`` (TradingView's ``{{timenow}}``,
reference/tradingview.md §2.1); the caller parses it (``StrategyTemplate.alert_time``) and
passes it in with the clock's ``now`` (UTC). Each function returns the reason in a trader's
words, or None when the alert may go. The engine decides what a reason stops (entries, never
exits): app/engine/execute.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from app.domain.models import Alert

STALE_ADVICE = "check the tunnel's delay and this computer's clock, or raise [alert] max_age_s"

# However the template sets its stale rule (max_age_s = 0 is "never stale"), a crash that kept
# the bridge down this long ends the entries it interrupted: that rule is about TradingView's
# delivery, and an entry sent ten minutes after the signal is not the trade the strategy meant.
RESUME_MAX_AGE_S = 600.0


class AgeRule(Protocol):
    """A template's stale rule (``[alert]`` time_field and max_age_s); StrategyTemplate is one."""

    @property
    def time_field(self) -> str | None:
        """The alert field holding its fire time; None: the template has no stale check."""

    @property
    def max_age_s(self) -> float:
        """Seconds an alert may be old and still open a position; 0: never stale."""


def field_at(fields: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value of ``path`` in an alert's fields, or ``default`` when it is not there.

    ``path`` is a field name (``time``) or a dotted path into nested JSON objects
    (``metadata.timestamp``: the key ``timestamp`` of the object under ``metadata``). A key
    that itself holds the dots (``{"metadata.timestamp": ...}``) is read first, as sent.
    """
    if path in fields:
        return fields[path]
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def stale_age(rule: AgeRule, alert: Alert, alert_time: datetime | None, now: datetime) -> str | None:
    """Say how old ``alert`` is when it is older than the rule's ``max_age_s`` at ``now``
    (UTC), e.g. "alert fired at 14:30:00 UTC, 47 s before it could be executed, older than
    max_age_s 30 of template 'mnq-market'"; None when it is not.

    ``alert_time``: the alert's own time (UTC) read from its ``time_field``, None when absent or
    unreadable. Never stale when the rule has no ``time_field``, ``max_age_s`` is 0 or the
    alert's time cannot be read (reference/tradingview.md §2.1, §4 pitfalls 4 and 7), nor when
    the time is ahead of ``now``: :func:`unchecked_time` says why the check could not judge it.
    """
    max_age_s = rule.max_age_s
    if not rule.time_field:
        alert_time = None
    if not max_age_s or alert_time is None:
        return None
    age_s = (now - alert_time).total_seconds()
    shown = _shown_time(alert_time, now)
    if age_s <= max_age_s:
        return None
    return (
        f"alert fired at {shown} UTC, {_seconds(age_s, above=max_age_s)} s{_long(age_s)} before it "
        f"could be executed, older than max_age_s {max_age_s:g} of template '{alert.strategy}'"
    )


def unchecked_time(rule: AgeRule, alert: Alert, alert_time: datetime | None, now: datetime) -> str | None:
    """Why the stale check could not judge ``alert`` (its time field missing, unreadable, or
    more than max_age_s ahead of ``now``, UTC), or None when it could, or when the rule has no
    check (no ``time_field``, or ``max_age_s = 0``). Such an alert is executed (a missing
    ``{{timenow}}`` must not stop the trading), and says so: the check is not silently off.

    ``alert_time`` as for :func:`stale_age`.
    """
    field = rule.time_field
    max_age_s = rule.max_age_s
    if not field or not max_age_s:
        return None
    advice = f'send "{field}": "{{{{timenow}}}}" in the alert message (alerts/{alert.strategy}.txt)'
    value = field_at(alert.fields, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return (
            f"stale check not done: the alert has no '{field}' (time_field of template "
            f"'{alert.strategy}'); {advice}"
        )
    if alert_time is None:
        shown = str(value)[:40]
        return (
            f"stale check not done: '{field}' is '{shown}', not a time (ISO-8601 such as "
            f"2026-03-02T14:30:00Z, or epoch ms); {advice}"
        )
    ahead_s = (alert_time - now).total_seconds()
    if ahead_s > max_age_s:
        return (
            f"stale check not done: the alert is dated {_shown_time(alert_time, now)} UTC, "
            f"{_seconds(ahead_s)} s{_long(ahead_s)} ahead: this computer's clock looks behind by "
            f"{_seconds(ahead_s)} s (set it right: automatic time), or the alert's '{field}' is wrong"
        )
    return None


def received_too_long_ago(rule: AgeRule, alert: Alert, now: datetime) -> str | None:
    """For a resumed alert: why its entries are too old to send, measured from the time it was
    received (UTC), or None. A rule without ``time_field`` applies its ``max_age_s`` here
    (stale_age cannot); every rule is held to RESUME_MAX_AGE_S (600 s)."""
    max_age_s = float(rule.max_age_s or 0.0)
    own_rule = bool(max_age_s) and not rule.time_field and max_age_s < RESUME_MAX_AGE_S
    limit = max_age_s if own_rule else RESUME_MAX_AGE_S
    age_s = (now - alert.received_at).total_seconds()
    if age_s <= limit:
        return None
    reason = (
        f"older than max_age_s {max_age_s:g} of template '{alert.strategy}'"
        if own_rule
        else f"older than the {RESUME_MAX_AGE_S:g} s after which an entry a crash interrupted is never sent"
    )
    return (
        f"alert received at {alert.received_at:%Y-%m-%d %H:%M:%S} UTC, resumed after a restart "
        f"{_seconds(age_s, above=limit)} s{_long(age_s)} later, {reason}"
    )


def _shown_time(moment: datetime, now: datetime) -> str:
    return f"{moment:%H:%M:%S}" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M:%S}"


def _long(age_s: float) -> str:
    """A long age in words too, e.g. " (3 h)", so 10800 s is read at a glance."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if age_s >= 2 * size:
            return f" ({age_s / size:.0f} {unit})"
    return ""


def _seconds(value: float, *, above: float = 0.0) -> str:
    """Whole seconds; tenths when whole seconds would not show it is above ``above``."""
    whole = f"{value:.0f}"
    return whole if float(whole) > above else f"{value:.1f}"
