"""Exactly once across a crash: an alert the bridge was killed in the middle of is executed once
after the restart, whatever step it had reached; re-sends of it make no second order.

The bridge "dies" at a named failpoint (app/failpoints.py: in-process ``arm`` raises
FailpointCrash there, a subprocess with TVBRIDGE_FAILPOINTS is killed with SIGKILL) beside a
simulator that outlives it, as the gateway outlives a crashed bridge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.domain.enums import AlertStatus, OrderState, OrderType, Side
from app.domain.models import OrderRequest
from app.failpoints import FailpointCrash, arm
from app.ingest.auth import load_secrets, webhook_path
from app.journal import Journal
from app.sim.exchange import AUTO_OCO_ACCOUNT_ID
from app.sim.server import SimServer
from tests.e2e.conftest import make_settings, running
from tests.helpers import eventually, free_port, journal_url


def alert_body(n: int, *, age_s: float = 0.0, action: str = "buy") -> bytes:
    """An mnq-market alert as TradingView fires it, ``age_s`` seconds ago (its {{timenow}})."""
    fired = datetime.now(UTC) - timedelta(seconds=age_s)
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": action,
            "quantity": "1",
            "price": "21500.25",
            "time": fired.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "n": n,
        }
    ).encode()


def placed_tags(sim: SimServer) -> list[str]:
    """The customTag of every Order/place the simulator received, in order."""
    return [r.json_body.get("customTag") for r in sim.state.requests_to("Order/place")]


def tag(journal: Any, alert_id: int, n: int = 0) -> str:
    return f"tvb-{journal.instance}-{alert_id}-{n}"


class on_sim(running):
    """A bridge on a simulator that outlives it; ``wait`` False: no waiting for the hub, so a
    test acts the moment the runtime is up (as a re-send arriving during the recovery)."""

    def __init__(self, settings: Settings, root: Path, sim: SimServer, *, wait: bool = True) -> None:
        super().__init__(settings, root)
        self.sim_server = sim
        self.wait = wait

    async def _settled(self) -> None:
        self.runtime.sim = self.sim_server  # env.sim works; never stopped by this runtime
        if self.wait:
            await super()._settled()

    async def __aexit__(self, *exc: object) -> None:
        self.runtime.sim = None
        await super().__aexit__(*exc)


@asynccontextmanager
async def simulator() -> AsyncIterator[SimServer]:
    sim = SimServer()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def settings_on(sim: SimServer, root: Path) -> Settings:
    return make_settings(
        root,
        kind="custom",
        api_url=sim.url,
        user_hub_url=f"{sim.url}/hubs/user",
        username="trader",
        api_key="key",
    )


async def settled(env: Any, alert_id: int, timeout_s: float = 10.0) -> Any:
    async def final() -> Any:
        alert = env.journal.get_alert(alert_id)
        assert alert.status not in (AlertStatus.RECEIVED, AlertStatus.UNKNOWN), alert.status
        assert alert.settled_at is not None
        return alert

    return await eventually(final, timeout_s=timeout_s)


async def crash_at(env: Any, point: str, raw: bytes) -> Any:
    """Send ``raw`` and let the bridge die at ``point``; return the alert row it left."""
    with arm(point), pytest.raises(FailpointCrash):
        await env.send("mnq-market", raw, fresh_time=False)
    [alert] = env.journal.recent_alerts(limit=1)
    return alert


async def test_killed_after_journaling_runs_once_and_its_resend_makes_no_second_order(tmp_path: Path) -> None:
    raw = alert_body(1)
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            alert = await crash_at(env, "alert.journaled", raw)
            assert alert.status == AlertStatus.RECEIVED
            assert placed_tags(sim) == []
        # The restart; TradingView re-sends the alert (no 2xx came) while it is being resumed.
        async with on_sim(settings, tmp_path, sim, wait=False) as env:
            resend = await env.send("mnq-market", raw, fresh_time=False)
            assert resend.status_code == 200
            assert resend.json()["status"] == "duplicate"
            assert resend.json()["duplicate_of"] == alert.id
            assert (await settled(env, alert.id)).status == AlertStatus.EXECUTED
            assert placed_tags(sim) == [tag(env.journal, alert.id)]
            again = (await env.send("mnq-market", raw, fresh_time=False)).json()
            assert (again["status"], again["original_status"]) == ("duplicate", "executed")
            assert placed_tags(sim) == [tag(env.journal, alert.id)]


async def test_killed_after_the_order_row_was_written_sends_it_once_with_its_tag(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            alert = await crash_at(env, "order.written", alert_body(2))
            [row] = env.orders(alert.id)
            assert row.state == OrderState.SUBMITTING
            assert placed_tags(sim) == []
        async with on_sim(settings, tmp_path, sim) as env:
            assert (await settled(env, alert.id)).status == AlertStatus.EXECUTED
            [row] = env.orders(alert.id)  # the same row, sent once with the same tag
            assert placed_tags(sim) == [row.client_order_id] == [tag(env.journal, alert.id)]
            history = [h.state for h in env.journal.order_history(row.id)]
            assert history[:3] == [OrderState.SUBMITTING, OrderState.NOT_PLACED, OrderState.SUBMITTING]
            assert row.state in (OrderState.ACCEPTED, OrderState.FILLED)


async def test_killed_after_the_order_row_was_written_ends_stale_when_too_old(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            alert = await crash_at(env, "order.written", alert_body(3, age_s=5))
        # The trader's rule says 2 s: by the restart the alert is too old for an entry.
        template = tmp_path / "templates" / "mnq-market.toml"
        template.write_text(
            template.read_text().replace('time_field = "time"', 'time_field = "time"\nmax_age_s = 2')
        )
        async with on_sim(settings, tmp_path, sim) as env:
            stored = await settled(env, alert.id)
            assert stored.status == AlertStatus.STALE
            assert "max_age_s 2" in stored.reason
            assert placed_tags(sim) == []
            [row] = env.orders(alert.id)
            assert row.state == OrderState.NOT_PLACED


async def test_killed_after_the_send_is_found_by_its_tag_and_settles_from_the_fill(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            alert = await crash_at(env, "order.sent", alert_body(4))
            [row] = env.orders(alert.id)
            assert row.state == OrderState.SUBMITTING
            assert placed_tags(sim) == [row.client_order_id]  # the gateway has it
        async with on_sim(settings, tmp_path, sim) as env:
            assert (await settled(env, alert.id)).status == AlertStatus.EXECUTED

            async def filled() -> bool:
                [row] = env.orders(alert.id)
                assert row.state == OrderState.FILLED, row.state
                return True

            await eventually(filled, timeout_s=5)
            assert placed_tags(sim) == [tag(env.journal, alert.id)]  # never resent


async def test_alerts_queued_behind_a_strategy_lock_all_execute_after_the_restart(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            # The journal as a kill leaves it: the first alert's row written, not sent; four more
            # journaled behind it, waiting for the strategy's lock.
            first = await crash_at(env, "order.written", alert_body(10))
            journal = env.journal
            queued = [
                journal.record_alert(
                    strategy="mnq-market",
                    raw_body=alert_body(11 + k).decode(),
                    received_at=datetime.now(UTC),
                    dedupe_key=f"queued-{k}",
                    dedupe_window_s=60,
                ).alert_id
                for k in range(4)
            ]
        async with on_sim(settings, tmp_path, sim) as env:
            alert_ids = [first.id, *queued]
            for alert_id in alert_ids:
                assert (await settled(env, alert_id)).status == AlertStatus.EXECUTED
            # one order each, in the order TradingView sent them
            assert placed_tags(sim) == [tag(env.journal, a) for a in alert_ids]


async def test_a_resend_of_an_alert_whose_order_was_not_placed_is_executed_once(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            raw = alert_body(20)
            sim.state.faults.fail_next(1, path="Order/place")  # 500: not placed, proven by tag
            first = (await env.send("mnq-market", raw, fresh_time=False)).json()
            assert first["status"] == "failed"
            assert first["orders"][0]["state"] == "NOT_PLACED"
            assert "re-send of the alert is executed" in first["orders"][0]["message"]

            resend = (await env.send("mnq-market", raw, fresh_time=False)).json()
            assert resend["status"] == "executed"
            third = (await env.send("mnq-market", raw, fresh_time=False)).json()
            assert (third["status"], third["duplicate_of"]) == ("duplicate", resend["alert_id"])
            assert placed_tags(sim) == [
                tag(env.journal, first["alert_id"]),
                tag(env.journal, resend["alert_id"]),
            ]
            assert [o.state for o in env.orders(first["alert_id"])] == [OrderState.NOT_PLACED]


@pytest.mark.parametrize(
    ("strategy", "first", "copy"),
    [
        (
            "mnq-market",
            b'{"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500.25"}',
            b'{\n  "price":"21500.25",\n\t"quantity": "1", "action":"buy",  "ticker": "MNQ1!"\n}\n',
        ),
        ("nq-text", b"buy 1 NQ1! @ 21500.25", b"  buy  1 NQ1!\t@ 21500.25 \n"),
    ],
)
async def test_the_same_alert_whatever_its_whitespace_and_key_order(
    tmp_path: Path, strategy: str, first: bytes, copy: bytes
) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            one = (await env.send(strategy, first)).json()
            two = (await env.send(strategy, copy)).json()
            assert one["status"] in ("executed", "noop")
            assert (two["status"], two["duplicate_of"]) == ("duplicate", one["alert_id"])
            assert len(placed_tags(sim)) == 1


async def test_restart_is_ready_before_an_unfinished_order_not_on_the_gateway_is_settled(
    tmp_path: Path,
) -> None:
    """``tvbridge serve`` killed (SIGKILL) after writing an order row, before sending it; the
    restart is ready (listener open, /readyz 200) while that row is still unsettled (a start
    that waited for it would be ready only after its searches, reconcile_delay_s = 5 s apart),
    then sends the order once. The time to ready is printed (about 1 s on this machine alone),
    not asserted: a loaded machine may take longer, and the order of the two is what matters."""
    async with simulator() as sim:
        shutil_templates(tmp_path)
        pages = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TVBRIDGE_")},
            "TVBRIDGE_SERVER__PORT": str(pages),
            "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
            "TVBRIDGE_JOURNAL__URL": journal_url(tmp_path),
            "TVBRIDGE_GATEWAY__KIND": "custom",
            "TVBRIDGE_GATEWAY__API_URL": sim.url,
            "TVBRIDGE_GATEWAY__USER_HUB_URL": f"{sim.url}/hubs/user",
            "TVBRIDGE_GATEWAY__USERNAME": "trader",
            "TVBRIDGE_GATEWAY__API_KEY": "key",
        }
        log = tmp_path / "serve.log"
        first = await _serve(tmp_path, {**env, "TVBRIDGE_FAILPOINTS": "order.written"}, log, pages)
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-market"]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{env['TVBRIDGE_SERVER__WEBHOOK_PORT']}"
        ) as c:
            with pytest.raises(httpx.HTTPError):  # the process dies before it answers
                await c.post(webhook_path("mnq-market", secret), content=alert_body(30), timeout=10)
        assert await _exited(first) == -9
        journal = Journal(env["TVBRIDGE_JOURNAL__URL"])
        try:
            [alert] = journal.recent_alerts(limit=1)
            alert_id = alert.id
            assert alert_id is not None
            [row] = journal.alert_orders(alert_id)
            assert row.state == OrderState.SUBMITTING and placed_tags(sim) == []

            started = time.monotonic()
            second = await _serve(tmp_path, {**env, "TVBRIDGE_ENGINE__RECONCILE_DELAY_S": "5"}, log, pages)
            ready_s = time.monotonic() - started
            try:
                print(f"time to ready after kill -9 with an unfinished order: {ready_s:.2f} s")
                # Ready before the row is settled: its settling waits reconcile_delay_s between
                # searches after the login, and readiness comes right after the login.
                [unsettled] = journal.alert_orders(alert_id)
                assert unsettled.state == OrderState.SUBMITTING and placed_tags(sim) == []

                async def resumed() -> bool:
                    stored = journal.get_alert(alert_id)
                    assert stored is not None
                    assert stored.status == AlertStatus.EXECUTED, stored.status
                    return True

                await eventually(resumed, timeout_s=40)
                assert placed_tags(sim) == [row.client_order_id]
            finally:
                second.terminate()
                await _exited(second)
        finally:
            journal.close()


def shutil_templates(root: Path) -> None:
    import shutil

    from tests.helpers import SHIPPED_TEMPLATES

    shutil.copytree(SHIPPED_TEMPLATES, root / "templates")


async def _serve(cwd: Path, env: dict[str, str], log: Path, pages: int) -> subprocess.Popen[Any]:
    """Start ``tvbridge serve`` (its output appended to ``log``); return once /readyz answers 200
    (the event loop keeps running, so the in-process simulator answers meanwhile)."""
    with log.open("a") as output:  # the process has its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    async def ready() -> bool:
        assert process.poll() is None, f"tvbridge serve exited: see {cwd / 'serve.log'}"
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{pages}/readyz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, timeout_s=30, interval_s=0.02)
    return process


async def _exited(process: subprocess.Popen[Any]) -> int:
    async def gone() -> bool:
        return process.poll() is not None

    await eventually(gone, timeout_s=20)
    return int(process.returncode)


async def test_a_new_alert_waits_only_for_the_recovery_of_its_own_account(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        settings.engine.reconcile_delay_s = 0.5  # three searches: the account recovers in ~1 s
        template = tmp_path / "templates" / "mnq-market.toml"
        other = tmp_path / "templates" / "mnq-other.toml"
        other.write_text(template.read_text().replace('"SIM-AUTO-OCO"', '"SIM-POSITION-BRACKETS"'))
        async with on_sim(settings, tmp_path, sim) as env:
            # A crash left an order row on SIM-AUTO-OCO unfinished, not on the gateway.
            journal = env.journal
            left = journal.record_alert(strategy="mnq-market", raw_body="{}", received_at=datetime.now(UTC))
            row = journal.add_order(
                alert_id=left.alert_id,
                account_id=AUTO_OCO_ACCOUNT_ID,
                account_name="SIM-AUTO-OCO",
                contract_id="CON.F.US.MNQ.Z26",
                leg="entry",
                action="buy",
                client_order_id=tag(journal, left.alert_id),
            )
            journal.set_alert_status(left.alert_id, AlertStatus.UNKNOWN, settled=True)
        async with on_sim(settings, tmp_path, sim, wait=False) as env:
            bridge = env.runtime.bridge
            recovering = set(bridge.recovery.recovering)
            assert recovering  # the listener is open while SIM-AUTO-OCO is recovered
            other_reply = (await env.send("mnq-other", alert_body(40))).json()
            assert other_reply["status"] == "executed"  # another account: no wait
            assert bridge.recovery.recovering == recovering  # ...while that one still recovers
            same = (await env.send("mnq-market", alert_body(41))).json()
            assert (await settled(env, same["alert_id"])).status == AlertStatus.EXECUTED
            settled_at = next(
                h.at for h in env.journal.order_history(row) if h.state == OrderState.NOT_PLACED
            )
            [sent] = env.orders(same["alert_id"])
            assert sent.sent_at > settled_at  # sent on SIM-AUTO-OCO only once it was recovered
            assert (await settled(env, left.alert_id)).status == AlertStatus.FAILED


async def test_an_alert_left_unknown_settles_from_its_order_found_filled(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            # The alert's run ended UNKNOWN (no answer to its Order/place), then the bridge died
            # before the reconcile found the order: it reached the gateway and filled.
            journal = env.journal
            left = journal.record_alert(strategy="mnq-market", raw_body="{}", received_at=datetime.now(UTC))
            row = journal.add_order(
                alert_id=left.alert_id,
                account_id=AUTO_OCO_ACCOUNT_ID,
                account_name="SIM-AUTO-OCO",
                contract_id="CON.F.US.MNQ.Z26",
                leg="entry",
                action="buy",
                side="buy",
                size=1,
                client_order_id=tag(journal, left.alert_id),
                state=OrderState.UNKNOWN,
            )
            journal.set_alert_status(left.alert_id, AlertStatus.UNKNOWN, settled=True)
            request = OrderRequest(
                AUTO_OCO_ACCOUNT_ID,
                "CON.F.US.MNQ.Z26",
                Side.BUY,
                OrderType.MARKET,
                1,
                tag(journal, left.alert_id),
            )
            await env.runtime.bridge.gateway.place_order(request)
        async with on_sim(settings, tmp_path, sim) as env:
            stored = await settled(env, left.alert_id)
            assert stored.status == AlertStatus.EXECUTED
            [order] = env.orders(left.alert_id)
            assert order.id == row and order.state in (OrderState.ACCEPTED, OrderState.FILLED)
            assert len(placed_tags(sim)) == 1  # never resent
