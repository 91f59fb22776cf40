"""The kill switch's flatten: cancel every working order, then close every position, per account.

A flatten is journaled like an alert of its own (strategy "(kill switch)": the parentheses
cannot be a template name), with one write-ahead CANCEL or CLOSE row per request, each sent
once and never retried (DESIGN.md; projectx-api.md §4.7, §4.9). Working orders are cancelled
before positions are closed, so a bracket leg cannot fill against the close; the OCO groups and
managed brackets of the accounts are marked done first, so protection neither re-places nor
reacts. Then Order/searchOpen and Position/searchOpen are read again: the report says what is
still open, account by account, and one account failing never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from app.domain.enums import AlertStatus, OrderState, Side
from app.domain.kinds import EventKind, EventLevel, OcoState
from app.domain.models import Account, BrokerOrder, OrderOutcome, Position
from app.engine.accounts import AccountDirectory
from app.engine.ports import Gateway, Notifier
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.engine.sender import OrderSender, OrderSession
from app.errors import GatewayError

if TYPE_CHECKING:
    from app.journal import Journal

T = TypeVar("T")

log = logging.getLogger(__name__)

KILL_SWITCH = "(kill switch)"  # the strategy of a flatten's alert row
GROUP_NOTE = "flattened by the kill switch"
CHECK_S = 2.0  # how long the final check waits for what was cancelled or closed to disappear
CHECK_POLL_S = 0.2
PLATFORM = "close it on the TopstepX platform"


@dataclass(frozen=True)
class AccountPlan:
    """What one account holds now: its working orders (Order/searchOpen; suspended bracket
    children are not listed, they go with their entry) and open positions (Position/searchOpen).

    ``error`` is set when the account could not be read: what it holds is then not known.
    """

    account_id: int
    account_name: str
    orders: tuple[BrokerOrder, ...] = ()
    positions: tuple[Position, ...] = ()
    error: str | None = None

    @property
    def empty(self) -> bool:
        """True when the account was read and holds nothing."""
        return self.error is None and not self.orders and not self.positions


@dataclass(frozen=True)
class FlattenPlan:
    """What a flatten would cancel and close, account by account (nothing is sent to make it)."""

    accounts: tuple[AccountPlan, ...]

    @property
    def empty(self) -> bool:
        return all(a.empty for a in self.accounts)


@dataclass(frozen=True)
class AccountFlatten:
    """What a flatten did on one account: the broker ids it cancelled, the contract ids it
    closed, what the gateway still lists afterwards, and every error with the gateway's words.

    ``checked`` is False when the final read failed: what is left is then not known.
    """

    account_id: int
    account_name: str
    cancelled: tuple[int, ...] = ()
    closed: tuple[str, ...] = ()
    still_open_orders: tuple[BrokerOrder, ...] = ()
    still_open_positions: tuple[Position, ...] = ()
    errors: tuple[str, ...] = ()
    checked: bool = True

    @property
    def ok(self) -> bool:
        """True when the account was checked and nothing is left open."""
        return self.checked and not self.still_open_orders and not self.still_open_positions

    def describe(self) -> str:
        """One sentence for a trader: what was done, what is left and what to do."""
        done = []
        if self.cancelled:
            done.append(f"cancelled {len(self.cancelled)} working order(s)")
        if self.closed:
            done.append("closed " + ", ".join(self.closed))
        text = f"{self.account_name}: " + (" and ".join(done) or "nothing was open")
        if not self.checked:
            text += f"; NOT CHECKED afterwards: look at {self.account_name} on the TopstepX platform"
        left = [f"order {describe_order(o)}" for o in self.still_open_orders]
        left += [f"position {describe_position(p)}" for p in self.still_open_positions]
        if left:
            text += f"; STILL OPEN: {', '.join(left)}: {PLATFORM}"
        if self.errors:
            text += f" (errors: {'; '.join(self.errors)})"
        return text


@dataclass(frozen=True)
class FlattenReport:
    """The outcome of one flatten: its alert row and each account's result."""

    alert_id: int
    by: str
    accounts: tuple[AccountFlatten, ...]

    @property
    def ok(self) -> bool:
        """True when at least one account was flattened and every account is checked flat."""
        return bool(self.accounts) and all(a.ok for a in self.accounts)

    @property
    def status(self) -> AlertStatus:
        """The alert row's status: EXECUTED (or NOOP) when nothing is left, else PARTIAL when
        something was cancelled or closed, FAILED when nothing was."""
        did = any(a.cancelled or a.closed for a in self.accounts)
        if self.ok:
            return AlertStatus.EXECUTED if did else AlertStatus.NOOP
        return AlertStatus.PARTIAL if did else AlertStatus.FAILED

    def summary(self) -> str:
        """One paragraph for a trader."""
        head = f"Flatten by {self.by} (alert {self.alert_id}): "
        if not self.accounts:
            return head + (
                "no account to flatten (no template names an account the gateway lists); nothing "
                f"was checked: look at your accounts on the TopstepX platform and {PLATFORM}"
            )
        text = head + "; ".join(a.describe() for a in self.accounts) + ". "
        return text + ("Everything is flat." if self.ok else "NOT everything is flat.")

    def data(self) -> dict[str, Any]:
        """The report as JSON-ready data (for the event row and the JSON API)."""
        return {
            "alert_id": self.alert_id,
            "by": self.by,
            "ok": self.ok,
            "accounts": [
                {
                    "account_id": a.account_id,
                    "account_name": a.account_name,
                    "cancelled": list(a.cancelled),
                    "closed": list(a.closed),
                    "still_open_orders": [o.broker_order_id for o in a.still_open_orders],
                    "still_open_positions": [p.contract_id for p in a.still_open_positions],
                    "errors": list(a.errors),
                    "checked": a.checked,
                }
                for a in self.accounts
            ],
        }


def position_side(position: Position) -> str:
    """ "long" or "short"."""
    return "long" if position.side is Side.BUY else "short"


def describe_order(order: BrokerOrder) -> str:
    """E.g. ``3350000004 (sell 1 stop @ 21490.25 in CON.F.US.MNQ.H26)``."""
    price = order.limit_price if order.limit_price is not None else order.stop_price
    at = f" @ {price}" if price is not None else ""
    return (
        f"{order.broker_order_id} ({order.side} {order.size} {order.order_type}{at} in {order.contract_id})"
    )


def describe_position(position: Position) -> str:
    """E.g. ``long 2 CON.F.US.MNQ.H26 @ 21500.25``."""
    return f"{position_side(position)} {position.size} {position.contract_id} @ {position.average_price}"


class Flattener:
    """Show and carry out the kill switch's flatten on a set of accounts.

    ``check_s``: how long the final check waits for orders it cancelled and positions it
    closed to leave the gateway's lists (seconds).
    """

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        accounts: AccountDirectory,
        *,
        reconciler: Reconciler,
        check_s: float = CHECK_S,
        notifier: Notifier | None = None,
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.journal: Journal = runner.journal
        self.accounts = accounts
        self.reconciler = reconciler
        self.check_s = check_s
        self.sender = OrderSender(gateway, runner, reconciler, notifier=notifier)  # rejections reported

    async def plan(self, account_ids: Iterable[int]) -> FlattenPlan:
        """Read what ``account_ids`` hold now (two reads per account); never raises GatewayError:
        an account that cannot be read carries the gateway's message in ``error``."""
        accounts = await self._resolve(account_ids)
        return FlattenPlan(tuple(await asyncio.gather(*(self._plan_one(a) for a in accounts))))

    async def flatten(self, account_ids: Iterable[int], *, by: str) -> FlattenReport:
        """Cancel every working order, then close every position on ``account_ids``; return what
        was done and what is still open. ``by`` says who asked (journaled).

        Gateway errors are in the report, per account; raises JournalError only (nothing is
        sent without its write-ahead row).
        """
        ids = sorted(set(account_ids))
        alert_id = await self._journal_request(ids, by)
        groups = await self._stand_down_protection(ids)
        # One session per account: each holds its own unflushed answers.
        work = [
            _Work(a, self.sender.session(alert_id, strategy=KILL_SWITCH)) for a in await self._resolve(ids)
        ]
        # Every account's cancels, then every account's closes, then the checks: accounts run
        # side by side within each step, and one account's failure is noted in its own _Work.
        await asyncio.gather(*(self._cancel_all(w) for w in work))
        await asyncio.gather(*(self._close_all(w) for w in work))
        results = await asyncio.gather(*(self._check(w) for w in work))
        report = FlattenReport(alert_id, by, tuple(results))
        summary = report.summary()
        (log.warning if report.ok else log.error)("%s", summary)
        await self.runner.run(self.journal.settle_alert, alert_id, report.status, reason=summary)
        await self.runner.run(
            self.journal.add_event,
            EventKind.KILL_FLATTEN,
            summary,
            level=EventLevel.WARNING if report.ok else EventLevel.CRITICAL,
            alert_id=alert_id,
            data={**report.data(), "oco_groups_done": groups},
        )
        return report

    # -- steps ---------------------------------------------------------------------------------

    async def _journal_request(self, ids: list[int], by: str) -> int:
        accounts = ", ".join(map(str, ids)) or "none"
        body = (
            f"flatten all requested by {by}: cancel every working order, then close every "
            f"position, on accounts {accounts}"
        )
        entry = await self.runner.run(
            self.journal.record_alert,
            strategy=KILL_SWITCH,
            raw_body=body,
            received_at=datetime.now(UTC),
            source_ip=by,
        )
        return int(entry.alert_id)

    async def _stand_down_protection(self, ids: list[int]) -> list[int]:
        """Mark the working OCO groups and managed brackets of ``ids`` done; return their ids."""
        groups = await self.runner.run(self.journal.oco_groups, OcoState.WORKING)
        done = [g.id for g in groups if g.account_id in ids and g.id is not None]
        for group_id in done:
            await self.runner.run(self.journal.set_oco_group, group_id, OcoState.DONE, note=GROUP_NOTE)
        return done

    async def _resolve(self, account_ids: Iterable[int]) -> list[Account]:
        """The accounts by id; one the directory cannot name is still flattened by its id."""
        try:
            known = {a.account_id: a for a in await self.accounts.all()}
        except GatewayError as exc:
            log.warning("flatten: the account list could not be read, going by id: %s", exc)
            known = {}
        return [known.get(i) or Account(i, f"account {i}", Decimal(0), True) for i in account_ids]

    async def _plan_one(self, account: Account) -> AccountPlan:
        try:
            orders = await self.gateway.open_orders(account.account_id)
            positions = await self.gateway.open_positions(account.account_id)
        except GatewayError as exc:
            return AccountPlan(account.account_id, account.name, error=f"could not be read: {exc}")
        return AccountPlan(account.account_id, account.name, tuple(orders), tuple(positions))

    async def _cancel_all(self, work: _Work) -> None:
        account = work.account
        for order in await self._read(self.gateway.open_orders, account, "working orders", work.errors):
            outcome = await work.session.cancel(account, order.contract_id, order.broker_order_id)
            if outcome.state == OrderState.DONE:
                work.cancelled.append(order.broker_order_id)
            else:
                work.errors.append(_failed(account.name, f"cancel of order {describe_order(order)}", outcome))

    async def _close_all(self, work: _Work) -> None:
        # Read after the cancels: a working order that filled meanwhile is in a position now.
        account = work.account
        for position in await self._read(self.gateway.open_positions, account, "positions", work.errors):
            outcome = await work.session.close(account, position)
            if outcome.state == OrderState.DONE:
                work.closed.append(position.contract_id)
            else:
                what = f"close of position {describe_position(position)}"
                work.errors.append(_failed(account.name, what, outcome))

    async def _check(self, work: _Work) -> AccountFlatten:
        account = work.account
        done = (account.account_id, account.name, tuple(work.cancelled), tuple(work.closed))
        try:
            orders, positions = await self._left(account, set(work.cancelled), set(work.closed))
        except GatewayError as exc:
            work.errors.append(f"{account.name}: could not check what is left: {exc}")
            return AccountFlatten(*done, errors=tuple(work.errors), checked=False)
        return AccountFlatten(*done, tuple(orders), tuple(positions), tuple(work.errors))

    async def _read(
        self, read: Callable[[int], Awaitable[list[T]]], account: Account, what: str, errors: list[str]
    ) -> list[T]:
        """One search of the account; on a gateway error, note it and go on with nothing."""
        try:
            return list(await read(account.account_id))
        except GatewayError as exc:
            errors.append(f"{account.name}: could not list the {what}: {exc}")
            return []

    async def _left(
        self, account: Account, cancelled: set[int], closed: set[str]
    ) -> tuple[list[BrokerOrder], list[Position]]:
        """What the gateway still lists, waiting up to ``check_s`` for what was cancelled or
        closed to leave its lists (a close at market takes a moment). Raises GatewayError."""
        deadline = time.monotonic() + self.check_s
        while True:
            orders = await self.gateway.open_orders(account.account_id)
            positions = await self.gateway.open_positions(account.account_id)
            lagging = any(o.broker_order_id in cancelled for o in orders) or any(
                p.contract_id in closed for p in positions
            )
            if not lagging or time.monotonic() >= deadline:
                return orders, positions
            await asyncio.sleep(CHECK_POLL_S)


@dataclass
class _Work:
    """One account's flatten under way: its session, and what was done and went wrong so far."""

    account: Account
    session: OrderSession
    cancelled: list[int] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _failed(account_name: str, what: str, outcome: OrderOutcome) -> str:
    """An order-changing call that did not take effect, with the gateway's message."""
    return f"{account_name}: {what} {outcome.state}: {outcome.message}"
