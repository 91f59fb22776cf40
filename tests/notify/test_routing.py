"""Who gets which notice: the level floor, the opt-in kinds, ``off``, routes and quiet hours."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from app.config import NotifySettings
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.errors import ConfigError
from app.notify.routing import QuietHours, Routing, check_kinds

MAIN = "json://127.0.0.1:1/main"
PHONE = "json://127.0.0.1:1/phone"


def routing(**settings: Any) -> Routing:
    return Routing(NotifySettings.model_validate({"urls": [MAIN], **settings}))


def notice(kind: NoticeKind, level: NoticeLevel | None = None) -> Notice:
    return Notice(kind=kind, title="t", body="b", level=level)


def test_the_default_floor_sends_warnings_and_criticals_not_info() -> None:
    r = routing()

    assert r.targets(notice(NoticeKind.UNPROTECTED)) == [MAIN]  # critical
    assert r.targets(notice(NoticeKind.ORDER_REJECTED)) == [MAIN]  # warning
    assert r.targets(notice(NoticeKind.BRIDGE_STARTED)) == []  # info
    assert r.targets(notice(NoticeKind.ORDER_REJECTED, NoticeLevel.INFO)) == []  # its own level counts


def test_a_critical_floor_keeps_only_criticals() -> None:
    r = routing(level="critical")

    assert r.targets(notice(NoticeKind.LOCKOUT)) == [MAIN]
    assert r.targets(notice(NoticeKind.ORDER_REJECTED)) == []
    assert r.targets(notice(NoticeKind.ORDER_REJECTED, NoticeLevel.CRITICAL)) == [MAIN]  # a rejected exit


def test_fills_summary_and_heartbeat_go_only_when_asked_for_whatever_the_level() -> None:
    off = routing(level="info")
    on = routing(level="critical", fills=True, daily_summary=True, heartbeat_min=60)

    for kind in (NoticeKind.FILL, NoticeKind.DAILY_SUMMARY, NoticeKind.HEARTBEAT):
        assert off.targets(notice(kind)) == [], kind
        assert on.targets(notice(kind)) == [MAIN], kind
    assert routing(level="critical").targets(notice(NoticeKind.TEST)) == [MAIN]  # test: always


def test_a_kind_turned_off_goes_nowhere_not_even_to_routes() -> None:
    r = routing(off=["position.unprotected"], routes=[{"urls": [PHONE], "level": "info"}])

    assert r.targets(notice(NoticeKind.UNPROTECTED)) == []
    assert r.targets(notice(NoticeKind.LOCKOUT)) == [MAIN, PHONE]


def test_routes_add_targets_by_kind_and_level() -> None:
    r = routing(
        routes=[
            {"urls": [PHONE], "kinds": ["position.unprotected", "fill"], "level": "info"},
            {"urls": ["json://127.0.0.1:1/pager"], "level": "critical"},
        ]
    )

    assert r.targets(notice(NoticeKind.UNPROTECTED)) == [MAIN, PHONE, "json://127.0.0.1:1/pager"]
    assert r.targets(notice(NoticeKind.ORDER_REJECTED)) == [MAIN]  # warning: not the pager's level
    # A fill is opt-in: off for urls, but the route names it.
    assert r.targets(notice(NoticeKind.FILL)) == [PHONE]


def test_a_url_in_urls_and_in_a_route_is_sent_to_once() -> None:
    r = routing(routes=[{"urls": [MAIN], "level": "warning"}])

    assert r.targets(notice(NoticeKind.LOCKOUT)) == [MAIN]


@pytest.mark.parametrize(
    ("span", "now", "quiet"),
    [
        ("22:00-07:00", time(23, 30), True),
        ("22:00-07:00", time(3, 0), True),
        ("22:00-07:00", time(7, 0), False),  # the end is excluded
        ("22:00-07:00", time(22, 0), True),  # the start included
        ("22:00-07:00", time(12, 0), False),
        ("12:00-13:30", time(13, 29, 59), True),
        ("12:00-13:30", time(11, 59), False),
        ("07:00-07:00", time(7, 0), False),  # an empty span
    ],
)
def test_quiet_hours_wrap_midnight(span: str, now: time, quiet: bool) -> None:
    hours = QuietHours.parse(span)

    assert hours is not None and hours.holds(now) is quiet


def test_only_critical_notices_go_during_quiet_hours() -> None:
    r = routing(quiet_hours="22:00-07:00")

    assert r.quiet(notice(NoticeKind.ORDER_REJECTED), time(23, 0))
    assert not r.quiet(notice(NoticeKind.UNPROTECTED), time(23, 0))
    assert not r.quiet(notice(NoticeKind.ORDER_REJECTED), time(12, 0))
    assert not routing().quiet(notice(NoticeKind.ORDER_REJECTED), time(23, 0))


@pytest.mark.parametrize(
    "settings",
    [{"off": ["fills"]}, {"routes": [{"urls": [PHONE], "kinds": ["position.unprotected", "unprotected"]}]}],
)
def test_an_unknown_kind_name_is_a_config_error_listing_the_known_ones(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as raised:
        check_kinds(NotifySettings.model_validate(settings))

    message = str(raised.value)
    assert "unknown notice kind 'fills'" in message or "unknown notice kind 'unprotected'" in message
    assert "position.unprotected" in message and "order.rejected" in message and "heartbeat" in message
