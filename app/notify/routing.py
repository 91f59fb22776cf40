"""Which URLs a notice goes to: ``[notify]``'s level floor, opt-in kinds, ``off``, routes, quiet hours.

Pure functions of the settings and the notice (and, for quiet hours, a local clock time), so
every rule is a unit test. The kind names users write are checked here (app/config.py sits
below the domain and cannot know them): ``check_kinds`` raises ConfigError naming the wrong
name and listing the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from app.config import NotifySettings
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.errors import ConfigError

KNOWN_KINDS: tuple[str, ...] = tuple(kind.value for kind in NoticeKind)


def check_kinds(settings: NotifySettings) -> None:
    """Raise ConfigError when ``off`` or a route's ``kinds`` names a kind that does not exist."""
    places = [("[notify] off", settings.off)]
    places += [(f"[[notify.routes]] #{n} kinds", route.kinds) for n, route in enumerate(settings.routes, 1)]
    for place, names in places:
        for name in names:
            if name not in KNOWN_KINDS:
                raise ConfigError(
                    f"{place}: unknown notice kind '{name}'; the kinds are: {', '.join(KNOWN_KINDS)}"
                )


def asked_for(settings: NotifySettings, kind: NoticeKind) -> bool | None:
    """Whether an opt-in kind is switched on (fills, daily_summary, heartbeat_min; test always);
    None for the other kinds, which go by their level."""
    if kind is NoticeKind.FILL:
        return settings.fills
    if kind is NoticeKind.DAILY_SUMMARY:
        return settings.daily_summary
    if kind is NoticeKind.HEARTBEAT:
        return settings.heartbeat_min > 0
    if kind is NoticeKind.TEST:
        return True
    return None


@dataclass(frozen=True)
class QuietHours:
    """``"22:00-07:00"``: from ``start`` (included) to ``end`` (excluded), wrapping midnight when
    ``end`` is not after ``start``; local clock times of this computer."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"HH:MM-HH:MM"`` (checked by NotifySettings) → QuietHours; empty → None."""
        if not text:
            return None
        first, _, second = text.partition("-")
        return cls(_clock(first), _clock(second))

    def holds(self, now: time) -> bool:
        """True when the local clock time ``now`` is inside the quiet hours."""
        now = now.replace(second=0, microsecond=0, tzinfo=None)
        if self.start < self.end:
            return self.start <= now < self.end
        if self.start == self.end:
            return False  # "07:00-07:00" is an empty span, not the whole day
        return now >= self.start or now < self.end


def _clock(text: str) -> time:
    hours, _, minutes = text.strip().partition(":")
    return time(int(hours) % 24, int(minutes))


@dataclass(frozen=True)
class Routing:
    """The targets of each notice; ``urls`` are the secret URL strings, in settings order, once each."""

    settings: NotifySettings

    def targets(self, notice: Notice) -> list[str]:
        """The URLs ``notice`` goes to (quiet hours aside; see ``quiet``): ``[notify] urls``
        when its level is at least ``level`` (an opt-in kind: when switched on), and each route
        whose kinds (empty: all) and level admit it; none when its kind is in ``off``."""
        settings, kind, level = self.settings, notice.kind, notice.severity
        if kind.value in settings.off:
            return []
        asked = asked_for(settings, kind)
        found: list[str] = []
        if asked if asked is not None else level.rank >= NoticeLevel(settings.level).rank:
            found += [url.get_secret_value() for url in settings.urls]
        for route in settings.routes:
            named = kind.value in route.kinds
            if route.kinds and not named:
                continue
            if not named and asked is False:
                continue  # an opt-in kind switched off goes only where a route names it
            if level.rank >= NoticeLevel(route.level).rank:
                found += [url.get_secret_value() for url in route.urls]
        return list(dict.fromkeys(url for url in found if url))

    def quiet(self, notice: Notice, now: time) -> bool:
        """True when ``notice`` must wait out the quiet hours (dropped): they hold at the local
        clock time ``now`` and the notice is not critical."""
        hours = QuietHours.parse(self.settings.quiet_hours)
        return hours is not None and notice.severity is not NoticeLevel.CRITICAL and hours.holds(now)
