"""The risk rules: every limit refuses at its boundary and allows just inside it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.config import MICRO_WEIGHTS, RiskLimits
from app.domain.calendar import TradingCalendar
from app.domain.enums import Side
from app.domain.risk import (
    AccountDay,
    Entry,
    Lockout,
    check_entry,
    lockout_due,
    root_from_contract_id,
    stop_risk,
    weighted,
)

CHICAGO = ZoneInfo("America/Chicago")
MNQ = "CON.F.US.MNQ.H26"
ES = "CON.F.US.EP.H26"
calendar = TradingCalendar()


def central(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A UTC instant given as Chicago wall time (never an ambiguous one)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO).astimezone(UTC)


NOW = central(2026, 3, 10, 10, 0)  # a Tuesday morning
DAY = AccountDay(
    account_id=70000001,
    account_name="PRAC-1",
    trading_day=date(2026, 3, 10),
    realised_pnl=Decimal(0),
    open_pnl=Decimal(0),
    balance=Decimal(50000),
    high_water=Decimal(50000),
    open_contracts={},
    entries_today=0,
    strategy_entries_today=0,
    losing_streak=0,
    last_loss_at=None,
)
# MNQ: 0.25 points a tick, 0.50 USD a tick; 100 ticks × 3 contracts = 150.00 USD at the stop.
ENTRY = Entry(
    strategy="mnq-trend",
    contract_id=MNQ,
    symbol_root="MNQ",
    side=Side.BUY,
    size=3,
    stop_loss_ticks=100,
    tick_size=Decimal("0.25"),
    tick_value=Decimal("0.50"),
)


def check(
    limits: RiskLimits,
    strategy: RiskLimits | None = None,
    *,
    now: datetime = NOW,
    entry: dict[str, Any] | None = None,
    **day: Any,
) -> str | None:
    return check_entry(
        limits,
        strategy,
        replace(DAY, **day),
        replace(ENTRY, **(entry or {})),
        calendar,
        now=now,
        weights=MICRO_WEIGHTS,
    )


def test_stop_risk_is_ticks_times_tick_value_times_size() -> None:
    assert stop_risk(ENTRY) == Decimal("150.00")
    assert stop_risk(replace(ENTRY, stop_loss_ticks=-100)) == Decimal("150.00")
    assert stop_risk(replace(ENTRY, stop_loss_ticks=None)) is None


def test_weighted_counts_micros_by_weight_exactly() -> None:
    roots = {MNQ: "MNQ", ES: "ES", "CON.F.US.XYZ.H26": "XYZ"}
    assert weighted({MNQ: 3}, MICRO_WEIGHTS, roots.__getitem__) == Decimal("0.3")
    assert weighted({MNQ: -10, ES: 1}, MICRO_WEIGHTS, roots.__getitem__) == Decimal("2.0")
    assert weighted({"CON.F.US.XYZ.H26": 2}, MICRO_WEIGHTS, roots.__getitem__) == 2  # default 1
    assert weighted({}, MICRO_WEIGHTS, roots.__getitem__) == 0
    assert root_from_contract_id(MNQ) == "MNQ"


def test_no_limits_allow_anything() -> None:
    assert check(RiskLimits(), realised_pnl=Decimal(-99999), entry={"size": 500}) is None


def test_order_size() -> None:
    limits = RiskLimits(max_order_size=2)
    assert check(limits) == "order size 3 contracts is above max_order_size 2 on PRAC-1"
    assert check(limits, entry={"size": 2}) is None


@pytest.mark.parametrize(
    ("held", "side", "size", "refused"),
    [
        (2, Side.BUY, 1, False),  # 3 long: at the limit
        (2, Side.BUY, 2, True),  # 4 long
        (0, Side.SELL, 3, False),  # 3 short
        (-3, Side.SELL, 1, True),  # 4 short
        (3, Side.SELL, 6, False),  # reverses to 3 short
        (3, Side.SELL, 7, True),  # reverses to 4 short
    ],
)
def test_contracts_per_contract_counts_the_signed_position(
    held: int, side: Side, size: int, refused: bool
) -> None:
    limits = RiskLimits(max_contracts_per_contract=3)
    refusal = check(limits, open_contracts={MNQ: held}, entry={"side": side, "size": size})
    assert (refusal is not None) is refused
    if refusal:
        assert refusal.startswith(f"position in {MNQ} would be 4 ")
        assert refusal.endswith("above max_contracts_per_contract 3 on PRAC-1")


def test_contracts_total_is_weighted() -> None:
    limits = RiskLimits(max_contracts_total=1.2)
    # 10 MNQ open + 2 = 12 micros = 1.2 minis: at the limit.
    assert check(limits, open_contracts={MNQ: 10}, entry={"size": 2}) is None
    assert check(limits, open_contracts={MNQ: 10}, entry={"size": 3}) == (
        "open contracts would total 1.3 weighted (MNQ 13 × 0.1), above max_contracts_total 1.2 on PRAC-1"
    )
    # A short ES counts by its size; its root comes from the contract id (EP: weight 1).
    refusal = check(limits, open_contracts={ES: -1}, entry={"size": 3})
    assert refusal == (
        "open contracts would total 1.3 weighted (EP 1 × 1, MNQ 3 × 0.1), "
        "above max_contracts_total 1.2 on PRAC-1"
    )
    assert check(limits, open_contracts={ES: -1}, entry={"size": 2}) is None


def test_contracts_total_uses_the_callers_roots() -> None:
    gold = "CON.F.US.GMET.J26"  # MGC trades as GMET: only the caller knows the root

    def total_check(gold_held: int) -> str | None:
        return check_entry(
            RiskLimits(max_contracts_total=1),
            None,
            replace(DAY, open_contracts={gold: gold_held}),
            ENTRY,
            calendar,
            now=NOW,
            weights=MICRO_WEIGHTS,
            root_of={gold: "MGC", MNQ: "MNQ"}.__getitem__,
        )

    refusal = total_check(8)
    assert refusal is not None and "(MGC 8 × 0.1, MNQ 3 × 0.1)" in refusal
    assert total_check(7) is None
    # Without the caller's roots, ProjectX's own symbol (GMET for MGC) is in the default weights.
    assert check(RiskLimits(max_contracts_total=1), open_contracts={gold: 7}) is None
    assert check(RiskLimits(max_contracts_total=1), open_contracts={gold: 8}) is not None


def test_trading_windows() -> None:
    limits = RiskLimits(trading_windows=["08:30-15:00"])
    assert check(limits, now=central(2026, 3, 10, 8, 29, 59)) == (
        "outside trading_windows 08:30-15:00 Central on PRAC-1: it is 08:29 Central; "
        "the next window opens at 08:30 Central"
    )
    assert check(limits, now=central(2026, 3, 10, 8, 30)) is None
    assert check(limits, now=central(2026, 3, 10, 14, 59, 59)) is None
    refusal = check(limits, now=central(2026, 3, 10, 15, 0))
    assert refusal is not None and refusal.endswith("opens at 2026-03-11 08:30 Central")


def test_strategy_windows_apply_in_addition_to_the_accounts() -> None:
    account = RiskLimits(trading_windows=["08:30-15:00"])
    strategy = RiskLimits(trading_windows=["09:30-11:00"])
    refusal = check(account, strategy, now=central(2026, 3, 10, 9, 29))
    assert refusal is not None
    assert refusal.startswith("outside trading_windows 09:30-11:00 Central of strategy 'mnq-trend'")
    assert check(account, strategy, now=central(2026, 3, 10, 9, 30)) is None
    wide = RiskLimits(trading_windows=["00:00-23:59"])
    assert check(account, wide, now=central(2026, 3, 10, 16, 0)) is not None


def test_holidays_refuse_the_whole_trading_day() -> None:
    limits = RiskLimits(holidays=[date(2026, 3, 11)])
    assert check(limits, now=central(2026, 3, 10, 16, 59)) is None
    assert check(limits, now=central(2026, 3, 10, 17, 0)) == (
        "trading day 2026-03-11 is a holiday on PRAC-1: no entries until 2026-03-11 17:00 Central"
    )
    closed = TradingCalendar(holidays=[date(2026, 3, 10)])
    day = replace(DAY)
    assert check_entry(RiskLimits(), None, day, ENTRY, closed, now=NOW, weights={}) is not None


@pytest.mark.parametrize(
    ("close_at", "tz"),
    [
        (datetime(2026, 3, 9, 20, 10, tzinfo=UTC), "CDT"),  # first Monday after spring forward
        (datetime(2026, 3, 6, 21, 10, tzinfo=UTC), "CST"),
        (datetime(2026, 11, 2, 21, 10, tzinfo=UTC), "CST"),  # first Monday after fall back
    ],
)
def test_session_close_refuses_until_the_next_day_starts(close_at: datetime, tz: str) -> None:
    limits = RiskLimits(close_at_session_end=True, session_close="15:10")
    assert check(limits, now=close_at - timedelta(seconds=1)) is None
    assert check(limits, now=close_at) == (
        "after the session close at 15:10 Central: entries resume at 17:00 Central"
    )
    assert check(limits, now=close_at + timedelta(minutes=109, seconds=59)) is not None  # 16:59:59
    assert check(limits, now=close_at + timedelta(minutes=110)) is None  # 17:00: the next day
    assert check(RiskLimits(session_close="15:10"), now=close_at) is None  # not asked for


def test_require_stop_loss() -> None:
    no_stop = {"stop_loss_ticks": None}
    assert check(RiskLimits(require_stop_loss=True), entry=no_stop) == (
        "entry without a stop loss on PRAC-1: require_stop_loss is set for PRAC-1; "
        "give template 'mnq-trend' a stop loss"
    )
    assert check(RiskLimits(require_stop_loss=True)) is None
    refusal = check(RiskLimits(), RiskLimits(require_stop_loss=True), entry=no_stop)
    assert refusal is not None and "require_stop_loss is set for strategy 'mnq-trend'" in refusal
    assert check(RiskLimits(), entry=no_stop) is None


def test_daily_loss_sentence() -> None:
    limits = RiskLimits(daily_loss_limit=Decimal(500))
    assert check(limits, realised_pnl=Decimal("-412.50")) == (
        "daily loss -412.50 USD + stop risk 150.00 USD would pass the limit -500.00 USD"
    )


@pytest.mark.parametrize(
    ("realised", "open_", "refused"),
    [
        ("-300", "-50", True),  # -350 - 150 = -500: reaching the limit passes it
        ("-300", "-49.99", False),  # -499.99
        ("100", "-449.99", False),
        ("200", "-550", True),
    ],
)
def test_daily_loss_counts_open_pnl_and_stop_risk(realised: str, open_: str, refused: bool) -> None:
    limits = RiskLimits(daily_loss_limit=Decimal(500))
    refusal = check(limits, realised_pnl=Decimal(realised), open_pnl=Decimal(open_))
    assert (refusal is not None) is refused


def test_daily_loss_without_a_stop_loss_counts_no_risk() -> None:
    limits = RiskLimits(daily_loss_limit=Decimal(500))
    no_stop = {"stop_loss_ticks": None}
    assert check(limits, realised_pnl=Decimal("-500"), entry=no_stop) == (
        "daily loss -500.00 USD + stop risk unknown (no stop loss) would pass the limit -500.00 USD"
    )
    assert check(limits, realised_pnl=Decimal("-499.99"), entry=no_stop) is None


def test_daily_profit_target() -> None:
    limits = RiskLimits(daily_profit_target=Decimal(600))
    assert check(limits, realised_pnl=Decimal(700), open_pnl=Decimal(-88)) == (
        "daily profit target reached: +612.00 USD ≥ 600.00 USD; entries resume next trading day"
    )
    assert check(limits, realised_pnl=Decimal(600)) is not None
    assert check(limits, realised_pnl=Decimal("599.99")) is None


def test_trailing_drawdown() -> None:
    limits = RiskLimits(max_trailing_drawdown=Decimal(2000))
    # 48200 - 50 - 150 = 48000: the floor 50000 - 2000 is reached.
    refusal = check(limits, balance=Decimal(48200), open_pnl=Decimal(-50))
    assert refusal == (
        "balance 48200.00 USD + open -50.00 USD − stop risk 150.00 USD = 48000.00 USD would reach "
        "the trailing drawdown floor 48000.00 USD (high-water 50000.00 USD − max_trailing_drawdown "
        "2000.00 USD) on PRAC-1"
    )
    assert check(limits, balance=Decimal("48200.01"), open_pnl=Decimal(-50)) is None
    # No high-water mark yet: the balance is the mark.
    assert check(limits, balance=Decimal(48000), high_water=None) is None


def test_trailing_drawdown_with_an_unknown_balance_refuses() -> None:
    limits = RiskLimits(max_trailing_drawdown=Decimal(2000))
    refusal = check(limits, balance=None, high_water=None)
    assert refusal == (
        "max_trailing_drawdown is set but the balance of PRAC-1 is not known yet; "
        "entries resume once the gateway reports it"
    )
    assert check(RiskLimits(), balance=None) is None


def test_entries_per_day_for_the_account_and_the_strategy() -> None:
    limits = RiskLimits(max_entries_per_day=3)
    assert check(limits, entries_today=2) is None
    assert check(limits, entries_today=3) == (
        "entry 4 today would be above max_entries_per_day 3 on PRAC-1; entries resume next trading day"
    )
    strategy = RiskLimits(max_entries_per_day=1)
    assert check(limits, strategy, entries_today=2, strategy_entries_today=0) is None
    assert check(limits, strategy, entries_today=2, strategy_entries_today=1) == (
        "entry 2 today of strategy 'mnq-trend' would be above its max_entries_per_day 1 on PRAC-1; "
        "entries resume next trading day"
    )
    # The strategy's own count only: other strategies' entries do not use it up.
    assert check(RiskLimits(), strategy, entries_today=5, strategy_entries_today=0) is None


def test_trades_per_minute_and_per_hour_for_the_account_and_the_strategy() -> None:
    limits = RiskLimits(max_trades_per_minute=2, max_trades_per_hour=5)
    assert check(limits, entries_last_minute=1, entries_last_hour=4) is None
    assert check(limits, entries_last_minute=2, entries_last_hour=2) == (
        "entry 3 in the last 60 seconds would be above max_trades_per_minute 2 on PRAC-1; "
        "entries resume when the oldest of them is a minute old"
    )
    assert check(limits, entries_last_minute=0, entries_last_hour=5) == (
        "entry 6 in the last 60 minutes would be above max_trades_per_hour 5 on PRAC-1; "
        "entries resume when the oldest of them is an hour old"
    )
    strategy = RiskLimits(max_trades_per_minute=1)
    assert check(RiskLimits(), strategy, entries_last_minute=3, strategy_entries_last_minute=0) is None
    assert check(RiskLimits(), strategy, entries_last_minute=3, strategy_entries_last_minute=1) == (
        "entry 2 in the last 60 seconds of strategy 'mnq-trend' would be above its "
        "max_trades_per_minute 1 on PRAC-1; entries resume when the oldest of them is a minute old"
    )


def test_cooldown_after_losing_streak() -> None:
    limits = RiskLimits(cooldown_after_losses=3, cooldown_minutes=30)
    lost_at = central(2026, 3, 10, 9, 40)
    assert check(
        limits, now=lost_at + timedelta(minutes=29, seconds=59), losing_streak=3, last_loss_at=lost_at
    ) == ("3 losing trades in a row on PRAC-1 (cooldown_after_losses 3): cool-down until 10:10 Central")
    assert check(limits, now=lost_at + timedelta(minutes=30), losing_streak=3, last_loss_at=lost_at) is None
    assert check(limits, now=lost_at, losing_streak=2, last_loss_at=lost_at) is None


@pytest.mark.parametrize(
    ("key", "over"),
    [("max_order_size", {}), ("max_contracts_per_contract", {}), ("max_contracts_total", {"size": 30})],
)
def test_the_stricter_of_account_and_strategy_wins(key: str, over: dict[str, Any]) -> None:
    loose, strict = RiskLimits(**{key: 5}), RiskLimits(**{key: 2})
    by_strategy = check(loose, strict, entry=over)
    assert by_strategy is not None and f"strategy 'mnq-trend' {key} 2 on PRAC-1" in by_strategy
    by_account = check(strict, loose, entry=over)
    assert by_account is not None and by_account.endswith(f"above {key} 2 on PRAC-1")
    assert check(loose, loose, entry=over) is None
    assert check(loose, None, entry=over) is None


def test_strategy_limits_the_template_cannot_set_are_ignored() -> None:
    strategy = RiskLimits(daily_loss_limit=Decimal(1), close_at_session_end=True)
    assert check(RiskLimits(), strategy, realised_pnl=Decimal(-100), now=central(2026, 3, 10, 16, 0)) is None


def test_the_first_broken_limit_is_named() -> None:
    limits = RiskLimits(max_order_size=1, daily_loss_limit=Decimal(100))
    refusal = check(limits, realised_pnl=Decimal(-1000))
    assert refusal is not None and refusal.startswith("order size 3 contracts")


def test_lockout_on_daily_loss_until_the_next_trading_day() -> None:
    limits = RiskLimits(daily_loss_limit=Decimal(500))
    day = replace(DAY, realised_pnl=Decimal(-450), open_pnl=Decimal(-50))
    assert lockout_due(limits, day, calendar, now=NOW) == Lockout(
        account_id=70000001,
        account_name="PRAC-1",
        reason="daily loss -500.00 USD reached the limit -500.00 USD on PRAC-1",
        since=NOW,
        until=central(2026, 3, 10, 17, 0),
    )
    inside = replace(day, open_pnl=Decimal("-49.99"))
    assert lockout_due(limits, inside, calendar, now=NOW) is None


def test_lockout_until_a_set_time_across_dst() -> None:
    limits = RiskLimits(daily_loss_limit=Decimal(500), lockout_until="08:30")
    day = replace(DAY, realised_pnl=Decimal(-500))
    saturday = central(2026, 3, 7, 12, 0)  # CST; the next 08:30 is CDT
    lockout = lockout_due(limits, day, calendar, now=saturday)
    assert lockout is not None and lockout.until == datetime(2026, 3, 8, 13, 30, tzinfo=UTC)
    next_day = lockout_due(RiskLimits(daily_loss_limit=Decimal(500)), day, calendar, now=saturday)
    assert next_day is not None and next_day.until == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def test_lockout_on_trailing_drawdown() -> None:
    limits = RiskLimits(max_trailing_drawdown=Decimal(2000))
    day = replace(DAY, balance=Decimal(48100), open_pnl=Decimal(-100))
    lockout = lockout_due(limits, day, calendar, now=NOW)
    assert lockout is not None
    assert lockout.reason == (
        "balance 48100.00 USD + open -100.00 USD reached the trailing drawdown floor 48000.00 USD "
        "(high-water 50000.00 USD − max_trailing_drawdown 2000.00 USD) on PRAC-1"
    )
    assert lockout.until == central(2026, 3, 10, 17, 0)
    assert lockout_due(limits, replace(day, open_pnl=Decimal("-99.99")), calendar, now=NOW) is None
    assert lockout_due(limits, replace(day, balance=None), calendar, now=NOW) is None


def test_lockout_on_cooldown_ends_with_the_cooldown() -> None:
    limits = RiskLimits(cooldown_after_losses=3, cooldown_minutes=45)
    lost_at = central(2026, 3, 10, 9, 40)
    day = replace(DAY, losing_streak=3, last_loss_at=lost_at)
    lockout = lockout_due(limits, day, calendar, now=NOW)
    assert lockout is not None
    assert (lockout.since, lockout.until) == (lost_at, central(2026, 3, 10, 10, 25))
    assert (
        lockout.reason
        == "3 losing trades in a row (cooldown_after_losses 3): cool-down of 45 minutes on PRAC-1"
    )
    assert lockout_due(limits, day, calendar, now=central(2026, 3, 10, 10, 25)) is None
    assert lockout_due(limits, replace(day, losing_streak=2), calendar, now=NOW) is None


def test_no_lockout_without_limits_or_losses() -> None:
    day = replace(DAY, realised_pnl=Decimal(-10000), losing_streak=9, last_loss_at=NOW)
    assert lockout_due(RiskLimits(), day, calendar, now=NOW) is None
    assert lockout_due(RiskLimits(daily_loss_limit=Decimal(500)), DAY, calendar, now=NOW) is None
