"""The risk gate: no entry may break the account's or the strategy's limits (settings ``[risk]``).

Before any entry order, :meth:`RiskGate.check` reads the account's day from the journal (realised
P&L since the trading day started at 17:00 Central, open P&L at the latest prices the journal has
seen, balance and its high-water mark, open contracts, entries, losing streak) and asks the pure
rules (app/domain/risk.py). A lockout in the journal refuses every entry until it ends or
``tvbridge unlock`` lifts it. Exits, cancels and flattening never come here: they are never
refused; nor is a plain buy or sell that only reduces the position (an exit in substance).

The gate also holds what the risk monitor (app/engine/risk_monitor.py) reads: the account's day,
the lockouts as last read, the prices quoted since (bars) and the live quotes (``feed``, the
Market Hub's book). The monitor locks the accounts that reach a limit and closes the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from app.config import RiskLimits, RiskSettings
from app.domain.calendar import TradingCalendar
from app.domain.models import Account
from app.domain.risk import AccountDay, Entry, check_entry, only_reduces, signed
from app.engine.ports import PriceFeed
from app.engine.runner import JournalRunner

if TYPE_CHECKING:
    from app.journal.tables import LockoutRecord, PositionRecord

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_MINUTE, _HOUR = timedelta(minutes=1), timedelta(hours=1)
QUOTE_FRESH_S = 60.0  # a price read longer ago than this no longer counts


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PriceSource:
    """Where open P&L is priced: ``kind`` "quotes" (the Market Hub, live) or "bars" (the last
    one-minute bar, read every 15 s, and the journal's last fill); ``detail``: why, in words."""

    kind: str
    detail: str


@dataclass(frozen=True)
class AccountRisk:
    """One account's limits, its day's numbers and its lockout, for the gate and the pages."""

    account_id: int
    account_name: str
    limits: RiskLimits
    day: AccountDay
    lockout: LockoutRecord | None


# The limits that need the account's day (journal numbers); the others are read from the entry,
# the clock and the settings alone.
_DAY_LIMITS = (
    "max_contracts_per_contract",
    "max_contracts_total",
    "daily_loss_limit",
    "daily_profit_target",
    "max_trailing_drawdown",
    "max_entries_per_day",
    "max_trades_per_minute",
    "max_trades_per_hour",
    "cooldown_after_losses",
)
_RATE_LIMITS = ("max_trades_per_minute", "max_trades_per_hour")
CANNOT_TRADE = "the gateway says canTrade false"
LOCKOUT_LIMITS = (
    "daily_loss_limit",
    "daily_profit_target",
    "max_trailing_drawdown",
    "cooldown_after_losses",
)


def _needs_day(limits: RiskLimits) -> bool:
    return any(getattr(limits, key) is not None for key in _DAY_LIMITS)


def _needs_rates(*limits: RiskLimits | None) -> bool:
    return any(lim is not None and getattr(lim, key) is not None for lim in limits for key in _RATE_LIMITS)


def _empty_day(account: Account, trading_day: date) -> AccountDay:
    """A day with nothing in it: what the rules see when none of them needs the numbers."""
    return AccountDay(
        account_id=account.account_id,
        account_name=account.name,
        trading_day=trading_day,
        realised_pnl=Decimal(0),
        open_pnl=Decimal(0),
        balance=account.balance,
        high_water=None,
        open_contracts={},
        entries_today=0,
        strategy_entries_today=0,
        losing_streak=0,
        last_loss_at=None,
    )


class RiskGate:
    """Check entries against the limits; build each account's day from the journal."""

    def __init__(self, settings: RiskSettings, runner: JournalRunner, *, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.runner = runner
        self.journal = runner.journal
        self.clock = clock
        # The accounts the journal held locked when last read. Only this process's monitor locks
        # an account (and notes it here), so an entry on an account not in this set needs no read;
        # one in it is read again, so that `tvbridge unlock` (another process) takes effect at once.
        self._locked: set[int] | None = None
        # Latest traded prices the monitor read from the gateway: contract → (price, read at UTC).
        self.quotes: dict[str, tuple[Decimal, datetime]] = {}
        # Live quotes (the Market Hub's book), when serve runs one: the newest prices of all.
        self.feed: PriceFeed | None = None
        # The lockouts in force at the last refresh_lockouts, by account (the monitor notices
        # those that ended or were lifted by `tvbridge unlock` in another process).
        self.lockouts: dict[int, LockoutRecord] = {}

    def calendar(self, limits: RiskLimits) -> TradingCalendar:
        """The exchange's calendar with the account's holidays."""
        return TradingCalendar(self.settings.timezone, self.settings.day_start, limits.holidays)

    def limits(self, account: Account) -> RiskLimits:
        return self.settings.for_account(account.name, account.account_id)

    async def check(
        self,
        account: Account,
        entry: Entry,
        strategy_limits: RiskLimits | None = None,
        *,
        price: Decimal | None = None,
        exit_if_reducing: bool = False,
    ) -> str | None:
        """The reason ``entry`` is refused on ``account``, or None when it may be sent.

        ``price``: the alert's own price for the entry's contract (points), newer than any the
        journal has. ``exit_if_reducing``: the order opens nothing by itself (no bracket, not an
        OCO leg), so when it only reduces the position the journal holds in its contract (a sell
        of at most the contracts held long, a buy of at most those held short) it is an exit in
        substance, e.g. TradingView's ``{{strategy.order.action}}`` "sell" that closes a long:
        never refused, not even on a locked account. A reversal is an entry for its whole size.
        Raises JournalError (the caller refuses: no number, no entry).
        """
        now = self.clock()
        limits = self.limits(account)
        calendar = self.calendar(limits)
        lockout = await self._entry_lockout(account.account_id, now)
        # With no limit that needs the day's numbers (the default: every limit off), the gate
        # costs one read of the lockout table: a webhook's latency must not pay for nothing.
        needs_day = _needs_day(limits) or (strategy_limits is not None and _needs_day(strategy_limits))
        prices = {entry.contract_id: price} if price is not None else {}
        day = (
            await self.account_day(
                account,
                calendar,
                now,
                strategy=entry.strategy,
                prices=prices,
                rates=_needs_rates(limits, strategy_limits),
            )
            if needs_day
            else _empty_day(account, calendar.trading_day(now))
        )
        if not account.can_trade:
            # Topstep (or the trader) switched the account off: nothing would be accepted.
            refusal: str | None = f"account {account.name} cannot trade now ({CANNOT_TRADE}); exits still run"
        elif lockout is not None:
            refusal = (
                f"account {account.name} is locked until {calendar.describe(lockout.until, now=now)}: "
                f"{lockout.reason}; exits still run; `tvbridge unlock {account.name}` lifts it early"
            )
        else:
            refusal = check_entry(
                limits,
                strategy_limits,
                day,
                entry,
                calendar,
                now=now,
                weights=self.settings.contract_weights,
            )
        if refusal is not None and exit_if_reducing and await self._reduces(account, entry, day, needs_day):
            log.info(
                "%s %d in %s on %s only reduces the position: an exit, not refused",
                entry.side.value,
                entry.size,
                entry.contract_id,
                account.name,
            )
            return None
        return refusal

    async def _reduces(self, account: Account, entry: Entry, day: AccountDay, read: bool) -> bool:
        """Whether ``entry`` only reduces the position the journal holds (``read``: ``day`` has
        the open contracts already)."""
        if read:
            held = day.open_contracts.get(entry.contract_id, 0)
        else:
            positions = await self.runner.run(self.journal.positions, account.account_id)
            held = sum(signed(p.side, p.size) for p in positions if p.contract_id == entry.contract_id)
        return only_reduces(held, entry.side, entry.size)

    async def account_day(
        self,
        account: Account,
        calendar: TradingCalendar,
        now: datetime,
        *,
        strategy: str | None = None,
        prices: dict[str, Decimal] | None = None,
        positions: list[PositionRecord] | None = None,
        rates: bool = False,
    ) -> AccountDay:
        """The account's trading day so far, from the journal (see AccountDay). ``positions``:
        the account's journal positions when the caller has just read them. ``rates``: also
        count the entries of the last minute and hour (two more reads)."""
        journal, run = self.journal, self.runner.run
        trading_day = calendar.trading_day(now)
        since = calendar.day_start_at(trading_day)
        numbers = await run(journal.risk_numbers, account.account_id, since, strategy=strategy)
        state = next(
            (s for s in await run(journal.account_states) if s.account_id == account.account_id), None
        )
        held = positions if positions is not None else await run(journal.positions, account.account_id)
        positions = [p for p in held if p.size]
        latest = await self.marks(now, prices)
        ticks = await run(journal.contract_ticks)
        open_pnl = Decimal(0)
        for p in positions:
            price, tick = latest.get(p.contract_id), ticks.get(p.contract_id)
            if price is None or tick is None or p.average_price is None:
                continue  # never priced: counted 0 (the journal has seen no price for it)
            tick_size, tick_value = tick
            open_pnl += (price - p.average_price) * signed(p.side, p.size) / tick_size * tick_value
        minute = hour = None
        if rates:
            minute = await run(journal.risk_numbers, account.account_id, now - _MINUTE, strategy=strategy)
            hour = await run(journal.risk_numbers, account.account_id, now - _HOUR, strategy=strategy)
        return AccountDay(
            account_id=account.account_id,
            account_name=account.name,
            trading_day=trading_day,
            realised_pnl=numbers.realised_pnl,
            open_pnl=open_pnl.quantize(Decimal("0.01")),
            balance=state.balance if state else account.balance,
            high_water=getattr(state, "high_water", None) if state else None,
            open_contracts={p.contract_id: signed(p.side, p.size) for p in positions},
            entries_today=numbers.entries,
            strategy_entries_today=numbers.strategy_entries,
            losing_streak=numbers.losing_streak,
            last_loss_at=numbers.last_loss_at,
            entries_last_minute=minute.entries if minute else 0,
            entries_last_hour=hour.entries if hour else 0,
            strategy_entries_last_minute=minute.strategy_entries if minute else 0,
            strategy_entries_last_hour=hour.strategy_entries if hour else 0,
        )

    async def marks(self, now: datetime, prices: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
        """contract id → the price open P&L is counted at (points): while the Market Hub is live,
        its quote (the current price); else the newest of the journal's last fill or alert price,
        the last bar read and the hub's last quote before it went down (each within
        QUOTE_FRESH_S), overridden by ``prices`` (an alert's own). Journal reads only. Raises
        JournalError."""
        seen = dict(await self.runner.run(self.journal.latest_prices))
        read = list(self.quotes.items())
        feed = self.feed
        live = feed is not None and feed.live
        if feed is not None and not live:  # the hub's last quotes are only as good as their age
            read += [(c, (q.last_price, q.received_at)) for c, q in feed.all().items() if q.last_price]
        for contract, (price, at) in read:
            known = seen.get(contract)
            if (now - at).total_seconds() <= QUOTE_FRESH_S and (known is None or known[1] <= at):
                seen[contract] = (price, at)
        newest = {contract: price for contract, (price, _) in seen.items()}
        return {**newest, **(prices or {}), **(self.live_prices() if live else {})}

    def live_prices(self) -> dict[str, Decimal]:
        """contract id → the Market Hub's last price (points), however old: while the feed is
        live, a quote comes only when the price moves, so the last one is the price. Empty
        without a feed."""
        feed = self.feed
        if feed is None:
            return {}
        return {c: q.last_price for c, q in feed.all().items() if q.last_price is not None}

    def quoted_live(self, contract_id: str) -> bool:
        """Whether the feed is live and has a price for ``contract_id`` (no bar needs reading)."""
        feed = self.feed
        if feed is None or not feed.live:
            return False
        quote = feed.all().get(contract_id)
        return quote is not None and quote.last_price is not None

    def price_source(self) -> PriceSource:
        """Where open P&L's prices come from now (for the status page)."""
        if self.feed is None:
            return PriceSource("bars", "the Market Hub is off (gateway.market_hub = false)")
        if not self.feed.live:
            return PriceSource("bars", "the Market Hub is down: one-minute bars until it is back")
        return PriceSource("quotes", "live quotes from the Market Hub")

    async def status(self, accounts: Iterable[Account]) -> list[AccountRisk]:
        """Every account's limits, numbers and lockout now (for the status page)."""
        now = self.clock()
        active = {lock.account_id: lock for lock in await self.runner.run(self.journal.active_lockouts, now)}
        result = []
        for account in accounts:
            limits = self.limits(account)
            calendar = self.calendar(limits)
            day = await self.account_day(account, calendar, now)
            lockout = active.get(account.account_id)
            result.append(AccountRisk(account.account_id, account.name, limits, day, lockout))
        return result

    async def refresh_lockouts(self) -> None:
        """Read which accounts the journal holds locked (at the first entry and every monitor
        check). Raises JournalError."""
        active = await self.runner.run(self.journal.active_lockouts, self.clock())
        self._locked = {lock.account_id for lock in active}
        self.lockouts = {lock.account_id: lock for lock in active}

    def is_locked(self, account_id: int) -> bool:
        """Whether the journal held ``account_id`` locked at the last refresh_lockouts."""
        return self._locked is not None and account_id in self._locked

    def note_locked(self, account_id: int) -> None:
        """The monitor locked ``account_id``: the next entry on it reads the lockout."""
        if self._locked is not None:
            self._locked.add(account_id)

    async def _entry_lockout(self, account_id: int, now: datetime) -> LockoutRecord | None:
        if self._locked is None:
            await self.refresh_lockouts()
        assert self._locked is not None
        if account_id not in self._locked:
            return None
        lockout = await self._lockout(account_id, now)
        if lockout is None:  # unlocked, or ended
            self._locked.discard(account_id)
        return lockout

    async def _lockout(self, account_id: int, now: datetime) -> LockoutRecord | None:
        active = await self.runner.run(self.journal.active_lockouts, now)
        return next((lock for lock in active if lock.account_id == account_id), None)
