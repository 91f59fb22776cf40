"""The notices about protection, against a hand-written gateway: a position without a working stop
loss is reported once (UNPROTECTED), and its return (PROTECTED, same key) once, only after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.domain.enums import Leg, OrderState, OrderType, Side
from app.domain.models import Alert
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.engine.accounts import AccountDirectory
from app.engine.events import EventApplier
from app.engine.execute import Executor
from app.engine.protection import Protection
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.journal.journal import Journal
from app.strategies import load_templates
from tests.engine.test_protection import MANAGED, Bench
from tests.fakes import MNQ, FakeGateway, RecordingNotifier
from tests.helpers import eventually, journal_url

NATIVE = MANAGED.replace('mode = "managed"', 'mode = "native"').replace(
    "SIM-POSITION-BRACKETS", "SIM-AUTO-OCO"
)


def seen(notifier: RecordingNotifier, kind: NoticeKind) -> Callable[[], Awaitable[list[Notice]]]:
    """For ``eventually``: the notices of ``kind`` so far (empty: not yet)."""

    async def check() -> list[Notice]:
        return notifier.of(kind)

    return check


class NoticeBench(Bench):
    notifier: RecordingNotifier

    async def run_as(self, text: str, strategy: str) -> int:
        (self.root / f"{strategy}.toml").write_text(text)
        template = load_templates(self.root)[strategy]
        alert_id = self.journal.record_alert(
            strategy=strategy, raw_body="{}", received_at=datetime.now(UTC)
        ).alert_id
        alert = Alert(strategy, "{}", {}, datetime.now(UTC), alert_id=alert_id)
        settlement = await self.executor.execute(alert, template)
        assert settlement.status.value == "executed", settlement.reason
        return alert_id

    def protection_again(self) -> Protection:
        """A new Protection on the same journal and gateway (the bridge after a restart)."""
        runner = self.protection.runner
        return Protection(
            self.gateway,
            runner,
            self.protection.accounts,
            self.protection.reconciler,
            EventApplier(runner),
            verify_s=0.3,
            notifier=self.notifier,
        )


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[NoticeBench]:
    journal = Journal(journal_url(tmp_path))
    journal.upgrade()
    runner = JournalRunner(journal)
    gateway = FakeGateway()
    notifier = RecordingNotifier()
    accounts = AccountDirectory(gateway)
    applier = EventApplier(runner)
    reconciler = Reconciler(gateway, runner, attempts=1, delay_s=0, applier=applier)
    executor = Executor(gateway, runner, accounts, reconciler, instance=journal.instance, notifier=notifier)
    protection = Protection(gateway, runner, accounts, reconciler, applier, verify_s=0.3, notifier=notifier)
    templates = tmp_path / "templates"
    templates.mkdir()
    made = NoticeBench(journal, gateway, executor, protection, applier, templates)
    made.notifier = notifier
    yield made
    journal.close()


async def test_a_native_bracket_not_seen_is_unprotected_once_then_protected_once(bench: NoticeBench) -> None:
    alert_id = await bench.run_as(NATIVE, "mnq-native")
    entry = bench.tag(alert_id, "0")

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))  # its -SL/-TP never show

    [lost] = await eventually(seen(bench.notifier, NoticeKind.UNPROTECTED), timeout_s=3)
    assert lost.severity == NoticeLevel.CRITICAL
    assert lost.title == "No stop loss on SIM-AUTO-OCO: long 2 MNQH6"
    assert (lost.account, lost.strategy, lost.contract) == ("SIM-AUTO-OCO", "mnq-native", "MNQH6")
    assert f"entry {entry} filled 2 but its native stop loss / take profit were not seen" in lost.body
    assert "`tvbridge flatten`" in lost.body

    # The bridge's own legs are placed and seen working: protected again, same key.
    [back] = await eventually(seen(bench.notifier, NoticeKind.PROTECTED), timeout_s=3)
    assert back.key == lost.key and back.account == "SIM-AUTO-OCO"
    assert "working again on the gateway: stop_loss 21490.00 × 2, take_profit 21520.00 × 2" in back.body

    # Another look (a reconnect's resume, more events) reports nothing new.
    await bench.protection.resume()
    await bench.deliver(bench.gateway.update(bench.gateway.by_tag(f"{entry}-MSL").broker_order_id))
    assert len(bench.notifier.of(NoticeKind.UNPROTECTED)) == 1
    assert len(bench.notifier.of(NoticeKind.PROTECTED)) == 1


async def test_a_managed_bracket_that_fails_and_closes_is_one_warning_and_no_protected(
    bench: NoticeBench,
) -> None:
    alert_id = await bench.run_as(MANAGED, "mnq-managed")
    entry = bench.tag(alert_id, "0")
    bench.gateway.placed_state = OrderState.PENDING  # the legs never start working

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))

    [failed] = await eventually(seen(bench.notifier, NoticeKind.UNPROTECTED), timeout_s=3)
    assert failed.severity == NoticeLevel.WARNING  # taken back: the close was accepted
    assert failed.title == "No stop loss on SIM-POSITION-BRACKETS: long 2 MNQH6"
    assert (
        "not working within 0.3 s" in failed.body and f"closed 2 contract(s) with {entry}-FL" in failed.body
    )
    assert failed.key.endswith(":failed")
    await bench.protection.resume()
    assert len(bench.notifier.of(NoticeKind.UNPROTECTED)) == 1
    assert bench.notifier.of(NoticeKind.PROTECTED) == []


async def test_a_refused_managed_stop_loss_is_rejected_critical_and_unprotected(bench: NoticeBench) -> None:
    alert_id = await bench.run_as(MANAGED, "mnq-managed")
    entry = bench.tag(alert_id, "0")
    bench.gateway.refused_tags = ("-MSL",)

    await bench.deliver(bench.gateway.fill(entry, 2, "21500.00"))

    [rejected] = bench.notifier.of(NoticeKind.ORDER_REJECTED)
    assert rejected.severity == NoticeLevel.CRITICAL
    assert rejected.title == "Order rejected on SIM-POSITION-BRACKETS: stop loss sell 2 MNQH6 stop @ 21490.00"
    assert "Check the position in MNQH6 on SIM-POSITION-BRACKETS" in rejected.body
    unprotected = await eventually(seen(bench.notifier, NoticeKind.UNPROTECTED), timeout_s=3)
    assert unprotected[0].severity == NoticeLevel.CRITICAL
    assert "stop loss 21490.00 × 2 REJECTED" in unprotected[0].body
    assert len(bench.notifier.of(NoticeKind.ORDER_REJECTED)) == 1  # once per order row


async def test_a_stop_loss_restored_after_a_restart_is_protected_once(bench: NoticeBench) -> None:
    alert_id = await bench.run_as(MANAGED, "mnq-managed")
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
    restarted = bench.protection_again()

    await restarted.resume()

    [back] = await eventually(seen(bench.notifier, NoticeKind.PROTECTED), timeout_s=3)
    assert back.account == "SIM-POSITION-BRACKETS" and back.strategy == "mnq-managed"
    assert back.title == "Protected again on SIM-POSITION-BRACKETS: MNQH6"
    await restarted.resume()
    assert len(bench.notifier.of(NoticeKind.PROTECTED)) == 1
