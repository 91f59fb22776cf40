"""Fault injection and the rate limit, both switched from tests through ``SimState``.

``state.faults`` arms one-shot faults; each takes the number of calls it hits and an optional
route (``"Order/place"``, any case) it is restricted to:

- ``fail_next``: answer HTTP 500 with an empty body; the call is NOT performed.
- ``timeout_next``: PERFORM the call (an order is placed), then hold the answer for
  ``faults.timeout_s`` seconds (default 30), so a client that times out leaves a real order
  behind: the UNKNOWN-outcome case (DESIGN.md, projectx-api.md §3).
- ``fail_after_next``: PERFORM the call, then answer HTTP 500 with an empty body at once: the
  order exists although the caller was told the call failed.
- ``hold_next``: hold the answer ``faults.timeout_s`` seconds, then answer HTTP 500; the call is
  NOT performed (a request lost on the way: the caller times out and nothing happened).
- ``throttle_next``: answer HTTP 429 with an empty body; not performed.
- ``unauthorize_next``: answer HTTP 401 with an empty body; not performed.
- ``reject_next``: REFUSE the call as the live gateway does: HTTP 200 with ``success: false``,
  an ``errorCode`` and an ``errorMessage`` (§1.3); not performed. Codes are per endpoint (§5.2):
  by default the route's own refusal, ``Rejected`` on Order/modify and Order/cancel (3),
  ``OrderRejected`` on Order/place (2) and the position closes, with ``errorMessage: null``
  (refusals without a message are documented, §2.1, §8.17); ``code``/``message`` pick others,
  e.g. Order/modify code 2 (OrderNotFound) or code 3 with "Invalid price. Price is not aligned
  to tick size." (§6.2: a misaligned modify is code 3).

``state.rate_limit`` is the gateway's own limit (§3): more than ``limit`` (200) accepted requests
in a sliding ``window_s`` (60 s) per token answer 429; answered-429 requests do not count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from app.sim.wire import normalize_path


class FaultKind(StrEnum):
    """What an armed fault does to the call it hits."""

    ERROR = "error"  # HTTP 500, not performed
    TIMEOUT = "timeout"  # performed, answered after faults.timeout_s
    ERROR_AFTER = "error_after"  # performed, then HTTP 500
    HOLD = "hold"  # held faults.timeout_s, then HTTP 500, not performed
    THROTTLE = "throttle"  # HTTP 429, not performed
    UNAUTHORIZED = "unauthorized"  # HTTP 401, not performed
    REJECT = "reject"  # HTTP 200 success: false with an errorCode, not performed


@dataclass
class _Armed:
    kind: FaultKind
    remaining: int
    route: str | None  # normalized ("order/place"), None = every route
    code: int | None = None  # REJECT: the errorCode; None = the route's own refusal code
    message: str | None = None  # REJECT: the errorMessage


@dataclass(frozen=True)
class Hit:
    """An armed fault that hit a call: its kind and, for REJECT, the answer's code and message."""

    kind: FaultKind
    code: int | None = None
    message: str | None = None


class Faults:
    """One-shot faults for the next N calls, optionally on one route only."""

    def __init__(self, timeout_s: float = 30.0, latency_s: float = 0.0) -> None:
        self.timeout_s = timeout_s
        # Every REST answer is held this long after the call was performed: a gateway across the
        # internet, so that a kill can fall between an order's arrival and its answer.
        self.latency_s = latency_s
        self._armed: list[_Armed] = []

    def fail_next(self, calls: int = 1, path: str | None = None) -> None:
        """Answer the next ``calls`` calls (to ``path`` if given) with HTTP 500."""
        self._arm(FaultKind.ERROR, calls, path)

    def timeout_next(self, calls: int = 1, path: str | None = None) -> None:
        """Perform the next ``calls`` calls, then hold each answer ``timeout_s`` seconds."""
        self._arm(FaultKind.TIMEOUT, calls, path)

    def fail_after_next(self, calls: int = 1, path: str | None = None) -> None:
        """Perform the next ``calls`` calls, then answer each with HTTP 500."""
        self._arm(FaultKind.ERROR_AFTER, calls, path)

    def hold_next(self, calls: int = 1, path: str | None = None) -> None:
        """Hold the next ``calls`` calls ``timeout_s`` seconds, then answer HTTP 500; not performed."""
        self._arm(FaultKind.HOLD, calls, path)

    def reject_next(
        self, calls: int = 1, path: str | None = None, *, code: int | None = None, message: str | None = None
    ) -> None:
        """Refuse the next ``calls`` calls: HTTP 200 ``success: false`` with ``code`` (None: the
        route's own refusal code, the module docstring) and ``message``; not performed."""
        self._arm(FaultKind.REJECT, calls, path, code, message)

    def arm(
        self,
        kind: FaultKind,
        calls: int = 1,
        path: str | None = None,
        *,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        """Arm a fault by its kind (what the control endpoint calls); ``code`` and ``message``
        are REJECT's. Raises ValueError."""
        self._arm(FaultKind(kind), calls, path, code, message)

    def armed(self) -> list[dict[str, object]]:
        """The armed faults, first to hit first: ``[{"kind", "calls", "path"}]``."""
        return [_describe(a) for a in self._armed]

    def throttle_next(self, calls: int = 1, path: str | None = None) -> None:
        """Answer the next ``calls`` calls with HTTP 429."""
        self._arm(FaultKind.THROTTLE, calls, path)

    def unauthorize_next(self, calls: int = 1, path: str | None = None) -> None:
        """Answer the next ``calls`` calls with HTTP 401."""
        self._arm(FaultKind.UNAUTHORIZED, calls, path)

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    def take(self, path: str) -> FaultKind | None:
        """Consume and return the kind of the first armed fault matching ``path``, if any."""
        hit = self.hit(path)
        return hit.kind if hit is not None else None

    def hit(self, path: str) -> Hit | None:
        """Consume and return the first armed fault matching ``path``, if any (with REJECT's
        code and message)."""
        route = normalize_path(path)
        for armed in self._armed:
            if armed.route is None or armed.route == route:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._armed.remove(armed)
                return Hit(armed.kind, armed.code, armed.message)
        return None

    def _arm(
        self,
        kind: FaultKind,
        calls: int,
        path: str | None,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        if calls < 1:
            raise ValueError(f"calls must be at least 1, got {calls}")
        if kind is not FaultKind.REJECT and (code is not None or message is not None):
            raise ValueError(f"only a {FaultKind.REJECT} fault has a code and a message, not {kind}")
        if code is not None and code < 1:
            raise ValueError(f"a refusal's code is 1 or more (0 is Success), got {code}")
        route = normalize_path(path) if path is not None else None
        self._armed.append(_Armed(kind, calls, route, code, message))


def _describe(armed: _Armed) -> dict[str, object]:
    shown: dict[str, object] = {"kind": str(armed.kind), "calls": armed.remaining, "path": armed.route}
    if armed.kind is FaultKind.REJECT:
        shown.update(code=armed.code, message=armed.message)
    return shown


class RateLimit:
    """A sliding-window request limit per key (the session token)."""

    def __init__(self, limit: int = 200, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now_s: float) -> bool:
        """Count one request at ``now_s`` (epoch seconds); False when it exceeds the limit."""
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now_s - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now_s)
        return True
