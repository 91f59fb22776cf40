"""SimState: the whole simulator in one object: the exchange plus sessions, faults and a request log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.sim.exchange import Clock, Exchange
from app.sim.faults import Faults, RateLimit
from app.sim.models import Rejected
from app.sim.store import MEMORY, SimStore
from app.sim.tokens import TokenBook
from app.sim.wire import normalize_path

TOKEN_LIFETIME_S = 24 * 3600.0  # "Session tokens are only valid for 24 hours" (§2.5)
REQUEST_LOG_LIMIT = 10_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sim received it.

    ``path`` is as sent (``/api/Order/place``); ``json_body`` is the decoded body (non-integral
    numbers as Decimal) or None when empty or not JSON; ``headers`` has lower-case names.
    """

    method: str
    path: str
    json_body: Any
    headers: dict[str, str]
    at: datetime


class SimState(Exchange):
    """The simulator's state, shared by its REST routes and (later) its hubs.

    Settable from tests: ``bad_api_key``, ``token_lifetime_s``, ``faults``, ``rate_limit``,
    ``accounts[id].bracket_mode``, ``clock`` (a callable returning an aware UTC datetime).

    With ``state_path`` (a file; None or ":memory:" keeps nothing) orders, trades, positions,
    balances, prices and id counters are kept in that file and reloaded by the next SimState on
    it (store.py); sessions, faults and the request log are not. Raises StateFileError when
    another simulator holds the file. ``close()`` releases it.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        clock: Clock | None = None,
        token_lifetime_s: float = TOKEN_LIFETIME_S,
        bad_api_key: str = "bad-key",
        walk_ticks: int = 2,
        state_path: Path | str | None = None,
    ) -> None:
        super().__init__(seed=seed, clock=clock or _utc_now, walk_ticks=walk_ticks)
        self.token_lifetime_s = token_lifetime_s
        self.bad_api_key = bad_api_key
        self.faults = Faults()
        self.rate_limit = RateLimit()
        self.tokens = TokenBook()
        self.requests: list[RecordedRequest] = []
        self.state_path = None if state_path in (None, MEMORY) else Path(str(state_path))
        if self.state_path is not None:
            self.attach_store(SimStore(self.state_path))

    def close(self) -> None:
        """Write what is pending and release the state file (no-op without one)."""
        self.detach_store()

    # -- sessions (§2) -----------------------------------------------------------------------

    def login(self, user_name: str, api_key: str) -> str:
        """Auth/loginKey: any user name and key log in, except ``bad_api_key``.

        Raises Rejected(InvalidCredentials) with no message, as the gateway does (§2.1).
        """
        if api_key == self.bad_api_key:
            raise Rejected("InvalidCredentials", None)
        return self.tokens.issue(user_name, self.clock(), self.token_lifetime_s)

    def token_valid(self, token: str) -> bool:
        """True for a token the sim issued that is neither logged out nor expired."""
        return self.tokens.is_valid(token, self.clock())

    def renew_token(self, token: str) -> str:
        """Auth/validate: a fresh token for the same user; the old one stays valid (§2.3)."""
        return self.tokens.renew(token, self.clock(), self.token_lifetime_s)

    def logout(self, token: str) -> None:
        """Auth/logout: the token stops working."""
        self.tokens.revoke(token)

    # -- request log -------------------------------------------------------------------------

    def record(self, method: str, path: str, json_body: Any, headers: dict[str, str]) -> None:
        """Append a request to ``requests``, dropping the oldest beyond 10,000."""
        self.requests.append(RecordedRequest(method, path, json_body, headers, self.clock()))
        if len(self.requests) > REQUEST_LOG_LIMIT:
            del self.requests[: len(self.requests) - REQUEST_LOG_LIMIT]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests to one route, any case: ``requests_to("Order/place")``."""
        route = normalize_path(path)
        return [request for request in self.requests if normalize_path(request.path) == route]
