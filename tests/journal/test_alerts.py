"""Alerts: stored as received, times in UTC, and a re-sent alert never executes twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.enums import Action, AlertStatus, Leg, OrderState
from app.errors import JournalError
from app.journal import Journal
from app.journal.journal import AlertEntry
from tests.journal.conftest import T0

WINDOW_S = 10.0


def record(journal: Journal, *, at: datetime = T0, strategy: str = "mnq-trend", **kw: Any) -> AlertEntry:
    kw.setdefault("dedupe_key", "NQ1!-buy-1710426600")
    kw.setdefault("dedupe_window_s", WINDOW_S)
    return journal.record_alert(strategy=strategy, raw_body='{"action":"buy"}', received_at=at, **kw)


def test_alert_is_stored_as_received(journal: Journal) -> None:
    entry = journal.record_alert(
        strategy="mnq-trend",
        raw_body='{"action":"buy","ticker":"MNQ1!"}',
        received_at=T0,
        source_ip="52.89.214.238",
        content_type="application/json",
        alert_time=T0 - timedelta(seconds=1),
    )

    alert = journal.get_alert(entry.alert_id)
    assert alert is not None
    assert entry.duplicate_of is None
    assert alert.raw_body == '{"action":"buy","ticker":"MNQ1!"}'
    assert alert.source_ip == "52.89.214.238"
    assert alert.content_type == "application/json"
    assert alert.status is AlertStatus.RECEIVED
    assert alert.alert_time == T0 - timedelta(seconds=1)
    assert journal.get_alert(entry.alert_id + 1) is None


def test_times_come_back_tz_aware_utc(journal: Journal) -> None:
    chicago = timezone(timedelta(hours=-5))
    received = datetime(2025, 3, 14, 9, 30, 0, 123456, tzinfo=chicago)

    alert_id = record(journal, at=received).alert_id
    journal.set_alert_status(alert_id, AlertStatus.EXECUTED, settled=True)
    alert = journal.get_alert(alert_id)

    assert alert is not None
    assert alert.received_at == received
    assert alert.received_at.tzinfo is UTC
    assert alert.received_at.hour == 14
    assert alert.settled_at is not None and alert.settled_at.tzinfo is UTC


def test_naive_time_is_refused_with_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="no time zone"):
        record(journal, at=datetime(2025, 3, 14, 14, 30))


def test_same_key_within_window_is_a_duplicate_of_the_original(journal: Journal) -> None:
    first = record(journal)
    second = record(journal, at=T0 + timedelta(seconds=3))
    third = record(journal, at=T0 + timedelta(seconds=WINDOW_S))

    assert first.duplicate_of is None
    assert second.duplicate_of == first.alert_id
    assert third.duplicate_of == first.alert_id  # the original, not the previous copy
    stored = journal.get_alert(second.alert_id)
    assert stored is not None
    assert stored.status is AlertStatus.DUPLICATE
    assert stored.duplicate_of == first.alert_id
    assert stored.reason and str(first.alert_id) in stored.reason


def test_copy_journaled_before_the_earlier_received_one_still_matches(journal: Journal) -> None:
    # Two concurrent webhooks may reach the journal in the other order.
    first = record(journal, at=T0 + timedelta(seconds=1))
    second = record(journal, at=T0)

    assert second.duplicate_of == first.alert_id


def test_same_key_outside_window_is_a_new_alert(journal: Journal) -> None:
    record(journal)
    later = record(journal, at=T0 + timedelta(seconds=WINDOW_S + 0.001))

    assert later.duplicate_of is None
    alert = journal.get_alert(later.alert_id)
    assert alert is not None and alert.status is AlertStatus.RECEIVED


def test_same_key_of_another_strategy_is_not_a_duplicate(journal: Journal) -> None:
    record(journal, strategy="mnq-trend")

    assert record(journal, strategy="es-breakout").duplicate_of is None


def test_no_key_or_no_window_never_dedupes(journal: Journal) -> None:
    record(journal, dedupe_key=None)
    assert record(journal, dedupe_key=None).duplicate_of is None

    record(journal, dedupe_key="k", dedupe_window_s=0.0)
    assert record(journal, dedupe_key="k", dedupe_window_s=0.0).duplicate_of is None


@pytest.mark.parametrize(
    "status",
    [
        AlertStatus.INVALID,
        AlertStatus.UNAUTHORIZED,
        AlertStatus.UNKNOWN_STRATEGY,
        AlertStatus.TOO_LARGE,
    ],
)
def test_alert_that_was_never_accepted_does_not_block_the_resend(
    journal: Journal, status: AlertStatus
) -> None:
    record(journal, status=status, reason="rejected at the door")

    resend = record(journal, at=T0 + timedelta(seconds=1))

    assert resend.duplicate_of is None


@pytest.mark.parametrize(
    "status", [AlertStatus.REFUSED, AlertStatus.REJECTED, AlertStatus.STALE, AlertStatus.RECEIVED]
)
def test_alert_that_was_accepted_blocks_the_resend_whatever_its_outcome(
    journal: Journal, status: AlertStatus
) -> None:
    # RECEIVED: being executed, or resumed after a restart; the others were decided.
    first = record(journal)
    journal.set_alert_status(first.alert_id, status, reason="outcome")

    assert record(journal, at=T0 + timedelta(seconds=1)).duplicate_of == first.alert_id


def _order(journal: Journal, alert_id: int, n: int, state: OrderState) -> None:
    journal.add_order(
        alert_id=alert_id,
        account_id=1,
        account_name="PRAC-1",
        contract_id="CON.F.US.MNQ.Z26",
        leg=Leg.ENTRY,
        action=Action.BUY,
        client_order_id=f"tvb-test-{alert_id}-{n}",
        state=state,
    )


@pytest.mark.parametrize("orders", [[], [OrderState.NOT_PLACED], [OrderState.NOT_PLACED] * 2])
def test_a_resend_of_an_alert_that_sent_nothing_is_executed(
    journal: Journal, orders: list[OrderState]
) -> None:
    # Behaviour changed on purpose (issue 11): a FAILED alert none of whose orders reached the
    # gateway no longer swallows its re-send.
    first = record(journal)
    for n, state in enumerate(orders):
        _order(journal, first.alert_id, n, state)
    journal.set_alert_status(first.alert_id, AlertStatus.FAILED, reason="gateway down", settled=True)

    resend = record(journal, at=T0 + timedelta(seconds=1))
    again = record(journal, at=T0 + timedelta(seconds=2))

    assert resend.duplicate_of is None
    assert again.duplicate_of == resend.alert_id  # the re-send now runs: its copies are duplicates


@pytest.mark.parametrize("state", [OrderState.ACCEPTED, OrderState.UNKNOWN, OrderState.SUBMITTING])
def test_a_resend_of_a_failed_alert_with_an_order_that_may_have_reached_the_gateway_is_a_duplicate(
    journal: Journal, state: OrderState
) -> None:
    first = record(journal)
    _order(journal, first.alert_id, 0, OrderState.NOT_PLACED)
    _order(journal, first.alert_id, 1, state)
    journal.set_alert_status(first.alert_id, AlertStatus.FAILED, reason="internal error", settled=True)

    assert record(journal, at=T0 + timedelta(seconds=1)).duplicate_of == first.alert_id


def test_set_alert_status_leaves_unset_columns(journal: Journal) -> None:
    alert_id = record(journal).alert_id
    journal.set_alert_status(
        alert_id, AlertStatus.UNKNOWN, reason="timeout", ticker="MNQ1!", contract_id="CON.F.US.MNQ.M25"
    )
    journal.set_alert_status(alert_id, AlertStatus.EXECUTED)

    alert = journal.get_alert(alert_id)
    assert alert is not None
    assert alert.status is AlertStatus.EXECUTED
    assert (alert.reason, alert.ticker, alert.contract_id) == ("timeout", "MNQ1!", "CON.F.US.MNQ.M25")
    assert alert.settled_at is None


def test_set_status_of_missing_alert_raises_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="alert 999"):
        journal.set_alert_status(999, AlertStatus.EXECUTED)


def test_recent_alerts_newest_first_and_by_strategy(journal: Journal) -> None:
    ids = [
        record(journal, strategy=s, dedupe_key=None, at=T0 + timedelta(seconds=i)).alert_id
        for i, s in enumerate(["a", "b", "a", "b", "a"])
    ]

    assert [a.id for a in journal.recent_alerts(limit=3)] == ids[:-4:-1]
    assert [a.id for a in journal.recent_alerts(strategy="a")] == [ids[4], ids[2], ids[0]]
