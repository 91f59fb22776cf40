"""OCO groups in the journal: made, moved through their states, joined by their orders."""

from __future__ import annotations

import pytest

from app.domain.enums import Action, Leg, OrderState
from app.errors import JournalError
from app.journal import Journal
from tests.journal.conftest import T0


def _group(journal: Journal, kind: str = "oco") -> tuple[int, int]:
    alert_id = journal.record_alert(strategy="mnq-oco", raw_body="{}", received_at=T0).alert_id
    group = journal.add_oco_group(
        alert_id=alert_id, account_id=70000001, contract_id="CON.F.US.MNQ.H26", kind=kind, policy="flatten"
    )
    return alert_id, group


def _order(journal: Journal, alert_id: int, tag: str, **row: object) -> int:
    return journal.add_order(
        alert_id=alert_id,
        account_id=70000001,
        account_name="SIM-AUTO-OCO",
        contract_id="CON.F.US.MNQ.H26",
        leg=Leg.ENTRY,
        action=Action.BUY,
        client_order_id=tag,
        **row,
    )


def test_a_group_starts_working_and_holds_its_orders(journal: Journal) -> None:
    alert_id, group = _group(journal)
    first = _order(journal, alert_id, "tvb-x-1-0", oco_group_id=group)
    second = _order(journal, alert_id, "tvb-x-1-1", oco_group_id=group)
    _order(journal, alert_id, "tvb-x-1-2")  # not in the group

    row = journal.oco_group(group)
    assert row is not None
    assert (row.kind, row.state, row.policy, row.alert_id) == ("oco", "working", "flatten", alert_id)
    assert [o.id for o in journal.oco_group_orders(group)] == [first, second]
    assert [g.id for g in journal.oco_groups("working")] == [group]


def test_a_finished_group_keeps_its_note_and_leaves_the_working_list(journal: Journal) -> None:
    _, group = _group(journal)

    journal.set_oco_group(group, "done", note="buy stop filled 1 → cancelled sell stop 3350000012")

    row = journal.oco_group(group)
    assert row is not None
    assert (row.state, row.note) == ("done", "buy stop filled 1 → cancelled sell stop 3350000012")
    assert row.updated_at >= row.created_at
    assert journal.oco_groups("working") == []
    assert [g.id for g in journal.oco_groups("done")] == [group]


def test_a_working_group_s_note_is_replaced_and_a_finished_one_s_never(journal: Journal) -> None:
    _, group = _group(journal, "scale_out")

    assert journal.set_working_group_note(group, 'scale-out plan {"best": "21505.25"}') is True
    row = journal.oco_group(group)
    assert row is not None and row.note == 'scale-out plan {"best": "21505.25"}'

    journal.set_oco_group(group, "done", note="flat: T1 filled 1")
    # a live stop move that read the group while it worked must not put its plan back
    assert journal.set_working_group_note(group, 'scale-out plan {"best": "21506"}') is False
    row = journal.oco_group(group)
    assert row is not None and (row.state, row.note) == ("done", "flat: T1 filled 1")


def test_an_existing_order_joins_a_group(journal: Journal) -> None:
    alert_id, group = _group(journal, "managed_bracket")
    entry = _order(journal, alert_id, "tvb-x-1-0", state=OrderState.ACCEPTED)

    journal.set_order_group(entry, group)

    assert [o.id for o in journal.oco_group_orders(group)] == [entry]
    with pytest.raises(JournalError, match="order_record 999 is not in the journal"):
        journal.set_order_group(999, group)


def test_unknown_kinds_states_and_groups_are_refused(journal: Journal) -> None:
    alert_id, group = _group(journal)

    with pytest.raises(ValueError, match="'pending' is not one of working, done, raced, failed"):
        journal.set_oco_group(group, "pending")
    with pytest.raises(ValueError, match="kind 'pair'"):
        journal.add_oco_group(alert_id=alert_id, account_id=1, contract_id="c", kind="pair", policy="keep")
    with pytest.raises(JournalError, match="oco_group 999 is not in the journal"):
        journal.set_oco_group(999, "done")
    assert journal.oco_group(999) is None
