"""The journal's queries for the web page and the JSON API, its change cursor and its commit hook."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.enums import Action, AlertStatus, Leg, OrderState, Side
from app.domain.events import Fill
from app.journal import Journal
from app.journal.journal import JournalCursor, OrderUpdate
from tests.journal.conftest import T0

AUTO, OTHER = 70000001, 70000002
MNQ = "CON.F.US.MNQ.H26"


def alert(journal: Journal, strategy: str = "mnq-market", minutes: int = 0, **kw: object) -> int:
    received_at = T0 + timedelta(minutes=minutes)
    return journal.record_alert(strategy=strategy, raw_body="{}", received_at=received_at, **kw).alert_id  # type: ignore[arg-type]


def order(journal: Journal, alert_id: int, account_id: int = AUTO, **row: object) -> int:
    fields: dict[str, object] = {
        "account_id": account_id,
        "account_name": f"acct-{account_id}",
        "contract_id": MNQ,
        "leg": Leg.ENTRY,
        "action": Action.BUY,
        "side": Side.BUY,
        "size": 1,
        "client_order_id": f"tvb-test-{alert_id}-{account_id}",
        "state": OrderState.SUBMITTING,
        **row,
    }
    return journal.add_order(alert_id=alert_id, **fields)


def fill(trade_id: int, broker_order_id: int, account_id: int = AUTO, minutes: int = 0) -> Fill:
    return Fill(
        trade_id=trade_id,
        account_id=account_id,
        contract_id=MNQ,
        broker_order_id=broker_order_id,
        side=Side.BUY,
        size=1,
        price=Decimal("21500.25"),
        filled_at=T0 + timedelta(minutes=minutes),
    )


def test_find_alerts_filters_by_strategy_status_time_and_account_newest_first(journal: Journal) -> None:
    first = alert(journal, "mnq-market", minutes=0)
    second = alert(journal, "mnq-bracket", minutes=1)
    third = alert(journal, "mnq-market", minutes=2, status=AlertStatus.INVALID, reason="bad body")
    order(journal, first, AUTO)
    order(journal, second, OTHER)

    assert [a.id for a in journal.find_alerts()] == [third, second, first]
    assert [a.id for a in journal.find_alerts(strategy="mnq-market")] == [third, first]
    assert [a.id for a in journal.find_alerts(statuses=[AlertStatus.INVALID])] == [third]
    assert [a.id for a in journal.find_alerts(account_id=OTHER)] == [second]
    window = journal.find_alerts(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=2))
    assert [a.id for a in window] == [second]  # since inclusive, until exclusive
    assert [a.id for a in journal.find_alerts(limit=2)] == [third, second]
    assert [a.id for a in journal.find_alerts(before_id=second)] == [first]  # the next page


def test_find_orders_and_fills_filter_by_account_state_and_time_newest_first(journal: Journal) -> None:
    a = alert(journal)
    older = order(journal, a, AUTO, client_order_id="tvb-t-1", broker_order_id=11)
    newer = order(journal, a, AUTO, client_order_id="tvb-t-2", broker_order_id=12)
    elsewhere = order(journal, a, OTHER, client_order_id="tvb-t-3", broker_order_id=13)
    journal.update_orders([OrderUpdate(newer, OrderState.ACCEPTED)])

    assert [o.id for o in journal.find_orders()] == [elsewhere, newer, older]
    assert [o.id for o in journal.find_orders(account_id=AUTO)] == [newer, older]
    assert [o.id for o in journal.find_orders(states=[OrderState.SUBMITTING])] == [elsewhere, older]
    assert journal.find_orders(since=T0.replace(year=2100)) == []
    assert [o.id for o in journal.find_orders(limit=1)] == [elsewhere]

    journal.record_fill(fill(901, 11, AUTO, minutes=5), older)
    journal.record_fill(fill(902, 12, AUTO, minutes=1), newer)  # journaled later, filled earlier
    journal.record_fill(fill(903, 13, OTHER, minutes=3), elsewhere)

    assert [f.trade_id for f in journal.find_fills()] == [901, 903, 902]  # by fill time
    assert [f.trade_id for f in journal.find_fills(account_id=AUTO)] == [901, 902]
    assert [f.trade_id for f in journal.find_fills(since=T0 + timedelta(minutes=3))] == [901, 903]


def test_changes_since_reports_new_alerts_fills_settlements_and_events(journal: Journal) -> None:
    quiet = alert(journal)
    busy = alert(journal)
    row = order(journal, busy, broker_order_id=77)
    cursor, ids = journal.changes_since(None)
    assert ids == [] and cursor.alert_id == busy  # the first look only takes the cursor

    assert journal.changes_since(cursor) == (cursor, [])  # nothing happened

    new = alert(journal)
    cursor, ids = journal.changes_since(cursor)
    assert ids == [new]

    journal.record_fill(fill(501, 77), row)
    cursor, ids = journal.changes_since(cursor)
    assert ids == [busy]

    journal.settle_alert(quiet, AlertStatus.NOOP, reason="nothing to do")  # no order row moves
    cursor, ids = journal.changes_since(cursor)
    assert ids == [quiet]
    assert cursor.settled_at is not None

    journal.update_orders([OrderUpdate(row, OrderState.ACCEPTED)])  # a state change
    journal.add_event("note", "about the new alert", alert_id=new)
    journal.add_event("note", "about nothing in particular")
    cursor, ids = journal.changes_since(cursor)
    assert ids == [new, busy]  # newest first

    assert journal.changes_since(cursor) == (cursor, [])


def test_changes_since_returns_at_most_200_ids_newest_first(journal: Journal) -> None:
    cursor, _ = journal.changes_since(None)
    made = [alert(journal) for _ in range(205)]

    _, ids = journal.changes_since(cursor)

    assert ids == sorted(made, reverse=True)[:200]


def test_a_cursor_from_an_empty_journal_sees_the_first_settlement(journal: Journal) -> None:
    cursor, ids = journal.changes_since(None)
    assert (cursor, ids) == (JournalCursor(), [])
    first = alert(journal)
    cursor, _ = journal.changes_since(cursor)

    journal.settle_alert(first, AlertStatus.NOOP)

    assert journal.changes_since(cursor)[1] == [first]


def test_on_commit_fires_after_every_write_and_never_on_reads(journal: Journal) -> None:
    calls: list[int] = []
    # Called after the commit: the row is already there for anyone who reads on.
    journal.on_commit = lambda: calls.append(len(journal.recent_alerts(limit=1000)))

    alert_id = alert(journal)
    assert calls == [1]
    row = order(journal, alert_id, broker_order_id=5)
    journal.settle_alert(alert_id, AlertStatus.EXECUTED, updates=[OrderUpdate(row, OrderState.ACCEPTED)])
    journal.add_event("note", "written", alert_id=alert_id)
    journal.set_paused(True, by="test")
    assert len(calls) == 5

    journal.get_alert(alert_id)
    journal.find_alerts()
    journal.find_orders()
    journal.find_fills()
    journal.alert_orders(alert_id)
    journal.order_for_event(AUTO, 5, None)
    journal.events()
    journal.pause_state()
    journal.changes_since(None)
    assert len(calls) == 5  # reads cost nothing and wake nobody


def test_a_failing_on_commit_listener_neither_fails_nor_undoes_the_write(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    journal.on_commit = broken
    with caplog.at_level(logging.ERROR, logger="tvbridge.journal"):
        alert_id = alert(journal)

    assert journal.get_alert(alert_id) is not None
    assert "on_commit" in caplog.text and "listener bug" in caplog.text
