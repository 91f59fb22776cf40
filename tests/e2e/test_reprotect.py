"""An exit cancels a position's bracket legs before its close (projectx-api.md §13.1); when the close
then does not go through, the position must not be left without its stop loss: the bridge asks the
gateway whether the position is still open and, if so, places the cancelled stop loss again (event
``bracket.reprotected``, a critical notice). A close that went through after all (an unknown
outcome found flat) places nothing; a crash between the cancels and the close is finished by the
alert's resumed run after the restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import AlertStatus, Leg, OrderState
from app.domain.notices import NoticeKind
from app.failpoints import FailpointCrash, arm
from app.sim import AUTO_OCO_ACCOUNT_ID
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_crash_recovery import on_sim, settings_on, simulator
from tests.e2e.test_stray_legs import EXIT_ALERT, bracketed, working
from tests.fakes import RecordingNotifier
from tests.helpers import eventually

REPROTECTED = "bracket.reprotected"


def reprotected(env: Env) -> list[Any]:
    return [e for e in env.journal.events(limit=1000) if e.kind == REPROTECTED]


def rsl_places(env: Env) -> list[dict[str, Any]]:
    """The Order/place bodies of stop losses placed again (tag ``-RSL``)."""
    return [b for b in env.place_requests() if str(b.get("customTag", "")).endswith("-RSL")]


def stop_of(env: Env, alert_id: int) -> Any:
    """The simulator's order of the entry's native stop loss."""
    [row] = [o for o in env.orders(alert_id) if o.leg == Leg.STOP_LOSS]
    return env.sim.orders[row.broker_order_id]


async def test_a_refused_close_places_the_cancelled_stop_loss_again(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with running(make_settings(tmp_path), tmp_path, notifier=notifier) as env:
        alert_id, contract_id = await bracketed(env)
        stop = stop_of(env, alert_id)
        env.sim.faults.fail_next(1, "Position/closeContract")  # HTTP 500: not performed

        reply = (await env.send("mnq-exit", EXIT_ALERT)).json()

        exit_id = reply["alert_id"]
        [position] = env.sim.open_positions(AUTO_OCO_ACCOUNT_ID)  # still open: the close did not go
        [order_id] = working(env, AUTO_OCO_ACCOUNT_ID, contract_id)  # one order: the new stop loss
        again = env.sim.orders[order_id]
        assert again.id != stop.id
        assert (again.type, again.side, again.stop_price) == (stop.type, stop.side, stop.stop_price)
        assert again.size == position.net == 1
        [body] = rsl_places(env)  # sent once
        rows = env.orders(exit_id)
        [row] = [r for r in rows if r.leg == Leg.STOP_LOSS]
        assert row.client_order_id == body["customTag"] and row.broker_order_id == order_id
        assert row.state in (OrderState.ACCEPTED, OrderState.WORKING)
        [close] = [r for r in rows if r.leg == Leg.CLOSE]
        assert close.state == OrderState.NOT_PLACED
        assert reply["status"] != "executed", reply  # the exit did not happen
        [event] = reprotected(env)
        assert event.alert_id == exit_id and Decimal(event.data["stop_price"]) == stop.stop_price
        assert "placed again" in event.message and "take profit was not" in event.message
        [notice] = [n for n in notifier.of(NoticeKind.UNPROTECTED) if n.title.startswith("Exit not done")]
        assert notice.level == "critical" and "placed again" in notice.body


async def test_an_unknown_close_found_flat_places_nothing(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with running(make_settings(tmp_path), tmp_path, notifier=notifier) as env:
        _, contract_id = await bracketed(env)
        env.sim.faults.timeout_s = 1.0
        env.sim.faults.timeout_next(1, "Position/closeContract")  # performed, the answer late

        reply = (await env.send("mnq-exit", EXIT_ALERT)).json()

        exit_id = reply["alert_id"]

        async def closed() -> bool:
            [close] = [r for r in env.orders(exit_id) if r.leg == Leg.CLOSE]
            assert close.state == OrderState.DONE, close  # found flat by reconciliation
            return True

        await eventually(closed, timeout_s=10)
        assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
        assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()
        assert rsl_places(env) == [] and reprotected(env) == []
        assert not [n for n in notifier.notices if n.title.startswith("Exit not done")]


async def test_a_crash_between_the_cancels_and_the_close_is_not_left_naked(tmp_path: Path) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            _, contract_id = await bracketed(env)
            with arm("flatten.legs_cancelled"), pytest.raises(FailpointCrash):
                await env.send("mnq-exit", EXIT_ALERT)
            [exit_alert] = env.journal.recent_alerts(limit=1)
            assert exit_alert.status == AlertStatus.RECEIVED
            assert len(sim.state.open_positions(AUTO_OCO_ACCOUNT_ID)) == 1  # open, its legs cancelled
            assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()
        # The restart: the exit's run is resumed and closes the position.
        async with on_sim(settings, tmp_path, sim) as env:

            async def finished() -> bool:
                alert = env.journal.get_alert(exit_alert.id)
                assert alert.status == AlertStatus.EXECUTED, (alert.status, alert.reason)
                return True

            await eventually(finished, timeout_s=20)
            assert env.sim.open_positions(AUTO_OCO_ACCOUNT_ID) == []
            assert working(env, AUTO_OCO_ACCOUNT_ID, contract_id) == set()
            assert len(env.sim.requests_to("Position/closeContract")) == 1  # closed once


async def test_a_crash_after_the_cancels_then_a_refused_close_places_the_stop_loss_again(
    tmp_path: Path,
) -> None:
    async with simulator() as sim:
        settings = settings_on(sim, tmp_path)
        async with on_sim(settings, tmp_path, sim) as env:
            alert_id, contract_id = await bracketed(env)
            stop = stop_of(env, alert_id)
            with arm("flatten.legs_cancelled"), pytest.raises(FailpointCrash):
                await env.send("mnq-exit", EXIT_ALERT)
            [exit_alert] = env.journal.recent_alerts(limit=1)
        sim.state.faults.fail_next(1, "Position/closeContract")  # the resumed run's close: not done
        async with on_sim(settings, tmp_path, sim) as env:

            async def reprotected_once() -> Any:
                found = reprotected(env)
                assert len(found) == 1, found
                return found[0]

            event = await eventually(reprotected_once, timeout_s=30)
            assert event.alert_id == exit_alert.id and "placed again" in event.message
            assert len(env.sim.open_positions(AUTO_OCO_ACCOUNT_ID)) == 1  # the close did not go
            [order_id] = working(env, AUTO_OCO_ACCOUNT_ID, contract_id)
            again = env.sim.orders[order_id]
            assert (again.type, again.side, again.stop_price) == (stop.type, stop.side, stop.stop_price)
            assert len(rsl_places(env)) == 1
