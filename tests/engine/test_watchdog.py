"""The unreachable alarm and what the last shutdown left open, with hand-written fakes and a
clock the test moves: the alarm waits for ``alarm_s``, needs an open position on a followed
account, is logged and journaled at start and end, and repeats its ERROR every 5 minutes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.events import PositionEvent
from app.domain.models import Account
from app.engine.runner import JournalRunner
from app.engine.shutdown import SHUTDOWN_EVENT, Held
from app.engine.watchdog import ALARM_CLEARED_EVENT, ALARM_EVENT, UNSURE_S, Watchdog
from app.gateway.hub import HubState
from app.journal import Journal
from tests.fakes import FakeGateway
from tests.helpers import eventually

AUTO, OTHER = 70000001, 70000002
MNQ = "CON.F.US.MNQ.H26"
T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeHub:
    connected: bool = True

    @property
    def state(self) -> HubState:
        return HubState(self.connected, T0 if self.connected else None, None, 0, None)


def hold(journal: Journal, size: int = 1, account_id: int = AUTO) -> None:
    side = Side.BUY if size else None
    journal.set_position(PositionEvent(account_id, MNQ, side, size, Decimal("21500.25") if size else None))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def watchdog_on(
    journal: Journal, clock: Clock, hub: FakeHub | None, gateway: FakeGateway | None, **kwargs: Any
) -> Watchdog:
    journal.set_account(Account(AUTO, "SIM-AUTO-OCO", Decimal(50000), True))
    return Watchdog(JournalRunner(journal), gateway, hub, lambda: {AUTO}, alarm_s=60, clock=clock, **kwargs)


def kinds(journal: Journal) -> list[str]:
    return [e.kind for e in reversed(journal.events()) if e.kind.startswith("alarm.")]


async def test_a_hub_down_longer_than_alarm_s_with_a_position_open_raises_logs_and_clears(
    journal: Journal, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engine.watchdog")
    hub = FakeHub()
    watchdog = watchdog_on(journal, clock, hub, FakeGateway())
    hold(journal)
    await watchdog.check()  # connected: seen now
    hub.connected = False
    clock.advance(59)
    await watchdog.check()
    assert watchdog.alarm is None  # not yet alarm_s

    clock.advance(1)
    await watchdog.check()

    alarm = watchdog.alarm
    assert alarm is not None and alarm.since == T0
    assert "the User Hub disconnected since 2026-03-02 14:00:00 UTC" in alarm.message
    assert "position long 1 CON.F.US.MNQ.H26 @ 21500.25 on SIM-AUTO-OCO" in alarm.message
    assert "check the internet connection" in alarm.message and "manage them on the platform" in alarm.message
    assert alarm.data()["positions"][0]["account_name"] == "SIM-AUTO-OCO"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [alarm.message]
    assert kinds(journal) == [ALARM_EVENT]

    clock.advance(299)
    await watchdog.check()
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # once, until 5 min
    clock.advance(1)
    await watchdog.check()
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2  # again after 5 min
    assert kinds(journal) == [ALARM_EVENT]  # journaled once

    hub.connected = True
    await watchdog.check()

    assert watchdog.alarm is None
    cleared = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(cleared) == 1 and "answer again" in cleared[0].getMessage()
    assert kinds(journal) == [ALARM_EVENT, ALARM_CLEARED_EVENT]


async def test_a_failing_gateway_alarms_but_only_with_a_position_open_on_a_followed_account(
    journal: Journal, clock: Clock
) -> None:
    gateway = FakeGateway(failing_since=T0)
    watchdog = watchdog_on(journal, clock, None, gateway)  # no hub: no hub check
    clock.advance(120)
    hold(journal, account_id=OTHER)  # not followed

    await watchdog.check()
    assert watchdog.alarm is None

    hold(journal)
    await watchdog.check()
    alarm = watchdog.alarm
    assert alarm is not None and [what for what, _ in alarm.unreachable] == ["the gateway not answering"]

    hold(journal, 0)  # closed on the platform, the hub reported it flat
    await watchdog.check()
    assert watchdog.alarm is None
    cleared = journal.latest_event(ALARM_CLEARED_EVENT)
    assert cleared is not None and "no position is open any more" in cleared.message


async def test_a_gateway_answering_again_clears_and_a_gateway_without_failing_since_never_alarms(
    journal: Journal, clock: Clock
) -> None:
    gateway = FakeGateway(failing_since=T0)
    watchdog = watchdog_on(journal, clock, FakeHub(), gateway)
    hold(journal)
    clock.advance(61)
    await watchdog.check()
    assert watchdog.alarm is not None

    gateway.failing_since = None
    await watchdog.check()
    assert watchdog.alarm is None

    plain = watchdog_on(journal, clock, None, FakeGateway())  # the simulator's: never failing_since
    clock.advance(3600)
    await plain.check()
    assert plain.alarm is None


async def test_the_loop_checks_every_interval_and_stops(journal: Journal) -> None:
    hub = FakeHub(connected=False)
    hold(journal)
    watchdog = Watchdog(JournalRunner(journal), None, hub, lambda: [AUTO], alarm_s=0.05, interval_s=0.01)
    watchdog.start()

    async def raised() -> bool:
        return watchdog.alarm is not None

    await eventually(raised, timeout_s=2)
    hub.connected = True

    async def cleared() -> bool:
        return watchdog.alarm is None

    await eventually(cleared, timeout_s=2)
    await watchdog.stop()
    assert watchdog._task is None


def shutdown_event(journal: Journal, *items: Held, flatten: object = None) -> None:
    data = {
        "on_shutdown": "warn",
        "positions": [h.data() for h in items if h.kind == "position"],
        "orders": [h.data() for h in items if h.kind == "order"],
        "journal_view": [],
        "flatten": flatten,
    }
    journal.add_event(SHUTDOWN_EVENT, "stopping with …", level="warning", data=data)


POSITION = Held("position", AUTO, "SIM-AUTO-OCO", MNQ, "long", 1, "21500.25")


def journaled_order(journal: Journal, broker_order_id: int, state: OrderState) -> Held:
    entry = journal.record_alert(strategy="mnq-limit", raw_body="{}", received_at=T0, source_ip="test")
    journal.add_order(
        alert_id=entry.alert_id,
        account_id=AUTO,
        account_name="SIM-AUTO-OCO",
        contract_id=MNQ,
        leg=Leg.ENTRY,
        action=Action.BUY,
        side=Side.BUY,
        size=1,
        limit_price=Decimal("21400"),
        broker_order_id=broker_order_id,
        state=state,
    )
    return Held("order", AUTO, "SIM-AUTO-OCO", MNQ, "buy", 1, "21400", "limit", broker_order_id)


async def test_what_the_last_shutdown_left_open_shows_until_the_journal_shows_it_closed(
    journal: Journal, clock: Clock
) -> None:
    order = journaled_order(journal, 3350000001, OrderState.WORKING)
    shutdown_event(journal, POSITION, order)
    hold(journal)
    watchdog = watchdog_on(
        journal, clock, FakeHub(), None, last_shutdown=journal.latest_event(SHUTDOWN_EVENT)
    )

    await watchdog.check()
    left = watchdog.left_open
    assert left is not None and left.held == (POSITION, order) and not left.flattened
    assert "left 1 open position and 1 working order at the broker" in left.message

    hold(journal, 0)
    await watchdog.check()
    assert watchdog.left_open is not None and watchdog.left_open.held == (order,)

    [row] = journal.orders_in_states([OrderState.WORKING])
    assert row.id is not None
    journal.update_order(row.id, state=OrderState.CANCELLED)
    await watchdog.check()
    assert watchdog.left_open is None

    hold(journal)  # a new position in the same contract is not the one left open
    await watchdog.check()
    assert watchdog.left_open is None


async def test_an_order_the_journal_cannot_tell_about_counts_for_the_first_hour(
    journal: Journal, clock: Clock
) -> None:
    unknown = Held("order", AUTO, "SIM-AUTO-OCO", MNQ, "sell", 1, "21600", "limit", 999)  # no row
    shutdown_event(journal, unknown, flatten={"ok": False, "error": "timed out"})
    watchdog = watchdog_on(
        journal, clock, FakeHub(), None, last_shutdown=journal.latest_event(SHUTDOWN_EVENT)
    )

    await watchdog.check()
    assert watchdog.left_open is not None and watchdog.left_open.flattened

    clock.advance(UNSURE_S)
    await watchdog.check()
    assert watchdog.left_open is None


async def test_a_shutdown_that_left_nothing_open_shows_no_banner(journal: Journal, clock: Clock) -> None:
    shutdown_event(journal)
    hold(journal)
    watchdog = watchdog_on(
        journal, clock, FakeHub(), None, last_shutdown=journal.latest_event(SHUTDOWN_EVENT)
    )
    await watchdog.check()
    assert watchdog.left_open is None
