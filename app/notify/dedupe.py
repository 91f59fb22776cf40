"""Send a condition once per window: a notice whose ``dedupe_key`` was sent less than
``window_s`` seconds ago is a duplicate."""

from __future__ import annotations

# Keys remembered at most: a flood of distinct keys must not grow memory without end.
MAX_KEYS = 10_000


class Dedupe:
    """``first(key, now)`` is True the first time ``key`` is seen in ``window_s`` seconds
    (``now``: a monotonic clock, seconds). ``dropped`` counts the duplicates.

    ``first_repeat(key)`` is True for the first duplicate of a key in its window: only that one
    is journaled, so a condition repeated a thousand times (an alert refused on a locked account,
    again and again) cannot push the other notifications out of the journal's newest rows.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.dropped = 0
        self._seen: dict[str, float] = {}
        self._repeated: set[str] = set()  # keys whose window has seen a duplicate already

    def first(self, key: str, now: float) -> bool:
        """True (and remember ``key`` from ``now``) unless it was seen within the window."""
        if self.window_s <= 0:
            return True
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.window_s:
            self.dropped += 1
            return False
        self._seen.pop(key, None)  # re-inserted last: the dict stays ordered by time
        self._repeated.discard(key)
        self._seen[key] = now
        self._forget(now)
        return True

    def first_repeat(self, key: str) -> bool:
        """True the first time in ``key``'s window that it is asked (after ``first`` said False)."""
        if key in self._repeated:
            return False
        self._repeated.add(key)
        return True

    def _forget(self, now: float) -> None:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.window_s and len(self._seen) <= MAX_KEYS:
                return
            del self._seen[oldest]
            self._repeated.discard(oldest)
