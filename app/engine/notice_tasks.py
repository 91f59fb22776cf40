"""The notices on a clock: the daily summary at the session close, and the heartbeat.

Both run as the bridge's background tasks (stopped with it) and only when ``[notify]`` asks:
``daily_summary = true`` sends one summary per trading day at ``[risk] session_close`` in ``[risk]
timezone`` (journaled as a "notify.daily_summary" event with its day, so a restart never sends
the same day twice); ``heartbeat_min > 0`` sends "still running" every that many minutes.
The numbers are the journal's (fills net of fees, positions): nothing is asked of the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from app.config import Settings
from app.domain.calendar import TradingCalendar
from app.domain.kinds import EventKind
from app.domain.models import Account
from app.engine import notices
from app.engine.ports import Notifier
from app.engine.runner import JournalRunner

if TYPE_CHECKING:
    from app.journal.tables import FillRecord

log = logging.getLogger(__name__)

SUMMARY_EVENT = EventKind.NOTIFY_DAILY_SUMMARY
MAX_SLEEP_S = 60.0  # the summary's clock is looked at again at least this often
FILLS_PER_DAY = 10_000  # the most fills one account's day is read with


def _net(fill: FillRecord) -> Decimal:
    return (fill.profit_and_loss or Decimal(0)) - (fill.fees or Decimal(0)) - (fill.commissions or Decimal(0))


class NoticeClock:
    """Send the daily summary and the heartbeat (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        runner: JournalRunner,
        notifier: Notifier,
        accounts: Callable[[], Awaitable[list[Account]]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.journal = runner.journal
        self.notifier = notifier
        self.accounts = accounts  # the followed accounts, resolved
        self.clock = clock
        self.calendar = TradingCalendar(settings.risk.timezone, settings.risk.day_start)
        self.started_at = clock()

    # -- the heartbeat ---------------------------------------------------------------------------

    async def heartbeat_forever(self) -> None:
        """Every ``[notify] heartbeat_min`` minutes, a HEARTBEAT notice. Runs until cancelled."""
        every_s = self.settings.notify.heartbeat_min * 60
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.heartbeat()
            except Exception:  # noqa: BLE001 — the next beat tries again
                log.exception("the heartbeat notice could not be made")

    async def heartbeat(self) -> None:
        """Send one heartbeat: followed accounts, open positions, the day's realised P&L."""
        accounts = await self.accounts()
        positions = [p for p in await self.runner.run(self.journal.positions) if p.size]
        followed = {a.account_id for a in accounts}
        since = self.calendar.day_start_at(self.calendar.trading_day(self.clock()))
        pnl = Decimal(0)
        for account in accounts:
            numbers = await self.runner.run(self.journal.risk_numbers, account.account_id, since)
            pnl += numbers.realised_pnl
        notice = notices.heartbeat(
            accounts=[a.name for a in accounts],
            positions=sum(1 for p in positions if p.account_id in followed),
            day_pnl=pnl,
            since=self.started_at,
        )
        notices.send(self.notifier, notice)

    # -- the daily summary -----------------------------------------------------------------------

    async def daily_summary_forever(self) -> None:
        """At each session close, the day's summary, once per trading day. Runs until cancelled."""
        while True:
            try:
                wait_s = await self.summary_due()
            except Exception:  # noqa: BLE001 — journal trouble: look again later
                log.exception("the daily summary could not be made; trying again in %g s", MAX_SLEEP_S)
                wait_s = MAX_SLEEP_S
            await asyncio.sleep(min(max(wait_s, 0.05), MAX_SLEEP_S))

    async def summary_due(self) -> float:
        """Send the summary of the current trading day when its session has closed and it was
        not sent yet; return the seconds until the next look."""
        now = self.clock()
        day = self.calendar.trading_day(now)
        close_at = self.calendar.session_close_at(now, self.settings.risk.session_close)
        if now < close_at:
            return (close_at - now).total_seconds()
        if await self._sent(day):
            return (self.calendar.next_day_start(now) - now).total_seconds()
        await self.send_summary(day, close_at)
        return MAX_SLEEP_S

    async def _sent(self, day: date) -> bool:
        last = await self.runner.run(self.journal.latest_event, SUMMARY_EVENT)
        return last is not None and (last.data or {}).get("day") == day.isoformat()

    async def send_summary(self, day: date, close_at: datetime) -> None:
        """Journal that the summary of ``day`` is sent (first: a crash after never sends it
        twice), then send it."""
        rows = [await self._account_day(a, day) for a in await self.accounts()]
        notice = notices.daily_summary(day, self.calendar.describe(close_at), rows)
        await self.runner.run(
            self.journal.add_event,
            SUMMARY_EVENT,
            f"daily summary of {day.isoformat()} sent: {notice.title}",
            data={"day": day.isoformat()},
        )
        notices.send(self.notifier, notice)

    async def _account_day(self, account: Account, day: date) -> notices.AccountSummary:
        """One account's day from the journal: fills since the day's start, by strategy."""
        since = self.calendar.day_start_at(day)
        fills = [
            f
            for f in await self.runner.run(
                self.journal.find_fills, account_id=account.account_id, since=since, limit=FILLS_PER_DAY
            )
            if not f.voided
        ]
        pnl = sum((_net(f) for f in fills), Decimal(0))
        trades: defaultdict[int, Decimal] = defaultdict(Decimal)  # closing fills per broker order
        for f in fills:
            if f.profit_and_loss is not None:
                trades[f.broker_order_id] += _net(f)
        worst = min((p for p in trades.values() if p < 0), default=None)
        by_strategy = await self._by_strategy(account, fills, since)
        positions = await self.runner.run(self.journal.positions, account.account_id)
        return notices.AccountSummary(
            account=account.name,
            pnl=pnl,
            trades=len(trades),
            worst=worst,
            by_strategy=by_strategy,
            open_contracts=sum(p.size for p in positions if p.size),
        )

    async def _by_strategy(
        self, account: Account, fills: list[FillRecord], since: datetime
    ) -> dict[str, Decimal]:
        """Net P&L per strategy of the fills that are the bridge's orders (others: "other")."""
        if not fills:
            return {}
        # An order filled today may have been sent days before (a resting limit): look back a week.
        orders = await self.runner.run(
            self.journal.find_orders,
            account_id=account.account_id,
            since=since - timedelta(days=7),
            limit=FILLS_PER_DAY,
        )
        alert_of = {o.id: o.alert_id for o in orders}
        alert_ids = sorted({a for a in alert_of.values() if a is not None})
        alerts = (
            await self.runner.run(self.journal.find_alerts, alert_ids=alert_ids, limit=len(alert_ids))
            if alert_ids
            else []
        )
        strategy_of = {a.id: a.strategy for a in alerts}
        result: defaultdict[str, Decimal] = defaultdict(Decimal)
        for f in fills:
            alert_id = alert_of.get(f.order_record_id) if f.order_record_id is not None else None
            name = strategy_of.get(alert_id, "other") if alert_id is not None else "other"
            result[name] += _net(f)
        return dict(result)
