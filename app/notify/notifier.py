"""The Notifier the engine hands notices to (app/engine/ports.py): routed, deduplicated, queued
per target and sent by Apprise off the alert path.

``notify`` only routes the notice and puts it in each target's queue; it returns at once, never
raises, and may be called from any thread (it hops onto the event loop). Each target (URL) has
its own bounded queue and worker task, so a dead target holds only its own queue: the others
are sent meanwhile. A worker sends one notice at a time on a thread of the notifier's own pool
(the event loop's default executor also resolves host names for the gateway: a hung target
must not take its threads), each try bounded by ``timeout_s``, then up to ``retries`` more tries
after 2, 4, 8 … s (capped). Every outcome (sent, failed with the reason, dropped as a duplicate,
in quiet hours or for a full queue) goes to ``record``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from functools import partial

from app.config import NotifySettings
from app.domain.notices import Notice
from app.notify.dedupe import Dedupe
from app.notify.outcome import Outcome, Record, Status
from app.notify.routing import Routing, check_kinds
from app.notify.send import NO_ANSWER, Tried, send
from app.notify.targets import Target, load_targets
from app.redact import scrub

log = logging.getLogger(__name__)

# The wait before the second try, doubled before each next one, at most MAX_WAIT_S (seconds).
FIRST_WAIT_S = 2.0
MAX_WAIT_S = 60.0
# What stop() waits for the queues to empty (so "bridge stopped" goes out), beyond one timeout_s.
DRAIN_EXTRA_S = 2.0


def _local_clock() -> clock_time:
    return datetime.now().time()  # noqa: DTZ005 — quiet hours are this computer's local time


@dataclass
class _Item:
    notice: Notice
    title: str  # scrubbed
    body: str  # scrubbed


@dataclass
class _Lane:
    """One target's queue and worker."""

    target: Target
    queue: asyncio.Queue[_Item]
    worker: asyncio.Task[None] | None = None
    full: bool = False  # logged once while the queue stays full
    busy: _Item | None = field(default=None, repr=False)


class AppriseNotifier:
    """Notices to the Apprise URLs of ``settings`` (``[notify]``). Raises ConfigError for an
    unknown kind name or a URL Apprise cannot use. ``record``: awaited with every Outcome (it
    may be set after construction). ``start()`` on the event loop before the first notice,
    ``await stop()`` last."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        record: Record | None = None,
        first_wait_s: float = FIRST_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        local_clock: Callable[[], clock_time] = _local_clock,
    ) -> None:
        check_kinds(settings)
        self.settings = settings
        self.routing = Routing(settings)
        self.targets = load_targets(settings.all_urls())
        self.record = record
        self.first_wait_s = first_wait_s
        self.counts: Counter[Status] = Counter()
        self._dedupe = Dedupe(settings.dedupe_s)
        self._clock = clock
        self._local_clock = local_clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lanes: dict[str, _Lane] = {}
        self._recording: set[asyncio.Task[None]] = set()
        self._stop_asked = asyncio.Event()  # no more retries: send what is queued once each

    @property
    def shown(self) -> list[str]:
        """The targets in Apprise's privacy form, in settings order."""
        return [target.shown for target in self.targets]

    def stats(self) -> dict[str, int]:
        """Counts since start: ``sent``, ``failed``, ``dropped`` (and each reason: ``duplicate``,
        ``quiet``, ``queue_full``), ``queued`` (waiting or being sent now)."""
        counts = {status.value: self.counts[status] for status in Status}
        counts["dropped"] = sum(self.counts[s] for s in Status if s.dropped)
        counts["queued"] = sum(lane.queue.qsize() + (lane.busy is not None) for lane in self._lanes.values())
        return counts

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start one worker per target on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._stop_asked = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=len(self.targets) + 2, thread_name_prefix="notify")
        for target in self.targets:
            lane = _Lane(target, asyncio.Queue(maxsize=self.settings.queue_size))
            lane.worker = asyncio.create_task(self._work(lane), name=f"notify {target.shown}")
            self._lanes[target.url] = lane

    async def stop(self, drain_s: float | None = None) -> None:
        """Send what is queued (one try each, for at most ``drain_s``: default ``timeout_s`` +
        2 s), then stop the workers; what is left is recorded as failed. Never raises."""
        if self._loop is None:
            return
        self._stop_asked.set()
        wait_s = self.settings.timeout_s + DRAIN_EXTRA_S if drain_s is None else drain_s
        lanes = list(self._lanes.values())
        with contextlib.suppress(TimeoutError):  # what is left is recorded below
            await asyncio.wait_for(asyncio.gather(*(lane.queue.join() for lane in lanes)), wait_s)
        for lane in lanes:
            if lane.worker is not None:
                lane.worker.cancel()
        await asyncio.gather(*(lane.worker for lane in lanes if lane.worker), return_exceptions=True)
        left = 0
        for lane in lanes:
            unsent = [lane.busy] if lane.busy is not None else []
            while not lane.queue.empty():
                unsent.append(lane.queue.get_nowait())
            for item in unsent:
                left += 1
                self.counts[Status.FAILED] += 1
                await self._record(
                    self._outcome(item, lane.target, Status.FAILED, "not sent: the bridge stopped")
                )
        if left:
            log.warning("%d notification(s) not sent before the bridge stopped", left)
        if self._recording:
            await asyncio.wait(set(self._recording), timeout=wait_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._lanes.clear()
        self._loop = None

    # -- notify ----------------------------------------------------------------------------

    def notify(self, notice: Notice) -> None:
        """Route and queue ``notice``; returns at once, never raises, from any thread."""
        try:
            loop = self._loop
            if loop is None:
                log.info("notification '%s' not sent: the notifier is not running", scrub(notice.title))
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._accept(notice)
            else:
                loop.call_soon_threadsafe(self._accept, notice)
        except RuntimeError:  # from another thread, the loop already closed: the bridge stopped
            log.info("notification '%s' not sent: the bridge stopped", scrub(notice.title))
        except Exception:  # noqa: BLE001 — a notice must never fail its caller
            log.exception("notification '%s' could not be queued", scrub(notice.title))

    def _accept(self, notice: Notice) -> None:
        try:
            urls = self.routing.targets(notice)
            if not urls or self._loop is None:
                return
            item = _Item(notice, scrub(notice.title), scrub(notice.body))
            if self.routing.quiet(notice, self._local_clock()):
                detail = f"not critical, during quiet hours {self.settings.quiet_hours}"
                self._drop(item, None, Status.QUIET, detail)
                return
            if not self._dedupe.first(notice.dedupe_key, self._clock()):
                detail = f"sent less than {self.settings.dedupe_s:g} s ago (later repeats only counted)"
                self._drop(
                    item, None, Status.DUPLICATE, detail, journal=self._dedupe.first_repeat(notice.dedupe_key)
                )
                return
            for url in urls:
                self._enqueue(self._lanes[url], item)
        except Exception:  # noqa: BLE001 — on the loop: nothing may escape into it
            log.exception("notification '%s' could not be routed", scrub(notice.title))

    def _enqueue(self, lane: _Lane, item: _Item) -> None:
        try:
            lane.queue.put_nowait(item)
            lane.full = False
        except asyncio.QueueFull:
            first = not lane.full
            if first:
                lane.full = True
                log.warning(
                    "notifications to %s are dropped: %d are waiting ([notify] queue_size); "
                    "the target is slow or down",
                    lane.target.shown,
                    lane.queue.qsize(),
                )
            detail = f"{lane.queue.qsize()} notifications waiting (later drops only counted)"
            self._drop(item, lane.target, Status.QUEUE_FULL, detail, journal=first)

    def _drop(
        self, item: _Item, target: Target | None, status: Status, detail: str, *, journal: bool = True
    ) -> None:
        """Count a notice not sent; journal it when ``journal`` (the first of a run of repeats or
        drops: the counts on the Status page hold the rest)."""
        self.counts[status] += 1
        if not journal:
            return
        task = asyncio.create_task(self._record(self._outcome(item, target, status, detail)))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    # -- send ------------------------------------------------------------------------------

    async def _work(self, lane: _Lane) -> None:
        while True:
            item = await lane.queue.get()
            lane.busy = item
            try:
                await self._deliver(lane.target, item)
            except Exception:  # noqa: BLE001 — one notice's fault must not stop the target's worker
                log.exception("notification '%s' to %s failed", item.title, lane.target.shown)
            # Cancelled (stop): ``busy`` stays set, so stop() records the notice as not sent.
            lane.busy = None
            lane.queue.task_done()

    async def _deliver(self, target: Target, item: _Item) -> None:
        tries = 1 + self.settings.retries
        tried = Tried(False, "not tried")
        attempt = 0
        while attempt < tries:
            attempt += 1
            tried = await self.try_once(target, item.title, item.body, item.notice)
            if tried.ok or self._stop_asked.is_set():
                break
            if attempt < tries:
                wait_s = min(self.first_wait_s * 2 ** (attempt - 1), MAX_WAIT_S)
                with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
                    await asyncio.wait_for(self._stop_asked.wait(), wait_s)
        status = Status.SENT if tried.ok else Status.FAILED
        self.counts[status] += 1
        if not tried.ok:
            log.warning(
                "notification '%s' to %s failed (%d tries): %s",
                item.title,
                target.shown,
                attempt,
                tried.reason,
            )
        await self._record(self._outcome(item, target, status, tried.reason, attempts=attempt))

    async def try_once(self, target: Target, title: str, body: str, notice: Notice) -> Tried:
        """One try of ``title``/``body`` (scrubbed) to ``target`` on the notifier's pool."""
        pool = self._pool
        assert pool is not None, "start() the notifier first"
        loop = asyncio.get_running_loop()
        call = partial(
            send, target, title=title, body=body, level=notice.severity, timeout_s=self.settings.timeout_s
        )
        return await loop.run_in_executor(pool, call)

    async def send_now(self, notices: Sequence[Notice]) -> list[tuple[Notice, Target, Tried]]:
        """Send each notice to every target once, now: no routing, dedupe, quiet hours or
        retries (``tvbridge notify --test``); targets in parallel; after a try that got no answer,
        the target's other notices are not tried. Needs ``start()``."""

        async def one_target(target: Target) -> list[tuple[Notice, Target, Tried]]:
            done = []
            silent: Tried | None = None
            for notice in notices:
                if silent is not None:  # a target that hangs would cost timeout_s per sample
                    done.append((notice, target, silent))
                    continue
                title, body = scrub(notice.title), scrub(notice.body)
                tried = await self.try_once(target, title, body, notice)
                if tried.reason.startswith(NO_ANSWER):
                    silent = Tried(False, f"not tried: {tried.reason} to the previous one")
                done.append((notice, target, tried))
            return done

        per_target = await asyncio.gather(*(one_target(target) for target in self.targets))
        return [row for rows in per_target for row in rows]

    # -- record ----------------------------------------------------------------------------

    def _outcome(
        self, item: _Item, target: Target | None, status: Status, detail: str, *, attempts: int = 0
    ) -> Outcome:
        return Outcome(
            kind=item.notice.kind.value,
            level=item.notice.severity.value,
            title=item.title,
            target=target.shown if target is not None else "",
            status=status,
            detail=scrub(detail),
            attempts=attempts,
        )

    async def _record(self, outcome: Outcome) -> None:
        if self.record is None:
            return
        try:
            await self.record(outcome)
        except Exception:  # noqa: BLE001 — the record is for the page; sending goes on without it
            log.exception("the notification '%s' could not be recorded", outcome.title)
