"""Serve's Market Hub (``[gateway] market_hub``, on by default): live quotes for what the
accounts hold, for the risk limits.

It follows the contracts of the open positions and working orders the journal shows for the
followed accounts, looked at again every ``FOLLOW_EVERY_S`` and at once after journaled fills;
``hub.book`` is the PriceBook (latest quote per contract id, its time, whether the hub is live),
the risk gate's price feed, and every quote asks the live risk checks to look at the accounts
holding its contract (app/engine/live_risk.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

from app.config import GatewaySettings
from app.domain.enums import OrderState
from app.domain.models import Contract
from app.engine.bridge import Bridge
from app.engine.loops import stop_loop
from app.errors import JournalError
from app.gateway.hub import TokenSource
from app.gateway.market_hub import MarketHub, Quote, symbol_id_of

log = logging.getLogger(__name__)

FOLLOW_EVERY_S = 2.0  # how often the followed contracts are read again from the journal


class MarketLink:
    """A MarketHub and the task that keeps it subscribed to the contracts held."""

    def __init__(self, hub: MarketHub, bridge: Bridge) -> None:
        self.hub = hub
        self._bridge = bridge
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        """Connect in the background with the contracts held now; follow changes; be the
        risk gate's price feed."""
        await self.hub.start_quotes(await self._held())
        self._bridge.gate.feed = self.hub.book
        self._bridge.live_risk.listeners.append(self._wake.set)
        self._task = asyncio.create_task(self._follow(), name="tvbridge market hub contracts")

    async def stop(self) -> None:
        self._bridge.gate.feed = None
        if self._wake.set in self._bridge.live_risk.listeners:
            self._bridge.live_risk.listeners.remove(self._wake.set)
        if self._task is not None:
            # The hub's subscribe waits in asyncio.wait_for, which can lose a cancel (loops.py).
            self._stopping = True
            await stop_loop(self._task, self._wake, "the Market Hub's contract follower")
            self._task = None
        await self.hub.stop()

    async def on_quote(self, quote: Quote) -> None:
        """The Market Hub's quote handler: the accounts holding its contract are checked soon."""
        self._bridge.live_risk.on_quote(quote.contract_id)

    async def _follow(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_EVERY_S):
                    await self._wake.wait()  # fills were journaled: a new position may be held
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.hub.set_contracts(await self._held())
            except Exception:  # noqa: BLE001 — the next look tries again
                log.exception("Market Hub: updating the followed contracts failed")

    async def _held(self) -> list[Contract]:
        """The contracts of the followed accounts' open positions and working orders; with
        ``[gateway] market_hub_traded`` also every contract resolved in this run (the templates'
        fixed tickers at start, then each alert's)."""
        followed = set(self._bridge.followed)
        runner = self._bridge.runner
        try:
            positions = await runner.run(runner.journal.positions)
            working = [state for state in OrderState if not state.is_final]
            orders = await runner.run(runner.journal.orders_in_states, working)
        except JournalError as exc:
            log.warning("Market Hub: reading what the accounts hold failed (%s)", exc)
            return [self._contract(cid) for cid in self.hub.contract_ids]  # keep what is followed
        ids = {p.contract_id for p in positions if p.size and p.account_id in followed}
        ids |= {o.contract_id for o in orders if o.account_id in followed}
        if self._bridge.settings.gateway.market_hub_traded:
            # Quoted before the entry too: the first seconds of a position are priced live.
            ids |= {contract.contract_id for contract in self._bridge.gateway.resolved_contracts()}
        return [self._contract(contract_id) for contract_id in sorted(ids)]

    def _contract(self, contract_id: str) -> Contract:
        for contract in self._bridge.gateway.resolved_contracts() + self._bridge.gateway.known_contracts():
            if contract.contract_id == contract_id:
                return contract
        # Not resolved in this run (a position from before the restart): only its symbolId
        # is needed here, to map the quotes back.
        return Contract(contract_id, contract_id, "", Decimal(0), Decimal(0), symbol_id_of(contract_id))


def build_market_link(settings: GatewaySettings, url: str, token: TokenSource, bridge: Bridge) -> MarketLink:
    """A MarketLink for ``url`` (not started), with the User Hub's silence and token settings."""
    hub = MarketHub(
        url,
        token,
        silence_timeout_s=settings.hub_silence_timeout_s,
        token_check_s=settings.hub_token_check_s,
    )
    link = MarketLink(hub, bridge)
    hub.on_quote = link.on_quote
    return link
