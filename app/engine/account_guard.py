"""Guard the whole account, whoever trades it: not only the bridge's own orders.

- A position that appears on a locked account (a manual trade on the platform, a fill of an
  order the bridge did not place) is closed and the account's working orders cancelled as soon
  as the User Hub reports it (:meth:`AccountGuard.on_events`, right after the events are
  journaled), not at the monitor's next tick. Once per appearance: the (account, contract) is
  marked until the hub reports it flat; a close that fails is journaled and unmarked, so the
  next event or the monitor's next check (:meth:`AccountGuard.check`) tries again. Only where
  ``flatten_on_lockout`` is on: an account locked with it off keeps what it holds by choice.
- ``[risk] naked_position_grace_s``: a position with no working stop loss (a stop or trailing
  stop on the other side, in its contract) for longer than the grace is closed with its working
  orders in that contract (``naked_position_action = "close"``) or only reported (``"alarm"``: a
  journal event and an UNPROTECTED notice), once until it is protected again or flat. Checked by
  the risk monitor.
- An account snapshot from the hub (``canTrade``) refreshes the account directory at once, so
  entries on an account switched off are refused with that reason.

Flattening goes through the kill switch's flatten_accounts (one flatten at a time; an account
already flat is not flattened again), so the lockout's own flatten and this one never double.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime

from app.config import RiskSettings
from app.domain.enums import Side
from app.domain.events import AccountEvent, GatewayEvent, PositionEvent
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, BrokerOrder
from app.engine import notices
from app.engine.accounts import AccountDirectory
from app.engine.flatten import FlattenReport
from app.engine.ports import Gateway, Notifier
from app.engine.risk_gate import RiskGate
from app.errors import BridgeError

log = logging.getLogger(__name__)

GUARD_BY = "account guard"
# Order types that protect a position (BrokerOrder.order_type, app/gateway/wire.py).
_STOP_TYPES = frozenset({"stop", "trailing_stop", "stop_limit"})

Key = tuple[int, str]  # (account id, contract id)
Flatten = Callable[[list[int], str], Awaitable[FlattenReport | None]]


class AccountGuard:
    """Close what appears on a locked account; watch for positions without a stop loss."""

    def __init__(
        self,
        gate: RiskGate,
        gateway: Gateway,
        accounts: AccountDirectory,
        flatten: Flatten,
        notifier: Notifier,
        *,
        spawn: Callable[[Coroutine[object, object, object]], None] | None = None,
    ) -> None:
        self.gate = gate
        self.gateway = gateway
        self.accounts = accounts
        self.flatten = flatten  # flatten(account_ids, by): the kill switch's, without pausing
        self.notifier = notifier
        self._spawn = spawn
        self._closing: set[Key] = set()  # positions on a locked account being (or just) closed
        self._busy: set[int] = set()  # accounts with a guard flatten running
        self._naked_since: dict[Key, datetime] = {}
        self._naked_done: set[Key] = set()  # acted on (closed or alarmed) until protected or flat

    @property
    def settings(self) -> RiskSettings:
        return self.gate.settings

    # -- the hub's events ------------------------------------------------------------------------

    async def on_events(self, batch: Iterable[GatewayEvent]) -> None:
        """React to a journaled batch of hub events (never raises): a position on a locked
        account is closed at once (in a task: the event queue must not wait for the gateway)."""
        try:
            await self._on_events(list(batch))
        except Exception:  # noqa: BLE001 — the monitor's next check tries again
            log.exception("the account guard could not look at the hub's events")

    async def _on_events(self, batch: list[GatewayEvent]) -> None:
        latest: dict[Key, PositionEvent] = {}
        for event in batch:
            if isinstance(event, AccountEvent):
                self.accounts.note(event.account)
            elif isinstance(event, PositionEvent):
                latest[(event.account_id, event.contract_id)] = event
        opened = []
        for key, event in latest.items():
            if event.size == 0:
                self._closing.discard(key)  # flat: the next appearance is a new one
                self._forget_naked(key)
            elif key not in self._closing:
                opened.append(key)
        if not opened:
            return
        # Read the lockouts now, not as last refreshed: `tvbridge` in another process may have
        # locked, and the event must not wait for the monitor's tick.
        await self.gate.refresh_lockouts()
        for key in opened:
            if self._guarded(key[0]):
                self._start_close(key)

    def _guarded(self, account_id: int) -> bool:
        """Locked, with flatten_on_lockout on (its positions are unwanted)."""
        lock = self.gate.lockouts.get(account_id)
        if lock is None:
            return False
        name = self.accounts.name_of(account_id)
        return self.settings.for_account(name, account_id).flatten_on_lockout

    def _start_close(self, key: Key) -> None:
        self._closing.add(key)
        if self._spawn is not None:
            self._spawn(self._close_locked(key))
        else:
            asyncio.get_running_loop().create_task(self._close_locked(key))

    async def _close_locked(self, key: Key) -> None:
        account_id, contract_id = key
        if account_id in self._busy:
            self._closing.discard(key)  # the running flatten closes it; if not, the next check
            return
        self._busy.add(account_id)
        name = self.accounts.name_of(account_id)
        lock = self.gate.lockouts.get(account_id)
        why = lock.reason if lock is not None else "locked"
        reason = f"a position in {contract_id} appeared on {name}, which is locked ({why})"
        level, words, ok = EventLevel.WARNING, "", False
        try:
            report = await self.flatten([account_id], f"{GUARD_BY}: {reason}")
            if report is None:  # already flat (the lockout's own flatten got there first)
                log.info("%s: already flat", reason)
                return
            ok = report.ok
            words = (
                f"closed it and cancelled the account's working orders (flatten alert {report.alert_id})"
                if ok
                else f"{report.summary()}; tried again on the next event or check"
            )
        except BridgeError as exc:
            words = f"closing it failed ({exc}); tried again on the next event or check"
        except Exception as exc:  # noqa: BLE001 — journaled; the next event or check retries
            log.exception("the account guard's flatten of %s failed", name)
            words = f"closing it failed ({exc}); tried again on the next event or check"
        finally:
            self._busy.discard(account_id)
        if not ok:
            level = EventLevel.ERROR
            self._closing.discard(key)  # tried again on the next event or check
        message = f"{reason}: {words}"
        (log.warning if ok else log.error)("%s", message)
        await self._journal(EventKind.RISK_GUARD, message, level, key, {"ok": ok})

    # -- the monitor's check ---------------------------------------------------------------------

    async def check(self, accounts: Iterable[Account], now: datetime) -> None:
        """At each risk monitor check (lockouts just refreshed): retry a locked account's close
        that failed; report or close positions naked for longer than the grace. Never raises
        for one account."""
        for account in accounts:
            try:
                await self._check_one(account, now)
            except Exception:  # noqa: BLE001 — the others are still checked
                log.exception("the account guard's check of %s failed", account.name)

    async def _check_one(self, account: Account, now: datetime) -> None:
        grace = self.settings.naked_position_grace_s
        guarded = self._guarded(account.account_id)
        if grace is None and not guarded:
            return
        gate = self.gate
        positions = [p for p in await gate.runner.run(gate.journal.positions, account.account_id) if p.size]
        held = {(account.account_id, p.contract_id): p for p in positions}
        for key in [k for k in self._naked_since if k[0] == account.account_id and k not in held]:
            self._forget_naked(key)
        if not held:
            return
        if guarded:
            for key in held:
                if key not in self._closing and account.account_id not in self._busy:
                    self._closing.add(key)
                    await self._close_locked(key)
            return
        assert grace is not None
        orders = await self.gateway.open_orders(account.account_id)
        for key, position in held.items():
            if position.side is None:
                continue
            if _protected(orders, key[1], position.side):
                self._forget_naked(key)
                continue
            since = self._naked_since.setdefault(key, now)
            if key in self._naked_done or (now - since).total_seconds() < grace:
                continue
            await self._naked(account, key, position.side, position.size, orders, grace)

    async def _naked(
        self, account: Account, key: Key, side: Side, size: int, orders: list[BrokerOrder], grace: float
    ) -> None:
        contract_id = key[1]
        held = f"{'long' if side is Side.BUY else 'short'} {size} {contract_id}"
        reason = f"{held} on {account.name} has had no working stop loss for {grace:g} s or more"
        if self.settings.naked_position_action == "alarm":
            self._naked_done.add(key)
            what = f"{reason} (naked_position_grace_s {grace:g}); naked_position_action is alarm: left open"
            case = notices.Unprotected(
                f"naked:{key[0]}:{contract_id}", account.name, contract_id, side, size, what
            )
            notices.send(self.notifier, notices.unprotected(case))
            await self._journal(EventKind.RISK_NAKED, what, EventLevel.ERROR, key, {"action": "alarm"})
            return
        try:
            for order in orders:
                if order.contract_id == contract_id:
                    await self.gateway.cancel_order(account.account_id, order.broker_order_id)
            await self.gateway.close_position(account.account_id, contract_id)
        except BridgeError as exc:
            message = f"{reason}: closing it failed ({exc}); tried again at the next check"
            log.error("%s", message)
            await self._journal(
                EventKind.RISK_NAKED, message, EventLevel.ERROR, key, {"action": "close", "ok": False}
            )
            return
        self._naked_done.add(key)
        message = f"{reason}: closed at the market and its working orders in {contract_id} cancelled"
        log.warning("%s", message)
        await self._journal(
            EventKind.RISK_NAKED, message, EventLevel.WARNING, key, {"action": "close", "ok": True}
        )

    def _forget_naked(self, key: Key) -> None:
        self._naked_since.pop(key, None)
        self._naked_done.discard(key)

    async def _journal(
        self, kind: EventKind, message: str, level: EventLevel, key: Key, data: dict[str, object]
    ) -> None:
        try:
            await self.gate.runner.run(
                self.gate.journal.add_event,
                kind,
                message,
                level=level,
                data={"account_id": key[0], "contract_id": key[1], **data},
            )
        except BridgeError as exc:
            log.error("could not journal %s: %s", kind, exc)


def _protected(orders: list[BrokerOrder], contract_id: str, side: Side) -> bool:
    """Whether a working stop on the other side protects the position in ``contract_id``."""
    exit_side = Side.SELL if side is Side.BUY else Side.BUY
    return any(
        o.contract_id == contract_id and o.side is exit_side and o.order_type in _STOP_TYPES for o in orders
    )
