"""The kill switch: pause (hold every new alert), resume, and flatten the followed accounts.

The pause lives in the journal first, so a restart stays paused; it is held in memory too, so the
webhook's hot path never reads it. A flatten runs at once, not behind the strategies' locks (a
stuck alert must not delay it), only behind a flatten already running: a second click waits,
then finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.engine.flatten import Flattener, FlattenPlan, FlattenReport
from app.engine.runner import JournalRunner

if TYPE_CHECKING:
    from app.domain.records import PauseState

log = logging.getLogger(__name__)


class KillSwitch:
    """Pause and resume the alerts; flatten accounts, one flatten at a time."""

    def __init__(
        self, runner: JournalRunner, flattener: Flattener, followed: Callable[[], Awaitable[list[int]]]
    ) -> None:
        self._runner = runner
        self._flattener = flattener
        self._followed = followed  # the followed account ids (Bridge.followed_account_ids)
        self._paused: PauseState | None = None  # as the journal holds it (read by load)
        self._flattening = asyncio.Lock()  # a second click waits, then finds nothing left to do

    async def load(self) -> PauseState | None:
        """Read the pause from the journal (at start) and return it. Raises JournalError."""
        self._paused = await self._runner.run(self._runner.journal.pause_state)
        return self._paused

    @property
    def paused(self) -> PauseState | None:
        """Since when (UTC) and by whom alerts are held, or None while they are executed."""
        return self._paused

    async def pause(self, by: str) -> PauseState:
        """Hold every new alert (journaled PAUSED, never executed); idempotent: a second pause
        keeps the first one's time. The journal first, so a restart stays paused. Raises
        JournalError (then nothing changed)."""
        state = await self._runner.run(self._runner.journal.set_paused, True, by=by)
        assert state is not None
        self._paused = state
        return state

    async def resume(self, by: str) -> None:
        """Execute new alerts again (those received while paused are not). Raises JournalError
        (then the bridge stays paused)."""
        await self._runner.run(self._runner.journal.set_paused, False, by=by)
        self._paused = None

    async def flatten_plan(self) -> FlattenPlan:
        """What flatten would cancel and close on the followed accounts (reads only)."""
        return await self._flattener.plan(await self._followed())

    async def flatten(self, *, by: str, pause: bool = True) -> FlattenReport:
        """Pause first (unless ``pause`` is False), so no alert re-opens a position meanwhile,
        then cancel every working order and close every position on the followed accounts.

        Runs at once, not behind the strategies' locks: a stuck alert must not delay it (only
        behind a flatten already running). Gateway errors are in the report; raises JournalError.
        """
        if pause:
            await self.pause(by)
        async with self._flattening:
            return await self._flattener.flatten(await self._followed(), by=by)

    async def flatten_accounts(self, account_ids: list[int], by: str) -> FlattenReport | None:
        """Cancel the working orders and close the positions of these accounts, without pausing
        the bridge (a lockout or the session close: the other accounts keep trading); None when
        they hold nothing (nothing is journaled then). Behind a flatten already running."""
        async with self._flattening:
            plan = await self._flattener.plan(account_ids)
            if plan.empty:
                return None
            report = await self._flattener.flatten(account_ids, by=by)
        log.warning("%s: %s", by, report.summary())
        return report
