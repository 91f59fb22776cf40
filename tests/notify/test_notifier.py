"""The notifier: sends through Apprise's json:// to a local receiver, off the caller's path; a dead
or hung target holds only itself; retries, then a recorded failure; full queues drop; stop drains."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import time
from typing import Any

import pytest

from app.config import NotifySettings
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.notify.notifier import AppriseNotifier
from app.notify.outcome import Outcome, Status
from tests.helpers import eventually, free_port
from tests.notify_receiver import Receiver


def notice(kind: NoticeKind = NoticeKind.LOCKOUT, *, key: str = "", title: str = "", **fields: Any) -> Notice:
    return Notice(
        kind=kind,
        title=title or f"{kind} on 50KTC-V2-1234",
        body=f"Account 50KTC-V2-1234, strategy mnq-trend, MNQZ6: {kind}. Do this.",
        key=key,
        **fields,
    )


class Records:
    """The ``record`` callback: keeps every Outcome."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    async def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def of(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is status]

    async def wait_for(self, status: Status, count: int = 1) -> list[Outcome]:
        async def settled() -> list[Outcome]:
            found = self.of(status)
            assert len(found) >= count, self.outcomes
            return found

        return await eventually(settled, timeout_s=10)


@asynccontextmanager
async def running(urls: list[str], **settings: Any) -> AsyncIterator[tuple[AppriseNotifier, Records]]:
    records = Records()
    first_wait_s = settings.pop("first_wait_s", 0.01)
    local_clock = settings.pop("local_clock", lambda: time(12, 0))
    notifier = AppriseNotifier(
        NotifySettings.model_validate({"urls": urls, "timeout_s": 5, **settings}),
        record=records,
        first_wait_s=first_wait_s,
        local_clock=local_clock,
    )
    notifier.start()
    try:
        yield notifier, records
    finally:
        await notifier.stop(drain_s=1)


@contextmanager
def another_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


async def test_a_notice_arrives_with_its_title_body_and_level(notify_receiver: Receiver) -> None:
    async with running([notify_receiver.url]) as (notifier, records):
        notifier.notify(notice(NoticeKind.UNPROTECTED))
        assert notify_receiver.attempts == 0  # notify() only queued it: nothing was sent inline

        [message] = await notify_receiver.wait_for(1)
        [sent] = await records.wait_for(Status.SENT)

    assert message.title == "position.unprotected on 50KTC-V2-1234"
    assert "strategy mnq-trend, MNQZ6" in message.body and "Do this." in message.body
    assert message.type == "failure"  # critical
    assert (sent.kind, sent.level, sent.target, sent.attempts) == (
        "position.unprotected",
        "critical",
        notify_receiver.url,
        1,
    )
    assert notifier.stats()["sent"] == 1


async def test_the_same_condition_is_sent_once_per_window_and_its_repeats_journaled_once(
    notify_receiver: Receiver,
) -> None:
    async with running([notify_receiver.url], dedupe_s=600) as (notifier, records):
        for _ in range(3):
            notifier.notify(notice(key="50KTC-V2-1234|MNQZ6"))
        notifier.notify(notice(key="50KTC-V2-9999|MNQZ6"))  # another account: another condition

        await notify_receiver.wait_for(2)
        duplicates = await records.wait_for(Status.DUPLICATE, 1)
        await records.wait_for(Status.SENT, 2)

    assert len(notify_receiver.received()) == 2
    assert [r.status for r in records.outcomes].count(Status.DUPLICATE) == 1  # the second: counted only
    assert duplicates[0].detail == "sent less than 600 s ago (later repeats only counted)"
    assert notifier.stats()["duplicate"] == 2 and notifier.stats()["dropped"] == 2


async def test_a_notice_from_another_thread_arrives(notify_receiver: Receiver) -> None:
    async with running([notify_receiver.url]) as (notifier, _):
        await asyncio.to_thread(notifier.notify, notice())

        await notify_receiver.wait_for(1)


async def test_dead_and_hung_targets_hold_neither_notify_nor_the_other_target(
    notify_receiver: Receiver,
) -> None:
    refused = f"json://127.0.0.1:{free_port()}/"
    with another_receiver() as hung:
        hung.set_mode("hang")
        async with running([refused, hung.url, notify_receiver.url], timeout_s=30) as (notifier, records):
            for n in range(3):
                notifier.notify(notice(key=str(n)))
            assert hung.attempts == notify_receiver.attempts == 0  # nothing waited for in notify()

            await notify_receiver.wait_for(3)
            # All three arrived while the hung target still holds its first send.
            assert hung.hanging == 1 and hung.attempts == 1
            assert notifier.stats()["queued"] >= 3  # the hung one's lane: 1 in flight + 2 waiting
            hung.set_mode("ok")  # let it go, so stop() does not wait
    assert [o.target for o in records.of(Status.SENT)][:3] == [notify_receiver.url] * 3


async def test_a_failing_target_is_tried_again_then_the_failure_is_recorded(
    notify_receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    notify_receiver.set_mode("fail")
    async with running([notify_receiver.url], retries=2) as (notifier, records):
        notifier.notify(notice(NoticeKind.HUB_LOST))

        [failed] = await records.wait_for(Status.FAILED)

    assert notify_receiver.attempts == 3 and failed.attempts == 3
    assert "error=500" in failed.detail
    assert notifier.stats()["failed"] == 1
    [line] = [r.getMessage() for r in caplog.records if "tries)" in r.getMessage()]
    assert f"to {notify_receiver.url} failed (3 tries)" in line


async def test_retries_succeed_when_the_target_comes_back(notify_receiver: Receiver) -> None:
    notify_receiver.set_mode("fail")
    async with running([notify_receiver.url], retries=3, first_wait_s=0.3) as (notifier, records):
        notifier.notify(notice())
        await notify_receiver.wait_for_attempts(1)
        notify_receiver.set_mode("ok")

        [sent] = await records.wait_for(Status.SENT)

    assert sent.attempts >= 2 and len(notify_receiver.received()) == 1


async def test_a_full_queue_drops_counts_and_logs_and_journals_once(
    notify_receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    notify_receiver.set_mode("hang")
    async with running([notify_receiver.url], queue_size=1, timeout_s=30) as (notifier, records):
        notifier.notify(notice(key="1"))
        await notify_receiver.wait_for_attempts(1)  # the first is being sent (hung)
        for n in range(2, 6):
            notifier.notify(notice(key=str(n)))  # the second waits; 3, 4, 5 find the queue full

        dropped = await records.wait_for(Status.QUEUE_FULL, 1)

        async def all_three_counted() -> bool:
            return notifier.stats()["queue_full"] == 3

        await eventually(all_three_counted)
        notify_receiver.set_mode("ok")

    assert len([r for r in records.outcomes if r.status is Status.QUEUE_FULL]) == 1  # the rest counted
    assert notifier.stats()["queue_full"] == 3
    assert dropped[0].target == notify_receiver.url
    lines = [r.getMessage() for r in caplog.records if "are dropped" in r.getMessage()]
    assert len(lines) == 1


async def test_quiet_hours_drop_all_but_critical(notify_receiver: Receiver) -> None:
    night = time(23, 30)
    async with running([notify_receiver.url], quiet_hours="22:00-07:00", local_clock=lambda: night) as (
        notifier,
        records,
    ):
        notifier.notify(notice(NoticeKind.ORDER_REJECTED))
        notifier.notify(notice(NoticeKind.UNPROTECTED))

        [quiet] = await records.wait_for(Status.QUIET)
        [message] = await notify_receiver.wait_for(1)

    assert quiet.kind == "order.rejected" and "22:00-07:00" in quiet.detail
    assert message.title.startswith("position.unprotected")


async def test_a_notice_routed_nowhere_is_neither_sent_nor_recorded(notify_receiver: Receiver) -> None:
    async with running([notify_receiver.url]) as (notifier, records):
        notifier.notify(notice(NoticeKind.FILL))  # fills are off by default
        notifier.notify(notice(NoticeKind.LOCKOUT))
        await records.wait_for(Status.SENT)

    assert [m.title for m in notify_receiver.received()] == ["risk.lockout on 50KTC-V2-1234"]
    assert len(records.outcomes) == 1


async def test_stop_sends_what_is_queued(notify_receiver: Receiver) -> None:
    records = Records()
    notifier = AppriseNotifier(NotifySettings.model_validate({"urls": [notify_receiver.url]}), record=records)
    notifier.start()
    notifier.notify(notice(NoticeKind.BRIDGE_STOPPED))

    await notifier.stop()

    assert [m.title for m in notify_receiver.received()] == ["bridge.stopped on 50KTC-V2-1234"]
    assert [o.status for o in records.outcomes] == [Status.SENT]


async def test_stop_gives_up_on_a_hung_target_and_records_what_was_left(notify_receiver: Receiver) -> None:
    notify_receiver.set_mode("hang")
    records = Records()
    settings = NotifySettings.model_validate({"urls": [notify_receiver.url], "timeout_s": 30})
    notifier = AppriseNotifier(settings, record=records)
    notifier.start()
    notifier.notify(notice(key="1"))
    notifier.notify(notice(key="2"))
    await notify_receiver.wait_for_attempts(1)

    await notifier.stop(drain_s=0.2)
    notify_receiver.set_mode("ok")

    assert [(o.status, o.detail) for o in records.outcomes] == [
        (Status.FAILED, "not sent: the bridge stopped")
    ] * 2
    notifier.notify(notice(key="3"))  # after stop: dropped quietly, never raises


async def test_notify_never_raises_even_when_recording_fails(
    notify_receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(outcome: Outcome) -> None:
        raise RuntimeError("journal closed")

    caplog.set_level(logging.ERROR)
    notifier = AppriseNotifier(NotifySettings.model_validate({"urls": [notify_receiver.url]}), record=broken)
    notifier.start()
    try:
        notifier.notify(notice())
        await notify_receiver.wait_for(1)

        async def logged() -> bool:
            return any("could not be recorded" in r.getMessage() for r in caplog.records)

        await eventually(logged)
    finally:
        await notifier.stop()


async def test_levels_map_to_apprise_types(notify_receiver: Receiver) -> None:
    async with running([notify_receiver.url], level="info") as (notifier, _):
        notifier.notify(notice(NoticeKind.BRIDGE_STARTED))
        notifier.notify(notice(NoticeKind.ORDER_REJECTED))
        notifier.notify(notice(NoticeKind.ORDER_REJECTED, key="exit", level=NoticeLevel.CRITICAL))

        messages = await notify_receiver.wait_for(3)

    assert [m.type for m in messages] == ["info", "warning", "failure"]


async def test_stop_cuts_a_retry_wait_short_and_records_the_real_failure(notify_receiver: Receiver) -> None:
    notify_receiver.set_mode("fail")
    records = Records()
    settings = NotifySettings.model_validate({"urls": [notify_receiver.url], "retries": 3})
    notifier = AppriseNotifier(settings, record=records, first_wait_s=600)
    notifier.start()
    notifier.notify(notice())
    await notify_receiver.wait_for_attempts(1)

    await notifier.stop(drain_s=30)

    # Not "not sent: the bridge stopped": the 600 s wait was cut, and a last try made.
    [failed] = records.outcomes
    assert (failed.status, failed.attempts) == (Status.FAILED, 2) and "error=500" in failed.detail
