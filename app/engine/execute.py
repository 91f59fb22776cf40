"""Turn one authenticated, journaled alert into gateway orders, write-ahead and never resent.

One alert's run: render it through its template, check its age (app/domain/staleness.py),
resolve all its accounts before the first order, dispatch each intent by action (entries,
brackets and OCO pairs in entries.py, the target position in target_position.py, exit / cancel /
reverse here; the accounts at once, one lane per account: all_settled), then settle: the answers
held by its OrderSession (sender.py) and the native bracket legs are committed with the alert's
final status in one transaction at the end. A crash in between leaves rows SUBMITTING, which
reconciliation settles by their tag. An UNKNOWN answer is journaled at once and reconciled by its
tag before anything else is done for that account (DESIGN.md, projectx-api.md §3, §8).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from app.config import RiskLimits
from app.domain.enums import Action, AlertStatus, Leg, OrderState, Side
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import (
    Account,
    Alert,
    Contract,
    OrderIntent,
    OrderOutcome,
)
from app.domain.risk import only_reduces
from app.domain.staleness import (
    RESUME_MAX_AGE_S,
    STALE_ADVICE,
    received_too_long_ago,
    stale_age,
    unchecked_time,
)
from app.engine import notices
from app.engine.accounts import AccountDirectory
from app.engine.alert_run import AlertRun
from app.engine.break_even import break_even
from app.engine.entries import passes_gate, place_entry, place_oco, plain
from app.engine.outcomes import alert_status
from app.engine.partial_exit import is_partial, partial_exit
from app.engine.ports import Gateway, Notifier
from app.engine.reconcile import Reconciler
from app.engine.risk_gate import RiskGate
from app.engine.runner import JournalRunner
from app.engine.sender import OrderSender, OrderSession, row_outcome
from app.engine.sizing import LimitsOf, size_entry, with_quantity
from app.engine.target_position import signed_position, sync
from app.errors import (
    AlertInvalidError,
    GatewayError,
    JournalError,
    TemplateError,
)
from app.failpoints import failpoint
from app.strategies import SyncIntent
from app.strategies.sandbox import NeedsThread, first_try

if TYPE_CHECKING:
    from app.strategies import StrategyTemplate

__all__ = [  # re-exported from their new homes for the modules that import them from here
    "RESUME_MAX_AGE_S",
    "STALE_ADVICE",
    "Executor",
    "OrderSession",
    "Settlement",
    "received_too_long_ago",
    "row_outcome",
    "stale_age",
    "unchecked_time",
]

log = logging.getLogger(__name__)
R = TypeVar("R")

# A strategy whose alerts cannot be checked for age journals one warning event per this many
# seconds (each alert's reason still says so): a flood of such alerts is not a flood of events.
TIME_WARNING_EVERY_S = 600.0


@dataclass
class Settlement:
    """The outcome of one alert, as the webhook answers it (its status and JSON body; the
    bridge makes it an Answer, the web layer chooses the HTTP status: app/web/webhook.py).

    ``nothing_done``: the journal failed before anything was sent (a re-send is welcome).
    """

    alert_id: int
    status: AlertStatus
    orders: list[OrderOutcome] = field(default_factory=list)
    reason: str | None = None
    nothing_done: bool = False
    sizing: list[str] = field(default_factory=list)  # size by risk, per account (tvbridge render)

    def body(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "status": str(self.status),
            "reason": self.reason,
            "orders": [_outcome_json(o) for o in self.orders],
        }


class Executor:
    """Execute rendered alerts against the gateway, journaling every step."""

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        accounts: AccountDirectory,
        reconciler: Reconciler,
        *,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        gate: RiskGate | None = None,
        ready: Callable[[set[int]], Awaitable[None]] | None = None,
        notifier: Notifier | None = None,
        limits: LimitsOf | None = None,
        group_locks: defaultdict[int, asyncio.Lock] | None = None,
    ) -> None:
        self.gateway = gateway
        # One lock per OCO group, protection's own (ProtectionContext.locks): an alert that moves
        # a group's stop loss (breakeven) holds it, so it never races a live stop move.
        self.group_locks: defaultdict[int, asyncio.Lock] = (
            defaultdict(asyncio.Lock) if group_locks is None else group_locks
        )
        self.runner = runner
        self.accounts = accounts
        self.reconciler = reconciler
        self.instance = instance
        self.clock = clock  # UTC; an alert's age is measured on it (stale entries)
        self.gate = gate  # the risk gate every entry passes (app/engine/risk_gate.py)
        # An account's limits, for size by risk's cap (max_order_size): the gate's when there is
        # one; a preview passes the settings' own (it has no gate).
        self._limits = limits
        # Awaited with an alert's account ids before anything is sent on them: after a restart,
        # until those accounts' unfinished orders are settled (app/engine/recovery.py).
        self.ready = ready
        # strategy → when an alert of it last journaled "stale check not done" (UTC)
        self.time_warned: dict[str, datetime] = {}
        # ``notifier``: rejected orders and risk refusals are reported there (app/engine/notices.py).
        self.sender = OrderSender(gateway, runner, reconciler, notifier=notifier)

    def limits_of(self, account: Account) -> RiskLimits | None:
        """The account's risk limits (size by risk caps at their max_order_size); None: none known."""
        if self._limits is not None:
            return self._limits(account)
        return self.gate.limits(account) if self.gate is not None else None

    async def execute(self, alert: Alert, template: StrategyTemplate, *, resumed: bool = False) -> Settlement:
        """Render ``alert`` through ``template`` and send its orders; journal the outcome.

        Template and ticker problems end as 422 (INVALID); a gateway that cannot be reached
        before anything is sent ends as FAILED; once an order was sent the answer is 200.

        Stale alerts: when the template has a ``time_field`` and the alert's time is more than
        ``max_age_s`` seconds before ``clock()`` as the alert starts executing (so the wait
        behind the strategy's earlier alerts counts), a buy/sell entry or an OCO pair sends
        nothing and ends STALE (200, the reason names the alert time, its age and max_age_s).
        Exit and cancel run whatever their age: a late exit still gets the trader out. A
        reverse closes the position but sends no new entry; its status is what the close's
        outcomes say (EXECUTED when the close was done: something was executed, and a STALE
        status would hide that), and the reason says the entry was not sent. A time ahead of
        the clock is never stale; more than max_age_s ahead logs a WARNING (this computer's
        clock looks behind). ``max_age_s = 0`` turns the check off.

        ``resumed``: the alert was journaled by an earlier run of the bridge that stopped before
        settling it (a crash), and its order rows are settled (app/engine/recovery.py). It is
        executed again from its template, so it maps to the same tags: an order whose row the
        earlier run wrote and that reached the gateway (or whose outcome is still unknown) is
        taken as it is, never sent again; one proven absent (NOT_PLACED) is sent again with the
        same row and tag (the gateway refuses a tag used twice on an account, §6.3, so even a
        search that missed it cannot make a second order); one never written is sent as new.
        Its age counts from the alert's time, or, for a template without ``time_field``, from
        when it was received: an entry too old is not sent and the alert ends STALE (or with
        the status of what the earlier run did send).
        """
        return await _Execution(self, alert, template, resumed=resumed).run(template)


async def _render(render: Callable[..., R], *args: Any) -> R:
    """Run a template's (pure) render on the event loop when it is quick, else on a worker thread.

    Almost every template renders in well under a millisecond: a hop to a worker thread and back
    would cost the webhook's round trip more than that (bench/alert_latency.py). One that needs
    more than the sandbox's first try (app/strategies/sandbox.py, first_try) is rendered again,
    whole, on a worker thread within its full budget, and the event loop answers others meanwhile.
    """
    try:
        with first_try():
            return render(*args)
    except NeedsThread:
        return await asyncio.to_thread(render, *args)


class _Execution(AlertRun):
    """One alert's run: what it sent, and the journal writes it still owes."""

    def __init__(
        self, executor: Executor, alert: Alert, template: StrategyTemplate, *, resumed: bool = False
    ) -> None:
        assert alert.alert_id is not None
        orders = executor.sender.session(alert.alert_id, strategy=alert.strategy)
        super().__init__(
            alert,
            template,
            orders,
            instance=executor.instance,
            gate=executor.gate,
            group_locks=executor.group_locks,
        )
        self.executor = executor
        self.accounts = executor.accounts
        self.resumed = resumed
        self.unchecked: str | None = None  # why the stale check could not judge the alert
        self.started_at = executor.clock()  # the alert's age is measured from here
        self.sizing_lines: list[str] = []  # size by risk: each account's computation, in words
        self.unsized: set[int] = set()  # intents sized to 0 contracts (refused, not sent)

    async def run(self, template: StrategyTemplate) -> Settlement:
        ticker: str | None = None
        contract_id: str | None = None
        try:
            rendered_ticker: str = await _render(template.ticker, self.alert)
            ticker = rendered_ticker
            contract = await self.gateway.contract(rendered_ticker)
            contract_id = contract.contract_id
            intents = await _render(template.render, self.alert, contract)
            alert_time = template.alert_time(self.alert)
            self.stale = stale_age(template, self.alert, alert_time, self.started_at)
            self.unchecked = unchecked_time(template, self.alert, alert_time, self.started_at)
            if self.unchecked is not None:
                await self._warn_unchecked(self.unchecked)
            if self.resumed:
                self.stale = self.stale or received_too_long_ago(template, self.alert, self.started_at)
                await self._load_prior(template, intents)
            # A position sync is an entry or an exit only once the position is read (sync).
            entries = (i.action in (Action.BUY, Action.SELL) for i in intents)
            # A plain buy or sell (no bracket) may close a position: _dispatch looks at it first.
            plains = (plain(i, template) for i in intents)
            if (
                self.stale
                and all(entries)
                and not any(plains)
                and not any(isinstance(i, SyncIntent) for i in intents)
            ):
                what = "OCO pair" if template.kind == "oco" else "entry"
                refusal = f"{self.stale}: {what} not sent (exits are still executed); {STALE_ADVICE}"
                log.warning("alert %s not executed: %s", self.alert_id, refusal)
                sent = self._prior_outcomes([])
                if sent:  # the earlier run sent some of it: say so, send nothing more
                    refusal = f"resumed after a restart: {refusal}; sent before the restart: {len(sent)}"
                    return await self._settle(alert_status(sent), sent, refusal, ticker, contract_id)
                return await self._settle(AlertStatus.STALE, [], refusal, ticker, contract_id)
            # Every account is resolved before the first order, so a typo in the second
            # account cannot leave the first one with an order the trader did not mean alone.
            accounts = [await self.accounts.resolve(i.account, template=template.name) for i in intents]
            if self.executor.ready is not None:
                await self.executor.ready({a.account_id for a in accounts})
            intents = await self._size_by_risk(intents, accounts, contract)
        except (TemplateError, AlertInvalidError) as exc:
            return await self._settle(AlertStatus.INVALID, [], str(exc), ticker, contract_id)
        except GatewayError as exc:
            unreachable = f"gateway not reachable, nothing was sent: {exc}"
            return await self._settle(AlertStatus.FAILED, [], unreachable, ticker, contract_id)

        oco = template.kind == "oco"  # intents come in pairs per account
        # One lane per account: its intents in their order, one after another (a reverse closes
        # before it enters); the lanes of different accounts at once, so that five accounts fill
        # about when one does. Each order is still written ahead and sent once (sender.py) and
        # every journal call still runs one at a time on the loop (runner.py): only the waits on
        # the gateway overlap. A rejection or an unknown outcome on one account stops nothing on
        # another, as it did not when they were sent in turn.
        lanes: dict[int, list[int]] = {}
        for n in range(0, len(intents), 2 if oco else 1):
            if n in self.unsized:
                continue  # sized to 0 contracts: refused with the numbers, nothing to send
            lanes.setdefault(accounts[n].account_id, []).append(n)
        done: dict[int, tuple[list[OrderOutcome], str | None, bool]] = {}
        # Every account's first entry is checked by the risk gate before any lane sends, so no
        # account's order leaves before another account of the alert is found refused.
        await self._gate_first_entries([steps[0] for steps in lanes.values()], intents, accounts, contract)

        async def lane(steps: list[int]) -> None:
            for n in steps:
                done[n] = await self._account_step(n, intents, accounts[n], contract, oco=oco)

        try:
            await all_settled([lane(steps) for steps in lanes.values()])
        except BaseException:
            await self.orders.flush()  # keep what is known; rows left SUBMITTING are reconciled
            raise
        outcomes: list[OrderOutcome] = []
        notes: list[str] = []
        unreached = False
        for n in sorted(done):  # in the template's order, as when they were sent in turn
            got, note, failed = done[n]
            outcomes += got
            unreached = unreached or failed
            if note:
                notes.append(note)
        outcomes = self._prior_outcomes(outcomes)
        status = AlertStatus.FAILED if unreached and not outcomes else alert_status(outcomes)
        if self.withheld and not outcomes:
            status = AlertStatus.STALE
        if self.refusals:
            # The gate said no before anything was sent for these entries.
            status = AlertStatus.PARTIAL if any(_ok(o) for o in outcomes) else AlertStatus.REFUSED
            log.warning("alert %s: refused by the risk gate: %s", self.alert_id, "; ".join(self.refusals))
        failures = [o.message for o in outcomes if o.message and not _ok(o)]
        reason = "; ".join(self.refusals + notes + failures) or None
        return await self._settle(status, outcomes, reason, ticker, contract_id)

    async def _size_by_risk(
        self, intents: list[OrderIntent], accounts: list[Account], contract: Contract
    ) -> list[OrderIntent]:
        """Size every entry rendered with a risk (risk_usd / risk_percent) on its account
        (app/engine/sizing.py); journal each computation (``alert.sized``). One that sizes to 0
        is refused with the numbers (the alert's reason, a notice) and left out of the lanes.
        Raises JournalError."""
        sized = list(intents)
        for n, (intent, account) in enumerate(zip(intents, accounts, strict=True)):
            if intent.risk is None or intent.action in (Action.EXIT, Action.CANCEL, Action.BREAKEVEN):
                continue
            prior = self.prior(account.account_id, self.tag(n))
            if prior is not None and prior.size:
                # Resumed: the earlier run sized and wrote this entry; its size stands (the
                # balance may have moved since), so a re-send is the same order.
                sized[n] = with_quantity(intent, prior.size)
                continue
            got = size_entry(
                intent,
                account,
                contract,
                strategy=self.alert.strategy,
                limits=self.executor.limits_of(account),
                strategy_limits=self.template.risk,
            )
            sized[n] = got.intent
            line = f"{account.name}: {got.line}"
            self.sizing_lines.append(line)
            await self.runner.run(
                self.journal.add_event,
                EventKind.ALERT_SIZED,
                line,
                level=EventLevel.INFO if got.refusal is None else EventLevel.WARNING,
                alert_id=self.alert_id,
                data={"account_id": account.account_id, "contracts": got.intent.quantity},
            )
            if got.refusal is None:
                continue
            self.unsized.add(n)
            self.refusals.append(f"{account.name}: {got.refusal}")
            side = Side.BUY if intent.action == Action.BUY else Side.SELL
            notice = notices.alert_refused(
                account=account.name,
                strategy=self.alert.strategy,
                contract_id=contract.contract_id,
                side=side,
                size=0,
                reason=got.refusal,
                alert_id=self.alert_id,
            )
            notices.send(self.orders.sender.notifier, notice)
        if self.sizing_lines:
            failpoint("sizing.sized")  # sized and journaled, nothing written ahead or sent yet
        return sized

    async def _gate_first_entries(
        self, firsts: list[int], intents: list[OrderIntent], accounts: list[Account], contract: Contract
    ) -> None:
        """Ask the risk gate about each lane's first step when it is an entry (a buy or sell,
        or an OCO pair by its larger leg), before any lane starts; the answers wait in
        ``gate_answers`` for place_entry / place_oco. Exits are never gated; a reverse or a
        position sync is gated in its lane, once its position is read; a stale alert's entries
        are judged in the lane (only those that reduce the position are sent, never refused);
        a resumed alert's order the earlier run wrote is left to its lane. Raises
        JournalError (a gateway error leaves the account to be asked in its lane)."""
        if self.stale:
            return
        for n in firsts:
            intent, account = intents[n], accounts[n]
            if isinstance(intent, SyncIntent) or intent.action not in (Action.BUY, Action.SELL):
                continue
            if self.prior(account.account_id, self.tag(n)) is not None:
                continue  # resumed: its lane decides, as place_entry / place_oco do
            if self.template.kind == "oco":
                intent = max((intent, intents[n + 1]), key=lambda i: i.quantity or 0)
                assert intent.side is not None
                side = intent.side
            else:
                side = Side.BUY if intent.action == Action.BUY else Side.SELL
            try:
                self.gate_answers[n] = await passes_gate(self, intent, account, side, contract)
            except GatewayError as exc:  # the position a reducing order would reduce: unread
                log.warning(
                    "alert %s: gate of %s asked again in its lane: %s", self.alert_id, account.name, exc
                )

    async def _account_step(
        self, n: int, intents: list[OrderIntent], account: Account, contract: Contract, *, oco: bool
    ) -> tuple[list[OrderOutcome], str | None, bool]:
        """Send what intent ``n`` asks on its account (an OCO pair: intents ``n`` and ``n + 1``);
        return the outcomes, a note for the alert's reason, and whether the gateway could not be
        read (only reads get there: order-changing calls are settled in the sender, so nothing
        more was sent for this intent)."""
        try:
            if oco:
                got, note = await place_oco(self, n, intents[n], intents[n + 1], account, contract)
            else:
                got, note = await self._dispatch(n, intents[n], account, contract)
        except GatewayError as exc:
            return [], f"{account.name}: gateway not reachable, nothing more sent: {exc}", True
        return got, note, False

    async def _load_prior(self, template: StrategyTemplate, intents: list[OrderIntent]) -> None:
        """A resumed alert: wait until its accounts' unfinished rows are settled, then read the
        rows the earlier run wrote (by tag, for OrderSession.submit)."""
        if self.executor.ready is not None:
            accounts = [await self.accounts.resolve(i.account, template=template.name) for i in intents]
            await self.executor.ready({a.account_id for a in accounts})
        self.orders.prior_rows = await self.runner.run(self.journal.alert_orders, self.alert_id)

    def _prior_outcomes(self, outcomes: list[OrderOutcome]) -> list[OrderOutcome]:
        """``outcomes`` plus what the earlier run of a resumed alert did that this run did not
        meet again (a close done before the restart leaves nothing to close now)."""
        seen = {o.order_record_id for o in outcomes}
        earlier = [
            row_outcome(r)
            for r in self.orders.prior_rows
            if r.id not in seen
            and r.state != OrderState.NOT_PLACED
            and r.leg in (Leg.ENTRY, Leg.CLOSE, Leg.PARTIAL_CLOSE, Leg.CANCEL)
        ]
        return earlier + outcomes

    async def _settle(
        self,
        status: AlertStatus,
        outcomes: list[OrderOutcome],
        reason: str | None,
        ticker: str | None,
        contract_id: str | None,
    ) -> Settlement:
        if self.unchecked is not None:  # the alert's reason says its age was not checked
            reason = f"{reason}; {self.unchecked}" if reason else self.unchecked
        if self.new_rows:
            failpoint("native.settle")  # the native legs and the answers are not journaled yet
        if self.resumed and self.new_rows:
            # Protection may have journaled a native leg by its tag since the rows were read.
            held = {
                (r.account_id, r.client_order_id)
                for r in await self.runner.run(self.journal.alert_orders, self.alert_id)
            }
            self.new_rows = [
                (outcome, row)
                for outcome, row in self.new_rows
                if (row["account_id"], row["client_order_id"]) not in held
            ]
        new_ids = await self.runner.run(
            self.journal.settle_alert,
            self.alert_id,
            status,
            reason=reason,
            ticker=ticker,
            contract_id=contract_id,
            updates=self.updates,
            new_orders=[row for _, row in self.new_rows],
        )
        for (outcome, _), row_id in zip(self.new_rows, new_ids, strict=True):
            outcome.order_record_id = row_id
        self.updates, self.new_rows = [], []
        return Settlement(self.alert_id, status, outcomes, reason, sizing=self.sizing_lines)

    async def _warn_unchecked(self, why: str) -> None:
        """Log and journal (event ``alert.time_unchecked``, warning) that the stale check could
        not judge this alert: at most once per TIME_WARNING_EVERY_S per strategy. A journal that
        cannot take the event does not stop the alert."""
        strategy, now = self.alert.strategy, self.started_at
        last = self.executor.time_warned.get(strategy)
        if last is not None and (now - last).total_seconds() < TIME_WARNING_EVERY_S:
            return
        self.executor.time_warned[strategy] = now
        message = (
            f"alert {self.alert_id} of strategy '{strategy}' executed without its age checked: {why} "
            f"(said once per {TIME_WARNING_EVERY_S / 60:g} minutes per strategy; each alert's reason says it)"
        )
        log.warning(message)
        try:
            await self.runner.run(
                self.journal.add_event,
                EventKind.ALERT_TIME_UNCHECKED,
                message,
                level=EventLevel.WARNING,
                alert_id=self.alert_id,
                data={"strategy": strategy},
            )
        except JournalError as exc:
            log.error("could not journal the unchecked alert time of alert %s: %s", self.alert_id, exc)

    async def _dispatch(
        self, n: int, intent: OrderIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        """Send what one intent asks for on one account: sync, entry, cancel, breakeven, exit or
        reverse."""
        where = f"in {contract.contract_id} on {account.name}"
        # An account the gateway says cannot trade (canTrade false) has its entries refused by
        # the risk gate (passes_gate: status refused, with that reason); exits still run.
        if isinstance(intent, SyncIntent):
            return await sync(self, n, intent, account, contract)
        if intent.action in (Action.BUY, Action.SELL):
            side = Side.BUY if intent.action == Action.BUY else Side.SELL
            if self.stale and not await self._only_reduces(intent, account, side, contract):
                self.withheld = True
                return (
                    [],
                    f"{account.name}: {self.stale}: entry not sent (exits are still executed); "
                    f"{STALE_ADVICE}",
                )
            return await place_entry(self, n, intent, account, side, contract), None
        if intent.action == Action.CANCEL:
            got = await self.cancel_working(account, contract)
            return got, None if got else f"no working order {where}"
        position = await self.position(account, contract)
        if intent.action == Action.BREAKEVEN:
            return await break_even(self, n, account, contract, position)
        if intent.action == Action.EXIT and is_partial(intent):
            return await partial_exit(self, n, intent, account, contract, position)
        if intent.action == Action.EXIT:
            got = await self.flatten(account, contract, position, n=n)
            return got, None if got else f"no open position or working order {where}"
        # reverse: close what is open, then enter the other way with the intent's size
        if position is None:
            return [], f"reverse: no open position {where}; nothing to reverse"
        got = await self.flatten(account, contract, position, n=n)
        if not any(o.leg == Leg.CLOSE and o.state == OrderState.DONE for o in got):
            return got, "reverse stopped: the position was not closed, so no new entry was sent"
        if self.stale:
            return got, (
                f"reverse on {account.name}: the position was closed but the new entry was not "
                f"sent: {self.stale}; {STALE_ADVICE}"
            )
        return got + await place_entry(self, n, intent, account, position.side.opposite, contract), None

    async def _only_reduces(
        self, intent: OrderIntent, account: Account, side: Side, contract: Contract
    ) -> bool:
        """A plain order (no bracket) of at most the contracts held the other way: an exit in
        substance (e.g. TradingView's "sell" that closes a long), executed even when stale."""
        if not plain(intent, self.template):
            return False
        position = await self.position(account, contract)
        return only_reduces(signed_position(position), side, intent.quantity or 0)


async def all_settled(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``steps`` at once and wait until every one has ended, then raise the first one's
    exception (in ``steps`` order), if any: one that fails does not stop the others, whose
    orders may be on their way already. A single step runs inline (no task). Cancelled, it
    cancels the steps and waits for them before it raises (their rows are reconciled)."""
    if len(steps) <= 1:
        for step in steps:
            await step
        return
    tasks = [asyncio.create_task(step) for step in steps]
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in tasks:
        if task.cancelled():
            raise asyncio.CancelledError
        error = task.exception()
        if error is not None:
            raise error


def _ok(outcome: OrderOutcome) -> bool:
    return outcome.state not in (OrderState.REJECTED, OrderState.NOT_PLACED, OrderState.UNKNOWN)


def _outcome_json(o: OrderOutcome) -> dict[str, Any]:
    return {
        "order_record_id": o.order_record_id,
        "account_id": o.account_id,
        "contract_id": o.contract_id,
        "leg": str(o.leg),
        "side": str(o.side) if o.side else None,
        "size": o.size,
        "state": str(o.state),
        "client_order_id": o.client_order_id,
        "broker_order_id": o.broker_order_id,
        "message": o.message,
    }
