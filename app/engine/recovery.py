"""After a restart: settle what the previous run left unfinished, account by account, with the
listener already open.

At start the bridge reads the order rows left SUBMITTING or UNKNOWN (one journal query); each
account holding one is *recovering* until those rows are settled by their tag (reconcile.py, never
by resending) and protection has resumed (OCO pairs, managed brackets). An alert waits for its
own accounts only (``ready``, awaited by the executor before it sends anything); other accounts
trade at once. The alerts a crash left RECEIVED are executed again by the bridge once their
accounts are ready (app/engine/bridge.py, Executor.execute's ``resumed``); those left UNKNOWN (or
not to be executed again) get their status from their settled rows (``settle_from_rows``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.domain.enums import AlertStatus, Leg, OrderState
from app.engine.execute import Settlement, row_outcome
from app.engine.outcomes import alert_status
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.errors import JournalError

if TYPE_CHECKING:
    from app.journal import AlertRecord, OrderRecord

log = logging.getLogger(__name__)

# A row older than this gets one conclusive search: an order sent that long ago is on the
# gateway's books by now or never will be (settle_all_pending uses the same rule).
OLD_ROW = timedelta(minutes=1)


class Recovery:
    """Which accounts are still being recovered, and the work that recovers them."""

    def __init__(
        self, reconciler: Reconciler, runner: JournalRunner, protect: Callable[[], Awaitable[None]]
    ) -> None:
        self._reconciler = reconciler
        self._runner = runner
        self._protect = protect  # Protection.resume: after an account's rows are settled
        self._protecting = asyncio.Lock()
        self._waiting: dict[int, asyncio.Event] = {}

    def plan(self, rows: Iterable[OrderRecord], *, also: Iterable[int] = ()) -> dict[int, list[OrderRecord]]:
        """Mark the accounts of these unfinished rows as recovering, and the accounts ``also``
        (those of the alerts left unsettled: nothing to settle, their protection resumed first);
        return the rows by account."""
        by_account: dict[int, list[OrderRecord]] = defaultdict(list)
        for row in rows:
            by_account[row.account_id].append(row)
        for account_id in also:
            by_account.setdefault(account_id, [])  # no rows: its protection resumes first
        for account_id in by_account:
            self._waiting.setdefault(account_id, asyncio.Event())
        return dict(by_account)

    @property
    def recovering(self) -> frozenset[int]:
        """The account ids whose unfinished rows are not settled yet."""
        return frozenset(a for a, event in self._waiting.items() if not event.is_set())

    async def ready(self, account_ids: Iterable[int]) -> None:
        """Return once none of these accounts is recovering (at once for the others)."""
        for account_id in account_ids:
            event = self._waiting.get(account_id)
            if event is not None:
                await event.wait()

    async def run(self, by_account: dict[int, list[OrderRecord]]) -> None:
        """Recover every planned account at the same time; then resume protection once more when
        no account had anything unfinished (it runs after each account's rows otherwise).
        Never raises: an account whose rows cannot be settled now is released anyway, its rows
        left UNKNOWN for the periodic reconcile (an alert then finds them unknown, never resent)."""
        if not by_account:
            await self._resume_protection()
            return
        await asyncio.gather(*(self._account(a, rows) for a, rows in by_account.items()))

    async def _account(self, account_id: int, rows: list[OrderRecord]) -> None:
        started = datetime.now(UTC)
        try:
            for row in rows:
                old = started - row.created_at > OLD_ROW
                settled = await self._reconciler.settle(row, attempts=1 if old else None)
                log.warning(
                    "after the restart: order row %s (%s %s) of alert %s on account %s: %s",
                    row.id,
                    row.leg,
                    row.client_order_id or row.contract_id,
                    row.alert_id,
                    account_id,
                    settled.state,
                )
        except JournalError as exc:
            log.error("recovery of account %s stopped, the journal failed: %s", account_id, exc)
        except Exception:  # noqa: BLE001 — the account must be released whatever happened
            log.exception("recovery of account %s failed", account_id)
        await self._resume_protection()
        self._waiting[account_id].set()
        log.info("account %s recovered in %.1f s", account_id, (datetime.now(UTC) - started).total_seconds())

    async def settle_from_rows(self, record: AlertRecord, *, not_resumed: str | None = None) -> Settlement:
        """Settle an alert from its order rows as the journal has them once its accounts are
        recovered: EXECUTED, PARTIAL... as its orders say; without any order that reached the
        gateway, FAILED (``not_resumed`` given: the reason it was not executed again) or, while
        an order's outcome is still unknown, left as it is for the periodic pass."""
        journal, alert_id = self._runner.journal, record.id
        assert alert_id is not None, "a journaled alert has an id"
        rows = await self._runner.run(journal.alert_orders, alert_id)
        await self.ready({r.account_id for r in rows})
        rows = await self._runner.run(journal.alert_orders, alert_id)
        if any(r.state.is_open for r in rows):
            return Settlement(alert_id, AlertStatus.UNKNOWN, [], "an order's outcome is still unknown")
        outcomes = [
            row_outcome(r)
            for r in rows
            if r.leg in (Leg.ENTRY, Leg.CLOSE, Leg.PARTIAL_CLOSE, Leg.CANCEL)
            and r.state != OrderState.NOT_PLACED
        ]
        if outcomes:
            status = alert_status(outcomes)
            reason = f"settled from its orders once their outcomes were found on the gateway: {status}"
            if not_resumed:
                reason += f"; not executed further: {not_resumed}"
        elif not_resumed:
            status, reason = AlertStatus.FAILED, f"not executed after a restart: {not_resumed}"
        else:
            status = AlertStatus.FAILED
            reason = "none of its orders reached the gateway; a re-send of the alert is executed"
        await self._runner.run(journal.settle_alert, alert_id, status, reason=reason)
        log.warning("alert %s settled from its orders: %s (%s)", alert_id, status, reason)
        return Settlement(alert_id, status, outcomes, reason)

    async def _resume_protection(self) -> None:
        async with self._protecting:  # one pass at a time; Protection.resume never raises
            await self._protect()
