"""The whole account guarded, whoever trades it, on the simulator: a position opened by hand on a
locked account is closed (and its working orders cancelled) on the hub's event, not at the
monitor's tick; a position without a working stop loss past ``naked_position_grace_s`` is closed
or only alarmed; ``canTrade`` false and ``max_trades_per_minute`` refuse entries with the reason.

The risk monitor's own loop is stopped in every test (``monitor=False``): only the hub's events
act, or the test calls ``monitor.check()`` itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from app.domain.notices import NoticeKind
from app.sim.models import OrderTicket, OrderType, Side
from app.web.strip import strip_snapshot
from tests.e2e.conftest import Env
from tests.e2e.test_risk_gate import (
    ANY,
    AUTO_OCO,
    NAME,
    bridge,
    caught_up,
    contract_id,
    executed,
    flat,
    order,
    refused,
)
from tests.fakes import RecordingNotifier
from tests.helpers import eventually

BUY, SELL = int(Side.BID), int(Side.ASK)


async def by_hand(env: Env, ticker: str = "MNQ1!", size: int = 1, **order: object) -> str:
    """An order the trader places on the platform (no customTag: not the bridge's); a market
    buy unless ``order`` says otherwise. Returns the contract id."""
    contract = await contract_id(env, ticker)
    fields: dict[str, object] = {"type": int(OrderType.MARKET), "side": BUY, **order}
    env.sim.place_order(OrderTicket(AUTO_OCO, contract, size=size, **fields))  # type: ignore[arg-type]
    return contract


def lock(env: Env) -> None:
    """Lock the account in the journal, as `tvbridge` or a limit would (another writer)."""
    now = datetime.now(UTC)
    env.journal.lock_account(AUTO_OCO, NAME, reason="test lockout", until=now + timedelta(hours=1), by="test")


def events(env: Env, kind: str) -> list[str]:
    return [e.message for e in env.journal.events() if e.kind == kind]


async def journaled(env: Env, kind: str, count: int = 1) -> list[str]:
    """For ``eventually``: the events of ``kind`` once there are ``count`` of them."""
    found = events(env, kind)
    return found if len(found) == count else []


async def test_a_position_opened_by_hand_on_a_locked_account_is_closed_on_the_hub_event(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, monitor=False) as env:
        lock(env)
        price = env.sim.price(await contract_id(env))
        # A working limit far below, then a market buy: both by hand on the platform.
        await by_hand(env, type=int(OrderType.LIMIT), limit_price=price - Decimal(100))
        contract = await by_hand(env)

        await eventually(lambda: flat(env))  # no monitor tick: only the hub's position event

        [message] = await eventually(lambda: journaled(env, "risk.guard"))
        assert f"a position in {contract} appeared on {NAME}, which is locked (test lockout)" in message
        assert "closed it and cancelled the account's working orders" in message
        await caught_up(env)
        assert len(env.sim.requests_to("Position/closeContract")) == 1  # once per appearance

        contract = await by_hand(env)  # a second appearance: closed again
        await eventually(lambda: flat(env))
        await eventually(lambda: journaled(env, "risk.guard", 2))


async def test_a_failed_close_is_journaled_and_tried_again_on_the_next_event_never_doubled(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, monitor=False) as env:
        lock(env)
        env.sim.faults.fail_next(50, "Position/closeContract")  # HTTP 500: not performed
        await by_hand(env)

        [failed] = await eventually(lambda: journaled(env, "risk.guard"), timeout_s=30)
        assert "NOT everything is flat" in failed
        assert [e.level for e in env.journal.events() if e.kind == "risk.guard"] == ["error"]
        assert env.sim.open_positions(AUTO_OCO)
        env.sim.faults.clear()

        await by_hand(env)  # the next event (long 2 now): the guard tries again
        await eventually(lambda: flat(env))
        await eventually(lambda: journaled(env, "risk.guard", 2))
        levels = sorted(e.level for e in env.journal.events() if e.kind == "risk.guard")
        assert levels == ["error", "warning"]
        assert any("closed it and cancelled" in m for m in events(env, "risk.guard"))
        await caught_up(env)
        assert not env.sim.open_positions(AUTO_OCO)  # closed once: not reversed into a short


async def test_a_naked_position_past_the_grace_is_closed_and_a_protected_one_is_left(tmp_path: Path) -> None:
    async with bridge(tmp_path, monitor=False, naked_position_grace_s=1) as env:
        monitor = env.runtime.bridge.risk_monitor
        mnq = await by_hand(env)  # long 1 MNQ with a stop loss below: protected
        await by_hand(env, type=int(OrderType.STOP), side=SELL, stop_price=env.sim.price(mnq) - Decimal(50))
        mes = await by_hand(env, "MES1!")  # long 1 MES, no stop loss
        await caught_up(env)

        async def closed() -> bool:
            await monitor.check()
            return not [p for p in env.sim.open_positions(AUTO_OCO) if p.contract_id == mes]

        await eventually(closed)

        [message] = events(env, "risk.naked_position")
        assert message.startswith(f"long 1 {mes} on {NAME} has had no working stop loss for 1 s")
        assert "closed at the market" in message
        assert [p.contract_id for p in env.sim.open_positions(AUTO_OCO)] == [mnq]
        await monitor.check()
        assert len(events(env, "risk.naked_position")) == 1


async def test_a_naked_position_only_alarms_when_so_set(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(
        tmp_path, monitor=False, naked_position_grace_s=1, naked_position_action="alarm"
    ) as env:
        env.runtime.bridge.notifier = notifier
        env.runtime.bridge.guard.notifier = notifier
        monitor = env.runtime.bridge.risk_monitor
        mnq = await by_hand(env)
        await caught_up(env)

        async def alarmed() -> bool:
            await monitor.check()
            return bool(events(env, "risk.naked_position"))

        await eventually(alarmed)
        [message] = events(env, "risk.naked_position")
        assert "naked_position_action is alarm: left open" in message
        [notice] = notifier.of(NoticeKind.UNPROTECTED)
        assert notice.title == f"No stop loss on {NAME}: long 1 {notice.contract}"
        assert [p.contract_id for p in env.sim.open_positions(AUTO_OCO)] == [mnq]
        await monitor.check()  # once per appearance
        assert len(events(env, "risk.naked_position")) == 1 and len(notifier.of(NoticeKind.UNPROTECTED)) == 1


async def test_can_trade_false_refuses_entries_with_that_reason(tmp_path: Path) -> None:
    async with bridge(tmp_path, monitor=False) as env:
        await executed(env, "any", await order(env))  # the account is known (cached)
        account = env.sim.account(AUTO_OCO)
        account.can_trade = False
        env.sim.set_price(await contract_id(env), env.sim.price(await contract_id(env)) + Decimal(1))
        # The hub's account snapshot says canTrade false: the bridge's cache follows it.
        env.sim.place_order(
            OrderTicket(AUTO_OCO, await contract_id(env), int(OrderType.MARKET), SELL, 1)
        )  # a fill by hand brings GatewayUserAccount

        async def switched_off() -> bool:
            accounts = await env.runtime.bridge.accounts.all()
            return not next(a for a in accounts if a.account_id == AUTO_OCO).can_trade

        await eventually(switched_off)
        # The risk gate refuses the entry with its reason: status refused (it was noop, answered
        # before the gate, until issue 17), nothing sent.
        reason = await refused(env, "any", await order(env))
        assert (
            reason
            == f"{NAME}: account {NAME} cannot trade now (the gateway says canTrade false); exits still run"
        )
        # Exits still run on such an account: a position opened by hand is closed by an exit alert.
        await by_hand(env)
        await caught_up(env)
        reply = (await env.send("any", await order(env, "exit"))).json()
        assert reply["status"] == "executed", reply
        assert env.sim.open_positions(AUTO_OCO) == []

        async def shown() -> bool:  # the strip (every page) says so
            [account] = (await strip_snapshot(env.runtime))["accounts"]
            return account["can_trade"] is False

        await eventually(shown)


async def test_trades_per_minute_refuses_with_the_numbers(tmp_path: Path) -> None:
    async with bridge(tmp_path, monitor=False, max_trades_per_minute=2, max_trades_per_hour=5) as env:
        await executed(env, "any", await order(env))
        await executed(env, "any", await order(env, "sell"))
        reason = await refused(env, "any", await order(env))
        assert reason == (
            f"{NAME}: entry 3 in the last 60 seconds would be above max_trades_per_minute 2 on "
            f"{NAME}; entries resume when the oldest of them is a minute old"
        )


async def test_a_strategys_trades_per_minute_counts_its_own_entries(tmp_path: Path) -> None:
    capped = ANY + "\n[risk]\nmax_trades_per_minute = 1\n"
    async with bridge(tmp_path, monitor=False, templates={"capped": capped}) as env:
        await executed(env, "capped", await order(env))
        reason = await refused(env, "capped", await order(env))
        assert reason == (
            f"{NAME}: entry 2 in the last 60 seconds of strategy 'capped' would be above its "
            f"max_trades_per_minute 1 on {NAME}; entries resume when the oldest of them is a minute old"
        )
        await executed(env, "any", await order(env))  # another strategy: not counted against it
