"""The alerts this process runs: each a task known by its alert id, behind its strategy's lock.

A new alert (from its webhook) and one a previous run left unsettled (resumed after a restart,
or by the periodic pass) run the same way: alerts of one strategy in arrival order, so an exit
never overtakes its entry. A run never raises: an unexpected error settles its alert FAILED
with the reason journaled (rows left open are reconciled), and a journal failure before any
order row was written settles it ``nothing_done`` (TradingView's re-send runs it again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.domain.enums import AlertStatus
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Alert
from app.engine.execute import Executor, Settlement
from app.engine.intake import restore
from app.engine.recovery import Recovery
from app.engine.runner import JournalRunner
from app.errors import AlertInvalidError, JournalError
from app.strategies import StrategyTemplate

if TYPE_CHECKING:
    from app.domain.records import PauseState
    from app.journal import AlertRecord

log = logging.getLogger(__name__)

# The periodic pass resumes an unsettled alert only when it was received at least this long ago
# and nothing in this process runs it (an alert just journaled is about to be run by its webhook).
UNSETTLED_GRACE = timedelta(seconds=30)


class AlertTasks:
    """Run alerts as tasks by id; resume those a crash left unsettled."""

    def __init__(
        self,
        runner: JournalRunner,
        recovery: Recovery,
        templates: Callable[[], Mapping[str, StrategyTemplate]],
        paused: Callable[[], PauseState | None],
        sent: Callable[[int], None],
    ) -> None:
        self._runner = runner
        self._recovery = recovery
        self._templates = templates  # the templates loaded now (they change on a reload)
        self._paused = paused  # the kill switch: an alert resumed while paused is not executed
        self._sent = sent  # sent(alert_id): its orders' states are read from the gateway shortly
        self.executor: Executor | None = None  # made by Bridge.start, once logged in
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._executions: set[asyncio.Task[Settlement]] = set()
        # The alerts being executed or resumed in this process, by id: a re-send of one of them
        # is answered with its outcome, and the periodic pass leaves them alone.
        self._running: dict[int, asyncio.Task[Settlement]] = {}

    async def status_of(self, alert_id: int, *, wait_s: float) -> str | None:
        """Alert ``alert_id``'s status: waited for (up to ``wait_s``) while this process runs it
        (RECEIVED if it has not settled by then), else as journaled; None when the journal
        cannot say. Never raises."""
        task = self._running.get(alert_id)
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=wait_s)
            finished = task in done and not task.cancelled() and task.exception() is None
            return str(task.result().status) if finished else str(AlertStatus.RECEIVED)
        try:
            original = await self._runner.run(self._runner.journal.get_alert, alert_id)
        except JournalError:
            original = None
        return str(original.status) if original is not None else None

    async def finish(self, grace_s: float) -> None:
        """Wait (up to ``grace_s``) for the alerts being executed to settle."""
        if self._executions:
            await asyncio.wait(self._executions, timeout=grace_s)

    def track(self, alert_id: int, coro: Coroutine[object, object, Settlement]) -> asyncio.Task[Settlement]:
        """Run one alert's execution (or resumption) as a task known by its alert id."""
        task: asyncio.Task[Settlement] = asyncio.create_task(coro)
        self._executions.add(task)
        self._running[alert_id] = task
        task.add_done_callback(self._executions.discard)
        task.add_done_callback(lambda _: self._running.pop(alert_id, None))
        return task

    async def execute(self, alert: Alert, template: StrategyTemplate) -> Settlement:
        """Execute a journaled alert behind its strategy's lock; never raises."""
        assert self.executor is not None and alert.alert_id is not None
        try:
            # Alerts of one strategy run in arrival order: an exit never overtakes its entry.
            async with self._locks[alert.strategy]:
                settlement = await self.executor.execute(alert, template)
        except JournalError as exc:
            if not await self._nothing_sent(alert.alert_id):
                return await self._failed(alert.alert_id, exc)
            # No order row, so nothing reached the gateway (every send is written ahead):
            # NOTHING_DONE, and TradingView's re-send runs it once the journal can write again.
            reason = f"journal unavailable, nothing was done: {exc}"
            log.error("alert %s: %s", alert.alert_id, reason)
            await self._journal_failure(alert.alert_id, reason)
            return Settlement(alert.alert_id, AlertStatus.FAILED, [], reason, nothing_done=True)
        except Exception as exc:  # noqa: BLE001 — the alert is journaled: answer, never 5xx
            return await self._failed(alert.alert_id, exc)
        if settlement.orders:
            self._sent(alert.alert_id)
        return settlement

    async def _nothing_sent(self, alert_id: int) -> bool:
        """Whether alert ``alert_id`` has no order row (a read: it works while writes fail)."""
        try:
            return not await self._runner.run(self._runner.journal.alert_orders, alert_id)
        except JournalError:
            return False  # cannot tell: answer as for any failure once journaled

    async def _failed(self, alert_id: int, exc: Exception) -> Settlement:
        log.error("alert %s failed unexpectedly", alert_id, exc_info=exc)
        reason = (
            f"internal error while executing ({type(exc).__name__}: {exc}); rows left open are reconciled"
        )
        await self._journal_failure(alert_id, reason)
        return Settlement(alert_id, AlertStatus.FAILED, [], reason)

    async def _journal_failure(self, alert_id: int, reason: str) -> None:
        journal = self._runner.journal
        try:
            await self._runner.run(journal.settle_alert, alert_id, AlertStatus.FAILED, reason=reason)
            await self._runner.run(
                journal.add_event, EventKind.ALERT_FAILED, reason, level=EventLevel.ERROR, alert_id=alert_id
            )
        except JournalError:
            log.exception("could not journal the failure of alert %s", alert_id)

    # -- after a restart ----------------------------------------------------------------------

    async def resume(self, record: AlertRecord) -> Settlement:
        """Bring one alert a previous run left unsettled to a final status; never raises.

        RECEIVED: executed again behind its strategy's lock once its accounts are recovered
        (Executor.execute, ``resumed``: nothing sent twice). UNKNOWN: its run had ended; its
        status is worked out again from its rows once they are settled."""
        assert record.id is not None
        if record.status == AlertStatus.UNKNOWN:
            return await self._recovery.settle_from_rows(record)
        try:
            async with self._locks[record.strategy]:
                return await self._resume_received(record)
        except Exception as exc:  # noqa: BLE001 — keep the others going; the alert says why
            log.exception("resuming alert %s failed", record.id)
            reason = f"resuming after a restart failed ({type(exc).__name__}: {exc})"
            await self._journal_failure(record.id, reason)
            return Settlement(record.id, AlertStatus.FAILED, [], reason)

    async def _resume_received(self, record: AlertRecord) -> Settlement:
        assert self.executor is not None
        template = self._templates().get(record.strategy)
        why_not = None
        if template is None:
            why_not = f"its template '{record.strategy}' is no longer loaded"
        elif self._paused() is not None:
            why_not = "the bridge is paused"
        if why_not is not None or template is None:
            return await self._recovery.settle_from_rows(record, not_resumed=why_not)
        assert template is not None  # else why_not says so
        try:
            alert = restore(record, template)
        except AlertInvalidError as exc:
            return await self._recovery.settle_from_rows(
                record, not_resumed=f"its body cannot be read again: {exc}"
            )
        message = (
            f"resuming alert {record.id} ({record.strategy}) left {record.status} by a restart: "
            "orders that reached the gateway are found by their tags, never sent twice"
        )
        log.warning(message)
        await self._runner.run(
            self._runner.journal.add_event,
            EventKind.ALERT_RESUMED,
            message,
            level=EventLevel.WARNING,
            alert_id=record.id,
        )
        settlement = await self.executor.execute(alert, template, resumed=True)
        if settlement.orders:
            self._sent(settlement.alert_id)
        return settlement

    async def resume_unsettled(self) -> None:
        """The periodic pass: alerts unsettled that nothing in this process is working on (an
        alert journaled just now is left to its own run). Raises JournalError."""
        now = datetime.now(UTC)
        for record in await self._runner.run(self._runner.journal.unsettled_alerts):
            if record.id is None or record.id in self._running or now - record.received_at < UNSETTLED_GRACE:
                continue
            self.track(record.id, self.resume(record))
