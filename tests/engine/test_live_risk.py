"""LiveRisk: a quote checks only the accounts holding its contract, a burst of quotes costs a
pass per ``gap_s`` (not one per quote), fills check their accounts, and the listeners hear of
every journaled batch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from app.domain.enums import Side
from app.domain.events import Fill, PositionEvent
from app.engine.live_risk import LiveRisk
from app.engine.risk_monitor import RiskMonitor
from tests.helpers import eventually

MNQ, MES = "CON.F.US.MNQ.Z26", "CON.F.US.MES.Z26"


class FakeMonitor:
    """RiskMonitor's two seams LiveRisk uses: who holds a contract, and check_now."""

    def __init__(self) -> None:
        self.holding = {1: frozenset({MNQ}), 2: frozenset({MES}), 3: frozenset({MNQ, MES})}
        self.checked: list[set[int]] = []

    def holders(self, contract_id: str) -> set[int]:
        return {a for a, held in self.holding.items() if contract_id in held}

    async def check_now(self, account_ids: set[int]) -> None:
        self.checked.append(set(account_ids))


def live_risk(gap_s: float) -> tuple[LiveRisk, FakeMonitor]:
    monitor = FakeMonitor()
    return LiveRisk(cast(RiskMonitor, monitor), gap_s=gap_s), monitor


async def test_a_quote_checks_the_accounts_holding_its_contract_only() -> None:
    risk, monitor = live_risk(gap_s=0.0)
    risk.start()
    try:
        risk.on_quote(MES)

        async def checked() -> list[set[int]]:
            assert monitor.checked, "no pass"
            return monitor.checked

        assert await eventually(checked) == [{2, 3}]
        risk.on_quote("CON.F.US.M2K.Z26")  # held by none: nothing to check
        risk.on_quote(MNQ)
        assert (await eventually(lambda: _passes(monitor, 2)))[-1] == {1, 3}
    finally:
        await risk.stop()


async def test_a_burst_of_quotes_is_one_pass_per_gap_not_one_per_quote() -> None:
    risk, monitor = live_risk(gap_s=0.5)
    risk.start()
    try:
        for _ in range(200):  # one market's worth of quotes in no time at all
            risk.on_quote(MNQ)
            risk.on_quote(MES)
        await eventually(lambda: _passes(monitor, 1))
        # The first pass may have started before the burst ended; the rest waits out the gap.
        await eventually(lambda: _all_checked(monitor, {1, 2, 3}))
        assert len(monitor.checked) <= 2
    finally:
        await risk.stop()


async def test_fills_and_positions_check_their_accounts_and_the_listeners_hear_of_them() -> None:
    risk, monitor = live_risk(gap_s=0.0)
    heard: list[str] = []
    risk.listeners.append(lambda: heard.append("batch"))
    risk.start()
    try:
        now = datetime.now(UTC)
        fill = Fill(9, 7, MNQ, 99, Side.BUY, 1, Decimal("21500"), now)
        risk.on_events([fill, PositionEvent(8, MNQ, Side.BUY, 1, Decimal("21500"), now)])

        assert (await eventually(lambda: _passes(monitor, 1)))[-1] == {7, 8}
        assert heard == ["batch"]
    finally:
        await risk.stop()


async def _passes(monitor: FakeMonitor, count: int) -> list[set[int]]:
    assert len(monitor.checked) >= count, monitor.checked
    return monitor.checked


async def _all_checked(monitor: FakeMonitor, accounts: set[int]) -> bool:
    assert set().union(*monitor.checked) == accounts, monitor.checked
    return True
