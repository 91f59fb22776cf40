"""The journal's numbers for the risk gate, the balance's high-water mark and the lockouts
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from sqlalchemy import inspect, text

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.events import Fill
from app.domain.models import Account
from app.journal import Journal, migrate
from app.journal.common import as_utc
from tests.journal.conftest import T0

ACCOUNT = 26282486
OTHER = 26282487
MNQ = "CON.F.US.MNQ.U26"
MES = "CON.F.US.MES.U26"
DAY = T0.replace(hour=0, minute=0, second=0, microsecond=0)  # the instant the day's numbers start
_ids = count(1)


def _fill(broker_order_id: int, at: datetime, pnl: str | None = None, **fields: object) -> Fill:
    values: dict[str, object] = {
        "trade_id": next(_ids),
        "account_id": ACCOUNT,
        "contract_id": MNQ,
        "broker_order_id": broker_order_id,
        "side": Side.SELL,
        "size": 1,
        "price": Decimal("29423.25"),
        "filled_at": at,
        "fees": Decimal("0.37"),
        "commissions": Decimal("0.25"),
        "profit_and_loss": None if pnl is None else Decimal(pnl),
        **fields,
    }
    return Fill(**values)  # type: ignore[arg-type]


def _alert(journal: Journal, received_at: datetime, strategy: str = "mnq-trend") -> int:
    return journal.record_alert(strategy=strategy, raw_body="{}", received_at=received_at).alert_id


def _order(journal: Journal, alert_id: int, **row: object) -> int:
    """Add an accepted buy entry on ACCOUNT in MNQ (``row`` overrides); return its row id."""
    tag = f"tvb-abc123-{next(_ids)}-0"
    accepted = dict(leg=Leg.ENTRY, action=Action.BUY, state=OrderState.ACCEPTED, client_order_id=tag)
    where = dict(account_id=ACCOUNT, account_name="PRAC", contract_id=MNQ)
    return journal.add_order(alert_id=alert_id, **{**where, **accepted, **row})


def _events(journal: Journal, kind: str) -> list[str]:
    return [e.level for e in journal.events() if e.kind == kind]


# -- realised P&L -------------------------------------------------------------------------


def test_realised_pnl_is_pnl_less_fees_and_commissions_since_the_instant(journal: Journal) -> None:
    journal.record_fill(_fill(1, DAY - timedelta(seconds=1), "-500"))  # yesterday: not counted
    journal.record_fill(_fill(2, DAY, None, side=Side.BUY))  # an opening fill: only its costs
    journal.record_fill(_fill(3, DAY + timedelta(hours=1), "-49"))
    journal.record_fill(_fill(4, DAY + timedelta(hours=2), "20.50", fees=None, commissions=None))
    journal.record_fill(_fill(5, DAY + timedelta(hours=3), "-900", voided=True))  # busted
    journal.record_fill(_fill(6, DAY + timedelta(hours=3), "-700", account_id=OTHER))

    numbers = journal.risk_numbers(ACCOUNT, DAY)

    # (0 - 0.62) + (-49 - 0.62) + 20.50
    assert numbers.realised_pnl == Decimal("-29.74")
    assert journal.risk_numbers(ACCOUNT, DAY + timedelta(days=1)).realised_pnl == 0


# -- entries ------------------------------------------------------------------------------


def test_entries_count_what_was_sent_for_alerts_received_since_the_instant(journal: Journal) -> None:
    today = _alert(journal, DAY + timedelta(hours=1))
    for state in (OrderState.ACCEPTED, OrderState.FILLED, OrderState.CANCELLED, OrderState.UNKNOWN):
        _order(journal, today, state=state)
    _order(journal, today, state=OrderState.REJECTED)  # the gateway said no
    _order(journal, today, state=OrderState.NOT_PLACED)  # reconciliation proved it absent
    _order(journal, today, leg=Leg.STOP_LOSS)  # a bracket leg is not an entry
    _order(journal, today, leg=Leg.CLOSE, action=Action.EXIT)
    _order(journal, today, account_id=OTHER)
    _order(journal, _alert(journal, DAY - timedelta(seconds=1)))  # yesterday's alert

    numbers = journal.risk_numbers(ACCOUNT, DAY, strategy="mnq-trend")

    assert (numbers.entries, numbers.strategy_entries) == (4, 4)


def test_an_oco_pair_is_one_entry_and_strategy_entries_count_one_strategy(journal: Journal) -> None:
    trend = _alert(journal, DAY + timedelta(hours=1), "mnq-trend")
    breakout = _alert(journal, DAY + timedelta(hours=2), "mnq-breakout")
    _order(journal, trend)
    group = journal.add_oco_group(
        alert_id=breakout, account_id=ACCOUNT, contract_id=MNQ, kind="oco", policy="flatten"
    )
    _order(journal, breakout, oco_group_id=group)
    _order(journal, breakout, oco_group_id=group, action=Action.SELL)

    assert journal.risk_numbers(ACCOUNT, DAY, strategy="mnq-breakout").entries == 2
    assert journal.risk_numbers(ACCOUNT, DAY, strategy="mnq-breakout").strategy_entries == 1
    assert journal.risk_numbers(ACCOUNT, DAY, strategy="mnq-trend").strategy_entries == 1
    assert journal.risk_numbers(ACCOUNT, DAY, strategy="es-scalp").strategy_entries == 0
    assert journal.risk_numbers(ACCOUNT, DAY).strategy_entries == 0


# -- losing streak ------------------------------------------------------------------------


def test_losing_streak_counts_trades_not_fills_and_crosses_the_day_start(journal: Journal) -> None:
    journal.record_fill(_fill(10, DAY - timedelta(hours=5), "-30"))  # before the win: not counted
    journal.record_fill(_fill(11, DAY - timedelta(hours=4), "80"))  # the last win
    journal.record_fill(_fill(12, DAY - timedelta(hours=3), "-25"))  # a loss before midnight
    journal.record_fill(_fill(13, DAY + timedelta(hours=1), None, side=Side.BUY))  # opening
    # one order closed in two partial fills: one losing trade, not two
    journal.record_fill(_fill(14, DAY + timedelta(hours=2), "-10"))
    journal.record_fill(_fill(14, DAY + timedelta(hours=2, seconds=1), "-10"))
    # a closing fill with a small P&L that its costs turn into a loss
    journal.record_fill(_fill(15, DAY + timedelta(hours=3), "0.50"))
    journal.record_fill(_fill(16, DAY + timedelta(hours=4), "-99", voided=True))  # busted
    journal.record_fill(_fill(17, DAY + timedelta(hours=5), "300", account_id=OTHER))

    numbers = journal.risk_numbers(ACCOUNT, DAY + timedelta(days=1))

    assert numbers.losing_streak == 3
    assert numbers.last_loss_at == DAY + timedelta(hours=3)


def test_a_win_or_a_scratch_ends_the_streak(journal: Journal) -> None:
    journal.record_fill(_fill(20, DAY + timedelta(hours=1), "-40"))
    # a trade whose partial fills lost and won: its sum decides
    journal.record_fill(_fill(21, DAY + timedelta(hours=2), "-10"))
    journal.record_fill(_fill(21, DAY + timedelta(hours=2, seconds=1), "12"))
    assert journal.risk_numbers(ACCOUNT, DAY).losing_streak == 0
    assert journal.risk_numbers(ACCOUNT, DAY).last_loss_at is None

    journal.record_fill(_fill(22, DAY + timedelta(hours=3), "-5"))
    assert journal.risk_numbers(ACCOUNT, DAY).losing_streak == 1
    journal.record_fill(_fill(23, DAY + timedelta(hours=4), "0.62"))  # nets exactly 0
    assert journal.risk_numbers(ACCOUNT, DAY).losing_streak == 0


def test_a_long_losing_streak_is_counted_whole(journal: Journal) -> None:
    for n in range(120):  # more than one page of closing fills
        journal.record_fill(_fill(100 + n, DAY + timedelta(minutes=n), "-1"))

    numbers = journal.risk_numbers(ACCOUNT, DAY)

    assert numbers.losing_streak == 120 and numbers.last_loss_at == DAY + timedelta(minutes=119)
    assert numbers.realised_pnl == Decimal("-194.40")


# -- prices -------------------------------------------------------------------------------


def test_last_fill_prices_are_the_accounts_newest_fill_per_contract(journal: Journal) -> None:
    journal.record_fill(_fill(30, DAY + timedelta(hours=2), price=Decimal("29430.50")))
    journal.record_fill(_fill(31, DAY + timedelta(hours=1), price=Decimal("29410.00")))  # older
    journal.record_fill(_fill(32, DAY - timedelta(days=3), contract_id=MES, price=Decimal("6335.25")))
    journal.record_fill(_fill(33, DAY + timedelta(hours=3), price=Decimal("1"), voided=True))
    journal.record_fill(_fill(34, DAY + timedelta(hours=4), price=Decimal("29500"), account_id=OTHER))

    prices = journal.risk_numbers(ACCOUNT, DAY).last_fill_prices

    assert prices == {MNQ: Decimal("29430.50"), MES: Decimal("6335.25")}
    assert journal.risk_numbers(OTHER, DAY).last_fill_prices == {MNQ: Decimal("29500")}


def test_latest_prices_take_the_newest_fill_or_reference_price(journal: Journal) -> None:
    assert journal.latest_prices() == {}
    journal.record_fill(_fill(40, DAY + timedelta(hours=1), price=Decimal("29423.25")))
    journal.record_fill(_fill(41, DAY + timedelta(hours=2), contract_id=MES, price=Decimal("6335.25")))
    journal.record_fill(_fill(42, DAY + timedelta(hours=3), account_id=OTHER, price=Decimal("29424.00")))
    # order rows are written now (after DAY): a reference price newer than every fill above
    _order(journal, _alert(journal, T0), reference_price=Decimal("29430.75"))

    [order] = journal.find_orders()
    assert journal.latest_prices() == {
        MNQ: (Decimal("29430.75"), as_utc(order.created_at)),
        MES: (Decimal("6335.25"), DAY + timedelta(hours=2)),
    }

    # a fill at the same instant wins: it is a trade, the reference only what the chart said
    journal.record_fill(_fill(43, order.created_at, price=Decimal("29431")))
    assert journal.latest_prices()[MNQ][0] == Decimal("29431")


def test_contract_ticks_come_from_the_newest_order_row_that_has_them(journal: Journal) -> None:
    alert = _alert(journal, T0)
    _order(journal, alert, tick_size=Decimal("0.25"), tick_value=Decimal("0.40"))
    _order(journal, alert, tick_size=Decimal("0.25"), tick_value=Decimal("0.50"))  # newer
    _order(journal, alert, tick_size=Decimal("0.25"))  # no tick value: not used
    _order(journal, alert, contract_id=MES, tick_size=Decimal("0.25"), tick_value=Decimal("1.25"))
    _order(journal, alert, contract_id="CON.F.US.EP.U26")  # never recorded

    assert journal.contract_ticks() == {
        MNQ: (Decimal("0.25"), Decimal("0.50")),
        MES: (Decimal("0.25"), Decimal("1.25")),
    }


# -- high-water mark ----------------------------------------------------------------------


def test_high_water_mark_rises_with_the_balance_and_never_falls(journal: Journal) -> None:
    def state() -> tuple[Decimal, Decimal | None]:
        [account] = journal.account_states()
        return account.balance, account.high_water

    journal.set_account(Account(ACCOUNT, "PRAC", Decimal("99999.50"), True))
    assert state() == (Decimal("99999.50"), Decimal("99999.50"))

    journal.set_account(Account(ACCOUNT, "PRAC", Decimal("100250.00"), True))  # "1…" < "9…" as text
    assert state() == (Decimal("100250.00"), Decimal("100250.00"))

    journal.apply_events(accounts=[Account(ACCOUNT, "PRAC", Decimal("99800.00"), True)])
    assert state() == (Decimal("99800.00"), Decimal("100250.00"))

    journal.apply_events(accounts=[Account(ACCOUNT, "PRAC", Decimal("100300"), True)])
    assert state() == (Decimal("100300"), Decimal("100300"))


# -- lockouts -----------------------------------------------------------------------------


def test_lock_is_idempotent_while_locked_and_written_once(journal: Journal) -> None:
    until = T0 + timedelta(hours=8)
    first = journal.lock_account(
        ACCOUNT,
        "PRAC",
        reason="daily loss -512.50 USD passed the limit -500 USD",
        until=until,
        by="risk",
        now=T0,
    )
    again = journal.lock_account(
        ACCOUNT,
        "PRAC",
        reason="cool-down after 3 losses",
        until=until + timedelta(hours=1),
        by="risk",
        now=T0,
    )

    assert (again.reason, again.until, again.since) == (first.reason, until, T0)
    [lock] = journal.active_lockouts(T0 + timedelta(hours=1))
    assert (lock.account_id, lock.account_name, lock.by) == (ACCOUNT, "PRAC", "risk")
    assert lock.reason == "daily loss -512.50 USD passed the limit -500 USD" and lock.until == until
    [event] = [e for e in journal.events() if e.kind == "risk.lockout"]
    assert event.level == "error"
    assert "daily loss -512.50 USD" in event.message and "2025-03-14 22:30:00 UTC" in event.message
    assert "tvbridge unlock PRAC" in event.message
    assert event.data is not None and event.data["until"] == until.isoformat()


def test_an_expired_lockout_is_not_active_and_a_new_one_replaces_it(journal: Journal) -> None:
    until = T0 + timedelta(hours=2)
    journal.lock_account(ACCOUNT, "PRAC", reason="drawdown", until=until, by="risk", now=T0)

    assert journal.active_lockouts(until - timedelta(microseconds=1)) != []
    assert journal.active_lockouts(until) == []  # over at `until` itself

    later = journal.lock_account(
        ACCOUNT, "PRAC", reason="cool-down", until=until + timedelta(hours=1), by="risk", now=until
    )
    assert (later.reason, later.since) == ("cool-down", until)
    assert [lock.reason for lock in journal.active_lockouts(until)] == ["cool-down"]
    assert _events(journal, "risk.lockout") == ["error", "error"]


def test_unlock_lifts_the_lockout_once_and_says_who(journal: Journal) -> None:
    journal.lock_account(ACCOUNT, "PRAC", reason="drawdown", until=T0 + timedelta(hours=8), by="risk", now=T0)
    journal.lock_account(OTHER, "EVAL", reason="drawdown", until=T0 + timedelta(hours=8), by="risk", now=T0)

    lifted = journal.unlock_account(ACCOUNT, by="cli", now=T0 + timedelta(hours=1))

    assert lifted is not None and lifted.reason == "drawdown"
    assert [lock.account_id for lock in journal.active_lockouts(T0 + timedelta(hours=1))] == [OTHER]
    [event] = [e for e in journal.events() if e.kind == "risk.unlock"]
    assert event.level == "warning" and "unlocked by cli" in event.message and "PRAC" in event.message
    assert journal.unlock_account(ACCOUNT, by="cli") is None  # not locked: no second event
    assert _events(journal, "risk.unlock") == ["warning"]


def test_unlocking_an_expired_lockout_says_not_locked(journal: Journal) -> None:
    journal.lock_account(ACCOUNT, "PRAC", reason="drawdown", until=T0 + timedelta(hours=1), by="risk", now=T0)

    assert journal.unlock_account(ACCOUNT, by="cli", now=T0 + timedelta(hours=2)) is None
    assert _events(journal, "risk.unlock") == []


def test_a_naive_lockout_time_is_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        journal.lock_account(ACCOUNT, "PRAC", reason="x", until=datetime(2025, 3, 15, 17, 0), by="risk")
    assert journal.active_lockouts(T0) == []


def test_a_lockout_survives_a_restart(journal: Journal) -> None:
    until = T0 + timedelta(hours=8)
    journal.lock_account(ACCOUNT, "PRAC", reason="daily loss", until=until, by="risk", now=T0)
    url = journal._engine.url.render_as_string(hide_password=False)
    journal.close()

    reopened = Journal(url)
    reopened.upgrade()
    [lock] = reopened.active_lockouts(T0)
    assert (lock.account_id, lock.reason, lock.since, lock.until) == (ACCOUNT, "daily loss", T0, until)
    reopened.close()


# -- migration 0005 -----------------------------------------------------------------------


def test_migration_0005_starts_the_high_water_mark_at_the_current_balance(journal: Journal) -> None:
    engine = journal._engine
    migrate.downgrade(engine, "0004")
    assert "lockout" not in inspect(engine).get_table_names()
    assert "high_water" not in {c["name"] for c in inspect(engine).get_columns("account_state")}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account_state (account_id, name, balance, can_trade, updated_at) "
                "VALUES (:id, :name, :balance, :can_trade, :at)"
            ),
            [
                {"id": ACCOUNT, "name": "PRAC", "balance": "149848.64", "can_trade": True, "at": T0},
                {"id": OTHER, "name": "EVAL", "balance": "50000", "can_trade": False, "at": T0},
            ],
        )

    migrate.upgrade(engine)

    states = journal.account_states()
    assert [(s.account_id, s.balance, s.high_water) for s in states] == [
        (ACCOUNT, Decimal("149848.64"), Decimal("149848.64")),
        (OTHER, Decimal("50000"), Decimal("50000")),
    ]
    assert journal.active_lockouts(T0) == []
    journal.set_account(Account(OTHER, "EVAL", Decimal("49000"), True))
    assert journal.account_states()[1].high_water == Decimal("50000")
