"""Risk on live prices (issue 17 item 2), end to end on the simulator with its Market Hub: a
quote past the daily loss limit or the profit target locks the account and flattens it without
waiting for a bar or the monitor's tick; while the Market Hub is down, the one-minute bars take
over and the Status page says so.

The price walk is stilled: prices move only by ``set_price``. MNQ: 2 USD a point a contract; a
fill costs 0.37 USD a contract in fees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sim.market_hub import market_hub_faults
from app.web.status import status_snapshot
from tests.e2e.conftest import Env, make_settings, running
from tests.e2e.test_risk_gate import ANY, AUTO_OCO, NAME, contract_id, executed, flat, lockouts, order
from tests.helpers import eventually


@asynccontextmanager
async def live(root: Path, **risk: Any) -> AsyncIterator[Env]:
    """A bridge with the Market Hub on, ``[risk]`` = ``risk``, the ``any`` template, the walk
    stilled."""
    settings = make_settings(root, risk=risk, market_hub=True)
    settings.sim.walk_interval_s = 0  # still from the start: every P&L below is exact
    (settings.server.templates_dir / "any.toml").write_text(ANY)
    async with running(settings, root) as env:
        env.sim.walk_ticks = 0
        yield env


async def quoted(env: Env, contract: str) -> None:
    """Wait until the Market Hub follows ``contract`` and the book holds its price."""
    market = env.runtime.market
    assert market is not None

    async def ready() -> bool:
        quote = market.hub.book.get(contract)
        return market.hub.book.live and quote is not None and quote.last_price == env.sim.price(contract)

    await eventually(ready, timeout_s=10)


def bar_reads(env: Env) -> int:
    return len(env.sim.requests_to("History/retrieveBars"))


async def test_a_quote_past_the_daily_loss_limit_locks_and_flattens_without_a_bar(tmp_path: Path) -> None:
    async with live(tmp_path, daily_loss_limit=300) as env:
        contract = await contract_id(env)
        await executed(env, "any", await order(env, quantity=2))  # long 2 at 21500.00
        await quoted(env, contract)
        status = await status_snapshot(env.runtime)
        assert status["risk"]["prices"]["kind"] == "quotes"
        assert status["market_hub"]["connected"] and status["market_hub"]["contracts"] == [contract]
        bars = bar_reads(env)

        env.sim.set_price(contract, Decimal("21420.00"))  # -80 points × 2 × 2 USD = -320 USD open

        [lock] = await eventually(lambda: lockouts(env), timeout_s=5)
        assert lock.reason.startswith("daily loss -32") and lock.reason.endswith(
            f"USD reached the limit -300.00 USD on {NAME}"
        )
        await eventually(lambda: flat(env))
        assert bar_reads(env) == bars, "priced from a bar, not from the live quote"
        assert env.runtime.bridge.live_risk.passes > 0


async def test_a_quote_past_the_profit_target_locks_the_day_and_keeps_the_gain(tmp_path: Path) -> None:
    async with live(tmp_path, daily_profit_target=100) as env:
        contract = await contract_id(env)
        await executed(env, "any", await order(env))  # long 1 at 21500.00
        await quoted(env, contract)

        env.sim.set_price(contract, Decimal("21560.00"))  # +60 points = +120 USD open

        [lock] = await eventually(lambda: lockouts(env), timeout_s=5)
        assert "reached the profit target +100.00 USD: the day's gain is kept" in lock.reason
        await eventually(lambda: flat(env))

        async def gained() -> Decimal:  # closed at the quote that reached the target
            fills = env.journal.find_fills(account_id=AUTO_OCO)
            total = sum((f.profit_and_loss or Decimal(0) for f in fills), Decimal(0))
            assert total == Decimal("120.00"), fills
            return total

        await eventually(gained)


async def test_with_the_market_hub_down_the_bars_price_the_limits_and_the_page_says_so(
    tmp_path: Path,
) -> None:
    async with live(tmp_path, daily_loss_limit=300) as env:
        bridge = env.runtime.bridge
        contract = await contract_id(env)
        await executed(env, "any", await order(env, quantity=2))
        await quoted(env, contract)

        faults = market_hub_faults(env.sim)
        faults.refuse_for(600)
        faults.drop_all()
        market = env.runtime.market
        assert market is not None

        async def down() -> bool:
            return not market.hub.book.live

        await eventually(down, timeout_s=10)
        status = await status_snapshot(env.runtime)
        assert not status["market_hub"]["connected"]
        prices = status["risk"]["prices"]
        assert prices == {
            "kind": "bars",
            "detail": "the Market Hub is down: one-minute bars until it is back",
        }

        bars = bar_reads(env)
        env.sim.set_price(contract, Decimal("21420.00"))  # no quote can tell: the hub is down
        bridge.gate.quotes.clear()  # as at the next bar read (a bar is read every 15 s)
        await bridge.risk_monitor.check()

        assert bar_reads(env) > bars, "the monitor did not read the price from a bar"
        [lock] = await lockouts(env)
        assert lock.reason.endswith(f"USD reached the limit -300.00 USD on {NAME}")
        await eventually(lambda: flat(env))


async def test_a_close_refused_at_the_lockout_is_tried_again_and_never_doubled(tmp_path: Path) -> None:
    # The gateway fails the flatten's close (HTTP 500, not performed) right after the quote
    # locks the account: the position stays open, and the guard's next pass closes it, once.
    async with live(tmp_path, daily_loss_limit=300) as env:
        contract = await contract_id(env)
        await executed(env, "any", await order(env, quantity=2))
        await quoted(env, contract)
        env.sim.faults.fail_next(1, "Position/closeContract")

        env.sim.set_price(contract, Decimal("21420.00"))

        await eventually(lambda: lockouts(env), timeout_s=5)
        await eventually(lambda: flat(env), timeout_s=30)
        assert len(env.sim.requests_to("Position/closeContract")) == 2  # the failed one, then one
        assert not env.sim.open_positions(AUTO_OCO)  # closed once: not reversed into a short
