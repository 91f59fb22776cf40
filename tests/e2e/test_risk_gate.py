"""The risk gate on the simulator, as a trader meets it: each limit refuses an entry with its
numbers (nothing sent) and allows one just inside it; a lockout cancels and closes, survives a
restart and only `tvbridge unlock` lifts it early; the session close runs at 15:10 Central in
summer and in winter; exits are never refused.

The simulator's price walk is stilled (``walk_ticks = 0``): prices move only by ``set_price``,
so every P&L below is exact. MNQ: tick 0.25 point, 0.50 USD a tick (2 USD a point); a fill costs
0.37 USD a contract in fees.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.calendar import TradingCalendar
from app.domain.enums import AlertStatus
from tests.e2e.conftest import Env, make_settings, running, stop_risk_checks
from tests.helpers import eventually, tvbridge

AUTO_OCO = 70000001  # SIM-AUTO-OCO: the account of the shipped templates and of those below
NAME = "SIM-AUTO-OCO"
LOCKED = f"{NAME}: account {NAME} is locked until "
CENTRAL = TradingCalendar()
_N = itertools.count(1)

# Any order in any contract, without a bracket: ticker, side, size and type from the alert.
ANY = """
[alert]
time_field = "time"

[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = "{{ alert.quantity }}"
type = "{{ alert.type | default('market') }}"
limit_price = "{{ alert.limit | default('') }}"
price = "{{ alert.price }}"
"""


@asynccontextmanager
async def bridge(
    root: Path,
    *,
    monitor: bool = True,
    templates: dict[str, str] | None = None,
    journal: str | None = None,
    **risk: Any,
) -> AsyncIterator[Env]:
    """A bridge on the simulator with ``[risk]`` = ``risk``, the ``any`` template and
    ``templates`` (name → text). ``monitor`` False stops the risk monitor's own checks (and
    those on fills), so the test says when it checks (``monitor.check()``). ``journal``: the
    journal URL of an earlier bridge, to restart on it."""
    settings = make_settings(root, risk=risk)
    settings.sim.walk_interval_s = 0  # still from the start: every P&L below is exact
    if journal is not None:  # a restart: the same journal (a new database on PostgreSQL otherwise)
        settings = settings.model_copy(
            update={"journal": settings.journal.model_copy(update={"url": journal})}
        )
    for name, text in {"any": ANY, **(templates or {})}.items():
        (settings.server.templates_dir / f"{name}.toml").write_text(text)
    async with running(settings, root) as env:
        env.sim.walk_ticks = 0
        if not monitor:
            await stop_risk_checks(env)
        yield env


async def contract_id(env: Env, ticker: str = "MNQ1!") -> str:
    return (await env.runtime.bridge.gateway.contract(ticker)).contract_id


async def order(
    env: Env, action: str = "buy", quantity: int = 1, ticker: str = "MNQ1!", **fields: str
) -> str:
    """An entry body for the ``any``, mnq-market and mnq-bracket templates: its price the
    simulator's now (as TradingView's {{close}} would be), its own id (never a duplicate)."""
    price = env.sim.price(await contract_id(env, ticker))
    return json.dumps(
        {
            "id": f"risk-{next(_N)}",
            "ticker": ticker,
            "action": action,
            "quantity": str(quantity),
            "price": str(price),
            "time": "2026-03-02T14:30:00Z",
            **fields,
        }
    )


def exit_all() -> str:
    """An mnq-exit body: close the MNQ position, cancel its working orders."""
    return json.dumps({"ticker": "MNQ1!", "action": "exit", "time": "2026-03-02T14:30:00Z", "n": next(_N)})


async def send(env: Env, strategy: str, body: str) -> dict[str, Any]:
    response = await env.send(strategy, body)
    assert response.status_code == 200, response.text
    return response.json()


async def executed(env: Env, strategy: str, body: str) -> dict[str, Any]:
    """Send an alert that must execute; wait until the journal has its fills."""
    reply = await send(env, strategy, body)
    assert reply["status"] == AlertStatus.EXECUTED, reply
    await caught_up(env)
    return reply


async def refused(env: Env, strategy: str, body: str) -> str:
    """Send an entry the gate must refuse; return the reason. Nothing reaches the gateway."""
    sent = len(env.place_requests())
    reply = await send(env, strategy, body)
    assert (reply["status"], reply["orders"]) == (AlertStatus.REFUSED, []), reply
    assert len(env.place_requests()) == sent
    row = env.journal.get_alert(reply["alert_id"])
    assert row is not None and row.status == AlertStatus.REFUSED and row.reason == reply["reason"]
    return str(reply["reason"])


async def caught_up(env: Env) -> None:
    """Wait until the journal has every fill, position and balance of the account (the User
    Hub's events), which the gate reads."""

    async def same() -> bool:
        fills = env.journal.find_fills(account_id=AUTO_OCO)
        positions = {p.contract_id: p.size for p in env.journal.positions(AUTO_OCO) if p.size}
        [state] = [s for s in env.journal.account_states() if s.account_id == AUTO_OCO] or [None]
        return (
            len(fills) == len(env.sim.search_trades(AUTO_OCO))
            and positions == {p.contract_id: abs(p.net) for p in env.sim.open_positions(AUTO_OCO)}
            and state is not None
            and state.balance == env.sim.account(AUTO_OCO).balance
        )

    await eventually(same)


async def move(env: Env, price: str, ticker: str = "MNQ1!") -> None:
    """Move the market (fills what it crosses), and wait for the journal."""
    env.sim.set_price(await contract_id(env, ticker), Decimal(price))
    await caught_up(env)


def at(when: datetime, env: Env) -> None:
    """Set the gate's (and its monitor's) clock."""
    env.runtime.bridge.gate.clock = lambda: when


async def lockouts(env: Env) -> list[Any]:
    """The lockouts in force now, from the journal."""
    return env.journal.active_lockouts(datetime.now(UTC))


async def flat(env: Env) -> bool:
    """True once the account has no working order and no position on the simulator."""
    return not env.sim.open_orders(AUTO_OCO) and not env.sim.open_positions(AUTO_OCO)


async def test_max_order_size_allows_2_and_refuses_3_with_the_numbers(tmp_path: Path) -> None:
    async with bridge(tmp_path, max_order_size=2) as env:
        await executed(env, "mnq-market", await order(env, quantity=2))

        reason = await refused(env, "mnq-market", await order(env, quantity=3))

        assert reason == f"{NAME}: order size 3 contracts is above max_order_size 2 on {NAME}"
        # An OCO pair is checked once, by its larger leg: one refusal, not two.
        pair = json.dumps(
            {
                "id": "oco-1",
                "ticker": "MNQ1!",
                "high": "21510.75",
                "low": "21485.50",
                "quantity": "3",
                "time": "2026-03-02T14:30:00Z",
            }
        )
        assert await refused(env, "mnq-oco", pair) == reason


async def test_order_size_ceiling_of_10_by_default_with_every_other_limit_off(tmp_path: Path) -> None:
    """Issue 12: with no [risk] at all, quantity=100000 is refused (journaled with the numbers)
    before the gateway; 10 goes through; a ceiling set higher on purpose lets 11 through."""
    async with bridge(tmp_path) as env:
        reason = await refused(env, "any", await order(env, quantity=100000))
        assert reason == f"{NAME}: order size 100000 contracts is above max_order_size 10 on {NAME}"
        reason = await refused(env, "any", await order(env, quantity=11))
        assert reason == f"{NAME}: order size 11 contracts is above max_order_size 10 on {NAME}"

        await executed(env, "any", await order(env, quantity=10))

        gate = env.runtime.bridge.gate
        gate.settings = gate.settings.model_copy(update={"max_order_size": 20})
        await executed(env, "any", await order(env, "sell", quantity=11))  # reverses: an entry of 11


async def test_open_contracts_per_contract_and_in_total_with_micro_weights(tmp_path: Path) -> None:
    async with bridge(tmp_path, max_contracts_per_contract=3, max_contracts_total=0.6) as env:
        mnq, mes = await contract_id(env), await contract_id(env, "MES1!")
        nq = await contract_id(env, "NQ1!")
        await executed(env, "any", await order(env, quantity=2))

        reason = await refused(env, "any", await order(env, quantity=2))
        assert reason == (
            f"{NAME}: position in {mnq} would be 4 long (open 2 long, buy 2), above "
            f"max_contracts_per_contract 3 on {NAME}"
        )

        await executed(env, "any", await order(env, quantity=1))  # 3 MNQ: at the limit
        await executed(env, "any", await order(env, quantity=3, ticker="MES1!"))  # 0.3 + 0.3 = 0.6
        reason = await refused(env, "any", await order(env, ticker="NQ1!"))
        assert reason == (
            f"{NAME}: open contracts would total 1.6 weighted (MES 3 × 0.1, MNQ 3 × 0.1, ENQ 1 × 1), "
            f"above max_contracts_total 0.6 on {NAME}"
        )
        assert nq.split(".")[3] == "ENQ"  # NQ's contract root on ProjectX, weighed as a mini

        await executed(env, "any", await order(env, "sell", 1))  # reducing is always inside
        assert {p.contract_id: p.net for p in env.sim.open_positions(AUTO_OCO)} == {mnq: 2, mes: 3}


async def test_require_stop_loss_refuses_a_market_entry_and_allows_a_bracket(tmp_path: Path) -> None:
    async with bridge(tmp_path, require_stop_loss=True) as env:
        reason = await refused(env, "mnq-market", await order(env))

        assert reason == (
            f"{NAME}: entry without a stop loss on {NAME}: require_stop_loss is set for {NAME}; "
            "give template 'mnq-market' a stop loss"
        )
        reply = await executed(env, "mnq-bracket", await order(env))
        assert [o["leg"] for o in reply["orders"]] == ["entry", "stop_loss", "take_profit"]


async def test_trading_windows_and_holidays_on_the_exchange_clock(tmp_path: Path) -> None:
    windowed = ANY + '\n[risk]\ntrading_windows = ["08:30-15:00"]\n'
    async with bridge(tmp_path, holidays=["2026-07-03"], templates={"windowed": windowed}) as env:
        at(datetime(2026, 3, 3, 20, 59, tzinfo=UTC), env)  # 14:59 Central (CST, UTC-6)
        await executed(env, "windowed", await order(env))

        at(datetime(2026, 3, 3, 21, 0, tzinfo=UTC), env)  # 15:00 Central: the window has ended
        reason = await refused(env, "windowed", await order(env))
        assert reason == (
            f"{NAME}: outside trading_windows 08:30-15:00 Central of strategy 'windowed' on {NAME}: "
            "it is 15:00 Central; the next window opens at 2026-03-04 08:30 Central"
        )
        await executed(env, "mnq-market", await order(env))  # the window is the strategy's own

        at(datetime(2026, 3, 4, 14, 30, tzinfo=UTC), env)  # 08:30 Central the next morning
        await executed(env, "windowed", await order(env))

        # Thursday 2026-07-02 16:59 Central (CDT, UTC-5) is still that trading day; at 17:00 the
        # trading day of the holiday 2026-07-03 starts.
        at(datetime(2026, 7, 2, 21, 59, tzinfo=UTC), env)
        await executed(env, "mnq-market", await order(env))
        at(datetime(2026, 7, 2, 22, 0, tzinfo=UTC), env)
        reason = await refused(env, "mnq-market", await order(env))
        assert reason == (
            f"{NAME}: trading day 2026-07-03 is a holiday on {NAME}: no entries until "
            "2026-07-03 17:00 Central"
        )
        await executed(env, "mnq-exit", exit_all())  # exits run on a holiday
        assert await flat(env)


async def test_daily_loss_refuses_an_entry_whose_stop_risk_would_pass_the_limit(tmp_path: Path) -> None:
    async with bridge(tmp_path, daily_loss_limit=500) as env:
        await executed(env, "mnq-market", await order(env, quantity=2))  # long 2 at 21500.00
        await move(env, "21400.00")  # -100 points
        await executed(env, "mnq-exit", exit_all())  # -400.00 USD, fees 4 × 0.37 USD

        # Stop loss 40 ticks × 0.50 USD × 5 contracts = 100 USD: -401.48 - 100 passes -500.
        reason = await refused(env, "mnq-bracket", await order(env, quantity=5))
        assert (
            reason
            == f"{NAME}: daily loss -401.48 USD + stop risk 100.00 USD would pass the limit -500.00 USD"
        )

        await executed(env, "mnq-bracket", await order(env, quantity=4))  # -481.48: just inside
        # Without a stop loss the risk is not known: an entry is allowed while the day is inside.
        await executed(env, "mnq-market", await order(env))


async def test_daily_loss_reached_locks_cancels_closes_and_refuses_entries_but_not_exits(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, monitor=False, daily_loss_limit=200) as env:
        monitor = env.runtime.bridge.risk_monitor
        await executed(env, "any", await order(env))  # long 1 at 21500.00
        await executed(env, "any", await order(env, type="limit", limit="21000.00"))  # working
        await executed(env, "mnq-bracket", await order(env, quantity=8))  # stop loss at 21490.00
        # A gap through the stop: it fills at the market, 21480.00 (-20 points on 8 contracts).
        await move(env, "21480.00")
        assert env.sim.open_pnl(AUTO_OCO) == Decimal("-40.00")  # long 1 left, from 21500.00

        await monitor.check()

        # realised -320.00 - fees 17 × 0.37 = -326.29, open -40.00 (as the simulator says)
        [lock] = await lockouts(env)
        assert lock.reason == f"daily loss -366.29 USD reached the limit -200.00 USD on {NAME}"
        assert lock.until == CENTRAL.next_day_start(datetime.now(UTC))
        await eventually(lambda: flat(env))
        closed = [e.message for e in env.journal.events() if e.kind == "risk.lockout"]
        assert len(closed) == 1 and "Every entry is refused until then (exits still run)" in closed[0]

        reason = await refused(env, "any", await order(env))
        assert reason.startswith(LOCKED) and lock.reason in reason
        assert f"exits still run; `tvbridge unlock {NAME}` lifts it early" in reason
        await monitor.check()  # locked already: nothing new
        assert len([e for e in env.journal.events() if e.kind == "risk.lockout"]) == 1


async def test_an_open_loss_between_alerts_locks_from_the_gateways_price(tmp_path: Path) -> None:
    # No alert and no fill brings the new price: the monitor reads it (History/retrieveBars).
    async with bridge(tmp_path, monitor=False, daily_loss_limit=300) as env:
        monitor = env.runtime.bridge.risk_monitor
        await executed(env, "any", await order(env, quantity=2))  # long 2 at 21500.00
        fees = -env.journal.risk_numbers(AUTO_OCO, datetime.now(UTC) - timedelta(days=1)).realised_pnl
        env.sim.set_price(await contract_id(env), Decimal("21420.00"))  # nothing fills
        assert env.sim.open_pnl(AUTO_OCO) == Decimal("-320.00")  # -80 points × 2 × 2.00 USD

        await monitor.check()

        assert env.sim.requests_to("History/retrieveBars"), "the monitor did not read the price"
        [lock] = await lockouts(env)
        assert lock.reason == f"daily loss -{320 + fees:.2f} USD reached the limit -300.00 USD on {NAME}"
        await eventually(lambda: flat(env))


async def test_a_lockout_survives_a_restart_and_tvbridge_unlock_lifts_it(tmp_path: Path) -> None:
    async with bridge(tmp_path, daily_loss_limit=150, flatten_on_lockout=False) as env:
        await executed(env, "mnq-market", await order(env, quantity=3))  # long 3 at 21500.00
        await move(env, "21470.00")
        # Take 1 off (-60.00 USD): with long 2 at -120.00 USD open the day is at -181.48 USD,
        # and the monitor, woken by the fill, locks the account (no flatten: the setting is off).
        await executed(env, "mnq-market", await order(env, "sell", 1))
        [lock] = await eventually(lambda: lockouts(env))
        # The check runs on the first of the sell's events: its fill (-181.48) or, should the
        # balance arrive first, long 3 still open at 21470.00 with the entry's fees (-181.11).
        loss = lock.reason.removeprefix("daily loss ").partition(" USD")[0]
        assert loss in ("-181.48", "-181.11"), lock.reason
        assert lock.reason == f"daily loss {loss} USD reached the limit -150.00 USD on {NAME}"
        assert [p.net for p in env.sim.open_positions(AUTO_OCO)] == [2]

        assert (await refused(env, "mnq-market", await order(env))).startswith(LOCKED)
        reversal = await refused(env, "mnq-market", await order(env, "sell", 3))  # long 2 → short 1
        bracketed = await refused(env, "mnq-bracket", await order(env, "sell", 1))  # its legs open
        assert reversal.startswith(LOCKED) and bracketed.startswith(LOCKED)
        # Exits on a locked account still run: a sell that only reduces the long is one too.
        await executed(env, "mnq-market", await order(env, "sell", 1))
        await executed(env, "mnq-exit", exit_all())
        assert await flat(env)

    # The trader raises the limit and restarts: the lockout is in the journal, so it holds.
    async with bridge(tmp_path, journal=env.settings.journal.url, daily_loss_limit=1000) as env:
        reason = await refused(env, "mnq-market", await order(env))
        assert reason.startswith(LOCKED) and lock.reason in reason

        unlocked = await asyncio.to_thread(
            tvbridge, "unlock", NAME, cwd=tmp_path, env={"TVBRIDGE_JOURNAL__URL": env.settings.journal.url}
        )

        assert unlocked.returncode == 0, unlocked.stderr
        assert f"unlocked account {NAME} ({AUTO_OCO})" in unlocked.stdout
        assert lock.reason in unlocked.stdout
        [event] = [e for e in env.journal.events() if e.kind == "risk.unlock"]
        assert "unlocked by tvbridge unlock (cli)" in event.message
        # No restart, no signal needed. (A restarted simulator numbers its trades from the
        # start again, so this fill is not journaled apart from the first run's: not awaited.)
        assert (await send(env, "mnq-market", await order(env)))["status"] == AlertStatus.EXECUTED


async def test_trailing_drawdown_from_the_balance_high_water_mark(tmp_path: Path) -> None:
    async with bridge(tmp_path, monitor=False, max_trailing_drawdown=300) as env:
        await executed(env, "mnq-market", await order(env, quantity=2))  # long 2 at 21500.00
        await move(env, "21560.00")
        await executed(env, "mnq-exit", exit_all())  # +240.00 - 1.48: balance 50238.52, the high
        await executed(env, "mnq-market", await order(env, quantity=2))  # long 2 at 21560.00
        await move(env, "21500.00")
        await executed(env, "mnq-exit", exit_all())  # -240.00 - 1.48: balance 49997.04
        [state] = env.journal.account_states()
        assert (state.balance, state.high_water) == (Decimal("49997.04"), Decimal("50238.52"))

        # The floor trails the high: 50238.52 - 300 = 49938.52, above the starting 50000 - 300.
        reason = await refused(env, "mnq-bracket", await order(env, quantity=3))  # stop risk 60
        assert reason == (
            f"{NAME}: balance 49997.04 USD + open +0.00 USD − stop risk 60.00 USD = 49937.04 USD "
            "would reach the trailing drawdown floor 49938.52 USD (high-water 50238.52 USD − "
            f"max_trailing_drawdown 300.00 USD) on {NAME}"
        )
        await executed(env, "mnq-bracket", await order(env, quantity=2))  # 49957.04: inside

        await move(env, "21470.00")  # the stop loss fills: -30 points on 2, the floor is reached
        await env.runtime.bridge.risk_monitor.check()

        [lock] = await lockouts(env)
        assert "reached the trailing drawdown floor 49938.52 USD" in lock.reason
        assert (await refused(env, "mnq-market", await order(env))).startswith(LOCKED)


async def test_entries_per_day_for_the_account_and_for_a_strategy(tmp_path: Path) -> None:
    capped = ANY + "\n[risk]\nmax_entries_per_day = 1\n"
    async with bridge(tmp_path, max_entries_per_day=3, templates={"capped": capped}) as env:
        await executed(env, "capped", await order(env))
        reason = await refused(env, "capped", await order(env))
        assert reason == (
            f"{NAME}: entry 2 today of strategy 'capped' would be above its max_entries_per_day 1 "
            f"on {NAME}; entries resume next trading day"
        )
        await executed(env, "mnq-market", await order(env))  # entry 2 of the account
        await executed(env, "mnq-market", await order(env))  # entry 3
        reason = await refused(env, "mnq-market", await order(env))
        assert reason == (
            f"{NAME}: entry 4 today would be above max_entries_per_day 3 on {NAME}; "
            "entries resume next trading day"
        )
        await executed(env, "mnq-exit", exit_all())  # not an entry: never counted or refused
        assert await flat(env)

        at(CENTRAL.next_day_start(datetime.now(UTC)), env)  # 17:00 Central: a new trading day
        await executed(env, "capped", await order(env))


async def test_cool_down_after_losing_trades_in_a_row(tmp_path: Path) -> None:
    async with bridge(tmp_path, cooldown_after_losses=2, cooldown_minutes=30) as env:
        for price in ("21499.00", "21498.00"):  # two losing trades: 1 point each
            await executed(env, "mnq-market", await order(env))
            await move(env, price)
            await executed(env, "mnq-exit", exit_all())

        # The monitor, woken by the fills, locks the account until the cool-down ends.
        [lock] = await eventually(lambda: lockouts(env))
        last_loss = max(t.created_at for t in env.sim.search_trades(AUTO_OCO))
        assert lock.reason == (
            f"2 losing trades in a row (cooldown_after_losses 2): cool-down of 30 minutes on {NAME}"
        )
        assert lock.until == last_loss + timedelta(minutes=30)
        assert lock.reason in await refused(env, "mnq-market", await order(env))

        at(lock.until - timedelta(seconds=1), env)
        await refused(env, "mnq-market", await order(env))
        at(lock.until, env)  # the cool-down is over
        await executed(env, "mnq-market", await order(env))


async def test_a_daily_profit_target_reached_locks_the_day(tmp_path: Path) -> None:
    # Reaching the target locks the account for the trading day (the day's gain is kept): the
    # monitor checks it on every fill, so the lock follows the exit that reached it.
    async with bridge(tmp_path, monitor=False, daily_profit_target="118.53") as env:
        monitor = env.runtime.bridge.risk_monitor
        await executed(env, "mnq-market", await order(env, quantity=2))
        await move(env, "21530.00")
        await executed(env, "mnq-exit", exit_all())  # +120.00 - 1.48 = +118.52 USD

        await monitor.check()
        assert await lockouts(env) == []  # a cent short of it
        await executed(env, "mnq-market", await order(env))
        await executed(env, "mnq-exit", exit_all())  # flat again, -0.74 USD in fees: +117.78

        gate = env.runtime.bridge.gate
        gate.settings = gate.settings.model_copy(update={"daily_profit_target": Decimal("117.78")})
        await monitor.check()

        [lock] = await lockouts(env)
        assert lock.reason == (
            f"daily P&L +117.78 USD reached the profit target +117.78 USD: the day's gain is kept on {NAME}"
        )
        assert (await refused(env, "mnq-market", await order(env))).startswith(LOCKED)


@pytest.mark.parametrize(
    ("day", "close_utc"),
    [
        (date(2026, 7, 15), datetime(2026, 7, 15, 20, 10, tzinfo=UTC)),  # CDT, UTC-5
        (date(2026, 1, 14), datetime(2026, 1, 14, 21, 10, tzinfo=UTC)),  # CST, UTC-6
    ],
    ids=["summer", "winter"],
)
async def test_session_close_at_15_10_central_cancels_closes_and_holds_entries_until_17_00(
    tmp_path: Path, day: date, close_utc: datetime
) -> None:
    async with bridge(tmp_path, monitor=False, close_at_session_end=True) as env:
        monitor = env.runtime.bridge.risk_monitor
        at(close_utc - timedelta(seconds=1), env)  # 15:09:59 Central
        await executed(env, "any", await order(env))
        await executed(env, "any", await order(env, type="limit", limit="21000.00"))
        await monitor.check()
        assert env.sim.open_orders(AUTO_OCO) and env.sim.open_positions(AUTO_OCO)  # not yet

        at(close_utc, env)  # 15:10:00 Central
        await monitor.check()

        await eventually(lambda: flat(env))
        reason = await refused(env, "any", await order(env))
        assert reason == f"{NAME}: after the session close at 15:10 Central: entries resume at 17:00 Central"
        at(close_utc + timedelta(minutes=110) - timedelta(seconds=1), env)  # 16:59:59 Central
        await refused(env, "any", await order(env))
        at(close_utc + timedelta(minutes=110), env)  # 17:00: the next trading day's session
        assert CENTRAL.trading_day(close_utc + timedelta(minutes=110)) == day + timedelta(days=1)
        await executed(env, "any", await order(env))
        await monitor.check()  # the new day's close is hours away: nothing is touched
        assert env.sim.open_positions(AUTO_OCO)
