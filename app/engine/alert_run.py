"""One alert's run as the order modules see it: its collaborators and what it decided so far.

The per-alert run (execute.py), the entries, brackets and OCO pairs (entries.py) and the target
position (target_position.py) share this one context rather than one ``self``: each takes the
AlertRun and sends through its OrderSession (sender.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Leg, OrderState
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, Alert, BrokerOrder, Contract, OrderOutcome, Position
from app.domain.records import OrderUpdate
from app.engine.ports import Gateway
from app.engine.reprotect import cancelled_stop, reprotect
from app.engine.risk_gate import RiskGate
from app.engine.runner import JournalRunner
from app.engine.sender import Column, OrderSession, row_outcome
from app.engine.stray_legs import bracket_legs, stand_down_brackets
from app.errors import GatewayError
from app.failpoints import failpoint

if TYPE_CHECKING:
    from app.journal import Journal, OrderRecord
    from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)

# How far before its cancel a leg cancelled by an earlier run is looked for (Order/search).
EARLIER_LEGS = timedelta(days=1)


class AlertRun:
    """What one alert's run holds: the alert, its template, the session its orders go through,
    and the decisions that shape its status (stale, withheld, refused by the risk gate).

    ``new_rows``: the native bracket legs the gateway made with an entry, journaled with the
    alert's settlement (outcome, row columns).
    """

    def __init__(
        self,
        alert: Alert,
        template: StrategyTemplate,
        orders: OrderSession,
        *,
        instance: str,
        gate: RiskGate | None,
        group_locks: defaultdict[int, asyncio.Lock] | None = None,
    ) -> None:
        assert alert.alert_id is not None
        self.alert = alert
        self.alert_id: int = alert.alert_id
        self.template = template
        self.orders = orders
        self.instance = instance
        self.gate = gate  # the risk gate every entry passes (app/engine/risk_gate.py)
        self.gateway: Gateway = orders.gateway
        self.runner: JournalRunner = orders.runner
        self.journal: Journal = orders.journal
        self.new_rows: list[tuple[OrderOutcome, dict[str, Column]]] = []  # bracket legs to journal
        self.stale: str | None = None  # how old the alert is when too old for a new entry
        self.withheld = False  # a position sync's entry part was not sent: the alert is stale
        self.refusals: list[str] = []  # entries the risk gate refused, with its reasons
        # The gate's answers asked before the fan-out's lanes start, by intent index: taken
        # (once) by place_entry / place_oco instead of asking again (execute.py).
        self.gate_answers: dict[int, bool] = {}
        # protection's lock per OCO group (Executor.group_locks): held to move a group's stop
        self.group_locks: defaultdict[int, asyncio.Lock] = (
            defaultdict(asyncio.Lock) if group_locks is None else group_locks
        )

    @property
    def updates(self) -> list[OrderUpdate]:
        """The session's answers not yet committed (the settlement commits them)."""
        return self.orders.updates

    @updates.setter
    def updates(self, value: list[OrderUpdate]) -> None:
        self.orders.updates = value

    def tag(self, n: int) -> str:
        """The tag of the alert's ``n``-th order (its intent's index): the same on a resumed run."""
        return ids.client_order_id(self.instance, self.alert_id, n)

    def prior(self, account_id: int, tag: str | None) -> OrderRecord | None:
        """The earlier run's row with this tag on this account, or None."""
        return self.orders.prior(account_id, tag)

    def sent_before(self, account_id: int, tag: str | None) -> bool:
        """True when the earlier run's row with this tag may have reached the gateway."""
        prior = self.prior(account_id, tag)
        return prior is not None and prior.state != OrderState.NOT_PLACED

    async def position(self, account: Account, contract: Contract) -> Position | None:
        """The account's open position in ``contract`` (Position/searchOpen), None when flat."""
        positions = await self.gateway.open_positions(account.account_id)
        return next((p for p in positions if p.contract_id == contract.contract_id), None)

    async def leg_event(
        self,
        kind: EventKind,
        message: str,
        level: EventLevel,
        account: Account,
        contract: Contract,
        leg: BrokerOrder,
        **data: object,
    ) -> int | None:
        """Journal an event about one working leg of this alert's position (its resize, its
        move), linked to the leg's order row when the journal has one; return that row's id.
        ``data`` joins the account, contract and broker order ids. Raises JournalError."""
        row = await self.runner.run(
            self.journal.order_for_event, account.account_id, leg.broker_order_id, leg.client_order_id
        )
        await self.runner.run(
            self.journal.add_event,
            kind,
            message,
            level=level,
            alert_id=self.alert_id,
            order_record_id=row.id if row is not None else None,
            data={
                "account_id": account.account_id,
                "contract_id": contract.contract_id,
                "broker_order_id": leg.broker_order_id,
                **data,
            },
        )
        return row.id if row is not None else None

    async def flatten(
        self, account: Account, contract: Contract, position: Position | None, *, n: int = 0
    ) -> list[OrderOutcome]:
        """Cancel the position's bracket legs, close the position, then cancel the other
        working orders of that contract. ``n``: the intent's index (the tag of a stop loss
        placed again).

        Position/closeContract leaves the legs working (projectx-api.md §13.1): cancelled
        after the close, a leg could fill in between into a naked opposite position. The
        contract's managed brackets are stood down first, so protection does not answer the
        cancelled stop loss by placing it again or closing the position itself. A close that
        does not go through (refused, or its outcome unknown and not found done) while the
        gateway still lists the position has the cancelled stop loss placed again
        (app/engine/reprotect.py): never a position left without it.
        """
        outcomes: list[OrderOutcome] = []
        cancelled: set[int] = set()
        if position is not None:
            working = await self.gateway.open_orders(account.account_id)
            legs = await bracket_legs(self.runner, working, contract.contract_id)
            if legs:
                note = f"closed by alert {self.alert_id}: its legs are cancelled first"
                await stand_down_brackets(self.runner, account.account_id, contract.contract_id, note)
            cancels: list[OrderOutcome] = []
            for leg in legs:
                cancels += await self.orders.submit_cancel(account, contract.contract_id, leg.broker_order_id)
                cancelled.add(leg.broker_order_id)
            outcomes += cancels
            failpoint("flatten.legs_cancelled")  # the legs are gone, the close not yet sent
            close = await self.orders.submit_close(account, position)
            outcomes.append(close)
            stop = cancelled_stop(legs, cancels)
            if close.state != OrderState.DONE and stop is None and self.orders.prior_rows:
                stop = await self._stop_cancelled_before(account, contract)
            if close.state != OrderState.DONE and stop is not None:
                again = await reprotect(self, n, account, contract, stop, close)
                if again is not None and again.broker_order_id is not None:
                    cancelled.add(again.broker_order_id)  # not cancelled with the other orders below
        return outcomes + await self.cancel_working(account, contract, skip=cancelled)

    async def _stop_cancelled_before(self, account: Account, contract: Contract) -> BrokerOrder | None:
        """A resumed alert whose earlier run cancelled the position's legs and then died before
        its close: the stop loss it cancelled, as the gateway reports it (Order/search), or None.
        A gateway that cannot say is logged: nothing is guessed."""
        rows = [
            r
            for r in self.orders.prior_rows
            if r.account_id == account.account_id
            and r.contract_id == contract.contract_id
            and r.leg == Leg.CANCEL
            and r.state == OrderState.DONE
            and r.broker_order_id is not None
        ]
        if not rows:
            return None
        since = min(r.created_at for r in rows) - EARLIER_LEGS
        try:
            orders = await self.gateway.search_orders(account.account_id, since)
        except GatewayError as exc:
            log.error(
                "alert %s: could not read the stop loss cancelled before the restart on %s (%s): "
                "not placed again",
                self.alert_id,
                account.name,
                exc,
            )
            return None
        cancelled = [o for o in orders if o.broker_order_id in {r.broker_order_id for r in rows}]
        done = [row_outcome(r) for r in rows]
        return cancelled_stop(cancelled, done)

    async def cancel_working(
        self, account: Account, contract: Contract, *, skip: set[int] | None = None
    ) -> list[OrderOutcome]:
        """Cancel every working order of ``contract`` on the account (Order/searchOpen) but
        those in ``skip`` (broker ids already cancelled)."""
        outcomes = []
        for order in await self.gateway.open_orders(account.account_id):
            if order.contract_id == contract.contract_id and order.broker_order_id not in (skip or set()):
                outcomes += await self.orders.submit_cancel(
                    account, contract.contract_id, order.broker_order_id
                )
        return outcomes
