"""The unreachable alarm, and what the last shutdown left open: what every page's header shouts.

A laptop sleeps, loses its Wi-Fi, gets closed. While the User Hub is disconnected or the gateway
does not answer, the bridge sees no fill, places no protection and cannot flatten: the positions
at the broker are unwatched. When that lasts longer than ``alarm_s`` (engine.unreachable_alarm_s)
while the journal shows a position open on a followed account, the watchdog raises the alarm:
ERROR in the log when it starts and every ``repeat_s`` while it lasts, WARNING when it clears, an
event in the journal at both ends, and ``alarm`` for the status snapshot and the page's header.

The trader away from the laptop is told through the Notifier (texts: app/engine/health_notices.py),
each once per condition: the hub or the gateway lost for ``alarm_s`` (open positions or not:
the next alert needs them too) and back again; the session token overdue for renewal by
TOKEN_GRACE_S (``token_margin_s`` before it expires, gateway.token_refresh_margin_s, it is due);
and the roll of a contract the followed accounts hold (app/engine/roll_watch.py).

It also keeps ``left_open``: what the previous run's shutdown left open at the broker (the
journal's last "bridge.shutdown" event, app/engine/shutdown.py) for as long as the journal shows it
still open. A position counts while the journal's position in that contract on that account is not
flat (the hub, and the reconciliation at every hub connect, keep it current); a working order
while its order row is not final. What the journal cannot tell about (an order it has no row for, placed
on the platform; a position on an account no longer followed) counts for the first hour after
start (UNSURE_S), then no longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from app.domain.calendar import TradingCalendar
from app.domain.kinds import EventKind, EventLevel
from app.engine import health_notices
from app.engine.follow import HubView
from app.engine.health_notices import Link
from app.engine.ports import Gateway, Notifier, NullNotifier
from app.engine.roll_watch import RollWatch
from app.engine.runner import JournalRunner
from app.engine.shutdown import Held, counted

if TYPE_CHECKING:
    from app.journal import EventRecord

log = logging.getLogger(__name__)

ALARM_EVENT = EventKind.ALARM_UNREACHABLE
ALARM_CLEARED_EVENT = EventKind.ALARM_CLEARED
REPEAT_S = 300.0  # the alarm's ERROR line again every 5 minutes while it lasts
UNSURE_S = 3600.0  # what the journal cannot tell about counts as open this long after start
# A token not renewed this long after its renewal fell due: the renewal is failing (the hub asks
# for it every gateway.hub_token_check_s, 60 s by default, and every REST call renews a due one).
TOKEN_GRACE_S = 180.0
TOKEN_MARGIN_S = 1800.0  # gateway.token_refresh_margin_s's default
_LINK_TEXT: dict[Link, str] = {"hub": "the User Hub disconnected", "gateway": "the gateway not answering"}
WHAT_TO_DO = (
    "check the internet connection; the positions are at the broker without the bridge "
    "watching; manage them on the platform"
)
# The same while REST polling follows the accounts in the hub's place (app/engine/follow.py).
WHAT_TO_DO_POLLED = (
    "tvbridge follows them by REST polling meanwhile (fills and protection seconds late); "
    "check the internet connection; manage them on the platform if it lasts"
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Alarm:
    """Positions are open and the bridge cannot watch them: since when (UTC), what does not
    answer (each with since when), and the open positions."""

    since: datetime
    unreachable: tuple[tuple[str, datetime], ...]
    positions: tuple[Held, ...]
    polled: bool = False  # REST polling follows the accounts meanwhile

    @property
    def what_to_do(self) -> str:
        return WHAT_TO_DO_POLLED if self.polled else WHAT_TO_DO

    @property
    def message(self) -> str:
        """One paragraph for the log, the journal and the page."""
        down = " and ".join(f"{what} since {utc_text(at)}" for what, at in self.unreachable)
        held = "; ".join(p.describe() for p in self.positions)
        return f"UNWATCHED: {down}, with {counted(self.positions)} ({held}): {self.what_to_do}."

    def data(self) -> dict[str, object]:
        """JSON-ready (times ISO 8601 UTC), for /api/status and the journal."""
        return {
            "since": self.since.isoformat(),
            "unreachable": [{"what": what, "since": at.isoformat()} for what, at in self.unreachable],
            "positions": [p.data() for p in self.positions],
            "polled": self.polled,
            "message": self.message,
        }


@dataclass(frozen=True)
class LeftOpen:
    """What the last shutdown (at ``stopped_at``, UTC) left open that is still open."""

    stopped_at: datetime
    held: tuple[Held, ...]
    flattened: bool  # whether that shutdown tried to flatten (engine.on_shutdown = "flatten")

    @property
    def message(self) -> str:
        tried = " after its flatten" if self.flattened else ""
        return (
            f"When tvbridge stopped at {utc_text(self.stopped_at)} it left {counted(self.held)} at "
            f"the broker{tried}, still open: {'; '.join(h.describe() for h in self.held)}. Manage "
            "them on the platform, or with Flatten all."
        )


class HubHolder(Protocol):
    """The User Hub as the watchdog sees it (app.gateway.hub.UserHub fits)."""

    @property
    def state(self) -> HubView: ...


class Watchdog:
    """Watch the User Hub and the gateway while positions are open; raise the alarm.

    ``hub``: has ``.state`` (a HubState: ``connected``) or is None (no hub check). ``gateway``:
    may have ``failing_since`` (datetime | None). ``followed()``: the followed account ids, without
    asking the gateway. ``polled()`` (optional): whether REST polling follows the accounts in the
    hub's place (the alarm still fires, and says so). ``last_shutdown``: the journal's last
    "bridge.shutdown" event, or None. ``notifier``: where the notices for the trader go.
    Times in seconds: ``alarm_s`` unreachable before the alarm, ``interval_s`` between checks,
    ``repeat_s`` between the alarm's ERROR lines, ``token_margin_s`` before the session token
    expires that it is due for renewal.
    """

    def __init__(
        self,
        runner: JournalRunner,
        gateway: Gateway | None,
        hub: HubHolder | None,
        followed: Callable[[], Collection[int]],
        *,
        alarm_s: float,
        interval_s: float = 5.0,
        repeat_s: float = REPEAT_S,
        last_shutdown: EventRecord | None = None,
        clock: Clock = utc_now,
        polled: Callable[[], bool] | None = None,
        notifier: Notifier | None = None,
        token_margin_s: float = TOKEN_MARGIN_S,
        rolls: RollWatch | None = None,
    ) -> None:
        self.runner = runner
        self.journal = runner.journal
        self.gateway = gateway
        self.hub = hub
        self.followed = followed
        self.alarm_s = alarm_s
        self.interval_s = interval_s
        self.repeat_s = repeat_s
        self.clock = clock
        self.polled = polled or (lambda: False)
        self.started_at = clock()
        self._hub_seen_at = self.started_at  # when the hub was last seen connected
        self._alarm: Alarm | None = None
        self._logged_at: datetime | None = None
        self._last_shutdown = last_shutdown if _left_anything(last_shutdown) else None
        self._left_open: LeftOpen | None = None
        self._task: asyncio.Task[None] | None = None
        self.notifier: Notifier = notifier if notifier is not None else NullNotifier()
        self.token_margin_s = token_margin_s
        self._lost: dict[Link, datetime] = {}  # link → since when, for the links notified lost
        self._token: tuple[datetime, datetime] | None = None  # (expiry seen, first seen at)
        self._token_notified: datetime | None = None  # the expiry TOKEN_FAILING was sent for
        # One watch per process (the bridge's, shared): a contract's roll is notified once a day.
        self.rolls = rolls or RollWatch(
            self.notifier, today=lambda: TradingCalendar().trading_day(self.clock())
        )

    @property
    def alarm(self) -> Alarm | None:
        """The alarm while it lasts, else None."""
        return self._alarm

    @property
    def left_open(self) -> LeftOpen | None:
        """What the last shutdown left open that is still open, else None."""
        return self._left_open

    def start(self) -> None:
        """Check at once, then every ``interval_s``, in a task of the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="tvbridge watchdog")

    async def stop(self) -> None:
        """Stop checking (an alarm under way is neither cleared nor journaled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def check(self) -> None:
        """One check: update ``alarm`` (logging and journaling its start and end) and
        ``left_open``. Raises JournalError when the journal cannot be read."""
        now = self.clock()
        positions = await self._open_positions()
        await self._check_left_open(now, positions)
        links = self._down(now)
        down = [(_LINK_TEXT[link], at) for link, at in links.items()]
        late = [at for _, at in down if (now - at).total_seconds() >= self.alarm_s]
        # Once raised, the alarm lasts while anything is down: a hub that drops again at once
        # after a reconnect does not make it blink.
        if positions and (late or (self._alarm is not None and down)):
            since = self._alarm.since if self._alarm is not None else min(late)
            await self._raise(now, Alarm(since, tuple(down), tuple(positions), self.polled()))
        elif self._alarm is not None:
            why = "the User Hub and the gateway answer again" if positions else "no position is open any more"
            await self._clear(now, why)
        await self._notify_links(now, links, positions)
        await self._check_token(now, links)
        self.rolls.check([p.contract_id for p in positions], positions)

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # noqa: BLE001 — the watchdog must outlive a failed check
                log.exception("the unreachable alarm's check failed; trying again")
            await asyncio.sleep(self.interval_s)

    def _down(self, now: datetime) -> dict[Link, datetime]:
        """What does not answer now, each with since when (UTC)."""
        down: dict[Link, datetime] = {}
        if self.hub is not None:
            if self.hub.state.connected:
                self._hub_seen_at = now
            else:
                down["hub"] = self._hub_seen_at
        failing = self.gateway.failing_since if self.gateway is not None else None
        if failing is not None:
            down["gateway"] = failing
        return down

    async def _notify_links(self, now: datetime, down: dict[Link, datetime], held: list[Held]) -> None:
        """Notify a link down for ``alarm_s`` once, and once when it is back."""
        links: tuple[Link, ...] = ("hub", "gateway")
        for link in links:
            since = down.get(link)
            if since is not None and link not in self._lost and (now - since).total_seconds() >= self.alarm_s:
                self._lost[link] = since
                notice = health_notices.link_lost(
                    link,
                    since=since,
                    now=now,
                    accounts=await self._account_names(),
                    held=held,
                    polled=self.polled(),
                )
                self.notifier.notify(notice)
            elif since is None and link in self._lost:
                lost_since = self._lost.pop(link)
                back = health_notices.link_back(
                    link, since=lost_since, now=now, accounts=await self._account_names()
                )
                self.notifier.notify(back)

    async def _check_token(self, now: datetime, down: dict[Link, datetime]) -> None:
        """Notify once per token when its renewal is overdue by TOKEN_GRACE_S (not while the
        gateway does not answer at all: that is the gateway's notice)."""
        expires = self.gateway.token_expires_at if self.gateway is not None else None
        if expires is None:
            return
        if self._token is None or self._token[0] != expires:
            self._token = (expires, now)  # a new token: renewed (or the first login)
        due_at = max(expires - timedelta(seconds=self.token_margin_s), self._token[1])
        overdue = (now - due_at).total_seconds() >= TOKEN_GRACE_S
        if overdue and "gateway" not in down and self._token_notified != expires:
            self._token_notified = expires
            log.error("the session token expiring %s could not be renewed", utc_text(expires))
            accounts = await self._account_names()
            self.notifier.notify(health_notices.token_failing(expires_at=expires, now=now, accounts=accounts))

    async def _account_names(self) -> list[str]:
        """The followed accounts' names (ids when the journal has no name), sorted."""
        followed = set(self.followed())
        names = {a.account_id: a.name for a in await self.runner.run(self.journal.account_states)}
        return sorted(names.get(account_id, f"account {account_id}") for account_id in followed)

    async def _open_positions(self) -> list[Held]:
        """The journal's open positions on the followed accounts, with the accounts' names."""
        followed = set(self.followed())
        rows = await self.runner.run(self.journal.positions)
        rows = [p for p in rows if p.size and p.account_id in followed]
        if not rows:
            return []
        names = {a.account_id: a.name for a in await self.runner.run(self.journal.account_states)}
        return [Held.position(names.get(p.account_id, f"account {p.account_id}"), p) for p in rows]

    async def _raise(self, now: datetime, alarm: Alarm) -> None:
        started = self._alarm is None
        self._alarm = alarm
        if started or self._logged_at is None or (now - self._logged_at).total_seconds() >= self.repeat_s:
            log.error("%s", alarm.message)
            self._logged_at = now
        if started:
            await self.runner.run(
                self.journal.add_event, ALARM_EVENT, alarm.message, level=EventLevel.ERROR, data=alarm.data()
            )

    async def _clear(self, now: datetime, why: str) -> None:
        assert self._alarm is not None
        alarm, self._alarm, self._logged_at = self._alarm, None, None
        minutes = (now - alarm.since).total_seconds() / 60
        message = (
            f"Unreachable alarm cleared: {why} (unwatched since {utc_text(alarm.since)}, {minutes:.1f} min)"
        )
        log.warning("%s", message)
        data = {"since": alarm.since.isoformat(), "why": why}
        await self.runner.run(
            self.journal.add_event, ALARM_CLEARED_EVENT, message, level=EventLevel.WARNING, data=data
        )

    async def _check_left_open(self, now: datetime, positions: list[Held]) -> None:
        event = self._last_shutdown
        if event is None:
            return
        data = event.data or {}
        left = [Held.from_data(item) for item in data.get("positions", []) + data.get("orders", [])]
        unsure = (now - self.started_at).total_seconds() < UNSURE_S
        followed = set(self.followed())
        still = [h for h in left if await self._still_open(h, positions, followed, unsure)]
        if still:
            first = self._left_open is None
            self._left_open = LeftOpen(event.at, tuple(still), bool(data.get("flatten")))
            if first:
                log.warning("%s", self._left_open.message)
            return
        if self._left_open is not None:
            log.info("what tvbridge's last shutdown left open is closed now")
        # Stop looking: a new position in the same contract is not the one left open.
        self._left_open = self._last_shutdown = None

    async def _still_open(self, held: Held, positions: list[Held], followed: set[int], unsure: bool) -> bool:
        if held.account_id not in followed:
            return unsure
        if held.kind == "position":
            where = (held.account_id, held.contract_id)
            return any((p.account_id, p.contract_id) == where for p in positions)
        if held.broker_order_id is None:
            return unsure
        row = await self.runner.run(self.journal.order_by_broker_id, held.account_id, held.broker_order_id)
        return unsure if row is None else not row.state.is_final


def _left_anything(event: EventRecord | None) -> bool:
    data = (event.data or {}) if event is not None else {}
    return bool(data.get("positions") or data.get("orders"))
