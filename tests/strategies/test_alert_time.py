"""refresh_alert_time: a test alert's time field set to the moment it is sent, as {{timenow}} is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.strategies import StrategyTemplate, load_template, refresh_alert_time
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
