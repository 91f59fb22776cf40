"""OCO pairs and managed brackets against a hand-written gateway: fills, partial fills, races,
verification; every decision in the journal."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain import ids
from app.domain.enums import Leg, OrderState, OrderType, Side
from app.domain.events import OrderEvent
from app.domain.models import Alert, OrderRequest
from app.engine.accounts import AccountDirectory
from app.engine.events import EventApplier
from app.engine.execute import Executor
from app.engine.protection import Protection
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.journal.journal import Journal
from app.journal.tables import OrderRecord
from app.strategies import load_templates
from tests.fakes import MNQ, FakeGateway
from tests.helpers import eventually, journal_url

OCO = """\
description = "breakout"
kind = "oco"
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "MNQ1!"
[oco]
first = { action = "buy", type = "stop", stop_price = "21510", quantity = QTY }
second = { action = "sell", type = "stop", stop_price = "21490", quantity = QTY }
on_both_filled = "POLICY"
"""
MANAGED = """\
description = "managed"
[order]
accounts = ["SIM-POSITION-BRACKETS"]
ticker = "MNQ1!"
action = "buy"
quantity = 2
type = "limit"
limit_price = "21500"
[bracket]
mode = "managed"
stop_loss = { ticks = 40 }
take_profit = { ticks = 80 }
"""


@dataclass
class Bench:
    journal: Journal
    gateway: FakeGateway
    executor: Executor
    protection: Protection
    applier: EventApplier
    root: Path
    alerts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def run(self, text: str) -> int:
        """Execute one alert through a template; return the alert id."""
        (self.root / "t.toml").write_text(text)
        template = load_templates(self.root)["t"]
        alert_id = self.journal.record_alert(
            strategy="t", raw_body="{}", received_at=datetime.now(UTC)
        ).alert_id
        alert = Alert("t", "{}", {}, datetime.now(UTC), alert_id=alert_id)
        settlement = await self.executor.execute(alert, template)
        assert settlement.status.value == "executed", settlement.reason
        return alert_id

    async def deliver(self, event: OrderEvent) -> None:
        """What the bridge does with a hub event: journal it, then let protection act."""
        await self.applier.apply(event)
        await self.protection.on_event(event)

    def group(self, alert_id: int) -> Any:
        """The alert's only group as it is now (found by state, one query each, while protection
        may move it between two of them; so found by id, then read once more)."""
        states = ("working", "done", "raced", "failed")
        [group_id] = {g.id for s in states for g in self.journal.oco_groups(s) if g.alert_id == alert_id}
        assert group_id is not None
        return self.journal.oco_group(group_id)

    def order(self, account_id: int, tag: str) -> OrderRecord:
        """The journal's row of the order with ``tag`` (it must be there)."""
        row = self.journal.order_by_client_id(account_id, tag)
        assert row is not None, tag
        return row

    def events(self, alert_id: int) -> list[Any]:
        return list(reversed(self.journal.events(alert_id=alert_id)))

    def tag(self, alert_id: int, suffix: str) -> str:
        return f"tvb-{self.journal.instance}-{alert_id}-{suffix}"


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    journal = Journal(journal_url(tmp_path))
    journal.upgrade()
    runner = JournalRunner(journal)
    gateway = FakeGateway()
    accounts = AccountDirectory(gateway)
    applier = EventApplier(runner)
    reconciler = Reconciler(gateway, runner, attempts=1, delay_s=0, applier=applier)
    executor = Executor(gateway, runner, accounts, reconciler, instance=journal.instance)
    protection = Protection(gateway, runner, accounts, reconciler, applier, verify_s=0.3)
    templates = tmp_path / "templates"
    templates.mkdir()
    yield Bench(journal, gateway, executor, protection, applier, templates)
    journal.close()


def oco(quantity: int = 1, policy: str = "flatten") -> str:
    return OCO.replace("QTY", str(quantity)).replace("POLICY", policy)


async def test_a_full_fill_cancels_the_other_leg(bench: Bench) -> None:
    alert_id = await bench.run(oco())
    first, second = bench.tag(alert_id, "0"), bench.tag(alert_id, "1")
    assert bench.group(alert_id).state == "working"

    await bench.deliver(bench.gateway.fill(first, 1, "21510.25"))

    sell_stop = bench.gateway.by_tag(second).broker_order_id
    assert bench.gateway.cancels == [sell_stop]
    group = bench.group(alert_id)
    assert (group.state, group.note) == ("done", f"buy stop filled 1 → cancelled sell stop {sell_stop}")
    rows = {o.client_order_id: o for o in bench.journal.oco_group_orders(group.id)}
    assert (rows[first].state, rows[second].state) == (OrderState.FILLED, OrderState.CANCELLED)
    kinds = [e.kind for e in bench.events(alert_id)]
    assert kinds == ["oco.placed", "oco.cancel", "oco.done"]
    done = bench.events(alert_id)[-1]
    assert done.data["oco_group_id"] == group.id and {
        leg["client_order_id"] for leg in done.data["legs"]
    } == {
        first,
        second,
    }
    await bench.deliver(bench.gateway.fill(first, 1, "21510.25"))  # the same report again
    assert bench.gateway.cancels == [sell_stop]  # nothing sent twice


async def test_a_partial_fill_shrinks_the_other_leg_by_the_filled_size(bench: Bench) -> None:
    alert_id = await bench.run(oco(quantity=3))
    first, second = bench.tag(alert_id, "0"), bench.tag(alert_id, "1")
    sell_stop = bench.gateway.by_tag(second).broker_order_id

    await bench.deliver(bench.gateway.fill(first, 1, "21510.25"))

    assert bench.gateway.modifies == [(sell_stop, 2)] and bench.gateway.cancels == []
    assert bench.group(alert_id).state == "working"
    await bench.deliver(bench.gateway.fill(first, 3, "21510.25"))

    assert bench.gateway.modifies == [(sell_stop, 2)] and bench.gateway.cancels == [sell_stop]
    assert bench.group(alert_id).state == "done"
    assert "resized 3 → 2" in [e for e in bench.events(alert_id) if e.kind == "oco.modify"][0].message


@pytest.mark.parametrize("policy", ["flatten", "keep"])
async def test_both_legs_filled_in_a_race_follow_the_policy(bench: Bench, policy: str) -> None:
    alert_id = await bench.run(oco(policy=policy))
    first, second = bench.tag(alert_id, "0"), bench.tag(alert_id, "1")
    buy = bench.gateway.fill(first, 1, "21510.25")
    sell = bench.gateway.fill(second, 1, "21489.75")  # filled before the cancel could land

    await bench.deliver(buy)
    await bench.deliver(sell)

    group = bench.group(alert_id)
    assert group.state == "raced"
    flattens = [r for r in bench.gateway.requests if r.client_order_id.endswith("-FL")]
    [raced] = [e for e in bench.events(alert_id) if e.kind == "oco.raced"]
    assert raced.level == "critical"
    if policy == "flatten":
        # the later leg (the sell) is taken back: buy 1 at market
        assert [(r.client_order_id, r.side, r.order_type, r.size) for r in flattens] == [
            (f"{second}-FL", Side.BUY, OrderType.MARKET, 1)
        ]
        assert "took back 1 of the later sell stop" in group.note
    else:
        assert flattens == [] and "kept (on_both_filled = keep)" in group.note


async def test_a_managed_bracket_is_placed_on_the_fill_and_sized_to_it(bench: Bench) -> None:
    alert_id = await bench.run(MANAGED)
    entry = bench.tag(alert_id, "0")
    assert bench.gateway.requests[0].bracket is None  # no native bracket on the wire

    await bench.deliver(bench.gateway.fill(entry, 1, "21500.00"))  # a partial fill: legs for 1

    stop_loss, take_profit = bench.gateway.by_tag(f"{entry}-MSL"), bench.gateway.by_tag(f"{entry}-MTP")
    assert (stop_loss.side, stop_loss.order_type, stop_loss.size, stop_loss.stop_price) == (
        Side.SELL,
        "stop",
        1,
        Decimal("21490.00"),
    )
    assert (take_profit.order_type, take_profit.size, take_profit.limit_price) == (
        "limit",
        1,
        Decimal("21520.00"),
    )
    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))  # the rest: both legs grow to 2

    assert sorted(bench.gateway.modifies) == sorted(
        [(stop_loss.broker_order_id, 2), (take_profit.broker_order_id, 2)]
    )

    async def verified() -> bool:
        return any(e.kind == "bracket.verified" for e in bench.events(alert_id))

    await eventually(verified, timeout_s=2)
    await bench.deliver(bench.gateway.fill(f"{entry}-MTP", 2, "21520.00"))

    assert bench.gateway.cancels == [stop_loss.broker_order_id]
    group = bench.group(alert_id)
    assert (group.kind, group.state) == ("managed_bracket", "done")
    assert group.note == f"take_profit filled 2 → cancelled stop_loss {stop_loss.broker_order_id}"
    legs = {o.leg: o for o in bench.journal.oco_group_orders(group.id)}
    assert legs[Leg.STOP_LOSS].parent_id == legs[Leg.ENTRY].id


async def test_a_managed_bracket_not_working_in_time_closes_the_fill(bench: Bench) -> None:
    alert_id = await bench.run(MANAGED)
    entry = bench.tag(alert_id, "0")
    bench.gateway.placed_state = OrderState.PENDING  # the legs never start working

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))

    async def failed() -> Any:  # the group's state is written first, then its event
        critical = [e for e in bench.events(alert_id) if e.level == "critical"]
        return bench.group(alert_id).state == "failed" and critical

    await eventually(failed, timeout_s=3)
    legs = [bench.gateway.by_tag(f"{entry}-MSL"), bench.gateway.by_tag(f"{entry}-MTP")]
    assert sorted(bench.gateway.cancels) == sorted(o.broker_order_id for o in legs)
    close = bench.gateway.requests[-1]
    assert (close.client_order_id, close.side, close.order_type, close.size) == (
        f"{entry}-FL",
        Side.SELL,
        OrderType.MARKET,
        2,
    )
    [critical] = [e for e in bench.events(alert_id) if e.level == "critical"]
    assert critical.kind == "oco.failed" and "not working within 0.3 s" in critical.message
    assert f"closed 2 contract(s) with {entry}-FL" in critical.message


async def test_a_refused_managed_take_profit_is_a_critical_event_and_the_stop_loss_stays(
    bench: Bench,
) -> None:
    alert_id = await bench.run(MANAGED)
    entry = bench.tag(alert_id, "0")
    bench.gateway.refused_tags = ("-MTP",)

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))

    [missing] = [e for e in bench.events(alert_id) if e.kind == "bracket.take_profit_missing"]
    assert missing.level == "critical" and f"{entry}-MTP is REJECTED" in missing.message
    stop_loss = bench.gateway.by_tag(f"{entry}-MSL")
    assert (stop_loss.state, stop_loss.size) == (OrderState.WORKING, 2)
    assert bench.group(alert_id).state == "working"  # the position is open and protected
    assert bench.gateway.cancels == [] and not [
        r for r in bench.gateway.requests if r.order_type is OrderType.MARKET
    ]


async def test_resume_places_a_managed_stop_loss_that_never_reached_the_gateway(bench: Bench) -> None:
    alert_id = await bench.run(MANAGED)
    entry = bench.tag(alert_id, "0")
    bench.gateway.fill(entry, 2, "21500.00")  # filled while nobody listened
    group = bench.group(alert_id)
    # the killed run wrote the stop loss's row, then died before sending it
    bench.journal.add_order(
        alert_id=alert_id,
        account_id=70000002,
        account_name="SIM-POSITION-BRACKETS",
        contract_id=MNQ.contract_id,
        leg=Leg.STOP_LOSS,
        action="buy",
        side=Side.SELL,
        order_type=OrderType.STOP,
        size=2,
        client_order_id=f"{entry}-MSL",
        parent_id=bench.order(70000002, entry).id,
        oco_group_id=group.id,
        stop_loss_ticks=40,
    )
    restarted = Protection(
        bench.gateway,
        bench.protection.runner,
        bench.protection.accounts,
        bench.protection.reconciler,
        EventApplier(bench.protection.runner),
        verify_s=0.3,
    )

    await restarted.resume()

    stop_loss = bench.gateway.by_tag(f"{entry}-MSL2")  # a new tag: the first one is spent
    assert (stop_loss.side, stop_loss.size, stop_loss.stop_price) == (Side.SELL, 2, Decimal("21490.00"))
    assert bench.gateway.by_tag(f"{entry}-MTP").size == 2
    assert bench.order(70000002, f"{entry}-MSL").state == OrderState.NOT_PLACED
    assert bench.group(alert_id).state == "working"
    [restored] = [e for e in bench.events(alert_id) if e.kind == "bracket.managed_restored"]
    assert restored.level == "warning"

    # The first stop loss turns up on the gateway after all (it was in flight): two stops for
    # one position, so the older one is cancelled.
    late = await bench.gateway.place_order(
        OrderRequest(70000002, MNQ.contract_id, Side.SELL, OrderType.STOP, 2, f"{entry}-MSL")
    )
    event = bench.gateway.update(late)
    await bench.applier.apply(event)  # the bridge journals an event, then protection acts
    await restarted.on_event(event)

    assert bench.gateway.cancels == [late]
    assert bench.gateway.orders[stop_loss.broker_order_id].state == OrderState.WORKING
    assert [e.kind for e in bench.events(alert_id)].count("bracket.duplicate_leg") == 1


async def test_a_native_bracket_not_seen_after_the_fill_falls_back_to_managed_protection(
    bench: Bench,
) -> None:
    native = MANAGED.replace('mode = "managed"', 'mode = "native"').replace(
        "SIM-POSITION-BRACKETS", "SIM-AUTO-OCO"
    )
    alert_id = await bench.run(native)
    entry = bench.tag(alert_id, "0")
    assert bench.gateway.requests[0].bracket is not None  # sent as a native bracket
    # This gateway never shows the -SL/-TP children: the entry is unprotected once it fills.

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))

    async def protected() -> bool:
        events = bench.events(alert_id)
        placed = {o.client_order_id for o in bench.gateway.orders.values()}
        # the event is journaled before the managed legs are sent: wait for both
        return {f"{entry}-MSL", f"{entry}-MTP"} <= placed and any(
            e.kind == "bracket.native_missing" and e.level == "critical" for e in events
        )

    await eventually(protected, timeout_s=3)
    stop_loss, take_profit = bench.gateway.by_tag(f"{entry}-MSL"), bench.gateway.by_tag(f"{entry}-MTP")
    assert (stop_loss.side, stop_loss.size, stop_loss.stop_price) == (Side.SELL, 2, Decimal("21490.00"))
    assert (take_profit.side, take_profit.size, take_profit.limit_price) == (
        Side.SELL,
        2,
        Decimal("21520.00"),
    )
    group = bench.group(alert_id)
    assert group.kind == "managed_bracket" and "native bracket not seen" in (group.note or "")


async def test_resume_acts_on_a_fill_that_happened_while_the_bridge_was_down(bench: Bench) -> None:
    alert_id = await bench.run(oco())
    first, second = bench.tag(alert_id, "0"), bench.tag(alert_id, "1")
    bench.gateway.fill(first, 1, "21510.25")  # nobody listening
    restarted = Protection(
        bench.gateway,
        bench.protection.runner,
        bench.protection.accounts,
        bench.protection.reconciler,
        EventApplier(bench.protection.runner),
        verify_s=0.3,
    )

    await restarted.resume()

    assert bench.gateway.cancels == [bench.gateway.by_tag(second).broker_order_id]
    assert bench.group(alert_id).state == "done"
    assert bench.order(70000001, first).state == OrderState.FILLED


def test_managed_and_flatten_tags_are_ours() -> None:
    entry = ids.client_order_id("abc123", 41, 0)
    tags = [ids.managed_stop_loss_tag(entry), ids.managed_take_profit_tag(entry), ids.flatten_tag(entry)]

    assert tags == ["tvb-abc123-41-0-MSL", "tvb-abc123-41-0-MTP", "tvb-abc123-41-0-FL"]
    assert ids.managed_stop_loss_tag(entry, 2) == "tvb-abc123-41-0-MSL2" and ids.is_ours(
        tags[0] + "2", "abc123"
    )
    assert all(ids.is_ours(tag, "abc123") for tag in [*tags, ids.flatten_tag(ids.stop_loss_tag(entry))])
    assert not ids.is_ours("tvb-abc123-41-0-XX", "abc123") and not ids.is_ours(tags[0], "zzz999")
