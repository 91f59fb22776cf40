"""The whole path a trader relies on, away from the laptop: the simulator raises a condition, the
engine builds its notice, app/notify routes it and Apprise posts it to a ``json://`` target (a
receiver on 127.0.0.1). Each condition arrives once, within 5 s of the moment the bridge can see
it, and no message carries a secret: the webhook secrets, their URL tokens, or the target URL's
own password.

The engine's texts and once-only rules are pinned in test_notices_trading.py and
test_notices_health.py (with a recorder); routing and sending in tests/notify/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app.ingest.auth import load_secrets, url_token
from app.notify.notifier import AppriseNotifier
from tests.e2e.conftest import Env, make_settings, running, stop_risk_checks, watch_often
from tests.e2e.test_notices_trading import BRACKET_ALERT, add_position_brackets_strategy
from tests.e2e.test_risk_gate import ANY, AUTO_OCO, executed, move, order, refused
from tests.helpers import eventually
from tests.notify_receiver import Message, Receiver, notify_receiver, with_notify

__all__ = ["notify_receiver"]  # the fixture, used by name

DELIVERED_WITHIN_S = 5.0  # the bound, from the condition to the message at the target
URL_PASSWORD = "pw-in-the-target-url-9f3k"


@asynccontextmanager
async def bridge(
    root: Path, receiver: Receiver, *, notify: dict[str, Any] | None = None, **risk: Any
) -> AsyncIterator[Env]:
    """A bridge on the simulator sending every notice (level info) to ``receiver``."""
    settings = make_settings(root, risk=risk)
    url = f"json://trader:{URL_PASSWORD}@127.0.0.1:{receiver.port}/notify"
    settings = with_notify(settings, url, level="info", **(notify or {}))
    (settings.server.templates_dir / "any.toml").write_text(ANY)
    async with running(settings, root) as env:
        assert isinstance(env.runtime.bridge.notifier, AppriseNotifier)
        env.sim.walk_ticks = 0
        yield env


def titled(receiver: Receiver, start: str) -> list[Message]:
    return [m for m in receiver.received() if m.title.startswith(start)]


async def arrives_once(receiver: Receiver, start: str) -> Message:
    """The one message whose title starts with ``start``, waited for at most DELIVERED_WITHIN_S."""

    async def arrived() -> list[Message]:
        found = titled(receiver, start)
        assert found, f"no message titled '{start}…' yet: {[m.title for m in receiver.received()]}"
        return found

    [message] = await eventually(arrived, timeout_s=DELIVERED_WITHIN_S)
    return message


def secrets_of(env: Env) -> list[str]:
    found = [URL_PASSWORD]
    for strategy, secret in load_secrets(env.settings.server.secrets_file).items():
        found += [secret, url_token(strategy, secret)]
    return found


def assert_no_secret(receiver: Receiver, secrets: list[str]) -> None:
    for message in receiver.received():
        text = message.title + message.body
        for secret in secrets:
            assert secret not in text, f"a secret in '{message.title}'"


async def test_a_rejected_order_a_refused_alert_and_a_stop_with_a_position_open_each_arrive_once(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    async with bridge(tmp_path, notify_receiver, max_order_size=2) as env:
        await arrives_once(notify_receiver, "tvbridge started")
        add_position_brackets_strategy(env)  # the gateway refuses its orders
        secrets = secrets_of(env)

        await env.send("pb-bracket", BRACKET_ALERT)
        rejected = await arrives_once(notify_receiver, "Order rejected on SIM-POSITION-BRACKETS")
        assert "enable Auto OCO Brackets" in rejected.body and rejected.type == "warning"

        for _ in range(3):  # the same refusal three times: one condition
            await refused(env, "any", await order(env, quantity=3))
        refusal = await arrives_once(notify_receiver, "Alert refused by the risk gate on SIM-AUTO-OCO")
        assert "above max_order_size 2" in refusal.body

        await executed(env, "mnq-market", await order(env))  # long 1, left open at the stop
    stopped = titled(notify_receiver, "tvbridge stopped")
    assert [m.title for m in stopped] == ["tvbridge stopped: 1 position(s), 0 working order(s) left open"]
    assert stopped[0].type == "failure"  # critical: a position left unwatched
    assert len(titled(notify_receiver, "Order rejected")) == 1
    assert len(titled(notify_receiver, "Alert refused")) == 1
    assert_no_secret(notify_receiver, secrets)


async def test_a_lockout_and_its_lift_each_arrive_once(tmp_path: Path, notify_receiver: Receiver) -> None:
    async with bridge(tmp_path, notify_receiver, daily_loss_limit=200) as env:
        monitor = env.runtime.bridge.risk_monitor
        await stop_risk_checks(env)  # the test checks, so the moment of the condition is known
        await monitor.check()
        await executed(env, "any", await order(env, quantity=2))  # long 2 at 21500.00
        await move(env, "21440.00")  # -240.00 USD open: past the limit

        await monitor.check()
        locked = await arrives_once(notify_receiver, "Account SIM-AUTO-OCO locked until ")
        assert "-200.00 USD" in locked.body and locked.type == "failure"

        await monitor.check()  # locked already: nothing new
        env.journal.unlock_account(AUTO_OCO, by="cli")  # as `tvbridge unlock` does, from another process
        await monitor.check()
        unlocked = await arrives_once(notify_receiver, "Account SIM-AUTO-OCO unlocked")
        assert "lifted early (`tvbridge unlock`)" in unlocked.body
        # One target's messages arrive in order: a second lockout notice from the check before
        # the unlock would be here already. (The check that saw the unlock locks the account
        # again, the day's loss still past the limit: that is a new lockout, notified after.)
        assert len(titled(notify_receiver, "Account SIM-AUTO-OCO locked")) >= 1
        before_unlock = notify_receiver.received()
        index = next(
            i for i, m in enumerate(before_unlock) if m.title.startswith("Account SIM-AUTO-OCO unlocked")
        )
        assert [m.title.startswith("Account SIM-AUTO-OCO locked") for m in before_unlock[:index]].count(
            True
        ) == 1
        secrets = secrets_of(env)
    assert len(titled(notify_receiver, "Account SIM-AUTO-OCO unlocked")) == 1
    assert_no_secret(notify_receiver, secrets)


async def test_a_user_hub_drop_arrives_once_after_the_alarm_delay_and_its_return_once(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    root = tmp_path
    settings = make_settings(root)
    settings.engine.unreachable_alarm_s = 2.0
    url = f"json://trader:{URL_PASSWORD}@127.0.0.1:{notify_receiver.port}/notify"
    settings = with_notify(settings, url)  # the default level: warning and critical
    async with running(settings, root) as env:
        assert env.runtime.watchdog is not None
        await watch_often(env)
        env.sim.hub.refuse_for(4.0)
        env.sim.hub.drop_all()

        # The condition is the alarm's: the hub lost for unreachable_alarm_s (2 s).
        lost = await eventually(
            lambda: _titled_async(notify_receiver, "User Hub lost since "),
            timeout_s=settings.engine.unreachable_alarm_s + DELIVERED_WITHIN_S,
        )
        assert "Accounts affected: SIM-AUTO-OCO" in lost[0].body
        await eventually(lambda: _titled_async(notify_receiver, "User Hub back after "), timeout_s=30)
        secrets = secrets_of(env)
    assert len(titled(notify_receiver, "User Hub lost")) == 1
    assert len(titled(notify_receiver, "User Hub back")) == 1
    assert titled(notify_receiver, "tvbridge started") == []  # info: below the default level
    assert_no_secret(notify_receiver, secrets)


async def _titled_async(receiver: Receiver, start: str) -> list[Message]:
    found = titled(receiver, start)
    assert found, f"no message titled '{start}…' yet"
    return found
