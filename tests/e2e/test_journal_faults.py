"""Journal faults: a journal that cannot write gets 503 (nothing done) and /readyz says why; a
locked journal never holds the webhook past 2 s; the bridge recovers by itself (README, "When the
journal cannot write"). SQLite only: the faults are SQLite's (a full disk is simulated with
``PRAGMA max_page_count``, a read-only file with ``PRAGMA query_only``, since tests may run as
root, and a lock by a second connection holding ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tests.e2e.conftest import Env
from tests.helpers import eventually

pytestmark = pytest.mark.skipif(bool(os.environ.get("TVBRIDGE_TEST_POSTGRES")), reason="SQLite's file faults")

ANSWER_S = 2.0  # the promise for every webhook, whatever the journal does


def _alert(n: int) -> str:
    return json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": f"{21500 + n}.25"})


def _path(env: Env) -> str:
    database = make_url(env.settings.journal.url).database
    assert database
    return database


@contextmanager
def every_new_connection(env: Env, *pragmas: str) -> Iterator[None]:
    """Open the journal's connections from now on with ``pragmas`` (the fault); after the block
    new connections are sound again, and the journal must reopen its own by itself."""
    engine = env.journal._engine  # reach in: the fault is the database's, not the bridge's

    def apply(dbapi_connection: Any, record: Any) -> None:
        for pragma in pragmas:
            if "{page_count}" in pragma:
                [count] = dbapi_connection.execute("PRAGMA page_count").fetchone()
                pragma = pragma.format(page_count=count)
            dbapi_connection.execute(pragma)

    event.listen(engine, "connect", apply)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", apply)


async def _readyz(env: Env) -> httpx.Response:
    return await env.client.get("/readyz")


async def _not_ready(env: Env, reason: str) -> dict[str, Any]:
    response = await _readyz(env)
    body = response.json()
    assert response.status_code == 503, body
    assert body["ready"] is False and reason in body["checks"]["journal"]["error"], body
    return body


async def _recovers(env: Env, n: int) -> None:
    """/readyz is 200 again by itself, and a new alert executes with one order."""

    async def ready() -> bool:
        response = await _readyz(env)
        assert response.status_code == 200, response.json()
        return True

    await eventually(ready, timeout_s=10)
    before = len(env.place_requests())
    response = await env.send("mnq-market", _alert(n))
    assert response.status_code == 200 and response.json()["status"] == "executed", response.text
    assert len(env.place_requests()) == before + 1
    assert len(env.orders(response.json()["alert_id"])) == 1


def _assert_nothing_done(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert "journal unavailable, nothing was done" in response.text, response.text


def _sent_only_journaled(env: Env) -> None:
    """Every Order/place the simulator received has its journal row (written before sending)."""
    tags = {body["customTag"] for body in env.place_requests()}
    journaled = {o.client_order_id for o in env.journal.find_orders(limit=1000)}
    assert tags <= journaled, tags - journaled


async def test_a_full_disk_refuses_alerts_with_503_and_readyz_says_not_ready(env: Env) -> None:
    assert (await _readyz(env)).status_code == 200
    env.journal._engine.dispose()
    with sqlite3.connect(_path(env)) as db:
        db.execute("VACUUM")  # no free pages left: the next page the journal needs is refused
    answers: list[httpx.Response] = []
    with every_new_connection(env, "PRAGMA max_page_count={page_count}"):
        # An alert may still fit in a page already there; the disk is full once one does not.
        for n in range(60):
            response = await env.send("mnq-market", _alert(n))
            answers.append(response)
            if response.status_code == 503:
                break
        _assert_nothing_done(answers[-1])
        await _not_ready(env, "full")
        for response in answers[:-1]:  # those that fitted executed once
            assert response.status_code in (200, 202), response.text
        assert len(env.place_requests()) == len(answers) - 1
        refused = await env.send("mnq-market", _alert(100))
        _assert_nothing_done(refused)
        assert len(env.place_requests()) == len(answers) - 1
    _sent_only_journaled(env)
    await _recovers(env, 200)


async def test_a_read_only_journal_refuses_alerts_with_503_and_readyz_says_not_ready(env: Env) -> None:
    with every_new_connection(env, "PRAGMA query_only=ON"):
        response = await env.send("mnq-market", _alert(1))
        _assert_nothing_done(response)
        await _not_ready(env, "readonly")
        assert env.place_requests() == []
    await _recovers(env, 2)


async def _burst(env: Env, count: int) -> list[tuple[httpx.Response, float]]:
    async def post(n: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await env.send("mnq-market", _alert(n))
        return response, time.monotonic() - started

    return await asyncio.gather(*(post(n) for n in range(count)))


async def test_a_locked_journal_answers_every_webhook_of_a_burst_within_2_s(env: Env) -> None:
    holder = sqlite3.connect(_path(env), isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        await _not_ready(env, "locked")
        answers = await _burst(env, 20)
        for response, took in answers:
            _assert_nothing_done(response)
            assert took < ANSWER_S, f"answered after {took:.2f} s"
        assert env.place_requests() == []
        assert env.journal.recent_alerts(limit=100) == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await _recovers(env, 100)


async def test_a_lock_held_briefly_delays_a_burst_but_every_alert_executes_once(env: Env) -> None:
    holder = sqlite3.connect(_path(env), isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")

    async def release() -> None:
        await asyncio.sleep(0.2)  # a database browser saving a change
        holder.execute("ROLLBACK")

    releasing = asyncio.create_task(release())
    try:
        answers = await _burst(env, 20)
    finally:
        await releasing
        holder.close()
    for response, took in answers:
        assert response.status_code in (200, 202), (took, response.text)
        assert took < ANSWER_S, f"answered after {took:.2f} s"
    ids = {response.json()["alert_id"] for response, _ in answers}
    assert len(ids) == 20

    async def one_order_each() -> bool:
        assert all(len(env.orders(alert_id)) == 1 for alert_id in ids)
        return len(env.place_requests()) == 20

    await eventually(one_order_each)
    _sent_only_journaled(env)
