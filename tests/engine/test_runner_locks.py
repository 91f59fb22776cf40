"""The journal runner and another program's SQLite write lock: the event loop never waits for it,
a call that changed nothing waits on a worker thread for at most lock_wait_s, a call that
committed part of its work is never run twice, and code outside the runner keeps SQLite's wait."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from app.engine.runner import JournalRunner
from app.errors import JournalLocked
from app.journal import Journal

pytestmark = pytest.mark.skipif(bool(os.environ.get("TVBRIDGE_TEST_POSTGRES")), reason="SQLite's write lock")


@pytest.fixture
def holder(journal: Journal) -> Iterator[sqlite3.Connection]:
    """A second connection, as another program would hold it: ``BEGIN IMMEDIATE`` takes the lock."""
    database = make_url(str(journal._engine.url)).database  # reach in: the path of its file
    assert database
    connection = sqlite3.connect(database, isolation_level=None, timeout=0, check_same_thread=False)
    yield connection
    if connection.in_transaction:
        connection.execute("ROLLBACK")
    connection.close()


def _kinds(journal: Journal) -> list[str]:
    return sorted(event.kind for event in journal.events())


async def test_a_held_lock_fails_a_call_within_lock_wait_s_and_other_calls_do_not_queue_behind_it(
    journal: Journal, holder: sqlite3.Connection
) -> None:
    runner = JournalRunner(journal, lock_wait_s=0.5)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def loop_keeps_running() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(loop_keeps_running())
    started = time.monotonic()
    results = await asyncio.gather(
        *(runner.run(journal.add_event, "test.locked", f"call {n}") for n in range(10)),
        return_exceptions=True,
    )
    took = time.monotonic() - started
    ticking.cancel()
    runner.shutdown()

    assert all(isinstance(result, JournalLocked) for result in results), results
    assert took < 2.0, f"ten calls took {took:.2f} s: they waited one after another"
    assert ticks >= 5, "the event loop was held while the calls waited for the lock"
    holder.execute("ROLLBACK")
    assert _kinds(journal) == []


async def test_a_call_that_changed_nothing_runs_again_once_the_lock_is_gone(
    journal: Journal, holder: sqlite3.Connection
) -> None:
    runner = JournalRunner(journal, lock_wait_s=1.0)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.1, lambda: holder.execute("ROLLBACK")).start()

    await runner.run(journal.add_event, "test.waited", "written once the lock was gone")
    runner.shutdown()

    assert _kinds(journal) == ["test.waited"]


async def test_a_call_that_committed_part_of_its_work_is_not_run_twice(
    journal: Journal, holder: sqlite3.Connection
) -> None:
    runner = JournalRunner(journal, lock_wait_s=1.0)

    def two_writes() -> None:
        journal.add_event("test.first", "committed before the lock")
        holder.execute("BEGIN IMMEDIATE")  # another program takes the lock in between
        journal.add_event("test.second", "meets the lock")

    with pytest.raises(JournalLocked):
        await runner.run(two_writes)
    runner.shutdown()
    holder.execute("ROLLBACK")

    assert _kinds(journal) == ["test.first"]


async def test_a_commit_on_another_thread_does_not_stop_a_call_that_changed_nothing_from_running_again(
    journal: Journal, holder: sqlite3.Connection
) -> None:
    # What CI met: the lock-waiting thread commits an earlier call's write while the loop's next
    # call fails on the lock that commit held; that call changed nothing and must run again.
    runner = JournalRunner(journal, lock_wait_s=1.0)
    tries = 0

    def meets_the_lock_after_another_thread_commits() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            other = threading.Thread(target=journal.add_event, args=("test.other", "another thread"))
            other.start()
            other.join()
            holder.execute("BEGIN IMMEDIATE")
            threading.Timer(0.1, lambda: holder.execute("ROLLBACK")).start()
        journal.add_event("test.mine", "written once")

    await runner.run(meets_the_lock_after_another_thread_commits)
    runner.shutdown()

    assert tries == 2
    assert _kinds(journal) == ["test.mine", "test.other"]


async def test_code_outside_the_runner_keeps_sqlite_s_usual_wait(
    journal: Journal, holder: sqlite3.Connection
) -> None:
    runner = JournalRunner(journal)
    await runner.run(journal.add_event, "test.runner", "through the runner")
    runner.shutdown()
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: holder.execute("ROLLBACK")).start()

    journal.add_event("test.direct", "a command-line write waits for the lock")

    assert _kinds(journal) == ["test.direct", "test.runner"]
