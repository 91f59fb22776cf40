"""The risk monitor: lock the followed accounts that reached a limit, and close the session.

It checks every few seconds and after each burst of fills (``poke``), and the accounts a quote or
a fill concerns at once (``check_now``, driven by app/engine/live_risk.py): when the daily loss limit,
the trailing drawdown or the cool-down is reached it locks the account (journaled, so it
survives a restart) and, with ``flatten_on_lockout``, cancels its working orders and closes its
positions; at ``session_close`` it flattens the accounts with ``close_at_session_end``, once per
trading day. The numbers are the risk gate's (app/engine/risk_gate.py), open positions priced
at the Market Hub's live quote, else the gateway's last one-minute bar when it can say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from app.config import RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.models import Account
from app.domain.risk import Lockout, lockout_due
from app.engine import notices
from app.engine.flatten import FlattenReport
from app.engine.ports import Notifier, NullNotifier
from app.engine.risk_gate import LOCKOUT_LIMITS, RiskGate
from app.errors import GatewayError

if TYPE_CHECKING:
    from app.journal.tables import LockoutRecord, PositionRecord

log = logging.getLogger(__name__)

LOCKOUT_BY = "risk gate"
SESSION_CLOSE_BY = "session close"
MIN_GAP_S = 1.0  # the monitor checks at most this often, however often fills poke it
QUOTE_INTERVAL_S = 15.0  # how often the monitor reads an open position's price from the gateway
# Limits whose numbers move with the open positions' prices.
_PRICED_LIMITS = ("daily_loss_limit", "daily_profit_target", "max_trailing_drawdown")


class RiskMonitor:
    """Lock accounts that reached a limit, and close the session, on the followed accounts."""

    def __init__(
        self,
        gate: RiskGate,
        accounts: Callable[[], Awaitable[list[Account]]],
        flatten: Callable[[list[int], str], Awaitable[object]],
        *,
        last_price: Callable[[str], Awaitable[Decimal | None]] | None = None,
        interval_s: float = 5.0,
        notifier: Notifier | None = None,
        guard: Callable[[list[Account], datetime], Awaitable[None]] | None = None,
    ) -> None:
        self.gate = gate
        self.accounts = accounts  # the followed accounts, resolved
        self.flatten = flatten  # flatten(account_ids, by): cancel working orders, close positions
        # last_price(contract_id): the gateway's latest traded price (History/retrieveBars), so
        # that an open position's loss counts between alerts; None: prices come from the journal.
        self.last_price = last_price
        self.interval_s = interval_s
        # Lockouts, their end (by time or `tvbridge unlock`) and the session close are notified.
        self.notifier: Notifier = notifier if notifier is not None else NullNotifier()
        # AccountGuard.check: retry a locked account's failed close, naked positions (never raises).
        self.guard = guard
        self._seen_locks: dict[int, LockoutRecord] | None = None  # as of the last check
        # account → the contracts it held at its last check (only accounts with priced limits):
        # which accounts a quote of a contract concerns (app/engine/live_risk.py).
        self.holding: dict[int, frozenset[str]] = {}
        self._closed: dict[int, date] = {}  # account → the trading day whose session was closed
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="risk-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """Check soon (fills arrived: the day's P&L moved)."""
        self._wake.set()

    async def check(self) -> None:
        """Lock the accounts that reached a limit; close the session where it is time. Never
        raises for one account: the others are still checked."""
        async with self._lock:
            now = self.gate.clock()
            await self.gate.refresh_lockouts()
            self._notice_unlocked(now)
            accounts = await self.accounts()
            for account in accounts:
                try:
                    await self._check_one(account, now)
                except Exception:  # noqa: BLE001 — one account's failure must not stop the rest
                    log.exception("risk check of account %s failed", account.name)
            if self.guard is not None:
                await self.guard(accounts, now)

    async def check_now(self, account_ids: set[int]) -> None:
        """Check the limits of ``account_ids`` (among the followed accounts) now: a quote or a
        fill moved their numbers (app/engine/live_risk.py). Lockouts as last read; no guard
        pass. Never raises for one account."""
        async with self._lock:
            now = self.gate.clock()
            for account in await self.accounts():
                if account.account_id not in account_ids:
                    continue
                try:
                    await self._check_one(account, now)
                except Exception:  # noqa: BLE001 — one account's failure must not stop the rest
                    log.exception("risk check of account %s failed", account.name)

    def holders(self, contract_id: str) -> set[int]:
        """The accounts whose priced limits move with ``contract_id`` (held at their last check)."""
        return {account_id for account_id, held in self.holding.items() if contract_id in held}

    def _notice_unlocked(self, now: datetime) -> None:
        """UNLOCK for each lockout in force at the last check and no longer: ended by time, or
        lifted by `tvbridge unlock` (another process: seen here, within one check interval)."""
        current = dict(self.gate.lockouts)
        if self._seen_locks is not None:
            for account_id, lock in self._seen_locks.items():
                if account_id not in current:
                    notices.send(self.notifier, notices.unlock(lock, now=now))
        self._seen_locks = current

    async def _check_one(self, account: Account, now: datetime) -> None:
        gate = self.gate
        limits = gate.limits(account)
        calendar = gate.calendar(limits)
        if limits.close_at_session_end:
            await self._session_close(account, limits, calendar, now)
        priced = any(getattr(limits, key) is not None for key in _PRICED_LIMITS)
        locking = any(getattr(limits, key) is not None for key in LOCKOUT_LIMITS)
        if not (priced or locking):
            self.holding.pop(account.account_id, None)
            return  # nothing here needs the account's numbers: no journal read
        positions = await gate.runner.run(gate.journal.positions, account.account_id)
        if priced:
            self.holding[account.account_id] = frozenset(p.contract_id for p in positions if p.size)
        if priced:
            await self._read_prices(positions, now)
        if not locking or gate.is_locked(account.account_id):  # as read at the start of this check
            return
        day = await gate.account_day(account, calendar, now, positions=positions)
        due: Lockout | None = lockout_due(limits, day, calendar, now=now)
        if due is None:
            return
        lock = await gate.runner.run(
            gate.journal.lock_account,
            account.account_id,
            account.name,
            reason=due.reason,
            until=due.until,
            by=LOCKOUT_BY,
            now=now,
        )
        gate.note_locked(account.account_id)
        if self._seen_locks is not None:
            self._seen_locks[account.account_id] = lock  # its end is noticed from now on
        until = calendar.describe(due.until, now=now)
        notices.send(self.notifier, notices.lockout(lock, until, flatten=limits.flatten_on_lockout))
        log.error("account %s locked until %s: %s", account.name, calendar.describe(due.until), due.reason)
        if limits.flatten_on_lockout:
            await self.flatten([account.account_id], f"{LOCKOUT_BY}: {due.reason}")

    async def _read_prices(self, positions: list[PositionRecord], now: datetime) -> None:
        """Read the latest price of each contract held in ``positions`` (the journal's), at most
        every QUOTE_INTERVAL_S per contract (the gateway's History budget is 50 requests / 30 s).
        A failed read is logged; the journal's prices are used meanwhile."""
        if self.last_price is None:
            return
        gate = self.gate
        for contract_id in sorted({p.contract_id for p in positions if p.size}):
            if gate.quoted_live(contract_id):
                continue  # the Market Hub quotes it: no bar needed
            known = gate.quotes.get(contract_id)
            if known is not None and (now - known[1]).total_seconds() < QUOTE_INTERVAL_S:
                continue
            try:
                price = await self.last_price(contract_id)
            except GatewayError as exc:
                log.warning("could not read the price of %s for the risk limits: %s", contract_id, exc)
                continue
            if price is not None:
                gate.quotes[contract_id] = (price, now)

    async def _session_close(
        self, account: Account, limits: RiskLimits, calendar: TradingCalendar, now: datetime
    ) -> None:
        day = calendar.trading_day(now)
        if self._closed.get(account.account_id) == day:
            return
        close_at = calendar.session_close_at(now, limits.session_close)
        if now < close_at:
            return
        self._closed[account.account_id] = day
        log.warning(
            "session close at %s on %s: cancelling working orders and closing positions",
            calendar.describe(close_at),
            account.name,
        )
        report = await self.flatten([account.account_id], SESSION_CLOSE_BY)
        words = calendar.describe(close_at)  # with its date: the key of that day's close
        flattened = report if isinstance(report, FlattenReport) else None
        notices.send(self.notifier, notices.session_flatten(account.name, flattened, words))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            # At most one check per MIN_GAP_S however many bursts of fills poke it: the journal's
            # one thread also serves the webhooks.
            await asyncio.sleep(MIN_GAP_S)
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # noqa: BLE001 — the accounts could not be listed: try again later
                log.exception("risk check failed; trying again in %g s", self.interval_s)
