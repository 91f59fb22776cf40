"""Stray bracket legs: cancel the stop loss / take profit left working where the account is flat.

Position/closeContract does not cancel a position's bracket legs (projectx-api.md §13.1): a
leftover stop later fills into a naked opposite position. So every close the bridge makes
cancels the legs first (app/engine/alert_run.py; the kill switch cancels every working order),
and whenever an account becomes flat in a contract (a User Hub position event with size 0, or
a REST reconcile that finds the position gone), the sweep here cancels the bracket legs still
working there, each journaled with the reason.

A bracket leg is an order the gateway reports with ``parentOrderId`` (a native bracket child,
§4.8, §6.4 item 4: the bridge's own or one the trader's platform attached), or one of the
bridge's own managed stop loss / take profit rows (journal leg ``stop_loss``/``take_profit``).
Any other working order (a limit or stop the trader placed by hand) is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.enums import AlertStatus, Leg, OrderState
from app.domain.events import PositionEvent
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.domain.models import Account, BrokerOrder
from app.engine.accounts import AccountDirectory
from app.engine.ports import Gateway
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.engine.sender import OrderSender
from app.errors import GatewayError

if TYPE_CHECKING:
    from app.journal import Journal

log = logging.getLogger(__name__)

STRAY = "(stray legs)"  # the strategy of a sweep's alert row (parentheses: never a template name)
REASON = "position flat: stray bracket leg"
BRACKET_LEGS = (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
# A sweep waits this long after the flat event, so a close the bridge is making itself (which
# cancels its legs) finishes first and the sweep finds nothing to do (seconds).
SETTLE_S = 0.3


async def is_bracket_leg(runner: JournalRunner, order: BrokerOrder) -> bool:
    """True when ``order`` is a bracket leg: a native child (``parentOrderId`` set) or one of
    the bridge's managed stop loss / take profit rows. Raises JournalError."""
    if order.parent_broker_order_id is not None:
        return True
    row = await runner.run(
        runner.journal.order_for_event, order.account_id, order.broker_order_id, order.client_order_id
    )
    return row is not None and row.leg in BRACKET_LEGS


async def bracket_legs(
    runner: JournalRunner, orders: list[BrokerOrder], contract_id: str
) -> list[BrokerOrder]:
    """The working bracket legs among ``orders`` in ``contract_id``. Raises JournalError."""
    return [
        o
        for o in orders
        if o.contract_id == contract_id and o.state == OrderState.WORKING and await is_bracket_leg(runner, o)
    ]


async def stand_down_brackets(
    runner: JournalRunner, account_id: int, contract_id: str, note: str
) -> list[int]:
    """Mark the working managed brackets of ``account_id`` in ``contract_id`` done (before their
    legs are cancelled, so protection neither places them again nor closes the position for a
    missing stop loss); return the groups' ids. Raises JournalError."""
    journal: Journal = runner.journal
    done = [
        g.id
        for g in await runner.run(journal.oco_groups, OcoState.WORKING)
        if g.id is not None
        and g.account_id == account_id
        and g.contract_id == contract_id
        and g.kind in (OcoKind.MANAGED_BRACKET, OcoKind.SCALE_OUT)
    ]
    for group_id in done:
        await runner.run(journal.set_oco_group, group_id, OcoState.DONE, note=note)
    return done


class StraySweeper:
    """Cancel the bracket legs left working in a contract once the account is flat there.

    ``on_position`` takes every position snapshot (hub and reconcile, via the EventApplier);
    one sweep per flat transition: a contract swept stays swept until a position opens there
    again, so repeated flat events cost nothing. A sweep that failed (gateway error) is tried
    again on the next flat snapshot (e.g. the REST catch-up after a reconnect).
    """

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        accounts: AccountDirectory,
        reconciler: Reconciler,
        *,
        spawn: Callable[[Coroutine[object, object, object]], None],
        settle_s: float = SETTLE_S,
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.accounts = accounts
        # No notifier: a leg that filled or was cancelled meanwhile answers a harmless rejection.
        self.sender = OrderSender(gateway, runner, reconciler)
        self.spawn = spawn
        self.settle_s = settle_s
        self._swept: set[tuple[int, str]] = set()  # flat and swept
        self._busy: set[tuple[int, str]] = set()  # a sweep under way
        self._asked: set[int] = set()  # broker ids this sweeper asked to cancel: never twice

    def on_position(self, event: PositionEvent) -> None:
        """A position snapshot was journaled: when flat, sweep the contract (in the background,
        off the alert path). Returns at once."""
        key = (event.account_id, event.contract_id)
        if event.size != 0:
            self._swept.discard(key)
            return
        if key in self._swept or key in self._busy:
            return
        self._busy.add(key)
        self.spawn(self._sweep_later(*key))

    async def _sweep_later(self, account_id: int, contract_id: str) -> None:
        key = (account_id, contract_id)
        try:
            await asyncio.sleep(self.settle_s)
            await self.sweep(account_id, contract_id)
            self._swept.add(key)
        except GatewayError as exc:
            log.warning(
                "stray-leg sweep of %s on account %s failed (tried again when flat): %s",
                contract_id,
                account_id,
                exc,
            )
        except Exception:  # noqa: BLE001 — a background task: log, the next flat event retries
            log.exception("stray-leg sweep of %s on account %s failed", contract_id, account_id)
        finally:
            self._busy.discard(key)

    async def sweep(self, account_id: int, contract_id: str) -> list[int]:
        """Cancel the working bracket legs in ``contract_id`` if the account holds no position
        there; return the broker ids cancelled. Raises GatewayError (reads), JournalError."""
        orders = await self.gateway.open_orders(account_id)
        # Read after the orders: a position opened since (its legs just went working) is seen.
        positions = await self.gateway.open_positions(account_id)
        if any(p.contract_id == contract_id for p in positions):
            return []
        legs = [
            o
            for o in await bracket_legs(self.runner, orders, contract_id)
            if o.broker_order_id not in self._asked
        ]
        if not legs:
            return []
        account = await self._account(account_id)
        journal: Journal = self.runner.journal
        groups = await stand_down_brackets(self.runner, account_id, contract_id, REASON)
        entry = await self.runner.run(
            journal.record_alert,
            strategy=STRAY,
            raw_body=f"{REASON}: {account.name} is flat in {contract_id}; cancel its working bracket legs",
            received_at=datetime.now(UTC),
            source_ip="sweep",
        )
        alert_id = int(entry.alert_id)
        session = self.sender.session(alert_id, strategy=STRAY)
        cancelled: list[int] = []
        for leg in legs:
            self._asked.add(leg.broker_order_id)
            outcome = await session.cancel(account, contract_id, leg.broker_order_id)
            done = outcome.state == OrderState.DONE
            if done:
                cancelled.append(leg.broker_order_id)
            message = (
                f"{REASON}: {account.name} {contract_id}: cancel {leg.side} {leg.size} {leg.order_type} "
                f"{leg.broker_order_id}: {outcome.state}" + ("" if done else f" ({outcome.message})")
            )
            (log.warning if done else log.error)("%s", message)
            await self.runner.run(
                journal.add_event,
                EventKind.STRAY_LEG_CANCELLED,
                message,
                level=EventLevel.WARNING if done else EventLevel.CRITICAL,
                alert_id=alert_id,
                data={
                    "account_id": account_id,
                    "contract_id": contract_id,
                    "broker_order_id": leg.broker_order_id,
                    "parent_broker_order_id": leg.parent_broker_order_id,
                    "state": str(outcome.state),
                    "reason": REASON,
                    "oco_groups_done": groups,
                },
            )
        status = AlertStatus.EXECUTED if len(cancelled) == len(legs) else AlertStatus.PARTIAL
        if not cancelled:
            status = AlertStatus.FAILED
        summary = f"{REASON}: {account.name} {contract_id}: cancelled {len(cancelled)} of {len(legs)} leg(s)"
        await self.runner.run(journal.settle_alert, alert_id, status, reason=summary, contract_id=contract_id)
        return cancelled

    async def _account(self, account_id: int) -> Account:
        try:
            known = {a.account_id: a for a in await self.accounts.all()}
        except GatewayError:
            known = {}
        return known.get(account_id) or Account(account_id, f"account {account_id}", Decimal(0), True)
