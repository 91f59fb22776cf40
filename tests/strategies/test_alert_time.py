"""refresh_alert_time: a test alert's time field set to the moment it is sent, as {{timenow}} is."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.strategies import (
    StrategyTemplate,
    example_time_warnings,
    load_template,
    refresh_alert_time,
    stale_check_warnings,
)
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES

NOW = datetime(2026, 11, 21, 9, 15, 42, 654321, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
def market() -> StrategyTemplate:
    template = load_template(SHIPPED_TEMPLATES, "mnq-market")
    assert template is not None and template.time_field == "time"
    return template


def test_the_time_is_set_and_the_rest_of_the_body_kept_byte_for_byte(market: StrategyTemplate) -> None:
    raw = (SHIPPED_ALERTS / "mnq-market.example.json").read_bytes()

    fresh = refresh_alert_time(raw, market, now=NOW)

    assert fresh == raw.replace(b'"2026-03-02T14:30:00Z"', b'"2026-11-21T09:15:42Z"')
    assert json.loads(fresh)["time"] == "2026-11-21T09:15:42Z"


def test_without_now_it_is_the_clock(market: StrategyTemplate) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    value = json.loads(refresh_alert_time(b'{"time": "2026-03-02T14:30:00Z"}', market))["time"]

    assert before <= datetime.fromisoformat(value) <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1772461800000", f'"{NOW_MS}"'),  # epoch ms as text stays ms text
        ("1772461800123", f'"{NOW_MS}"'),
        (1772461800000, str(NOW_MS)),  # a JSON number stays a number
        (1772461800, str(NOW_MS // 1000)),  # epoch seconds stay seconds
        (None, '"2026-11-21T09:15:42Z"'),
        ("2026-03-02 14:30", '"2026-11-21T09:15:42Z"'),
    ],
)
def test_the_value_keeps_its_kind(market: StrategyTemplate, value: object, expected: str) -> None:
    body = json.dumps({"ticker": "MNQ1!", "time": value})

    fresh = refresh_alert_time(body.encode(), market, now=NOW).decode()

    assert fresh == body.replace(json.dumps(value), expected)


def test_only_the_top_level_field_changes(market: StrategyTemplate) -> None:
    body = b'{"nested": {"time": "x", "list": [{"time": 1}]}, "time" : "old", "note": "time"}'

    fresh = refresh_alert_time(body, market, now=NOW)

    assert fresh == body.replace(b'"old"', b'"2026-11-21T09:15:42Z"')


def test_a_repeated_field_changes_everywhere(market: StrategyTemplate) -> None:
    fresh = refresh_alert_time(b'{"time": "a", "time": "b"}', market, now=NOW)

    assert fresh == b'{"time": "2026-11-21T09:15:42Z", "time": "2026-11-21T09:15:42Z"}'


def test_unicode_before_the_field_keeps_the_offsets(market: StrategyTemplate) -> None:
    body = '{"comment": "größer “quoted”", "time": "old"}'.encode()

    fresh = refresh_alert_time(body, market, now=NOW)

    assert fresh.decode() == '{"comment": "größer “quoted”", "time": "2026-11-21T09:15:42Z"}'


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ticker": "MNQ1!"}',  # no time field
        b'{"ticker": "MNQ1!", "time": "old",}',  # not valid JSON: sent as it is (the bridge says why)
        b'["time"]',
        b"buy 1 MNQ1! @ 21500.25",
        b"\xff\xfe",
    ],
)
def test_other_bodies_are_unchanged(market: StrategyTemplate, raw: bytes) -> None:
    assert refresh_alert_time(raw, market, now=NOW) is raw


def test_templates_without_a_time_field_change_nothing() -> None:
    raw = b'{"time": "2026-03-02T14:30:00Z"}'
    text = load_template(SHIPPED_TEMPLATES, "nq-text")

    assert text is not None and refresh_alert_time(raw, text, now=NOW) is raw
    assert refresh_alert_time(raw, None, now=NOW) is raw


def test_load_template_is_none_when_missing_or_broken(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[order\n")

    assert load_template(tmp_path, "broken") is None
    assert load_template(tmp_path, "absent") is None


def test_the_shipped_messages_send_their_templates_time_field() -> None:
    """Issue 12: `tvbridge check` finds nothing to warn about in what ships."""
    for path in sorted(SHIPPED_TEMPLATES.glob("*.toml")):
        template = load_template(SHIPPED_TEMPLATES, path.stem)
        assert template is not None
        message = (SHIPPED_ALERTS / f"{path.stem}.txt").read_text()
        assert stale_check_warnings(template, message) == [], path.stem


def test_a_message_without_the_time_field_or_max_age_0_is_warned(market: StrategyTemplate) -> None:
    [missing] = stale_check_warnings(market, '{"ticker": "{{ticker}}", "timestamp": "{{timenow}}"}')
    assert "alerts/mnq-market.txt does not send time_field 'time'" in missing
    assert 'add "time": "{{timenow}}" to the message (max_age_s 30)' in missing
    assert stale_check_warnings(market, None) == []  # no message to read: nothing to say
    never = dataclasses.replace(market, max_age_s=0.0)
    [warning] = stale_check_warnings(never, '{"time": "{{timenow}}"}')
    assert "time_field 'time' is set but max_age_s = 0: its alerts are never refused as stale" in warning
    assert stale_check_warnings(dataclasses.replace(market, time_field=None), "{}") == []


def test_a_text_message_is_read_through_the_pattern() -> None:
    template = load_template(SHIPPED_TEMPLATES, "nq-text")
    assert template is not None and template.pattern is not None
    timed = dataclasses.replace(template, time_field="time")
    [warning] = stale_check_warnings(timed, "buy 1 NQ1! @ 21500")
    assert "does not send time_field 'time'" in warning
    with_group = dataclasses.replace(timed, pattern=re.compile(r"(?P<action>\w+) .* (?P<time>\S+)$"))
    assert stale_check_warnings(with_group, "buy 1 NQ1! {{timenow}}") == []


def test_a_dotted_time_field_is_read_refreshed_and_checked(market: StrategyTemplate) -> None:
    """Issue 14: a nested time_field ("metadata.timestamp") is read, never silently ignored."""
    nested = dataclasses.replace(market, time_field="metadata.timestamp")
    raw = b'{"ticker": "MNQ1!", "metadata": {"timestamp": "2026-03-02T14:30:00Z", "time": 1}, "time": 2}'

    fresh = refresh_alert_time(raw, nested, now=NOW)

    assert json.loads(fresh) == {
        "ticker": "MNQ1!",
        "metadata": {"timestamp": "2026-11-21T09:15:42Z", "time": 1},
        "time": 2,
    }
    message = '{"ticker": "{{ticker}}", "price": {{close}}, "metadata": {"timestamp": "{{timenow}}"}}'
    assert stale_check_warnings(nested, message) == []
    [missing] = stale_check_warnings(nested, '{"ticker": "{{ticker}}", "timestamp": "{{timenow}}"}')
    assert "does not send time_field 'metadata.timestamp'" in missing


def test_an_example_without_the_time_field_is_warned(market: StrategyTemplate) -> None:
    shown = "alerts/mnq-market.example.json"
    assert example_time_warnings(market, '{"ticker": "MNQ1!", "time": "2026-03-02T14:30:00Z"}', shown) == []
    [warning] = example_time_warnings(market, '{"ticker": "MNQ1!"}', shown)
    assert warning.startswith("template 'mnq-market': its example alert alerts/mnq-market.example.json")
    assert "has no time_field 'time'" in warning
    nested = dataclasses.replace(market, time_field="metadata.timestamp")
    assert example_time_warnings(nested, '{"metadata": {"timestamp": "2026-03-02T14:30:00Z"}}', shown) == []
    assert len(example_time_warnings(nested, '{"time": "2026-03-02T14:30:00Z"}', shown)) == 1
    assert example_time_warnings(market, None, shown) == []


def test_the_shipped_examples_have_their_templates_time_field() -> None:
    for path in sorted(SHIPPED_TEMPLATES.glob("*.toml")):
        template = load_template(SHIPPED_TEMPLATES, path.stem)
        assert template is not None
        for example in sorted(SHIPPED_ALERTS.glob(f"{path.stem}.example.*")):
            assert example_time_warnings(template, example.read_text(), example.name) == [], example.name
