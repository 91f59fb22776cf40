"""The exchange's trading calendar: trading days, local clock times and windows, daylight saving.

Every instant in and out is a tz-aware UTC ``datetime``; exchange (local) time lives only here.
A CME trading day starts at 17:00 Central the evening before and is named by the calendar date
that follows: Tuesday's trading day runs from Monday 17:00 to Tuesday 17:00 Central. Sunday
17:00 starts Monday's; Friday 17:00 starts Saturday's (no alerts come then, so the rule stays
simple). With a day start before noon the day is named by its own date instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# Zones named by a word in messages; any other zone is named by its key.
_ZONE_WORDS = {"America/Chicago": "Central", "US/Central": "Central"}
_SEARCH_DAYS = 4  # local dates searched for a clock time: enough for any DST change


def parse_clock(text: str) -> time:
    """Read an exchange clock time "HH:MM" (24 h). Raises ValueError naming the text."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"time of day '{text}' must be HH:MM (24 h), e.g. 15:10")
    return time(int(match[1]), int(match[2]))


def parse_window(window: str) -> tuple[time, time]:
    """Read a trading window "HH:MM-HH:MM" into (start, end). Raises ValueError naming it."""
    match = re.fullmatch(rf"({_CLOCK.pattern})-({_CLOCK.pattern})", window.strip())
    if match is None:
        raise ValueError(f"trading window '{window}' must be HH:MM-HH:MM, e.g. 08:30-15:00")
    return parse_clock(match[1]), parse_clock(match[4])


class TradingCalendar:
    """Trading days and exchange clock times in one time zone (stdlib zoneinfo).

    ``timezone``: an IANA key ([risk] timezone). ``day_start``: "HH:MM" local, the start of a
    trading day ([risk] day_start). ``holidays``: trading days (dates) with no entries.
    Raises ValueError for an unknown zone or a malformed day start (config.py checks both first).
    """

    def __init__(
        self,
        timezone: str = "America/Chicago",
        day_start: str = "17:00",
        holidays: Iterable[date] = (),
    ) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.day_start = parse_clock(day_start)
        self.holidays = frozenset(holidays)
        # A day starting in the afternoon or evening is named by the next date (CME: 17:00).
        self._days_ahead = 1 if self.day_start >= time(12) else 0

    @property
    def zone_name(self) -> str:
        """The zone as messages name it: "Central" for America/Chicago, else the zone key."""
        return _ZONE_WORDS.get(self.timezone, self.timezone)

    def local(self, at: datetime) -> datetime:
        """Return ``at`` in exchange time. Raises ValueError for a naive datetime."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"time {at.isoformat()} has no time zone; give a tz-aware UTC datetime")
        return at.astimezone(self.zone)

    def trading_day(self, at: datetime) -> date:
        """Return the trading day ``at`` belongs to (at or after 17:00 Central: the next date's)."""
        today = self.local(at).date() + timedelta(days=self._days_ahead)
        return today if at >= self.day_start_at(today) else today - timedelta(days=1)

    def day_start_at(self, day: date) -> datetime:
        """Return the UTC instant trading day ``day`` starts (17:00 Central the date before)."""
        start_date = day - timedelta(days=self._days_ahead)
        return self._instants(datetime.combine(start_date, self.day_start))[0]

    def next_day_start(self, at: datetime) -> datetime:
        """Return the UTC instant the trading day after ``at``'s starts (always after ``at``)."""
        return self.day_start_at(self.trading_day(at) + timedelta(days=1))

    def next_time(self, at: datetime, clock: str) -> datetime:
        """Return the first UTC instant strictly after ``at`` when exchange time reads ``clock``.

        ``clock`` is "HH:MM". Across daylight saving: a time skipped by the spring change gives
        the first instant after the gap (02:30 on 2026-03-08 in Chicago → 03:00 CDT); a time the
        fall change shows twice gives whichever comes next. Raises ValueError for a bad clock.
        """
        wanted = parse_clock(clock)
        first = self.local(at).date()
        for n in range(_SEARCH_DAYS):
            for instant in self._instants(datetime.combine(first + timedelta(days=n), wanted)):
                if instant > at:
                    return instant
        raise AssertionError(f"no {clock} within {_SEARCH_DAYS} days of {at.isoformat()}")

    def session_close_at(self, at: datetime, clock: str) -> datetime:
        """Return the UTC instant the session of ``at``'s trading day closes: the first time
        exchange time reads ``clock`` ("HH:MM") at or after that day's start."""
        start = self.day_start_at(self.trading_day(at))
        return self.next_time(start - timedelta(microseconds=1), clock)

    def next_window_open(self, at: datetime, windows: Iterable[str]) -> datetime | None:
        """Return the first UTC instant after ``at`` when one of the "HH:MM-HH:MM" windows
        opens; None without windows."""
        return min((self.next_time(at, window.split("-")[0]) for window in windows), default=None)

    def in_windows(self, at: datetime, windows: Iterable[str]) -> bool:
        """Say whether exchange time at ``at`` is inside any "HH:MM-HH:MM" window (end exclusive).

        A window whose end is at or before its start runs past midnight ("17:00-15:10"; so
        "17:00-17:00" is the whole day). No windows: always True. Wall-clock times, so a window
        keeps its local hours across daylight saving. Raises ValueError for a malformed window.
        """
        spans = [parse_window(window) for window in windows]
        if not spans:
            return True
        now = self.local(at).time().replace(tzinfo=None)
        for start, end in spans:
            inside = start <= now < end if start < end else now >= start or now < end
            if inside:
                return True
        return False

    def is_holiday(self, at: datetime, extra: Iterable[date] = ()) -> bool:
        """Say whether the trading day of ``at`` is a holiday (the calendar's or one in ``extra``)."""
        day = self.trading_day(at)
        return day in self.holidays or day in set(extra)

    def describe(self, at: datetime, *, now: datetime | None = None) -> str:
        """Name an instant for a trader: "15:10 Central" when it falls on ``now``'s local date,
        else "2026-03-09 08:30 Central"."""
        shown = self.local(at)
        if now is not None and self.local(now).date() == shown.date():
            return f"{shown:%H:%M} {self.zone_name}"
        return f"{shown:%Y-%m-%d %H:%M} {self.zone_name}"

    def _instants(self, wall: datetime) -> list[datetime]:
        """Return the UTC instants local clocks show naive ``wall``, in order.

        One instant normally; two when a fall change shows it twice; in a spring gap (no
        instant shows it) the first instant after the gap, i.e. the change itself.
        """
        earlier = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        later = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        shown = sorted({u for u in (earlier, later) if self._wall(u) == wall})
        if shown:
            return shown
        return [self._change_between(min(earlier, later), max(earlier, later))]

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def _change_between(self, low: datetime, high: datetime) -> datetime:
        """Return the first instant in (low, high] with ``high``'s UTC offset (to the second)."""
        offset = high.astimezone(self.zone).utcoffset()
        below, above = 0, int((high - low).total_seconds())
        while above - below > 1:
            middle = (below + above) // 2
            if (low + timedelta(seconds=middle)).astimezone(self.zone).utcoffset() == offset:
                above = middle
            else:
                below = middle
        return low + timedelta(seconds=above)
