"""The trading calendar: trading days from 17:00 Central, clock times across daylight saving."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.domain.calendar import TradingCalendar

CHICAGO = ZoneInfo("America/Chicago")
calendar = TradingCalendar()


def central(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A UTC instant given as Chicago wall time (never an ambiguous one)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (central(2026, 3, 10, 16, 59, 59), date(2026, 3, 10)),  # Tuesday before the day start
        (central(2026, 3, 10, 17, 0), date(2026, 3, 11)),  # 17:00 starts Wednesday's day
        (central(2026, 3, 10, 0, 0), date(2026, 3, 10)),
        (central(2026, 3, 15, 17, 0), date(2026, 3, 16)),  # Sunday evening is Monday's
        (central(2026, 3, 15, 16, 59), date(2026, 3, 15)),
        (central(2026, 3, 13, 17, 0), date(2026, 3, 14)),  # Friday evening: Saturday (documented)
        (utc(2026, 3, 8, 21, 59, 59), date(2026, 3, 8)),  # DST day: 16:59:59 CDT
        (utc(2026, 3, 8, 22, 0), date(2026, 3, 9)),  # 17:00 CDT
        (utc(2026, 11, 1, 22, 59, 59), date(2026, 11, 1)),  # fall day: 16:59:59 CST
        (utc(2026, 11, 1, 23, 0), date(2026, 11, 2)),  # 17:00 CST
    ],
)
def test_trading_day_starts_at_17_central(at: datetime, day: date) -> None:
    assert calendar.trading_day(at) == day


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2026, 3, 8), utc(2026, 3, 7, 23, 0)),  # 17:00 CST on Saturday
        (date(2026, 3, 9), utc(2026, 3, 8, 22, 0)),  # 17:00 CDT on the spring-forward Sunday
        (date(2026, 11, 1), utc(2026, 10, 31, 22, 0)),  # 17:00 CDT
        (date(2026, 11, 2), utc(2026, 11, 1, 23, 0)),  # 17:00 CST on the fall-back Sunday
    ],
)
def test_day_start_is_17_central_the_evening_before_across_dst(day: date, start: datetime) -> None:
    assert calendar.day_start_at(day) == start
    assert calendar.day_start_at(day).tzinfo is UTC


def test_next_day_start_is_strictly_after() -> None:
    assert calendar.next_day_start(central(2026, 3, 8, 16, 0)) == utc(2026, 3, 8, 22, 0)
    assert calendar.next_day_start(utc(2026, 3, 8, 22, 0)) == utc(2026, 3, 9, 22, 0)
    assert calendar.next_day_start(utc(2026, 3, 8, 21, 59, 59)) == utc(2026, 3, 8, 22, 0)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (central(2026, 3, 10, 9, 0), utc(2026, 3, 10, 20, 10)),  # later the same day (CDT)
        (central(2026, 3, 10, 15, 10), utc(2026, 3, 11, 20, 10)),  # strictly after: tomorrow
        (central(2026, 3, 10, 15, 9, 59), utc(2026, 3, 10, 20, 10)),
        (central(2026, 3, 7, 16, 0), utc(2026, 3, 8, 20, 10)),  # CST evening → CDT close
        (central(2026, 3, 6, 16, 0), utc(2026, 3, 7, 21, 10)),  # CST → CST
        (central(2026, 10, 31, 16, 0), utc(2026, 11, 1, 21, 10)),  # CDT evening → CST close
        (central(2026, 10, 30, 16, 0), utc(2026, 10, 31, 20, 10)),  # CDT → CDT
    ],
)
def test_next_session_close_across_dst(at: datetime, expected: datetime) -> None:
    assert calendar.next_time(at, "15:10") == expected


def test_next_time_in_the_spring_gap_is_the_first_valid_instant_after() -> None:
    # 2026-03-08 in Chicago: 02:00 CST jumps to 03:00 CDT, so 02:30 never shows.
    at = central(2026, 3, 8, 0, 0)
    assert calendar.next_time(at, "02:30") == utc(2026, 3, 8, 8, 0)  # 03:00 CDT
    assert calendar.next_time(at, "03:00") == utc(2026, 3, 8, 8, 0)
    assert calendar.next_time(at, "01:59") == utc(2026, 3, 8, 7, 59)  # 01:59 CST


def test_next_time_shown_twice_in_the_fall_gives_whichever_comes_next() -> None:
    # 2026-11-01 in Chicago: 02:00 CDT falls back to 01:00 CST, so 01:30 shows twice.
    first = calendar.next_time(utc(2026, 11, 1, 5, 0), "01:30")
    assert first == utc(2026, 11, 1, 6, 30)  # 01:30 CDT
    assert calendar.next_time(first, "01:30") == utc(2026, 11, 1, 7, 30)  # 01:30 CST
    assert calendar.next_time(utc(2026, 11, 1, 7, 30), "01:30") == utc(2026, 11, 2, 7, 30)


def test_naive_times_and_bad_clocks_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        calendar.trading_day(datetime(2026, 3, 10, 12, 0))
    with pytest.raises(ValueError, match="'25:00' must be HH:MM"):
        calendar.next_time(utc(2026, 3, 10), "25:00")
    with pytest.raises(ValueError, match="'8:30-15:00'"):
        calendar.in_windows(utc(2026, 3, 10), ["8:30-15:00"])
    with pytest.raises(ValueError, match="'5pm'"):
        TradingCalendar(day_start="5pm")


@pytest.mark.parametrize(
    ("at", "windows", "inside"),
    [
        (central(2026, 3, 10, 8, 29, 59), ["08:30-15:00"], False),
        (central(2026, 3, 10, 8, 30), ["08:30-15:00"], True),
        (central(2026, 3, 10, 14, 59, 59), ["08:30-15:00"], True),
        (central(2026, 3, 10, 15, 0), ["08:30-15:00"], False),  # end exclusive
        (central(2026, 3, 10, 17, 0), ["17:00-15:10"], True),  # past midnight
        (central(2026, 3, 10, 23, 59), ["17:00-15:10"], True),
        (central(2026, 3, 10, 3, 0), ["17:00-15:10"], True),
        (central(2026, 3, 10, 15, 9), ["17:00-15:10"], True),
        (central(2026, 3, 10, 15, 10), ["17:00-15:10"], False),
        (central(2026, 3, 10, 16, 59), ["17:00-15:10"], False),
        (central(2026, 3, 10, 12, 0), ["08:30-11:00", "13:00-15:00"], False),
        (central(2026, 3, 10, 13, 0), ["08:30-11:00", "13:00-15:00"], True),
        (central(2026, 3, 10, 16, 0), ["17:00-17:00"], True),  # end at start: the whole day
        (central(2026, 3, 10, 16, 0), [], True),  # no windows: any time
    ],
)
def test_in_windows(at: datetime, windows: list[str], inside: bool) -> None:
    assert calendar.in_windows(at, windows) is inside


def test_windows_keep_their_local_hours_across_dst() -> None:
    # 08:30 Central is 14:30 UTC in winter and 13:30 UTC in summer.
    assert calendar.in_windows(utc(2026, 3, 6, 14, 30), ["08:30-15:00"])
    assert not calendar.in_windows(utc(2026, 3, 6, 13, 30), ["08:30-15:00"])
    assert calendar.in_windows(utc(2026, 3, 9, 13, 30), ["08:30-15:00"])
    assert not calendar.in_windows(utc(2026, 3, 9, 20, 0), ["08:30-15:00"])  # 15:00 CDT


def test_a_holiday_is_a_whole_trading_day() -> None:
    christmas = TradingCalendar(holidays=[date(2026, 12, 25)])
    assert not christmas.is_holiday(central(2026, 12, 24, 16, 59))
    assert christmas.is_holiday(central(2026, 12, 24, 17, 0))
    assert christmas.is_holiday(central(2026, 12, 25, 16, 59))
    assert not christmas.is_holiday(central(2026, 12, 25, 17, 0))
    assert not calendar.is_holiday(central(2026, 12, 25, 10, 0))
    assert calendar.is_holiday(central(2026, 12, 25, 10, 0), extra=[date(2026, 12, 25)])


def test_describe_names_the_zone_and_the_date_when_not_today() -> None:
    now = central(2026, 3, 9, 8, 0)
    assert calendar.describe(central(2026, 3, 9, 15, 10), now=now) == "15:10 Central"
    assert calendar.describe(central(2026, 3, 10, 8, 30), now=now) == "2026-03-10 08:30 Central"
    assert calendar.describe(central(2026, 3, 9, 8, 30)) == "2026-03-09 08:30 Central"
    london = TradingCalendar("Europe/London")
    assert london.describe(utc(2026, 7, 1, 12, 0)) == "2026-07-01 13:00 Europe/London"
    assert calendar.local(utc(2026, 7, 1, 12, 0)).hour == 7


def test_a_morning_day_start_names_the_day_by_its_own_date() -> None:
    morning = TradingCalendar(day_start="06:00")
    assert morning.trading_day(central(2026, 3, 10, 5, 59)) == date(2026, 3, 9)
    assert morning.trading_day(central(2026, 3, 10, 6, 0)) == date(2026, 3, 10)
    assert morning.day_start_at(date(2026, 3, 10)) == central(2026, 3, 10, 6, 0)
