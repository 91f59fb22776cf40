"""After a restart: settle what the previous run left unfinished, account by account, with the
listener already open.

At start the bridge reads the order rows left SUBMITTING or UNKNOWN (one journal query); each
account holding one is *recovering* until those rows are settled by their tag (reconcile.py, never
by resending) and protection has resumed (OCO pairs, managed brackets). An alert waits for its
own accounts only (``ready``, awaited by the executor before it sends anything); other accounts
trade at once. The alerts a crash left unsettled are resumed by the bridge once their accounts
are ready (app/engine/bridge.py, Executor.execute's ``resumed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.engine.reconcile import Reconciler
from app.errors import JournalError

log = logging.getLogger("tvbridge.engine")

# A row older than this gets one conclusive search: an order sent that long ago is on the
# gateway's books by now or never will be (settle_all_pending uses the same rule).
OLD_ROW = timedelta(minutes=1)


class Recovery:
    """Which accounts are still being recovered, and the work that recovers them."""

    def __init__(self, reconciler: Reconciler, protect: Callable[[], Awaitable[None]]) -> None:
        self._reconciler = reconciler
        self._protect = protect  # Protection.resume: after an account's rows are settled
        self._protecting = asyncio.Lock()
        self._waiting: dict[int, asyncio.Event] = {}

    def plan(self, rows: Iterable[Any]) -> dict[int, list[Any]]:
        """Mark the accounts of these unfinished rows as recovering; return the rows by account."""
        by_account: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_account[row.account_id].append(row)
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

    async def run(self, by_account: dict[int, list[Any]]) -> None:
        """Recover every planned account at the same time; then resume protection once more when
        no account had anything unfinished (it runs after each account's rows otherwise).
        Never raises: an account whose rows cannot be settled now is released anyway, its rows
        left UNKNOWN for the periodic reconcile (an alert then finds them unknown, never resent)."""
        if not by_account:
            await self._resume_protection()
            return
        await asyncio.gather(*(self._account(a, rows) for a, rows in by_account.items()))

    async def _account(self, account_id: int, rows: list[Any]) -> None:
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

    async def _resume_protection(self) -> None:
        async with self._protecting:  # one pass at a time; Protection.resume never raises
            await self._protect()
