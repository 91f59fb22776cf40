"""How old an alert a crash interrupted may be and still have its entry sent when it is resumed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.models import Alert
from app.engine.execute import RESUME_MAX_AGE_S, received_too_long_ago

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@dataclass
class Template:
    max_age_s: float
    time_field: str | None = None


def alert(age_s: float) -> Alert:
    return Alert(strategy="mnq-market", raw_body="{}", fields={}, received_at=NOW - timedelta(seconds=age_s))


def test_a_template_without_a_time_field_applies_its_max_age_to_the_time_received() -> None:
    assert received_too_long_ago(Template(30), alert(29), NOW) is None
    reason = received_too_long_ago(Template(30), alert(31), NOW)
    assert reason is not None and "older than max_age_s 30 of template 'mnq-market'" in reason


def test_never_stale_templates_still_do_not_send_an_entry_a_long_crash_interrupted() -> None:
    for template in (Template(0), Template(0, "time"), Template(3600), Template(30, "time")):
        assert received_too_long_ago(template, alert(RESUME_MAX_AGE_S - 1), NOW) is None
        reason = received_too_long_ago(template, alert(RESUME_MAX_AGE_S + 60), NOW)
        assert reason is not None
        assert "older than the 600 s after which an entry a crash interrupted is never sent" in reason
