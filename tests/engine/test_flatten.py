"""The kill switch's flatten against a hand-written gateway: order of calls, errors per account,
protection stood down first, everything journaled under a "(kill switch)" alert."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.enums import AlertStatus, Leg, OrderState, Side
from app.domain.models import Account, BrokerOrder, Position
from app.engine.accounts import AccountDirectory
from app.engine.flatten import KILL_SWITCH, Flattener
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.errors import OrderRejected
from app.journal import Journal
from tests.fakes import AUTO, OTHER, FakeGateway

MNQ, MES = "CON.F.US.MNQ.H26", "CON.F.US.MES.H26"


def working(broker_order_id: int, account_id: int = AUTO, **fields: Any) -> BrokerOrder:
    values: dict[str, Any] = {
        "contract_id": MNQ,
        "state": OrderState.WORKING,
        "order_type": "limit",
        "side": Side.BUY,
        "size": 1,
        "limit_price": Decimal("21400"),
        **fields,
    }
    return BrokerOrder(broker_order_id, account_id, **values)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(
        [Account(AUTO, "SIM-AUTO-OCO", Decimal(0), True), Account(OTHER, "SIM-OTHER", Decimal(0), True)]
    )


@pytest.fixture
def flattener(journal: Journal, gateway: FakeGateway) -> Flattener:
    runner = JournalRunner(journal)
    reconciler = Reconciler(gateway, runner, attempts=1, delay_s=0)
    return Flattener(
        gateway,
        runner,
        AccountDirectory(gateway),
        reconciler=reconciler,
        check_s=0.1,
    )


def hold(gateway: FakeGateway) -> None:
    """A working limit, a bracket's two legs and a position on AUTO; a position on OTHER."""
    gateway.orders[11] = working(11)
    gateway.orders[12] = working(
        12, side=Side.SELL, order_type="stop", stop_price=Decimal("21490"), limit_price=None
    )
    gateway.orders[13] = working(13, side=Side.SELL, limit_price=Decimal("21520"))
    gateway.positions[(AUTO, MNQ)] = Position(AUTO, MNQ, Side.BUY, 1, Decimal("21500.25"))
    gateway.positions[(OTHER, MES)] = Position(OTHER, MES, Side.SELL, 2, Decimal("6000.50"))


async def test_plan_lists_what_flatten_then_cancels_and_closes(
    flattener: Flattener, gateway: FakeGateway
) -> None:
    hold(gateway)

    plan = await flattener.plan([AUTO, OTHER])

    auto, other = plan.accounts
    assert (auto.account_name, [o.broker_order_id for o in auto.orders]) == ("SIM-AUTO-OCO", [11, 12, 13])
    assert [(p.contract_id, p.size) for p in auto.positions] == [(MNQ, 1)]
    assert (other.orders, [p.contract_id for p in other.positions]) == ((), [MES])
    assert not plan.empty and gateway.calls == []  # a plan sends nothing

    report = await flattener.flatten([AUTO, OTHER], by="test")

    assert [(a.cancelled, a.closed) for a in report.accounts] == [((11, 12, 13), (MNQ,)), ((), (MES,))]
    assert (await flattener.plan([AUTO, OTHER])).empty


async def test_flatten_cancels_every_order_before_closing_and_journals_it_all(
    flattener: Flattener, gateway: FakeGateway, journal: Journal
) -> None:
    hold(gateway)

    report = await flattener.flatten([OTHER, AUTO], by="web page 127.0.0.1")

    assert gateway.calls == [
        ("cancel", 11),
        ("cancel", 12),
        ("cancel", 13),
        ("close", (AUTO, MNQ)),  # every cancel first: no bracket leg can fill against a close
        ("close", (OTHER, MES)),
    ]
    assert report.ok and report.status == AlertStatus.EXECUTED
    assert gateway.working() == [] and gateway.positions == {}
    alert = journal.get_alert(report.alert_id)
    assert alert is not None and alert.strategy == KILL_SWITCH and alert.source_ip == "web page 127.0.0.1"
    assert alert.raw_body.startswith("flatten all requested by web page 127.0.0.1: ")
    assert alert.status == AlertStatus.EXECUTED and "Everything is flat." in (alert.reason or "")
    rows = journal.alert_orders(report.alert_id)
    assert sorted((r.leg, r.broker_order_id or r.contract_id, r.state) for r in rows) == sorted(
        [(Leg.CANCEL, n, OrderState.DONE) for n in (11, 12, 13)]
        + [(Leg.CLOSE, MNQ, OrderState.DONE), (Leg.CLOSE, MES, OrderState.DONE)]
    )
    assert all(
        journal.order_history(r.id or 0)[0].state == OrderState.SUBMITTING for r in rows
    )  # write-ahead
    [event] = [e for e in journal.events(alert_id=report.alert_id) if e.kind == "kill.flatten"]
    assert event.message == report.summary() and (event.data or {})["ok"] is True


async def test_working_oco_groups_are_marked_done_before_anything_is_sent(
    flattener: Flattener, gateway: FakeGateway, journal: Journal
) -> None:
    owner = journal.record_alert(strategy="mnq-oco", raw_body="{}", received_at=datetime.now(UTC)).alert_id
    mine = journal.add_oco_group(
        alert_id=owner, account_id=AUTO, contract_id=MNQ, kind="oco", policy="flatten"
    )
    other = journal.add_oco_group(
        alert_id=owner, account_id=99, contract_id=MNQ, kind="oco", policy="flatten"
    )
    gateway.orders[11] = working(11)
    at_sends: list[dict[int, str]] = []
    gateway.before_send = lambda: at_sends.append(
        {g.id or 0: g.state for s in ("working", "done") for g in journal.oco_groups(s)}
    )

    await flattener.flatten([AUTO], by="test")

    assert at_sends[0] == {mine: "done", other: "working"}
    mine_group, other_group = journal.oco_group(mine), journal.oco_group(other)
    assert mine_group is not None and other_group is not None
    assert (mine_group.state, mine_group.note) == ("done", "flattened by the kill switch")
    assert other_group.state == "working"  # not an account being flattened


async def test_an_order_already_gone_is_fine_and_a_refused_cancel_is_reported(
    flattener: Flattener, gateway: FakeGateway
) -> None:
    hold(gateway)
    gateway.cancel_errors[11] = OrderRejected(
        "Order/cancel failed: OrderNotFound (errorCode 2)",
        endpoint="Order/cancel",
        error_name="OrderNotFound",
    )
    refused = "Order/cancel failed: AccountRejected (errorCode 6): Live accounts not supported"
    gateway.cancel_errors[12] = OrderRejected(refused, endpoint="Order/cancel", error_name="AccountRejected")

    report = await flattener.flatten([AUTO, OTHER], by="test")

    auto, other = report.accounts
    assert auto.cancelled == (11, 13) and auto.closed == (MNQ,)
    assert [o.broker_order_id for o in auto.still_open_orders] == [12]
    assert len(auto.errors) == 1 and "cancel of order 12" in auto.errors[0] and refused in auto.errors[0]
    assert other.ok and not report.ok and report.status == AlertStatus.PARTIAL
    summary = report.summary()
    assert "STILL OPEN" in summary and "close it on the TopstepX platform" in summary and refused in summary


async def test_one_account_unreadable_does_not_stop_the_others(
    flattener: Flattener, gateway: FakeGateway, journal: Journal
) -> None:
    hold(gateway)
    gateway.unreadable.add(AUTO)

    report = await flattener.flatten([AUTO, OTHER], by="test")

    auto, other = report.accounts
    assert (auto.checked, auto.cancelled, auto.closed) == (False, (), ())
    assert any("gateway not reachable for account 70000001" in e for e in auto.errors)
    assert other.ok and other.closed == (MES,)
    assert report.status == AlertStatus.PARTIAL
    assert "NOT CHECKED" in report.summary()
    alert = journal.get_alert(report.alert_id)
    assert alert is not None and alert.status == AlertStatus.PARTIAL


async def test_flatten_with_nothing_open_is_a_noop_and_with_no_account_is_not_ok(
    flattener: Flattener, gateway: FakeGateway, journal: Journal
) -> None:
    report = await flattener.flatten([AUTO], by="test")
    assert report.ok and report.status == AlertStatus.NOOP and gateway.calls == []
    assert "nothing was open" in report.summary()

    nobody = await flattener.flatten([], by="test")
    assert not nobody.ok and nobody.status == AlertStatus.FAILED
    assert "no account to flatten" in nobody.summary()
    alert = journal.get_alert(nobody.alert_id)
    assert alert is not None and alert.status == AlertStatus.FAILED
