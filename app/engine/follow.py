"""Following the accounts across User Hub outages: the catch-up after every (re)connect, and REST
polling while the hub is away.

The hub replays nothing after a reconnect (projectx-api.md §7.3), so what happened while it was
away is read over REST (Reconciler.reconcile_account: Order/search, Trade/search,
Position/searchOpen). Where that read starts decides whether a fill can be missed: it starts
from the moment the hub was last known good (HubState.good_at: the last message a subscribed
connection received) less MARGIN, since the gateway's clock may differ from ours. It never starts
from a gateway time a REST read learned during the outage: a new order's answer lies after a
take profit that filled unseen. The overlap is free: fills are unique by trade id, order rows
keep the newest state.

Each followed account *owes* a catch-up from a moment until a pass over it succeeds while the hub
was connected (and not silent) from before the pass began to its end; only then does it owe
nothing. The earliest moment owed, or while nothing is owed the hub's good moment less MARGIN,
is recorded in the journal (``follow_mark``) every MARK_EVERY_S and after each catch-up: at
start, with no hub history in this process, every account owes a catch-up from that mark (at
most MAX_LOOKBACK back), or from CATCH_UP back when the journal has none.

While the hub is disconnected for POLL_AFTER_S, or connected but silent for 1.5 times the
server's ping interval, every followed account is polled: one pass every ``interval_s`` (at
least POLL_MIN_S; longer with many accounts, so that polling takes at most half of the gateway's
rate limit and alerts keep the rest). Every pass feeds the same EventApplier as the hub, then
``after`` (protection and the risk monitor) with what changed. Polling stops once a pass made
while the hub is back has succeeded: that pass is its catch-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from app.config import HUB_PING_INTERVAL_S
from app.domain.enums import OrderState
from app.domain.events import GatewayEvent
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.errors import GatewayError, JournalError

log = logging.getLogger(__name__)

MARGIN = timedelta(minutes=5)  # before the hub's last good moment: clocks differ, events travel
CATCH_UP = timedelta(hours=24)  # at start, when the journal has no follow mark
MAX_LOOKBACK = timedelta(days=7)  # at start, however old the follow mark is
POLL_AFTER_S = 2.0  # a hub down this long is polled for (a quick reconnect just catches up)
POLL_MIN_S = 2.5  # the shortest wait between two polling passes over the accounts
READS_PER_ACCOUNT = 3  # Order/search, Trade/search, Position/searchOpen
POLL_SHARE = 0.5  # of the gateway's rate limit, at most, for polling
TICK_S = 0.5  # how often the follower looks at the hub
MARK_EVERY_S = 30.0  # how often the follow mark is recorded
STALE_PASSES = 3  # polling counts as following while its last good pass is this many intervals old

Followed = Callable[[], Awaitable[list[int]]]
After = Callable[[list[GatewayEvent]], Awaitable[None]]


class HubView(Protocol):
    """What the follower reads of the User Hub (app.gateway.hub.HubState fits)."""

    @property
    def connected(self) -> bool: ...

    @property
    def since(self) -> datetime | None: ...

    @property
    def good_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Following:
    """How the followed accounts are followed now (for /readyz and the status page).

    ``by``: "user hub" (also while it reconnects within POLL_AFTER_S), "rest polling" or
    "nothing" (the hub has not connected yet, or is away and polling fails or has not run
    yet); ``interval_s``: seconds between polling passes; ``last_pass_at``: when the last REST
    pass succeeded (UTC); ``owed_since``: the earliest moment a catch-up is still owed from.
    """

    by: str
    interval_s: float
    last_pass_at: datetime | None
    last_error: str | None
    owed_since: datetime | None

    @property
    def ok(self) -> bool:
        return self.by != "nothing"

    def data(self) -> dict[str, object]:
        """JSON-ready (times ISO 8601 UTC)."""
        return {
            "ok": self.ok,
            "by": self.by,
            "poll_interval_s": round(self.interval_s, 1),
            "last_pass_at": _iso(self.last_pass_at),
            "last_error": self.last_error,
            "owed_since": _iso(self.owed_since),
        }


class Follower:
    """Catch the journal up after every hub (re)connect; poll over REST while the hub is away.

    ``followed()`` gives the followed account ids; ``after(events)`` gets what each pass changed
    (as the hub's events go to protection and the risk monitor). ``rate_limit_per_minute``: the
    gateway client's; ``silence_timeout_s``: the hub's (polling starts sooner when it is shorter
    than 1.5 ping intervals).
    """

    def __init__(
        self,
        reconciler: Reconciler,
        runner: JournalRunner,
        followed: Followed,
        after: After,
        *,
        rate_limit_per_minute: int,
        silence_timeout_s: float,
    ) -> None:
        self.reconciler = reconciler
        self.runner = runner
        self.journal = runner.journal
        self._followed = followed
        self._after = after
        self.rate_limit_per_minute = rate_limit_per_minute
        self.silent_after_s = min(1.5 * HUB_PING_INTERVAL_S, silence_timeout_s)
        self.poll_after_s = POLL_AFTER_S
        self._hub: Callable[[], HubView] | None = None
        self._start_from = datetime.now(UTC) - CATCH_UP
        self._owed: dict[int, datetime] = {}
        self._clean: set[int] = set()  # accounts caught up in this process
        self._polled_to: dict[int, datetime] = {}  # account → when its last polling pass began
        self._accounts: list[int] = []
        self._down_since: float | None = None  # monotonic
        self._polling = False
        self._polling_since: float | None = None  # monotonic
        self._last_pass: float | None = None  # monotonic: the last pass that succeeded
        self._tried: float | None = None  # monotonic: the last pass the poller began
        self._last_pass_at: datetime | None = None
        self._last_error: str | None = None
        self._mark: datetime | None = None  # as last recorded
        self._marked: float = 0.0  # monotonic
        self._exposed = False
        self._lock = asyncio.Lock()  # one pass at a time
        self._task: asyncio.Task[None] | None = None

    # -- life ----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the follow mark: at start every account owes a catch-up from it. Raises JournalError."""
        mark = await self.runner.run(self.journal.follow_mark)
        now = datetime.now(UTC)
        self._start_from = max(mark, now - MAX_LOOKBACK) if mark is not None else now - CATCH_UP
        self._mark = mark
        log.info("catch-up after the User Hub connects starts from %s", self._start_from.isoformat())

    def watch(self, hub: Callable[[], HubView]) -> None:
        """Follow this hub's state (``hub()`` is cheap) and poll while it is away."""
        self._hub = hub
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tvbridge follower")

    async def stop(self) -> None:
        """Stop polling and record the follow mark (a failure to record is logged)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._record_mark(force=True)

    # -- what others ask -----------------------------------------------------------------------

    def urgent(self) -> bool:
        """Whether the followed accounts hold a position or a working order, as the journal said at
        the last look while the hub was away (the hub then retries within about a second)."""
        return self._exposed

    @property
    def interval_s(self) -> float:
        """Seconds between polling passes over all followed accounts."""
        budget = self.rate_limit_per_minute * POLL_SHARE
        return max(POLL_MIN_S, len(self._accounts) * READS_PER_ACCOUNT * 60.0 / budget)

    def following(self) -> Following:
        """How the accounts are followed now (see Following)."""
        hub = self._hub() if self._hub is not None else None
        now = time.monotonic()
        # A pass this recent (or polling this new) keeps the accounts followed.
        recent = max(self._last_pass or 0.0, self._polling_since or 0.0)
        if hub is None or not self._away(hub, now):
            # Connected, or reconnecting within poll_after_s; never connected yet: nothing.
            by = "user hub" if hub is None or hub.connected or hub.good_at is not None else "nothing"
        elif self._polling and now - recent <= STALE_PASSES * self.interval_s:
            by = "rest polling"
        else:
            by = "nothing"
        owed = [self.owed_from(a) for a in self._accounts]
        return Following(
            by,
            self.interval_s,
            self._last_pass_at,
            self._last_error,
            min((o for o in owed if o), default=None),
        )

    def owed_from(self, account_id: int) -> datetime | None:
        """From when (UTC) the account still owes a catch-up, or None when it owes none."""
        if account_id in self._owed:
            return self._owed[account_id]
        return None if account_id in self._clean else self._start_from

    # -- the catch-up --------------------------------------------------------------------------

    async def on_hub_connected(self, previous_good_at: datetime | None) -> list[GatewayEvent]:
        """The hub is (re)connected; it was last good at ``previous_good_at`` (UTC; None on the
        first connection). Catch every followed account up from there (less MARGIN) or from
        what it still owes; return what changed (already handed to ``after``). Never raises."""
        try:
            accounts = await self._accounts_now()
            self._lost(previous_good_at, accounts)
            return await self.catch_up(accounts)
        except Exception:  # noqa: BLE001 — the next pass tries again
            log.exception("catching up after the User Hub connected failed")
            return []

    async def catch_up(self, accounts: list[int], *, polling: bool = False) -> list[GatewayEvent]:
        """One pass: reconcile each account that owes a catch-up (all of them when ``polling``)
        from the moment it owes it; hand what changed to ``after``; return it.

        While ``polling``, an account's next pass starts where its last polling pass began (less
        MARGIN), not at the outage's start, so a long outage does not read its whole history
        every few seconds; the catch-up after the reconnect reads it all once. A pass that ran
        wholly while the hub was connected settles what the account owed. A failed account is
        logged and keeps what it owes. Raises JournalError.
        """
        async with self._lock:
            began = datetime.now(UTC)
            hub_before = self._hub_good(began)
            changed: list[GatewayEvent] = []
            done: list[int] = []
            failed = None
            for account_id in accounts:
                since = self.owed_from(account_id)
                if since is None and polling:
                    since = self._hub_mark(began)
                if since is None:
                    continue
                if polling and account_id in self._polled_to:
                    since = max(since, self._polled_to[account_id] - MARGIN)
                try:
                    changed += await self.reconciler.reconcile_account(account_id, since)
                except GatewayError as exc:
                    failed = f"account {account_id}: {exc}"
                    again = failed == self._last_error
                    log.log(
                        logging.DEBUG if again else logging.WARNING,
                        "REST catch-up of account %s from %s failed: %s",
                        account_id,
                        since.isoformat(timespec="seconds"),
                        exc,
                    )
                    continue
                done.append(account_id)
                if polling:
                    self._polled_to[account_id] = began
            if failed is None:
                self._last_pass, self._last_pass_at, self._last_error = time.monotonic(), began, None
            else:
                self._last_error = failed
            if hub_before is not None and hub_before == self._hub_good(datetime.now(UTC)):
                for account_id in done:  # the hub delivered everything since before this pass
                    self._owed.pop(account_id, None)
                    self._polled_to.pop(account_id, None)
                    self._clean.add(account_id)
        if changed:
            await self._after(changed)
        if done:
            await self._record_mark(force=True)
        return changed

    def _lost(self, good_at: datetime | None, accounts: list[int]) -> None:
        """The hub was last good at ``good_at``: each account owes a catch-up from then on."""
        if good_at is None:
            return  # never connected in this process: the accounts owe from the start mark
        mark = good_at - MARGIN
        for account_id in accounts:
            owed = self.owed_from(account_id)
            self._owed[account_id] = mark if owed is None else min(owed, mark)

    # -- polling -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self._tick()
            except Exception:  # noqa: BLE001 — the follower must outlive a failed pass
                log.exception("following the accounts over REST failed; trying again")

    async def _tick(self) -> None:
        assert self._hub is not None
        hub = self._hub()
        now = time.monotonic()
        self._down_since = None if hub.connected else (self._down_since or now)
        away = self._away(hub, now)
        if away and not self._polling:
            self._accounts = await self._accounts_now()
            self._lost(hub.good_at, self._accounts)
            self._polling, self._polling_since = True, now
            log.warning(
                "User Hub away: following accounts %s by REST polling every %.1f s until it is back",
                self._accounts,
                self.interval_s,
            )
        if not hub.connected:
            self._exposed = await self._exposure()
        owed = any(self.owed_from(a) is not None for a in self._accounts)
        due = self._tried is None or now - self._tried >= self.interval_s
        if due and (away or owed):  # while connected, a catch-up that failed is tried again
            self._tried = now
            await self.catch_up(await self._accounts_now(), polling=away)
        if self._polling and not away and not any(self.owed_from(a) for a in self._accounts):
            self._polling = False
            log.warning("User Hub back and caught up: REST polling stopped")
        await self._record_mark()

    def _away(self, hub: HubView, now: float) -> bool:
        """Disconnected for poll_after_s, or connected but silent for silent_after_s."""
        if not hub.connected:
            return self._down_since is not None and now - self._down_since >= self.poll_after_s
        good_at = hub.good_at
        return good_at is not None and (datetime.now(UTC) - good_at).total_seconds() > self.silent_after_s

    def _hub_good(self, at: datetime) -> datetime | None:
        """The current connection's start while the hub is connected and not silent, else None."""
        hub = self._hub() if self._hub is not None else None
        if hub is None or not hub.connected or hub.since is None:
            return None
        if hub.good_at is not None and (at - hub.good_at).total_seconds() > self.silent_after_s:
            return None
        return hub.since

    def _hub_mark(self, at: datetime) -> datetime:
        hub = self._hub() if self._hub is not None else None
        good_at = hub.good_at if hub is not None and hub.good_at is not None else at
        return good_at - MARGIN

    async def _accounts_now(self) -> list[int]:
        self._accounts = await self._followed()
        return self._accounts

    async def _exposure(self) -> bool:
        """Whether the journal shows a position or a working order on a followed account."""
        followed = set(self._accounts)
        try:
            positions = await self.runner.run(self.journal.positions)
            if any(p.size and p.account_id in followed for p in positions):
                return True
            working = [s for s in OrderState if not s.is_final]
            orders = await self.runner.run(self.journal.orders_in_states, working)
        except JournalError:
            return True  # when in doubt, hurry
        return any(o.account_id in followed for o in orders)

    # -- the mark ------------------------------------------------------------------------------

    async def _record_mark(self, *, force: bool = False) -> None:
        """Record from when a catch-up must start (every MARK_EVERY_S, or now when ``force``)."""
        if not force and time.monotonic() - self._marked < MARK_EVERY_S:
            return
        if not self._accounts:
            return  # nothing followed yet: keep the mark as it is
        owed = [self.owed_from(a) for a in self._accounts]
        mark = min((o for o in owed if o is not None), default=None)
        if mark is None:
            hub = self._hub() if self._hub is not None else None
            if hub is None or hub.good_at is None:
                return
            mark = hub.good_at - MARGIN
        self._marked = time.monotonic()
        if mark == self._mark:
            return
        try:
            await self.runner.run(self.journal.set_follow_mark, mark)
        except JournalError as exc:
            log.warning("could not record the follow mark: %s", exc)
            return
        self._mark = mark


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
