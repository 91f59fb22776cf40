"""Risk on live prices: the accounts a quote or a fill concerns are checked within a second.

The risk monitor's own loop checks every account every few seconds. Here, every quote of a held
contract (the Market Hub, through ``on_quote``) and every batch of journaled fills (``on_events``)
marks the accounts it concerns, and one task checks those accounts at most every ``gap_s``
(RiskMonitor.check_now): the daily loss limit, the profit target and the trailing drawdown are
judged on the live number, off the alert path (the quote handler only marks and wakes). Goal
(issue 17): from the price crossing a limit to the flatten orders sent within 1 s on the
simulator (bench/risk_latency.py).

``listeners`` are told after each batch of fills (the Market Hub's follower looks at the
contracts held again, so that a new position is quoted at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from app.domain.events import AccountEvent, Fill, GatewayEvent, PositionEvent
from app.engine.loops import Passes
from app.engine.risk_monitor import RiskMonitor

log = logging.getLogger(__name__)

LIVE_GAP_S = 0.2  # at most one pass of checks this often, however fast the quotes come


class LiveRisk:
    """Check the accounts a quote or a fill concerns, at most every ``gap_s`` seconds."""

    def __init__(self, monitor: RiskMonitor, *, gap_s: float = LIVE_GAP_S) -> None:
        self.monitor = monitor
        self.listeners: list[Callable[[], None]] = []
        # Told of every quote's contract id (live_stops.py); each must be cheap (mark and wake).
        self.quote_listeners: list[Callable[[str], None]] = []
        self._passes: Passes[int] = Passes("live risk checks", self._check, gap_s)

    @property
    def passes(self) -> int:
        """Passes of checks run (for tests and the bench)."""
        return self._passes.passes

    def start(self) -> None:
        self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()

    def on_quote(self, contract_id: str) -> None:
        """A quote of ``contract_id`` arrived (its price is in the gate's feed): check the
        accounts holding it soon. Cheap: it only marks and wakes."""
        for listener in self.quote_listeners:
            listener(contract_id)
        holders = self.monitor.holders(contract_id)
        if holders:
            self._mark(holders)

    def on_events(self, batch: Iterable[GatewayEvent]) -> None:
        """Hub events were journaled: check the accounts with fills or position changes soon,
        and tell the listeners (what is held may have changed)."""
        touched: set[int] = set()
        for event in batch:
            if isinstance(event, Fill | PositionEvent):
                touched.add(event.account_id)
            elif isinstance(event, AccountEvent):  # the balance: the trailing drawdown moves
                touched.add(event.account.account_id)
        if touched:
            self._mark(touched)
        for listener in self.listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 — a listener's failure must not stop the risk checks
                log.exception("a listener of the journaled events failed")

    def _mark(self, account_ids: set[int]) -> None:
        self._passes.mark(account_ids)

    async def _check(self, account_ids: set[int]) -> None:
        await self.monitor.check_now(account_ids)
