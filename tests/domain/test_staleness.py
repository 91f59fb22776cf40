"""The stale rules as pure functions: an alert's age against its template's max_age_s, at a given clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.models import Alert
from app.domain.staleness import (
    RESUME_MAX_AGE_S,
    received_too_long_ago,
    stale_age,
    unchecked_time,
)

NOW = datetime(2026, 3, 2, 14, 30, 47, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    max_age_s: float = 30.0
    time_field: str | None = "time"


def alert(time: object = "x", *, received_s_ago: float = 0.0) -> Alert:
    fields = {} if time is None else {"time": time}
    return Alert("mnq-market", "{}", fields, NOW - timedelta(seconds=received_s_ago))


def test_an_alert_older_than_max_age_says_when_it_fired_and_how_old_it_was() -> None:
    fired = NOW - timedelta(seconds=47)
    reason = stale_age(Rule(), alert(), fired, NOW)
    assert reason == (
        "alert fired at 14:30:00 UTC, 47 s before it could be executed, older than max_age_s 30 "
        "of template 'mnq-market'"
    )


def test_an_alert_within_max_age_or_ahead_of_the_clock_is_not_stale() -> None:
    assert stale_age(Rule(), alert(), NOW - timedelta(seconds=30), NOW) is None
    assert stale_age(Rule(), alert(), NOW + timedelta(hours=1), NOW) is None


def test_no_time_field_no_max_age_or_no_readable_time_is_never_stale() -> None:
    old = NOW - timedelta(hours=3)
    assert stale_age(Rule(time_field=None), alert(), old, NOW) is None
    assert stale_age(Rule(max_age_s=0), alert(), old, NOW) is None
    assert stale_age(Rule(), alert(), None, NOW) is None


def test_a_long_age_is_said_in_hours_and_another_day_with_its_date() -> None:
    reason = stale_age(Rule(), alert(), NOW - timedelta(days=1, hours=3), NOW)
    assert reason is not None
    assert "alert fired at 2026-03-01 11:30:47 UTC" in reason and "(27 h)" in reason


def test_tenths_show_an_age_just_over_the_limit() -> None:
    reason = stale_age(Rule(), alert(), NOW - timedelta(seconds=30.4), NOW)
    assert reason is not None and "30.4 s before" in reason


def test_unchecked_time_names_a_missing_or_unreadable_time_and_how_to_send_it() -> None:
    missing = unchecked_time(Rule(), alert(None), None, NOW)
    assert missing is not None and "the alert has no 'time'" in missing
    assert 'send "time": "{{timenow}}"' in missing
    unreadable = unchecked_time(Rule(), alert("yesterday"), None, NOW)
    assert unreadable is not None and "'time' is 'yesterday', not a time" in unreadable


def test_unchecked_time_says_the_clock_looks_behind_for_an_alert_far_ahead() -> None:
    ahead = unchecked_time(Rule(), alert(), NOW + timedelta(seconds=90), NOW)
    assert ahead is not None and "clock looks behind by 90 s" in ahead
    assert unchecked_time(Rule(), alert(), NOW + timedelta(seconds=20), NOW) is None


def test_unchecked_time_is_silent_when_the_template_has_no_check() -> None:
    assert unchecked_time(Rule(time_field=None), alert(None), None, NOW) is None
    assert unchecked_time(Rule(max_age_s=0), alert(None), None, NOW) is None


def test_a_resumed_alert_is_measured_from_when_it_was_received() -> None:
    assert received_too_long_ago(Rule(time_field=None), alert(received_s_ago=29), NOW) is None
    own = received_too_long_ago(Rule(time_field=None), alert(received_s_ago=31), NOW)
    assert own is not None and "older than max_age_s 30 of template 'mnq-market'" in own
    late = received_too_long_ago(Rule(max_age_s=0), alert(received_s_ago=RESUME_MAX_AGE_S + 1), NOW)
    assert late is not None and "resumed after a restart 601 s (10 min) later" in late
