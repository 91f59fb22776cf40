"""Turn one authenticated, journaled alert into gateway orders, write-ahead and never resent.

For every order the journal row is committed as SUBMITTING (with its tag) before the
gateway call. The answer (ACCEPTED with the broker id, REJECTED with the gateway's message, DONE)
and the native bracket legs are committed with the alert's final status in one transaction at
the end: a crash in between leaves the row SUBMITTING, which reconciliation settles by its tag.
An UNKNOWN answer is journaled at once and reconciled by its tag before anything else is done
for the alert (DESIGN.md, projectx-api.md §3, §8).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from app.domain import ids
from app.domain.enums import Action, AlertStatus, Leg, OrderState, OrderType, Side
from app.domain.models import (
    Account,
    Alert,
    Contract,
    OrderIntent,
    OrderOutcome,
    OrderRequest,
    Position,
)
from app.domain.risk import Entry, only_reduces, root_from_contract_id, signed
from app.engine.accounts import AccountDirectory
from app.engine.outcomes import alert_status, explain_rejection
from app.engine.ports import Gateway
from app.engine.reconcile import PendingOrder, Reconciler
from app.engine.risk_gate import RiskGate
from app.engine.runner import JournalRunner
from app.errors import (
    AlertInvalidError,
    GatewayError,
    GatewayUnavailable,
    JournalError,
    OrderRejected,
    OutcomeUnknown,
    TemplateError,
)
from app.failpoints import failpoint
from app.journal.journal import OrderUpdate
from app.strategies import SyncIntent
from app.strategies.sandbox import NeedsThread, first_try

log = logging.getLogger("tvbridge.engine")
R = TypeVar("R")


@dataclass
class Settlement:
    """The outcome of one alert, as the webhook answers it (HTTP status and JSON body)."""

    alert_id: int
    status: AlertStatus
    orders: list[OrderOutcome] = field(default_factory=list)
    reason: str | None = None
    http_status: int = 200

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
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.accounts = accounts
        self.reconciler = reconciler
        self.instance = instance
        self.clock = clock  # UTC; an alert's age is measured on it (stale entries)
        self.gate = gate  # the risk gate every entry passes (app/engine/risk_gate.py)
        # Awaited with an alert's account ids before anything is sent on them: after a restart,
        # until those accounts' unfinished orders are settled (app/engine/recovery.py).
        self.ready = ready
        # strategy → when an alert of it last journaled "stale check not done" (UTC)
        self.time_warned: dict[str, datetime] = {}

    async def execute(self, alert: Alert, template: Any, *, resumed: bool = False) -> Settlement:
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
        return await _Execution(self, alert, resumed=resumed).run(template)

    def session(self, alert_id: int) -> OrderSession:
        """Send orders on behalf of alert ``alert_id`` (rows journaled under it)."""
        return OrderSession(self, alert_id)


class OrderSession:
    """Orders sent on behalf of one alert: write-ahead rows, one send each, answers journaled.

    Answers are held in ``updates`` until flushed (the alert's settlement commits them with its
    status); ``place``, ``cancel`` and ``close`` flush at once, for callers outside an alert's
    run (the protection of OCO pairs and managed brackets, the kill switch).
    """

    def __init__(self, executor: Executor, alert_id: int) -> None:
        self.gateway = executor.gateway
        self.runner = executor.runner
        self.journal = executor.runner.journal
        self.accounts = executor.accounts
        self.reconciler = executor.reconciler
        self.instance = executor.instance
        self.alert_id = alert_id
        self.updates: list[OrderUpdate] = []  # answers not yet committed

    async def place(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest, **row: Any
    ) -> OrderOutcome:
        """Order/place once with a write-ahead row (``row``: more columns, e.g. parent_id,
        oco_group_id); the answer is committed before this returns. UNKNOWN is reconciled by tag."""
        outcome = await self._submit(account, leg, action, request, **row)
        await self._flush()
        return outcome

    async def cancel(self, account: Account, contract_id: str, broker_order_id: int) -> OrderOutcome:
        """Order/cancel once with a write-ahead CANCEL row; committed before this returns."""
        [outcome] = await self._cancel(account, contract_id, broker_order_id)
        await self._flush()
        return outcome

    async def close(self, account: Account, position: Position) -> OrderOutcome:
        """Position/closeContract once with a write-ahead CLOSE row; committed before this
        returns. No position left (PositionNotFound) is DONE: already flat."""
        outcome = await self._close(account, position)
        await self._flush()
        return outcome

    async def _flush(self) -> None:
        """Commit the answers owed so far (before anything that must see them in the journal)."""
        if self.updates:
            await self.runner.run(self.journal.update_orders, self.updates)
            self.updates = []

    async def _close(self, account: Account, position: Position) -> OrderOutcome:
        pending = await self._write_ahead(
            account,
            Leg.CLOSE,
            Action.EXIT,
            position.contract_id,
            side=position.side.opposite,
            size=position.size,
        )
        close = lambda: self.gateway.close_position(account.account_id, position.contract_id)  # noqa: E731
        return await self._call(pending, account, close, ok_state=OrderState.DONE)

    async def _cancel(self, account: Account, contract_id: str, broker_order_id: int) -> list[OrderOutcome]:
        pending = await self._write_ahead(
            account, Leg.CANCEL, Action.CANCEL, contract_id, broker_order_id=broker_order_id
        )
        cancel = lambda: self.gateway.cancel_order(account.account_id, broker_order_id)  # noqa: E731
        return [await self._call(pending, account, cancel, ok_state=OrderState.DONE)]

    async def _submit(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest, **row: Any
    ) -> OrderOutcome:
        """An Order/place: a SUBMITTING row with its tag and exact body, then one send."""
        resent = await self._resubmit(account, leg, action, request)
        if resent is not None:
            return resent
        pending = await self._write_ahead(
            account,
            leg,
            action,
            request.contract_id,
            side=request.side,
            size=request.size,
            order_type=request.order_type,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_order_id=request.client_order_id,
            request=self.gateway.place_order_body(request),
            **row,
        )
        # Only the bridge's own (managed) legs are placed as stop loss / take profit legs: the
        # gateway makes native ones. The failpoints are where a crash test kills the process.
        managed_leg = leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
        if managed_leg:
            failpoint("managed.leg_written")

        async def place() -> int:
            broker_order_id = await self.gateway.place_order(request)
            if managed_leg:
                failpoint("managed.leg_sent")  # on the gateway, its answer not journaled
            return broker_order_id

        return await self._call(pending, account, place, ok_state=OrderState.ACCEPTED)

    async def _resubmit(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest
    ) -> OrderOutcome | None:
        """A resumed alert's order whose row the earlier run wrote: its outcome as settled when
        it may have reached the gateway (never sent again); sent again with the same row and tag
        when it was proven absent; None when there is no such row (send it as new)."""
        prior = self.prior.get((account.account_id, request.client_order_id))
        if prior is None:
            return None
        if prior.state != OrderState.NOT_PLACED:
            log.info("order row %s (%s) was sent before the restart: not sent again", prior.id, prior.leg)
            return row_outcome(prior)
        body = self.gateway.place_order_body(request)
        message = "resent after a restart: not found on the gateway by its tag, same tag"
        await self.runner.run(self.journal.resend_order, prior.id, request=body, message=message)
        failpoint("order.written")
        pending = PendingOrder(
            id=prior.id,
            alert_id=self.alert_id,
            account_id=account.account_id,
            contract_id=request.contract_id,
            leg=leg,
            client_order_id=request.client_order_id,
            broker_order_id=None,
            created_at=datetime.now(UTC),
            side=request.side,
            size=request.size,
        )
        place = lambda: self.gateway.place_order(request)  # noqa: E731
        outcome = await self._call(pending, account, place, ok_state=OrderState.ACCEPTED)
        if outcome.state == OrderState.REJECTED:
            # Perhaps the tag is taken: the first send did arrive after all. Look once more.
            await self._flush()
            found = await self.reconciler.settle(pending, attempts=1)
            if found.state == OrderState.ACCEPTED:
                outcome.state, outcome.broker_order_id, outcome.message = (
                    found.state,
                    found.broker_order_id,
                    found.message,
                )
        return outcome

    @property
    def prior(self) -> dict[tuple[int, str], Any]:
        """The earlier run's rows by (account id, tag): only a resumed alert has any."""
        return {}

    async def _write_ahead(
        self, account: Account, leg: Leg, action: Action, contract_id: str, **row: Any
    ) -> PendingOrder:
        row_id = await self.runner.run(
            self.journal.add_order,
            alert_id=self.alert_id,
            account_id=account.account_id,
            account_name=account.name,
            contract_id=contract_id,
            leg=leg,
            action=action,
            state=OrderState.SUBMITTING,
            sent_at=datetime.now(UTC),  # committed just before the gateway call
            **row,
        )
        failpoint("order.written")
        return PendingOrder(
            id=row_id,
            alert_id=self.alert_id,
            account_id=account.account_id,
            contract_id=contract_id,
            leg=leg,
            client_order_id=row.get("client_order_id"),
            broker_order_id=row.get("broker_order_id"),
            created_at=datetime.now(UTC),
            side=row.get("side"),
            size=row.get("size"),
        )

    async def _call(
        self,
        pending: PendingOrder,
        account: Account,
        call: Callable[[], Awaitable[Any]],
        *,
        ok_state: OrderState,
    ) -> OrderOutcome:
        """Send once; record the answer; reconcile by tag when there is none."""
        broker_order_id = pending.broker_order_id
        message: str | None = None
        acknowledged_at: datetime | None = None
        try:
            result = await call()
            failpoint("order.sent")  # the gateway has it; its answer is not journaled yet
            acknowledged_at = datetime.now(UTC)
            state = ok_state
            if isinstance(result, int):
                broker_order_id = result
        except OrderRejected as exc:
            acknowledged_at = datetime.now(UTC)  # a definite answer, too
            state, message = OrderState.REJECTED, explain_rejection(exc, account.name)
            broker_order_id = exc.broker_order_id or broker_order_id
            if pending.leg == Leg.CLOSE and exc.error_name == "PositionNotFound":
                state, message = OrderState.DONE, "already flat (the gateway found no position)"
            if pending.leg == Leg.CANCEL and exc.error_name == "OrderNotFound":
                state, message = OrderState.DONE, "already gone (the gateway found no such order)"
        except GatewayUnavailable as exc:
            state, message = OrderState.NOT_PLACED, f"nothing was sent: {exc}"
        except OutcomeUnknown as exc:
            state, message = (
                OrderState.UNKNOWN,
                f"no answer from the gateway ({exc}); checking, not resending",
            )
        except GatewayError as exc:  # anything else after the call started: it may have arrived
            state, message = OrderState.UNKNOWN, f"unexpected gateway answer ({exc}); checking, not resending"
        update = OrderUpdate(
            pending.id,
            state,
            broker_order_id=broker_order_id,
            message=message,
            previous=OrderState.SUBMITTING,
            acknowledged_at=acknowledged_at,
        )
        if state == OrderState.UNKNOWN:
            # Journaled at once: while the outcome is open, the journal must say so.
            self.updates.append(update)
            await self._flush()
            settled = await self.reconciler.settle(pending)
            state, message = settled.state, settled.message
            broker_order_id = settled.broker_order_id or broker_order_id
        else:
            self.updates.append(update)
        failpoint("order.answered")  # answered; committed with the alert's settlement
        log.info(
            "order row %s %s %s on %s: %s%s",
            pending.id,
            pending.leg,
            pending.contract_id,
            account.name,
            state,
            f" ({message})" if message else "",
        )
        return OrderOutcome(
            pending.id,
            account.account_id,
            pending.contract_id,
            pending.leg,
            state,
            client_order_id=pending.client_order_id,
            broker_order_id=broker_order_id,
            message=message,
            side=pending.side,
            size=pending.size,
        )


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


class _Execution(OrderSession):
    """One alert's run: what it sent, and the journal writes it still owes."""

    def __init__(self, executor: Executor, alert: Alert, *, resumed: bool = False) -> None:
        assert alert.alert_id is not None
        super().__init__(executor, alert.alert_id)
        self.executor = executor
        self.alert = alert
        self.resumed = resumed
        self.prior_rows: list[Any] = []  # a resumed alert's rows from the earlier run
        self.template: Any = None
        self.new_rows: list[tuple[OrderOutcome, dict[str, Any]]] = []  # bracket legs to journal
        self.stale: str | None = None  # how old the alert is when too old for a new entry
        self.withheld = False  # a position sync's entry part was not sent: the alert is stale
        self.refusals: list[str] = []  # entries the risk gate refused, with its reasons
        self.unchecked: str | None = None  # why the stale check could not judge the alert
        self.gate = executor.gate
        self.started_at = executor.clock()  # the alert's age is measured from here

    async def run(self, template: Any) -> Settlement:
        ticker: str | None = None
        contract_id: str | None = None
        try:
            rendered_ticker: str = await _render(template.ticker, self.alert)
            ticker = rendered_ticker
            contract = await self.gateway.contract(rendered_ticker)
            contract_id = contract.contract_id
            intents = await _render(template.render, self.alert, contract)
            self.stale = stale_age(template, self.alert, self.started_at)
            self.unchecked = unchecked_time(template, self.alert, self.started_at)
            if self.unchecked is not None:
                await self._warn_unchecked(self.unchecked)
            if self.resumed:
                self.stale = self.stale or received_too_long_ago(template, self.alert, self.started_at)
                await self._load_prior(template, intents)
            # A position sync is an entry or an exit only once the position is read (_sync).
            entries = (i.action in (Action.BUY, Action.SELL) for i in intents)
            # A plain buy or sell (no bracket) may close a position: _dispatch looks at it first.
            plain = (_plain(i, template) for i in intents)
            if (
                self.stale
                and all(entries)
                and not any(plain)
                and not any(isinstance(i, SyncIntent) for i in intents)
            ):
                what = "OCO pair" if getattr(template, "kind", "order") == "oco" else "entry"
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
        except (TemplateError, AlertInvalidError) as exc:
            return await self._settle(AlertStatus.INVALID, [], str(exc), ticker, contract_id, 422)
        except GatewayError as exc:
            unreachable = f"gateway not reachable, nothing was sent: {exc}"
            return await self._settle(AlertStatus.FAILED, [], unreachable, ticker, contract_id)

        outcomes: list[OrderOutcome] = []
        notes: list[str] = []
        unreached = False
        self.template = template
        oco = getattr(template, "kind", "order") == "oco"  # intents come in pairs per account
        try:
            for n in range(0, len(intents), 2 if oco else 1):
                intent, account = intents[n], accounts[n]
                try:
                    if oco:
                        got, note = await self._place_oco(n, intent, intents[n + 1], account, contract)
                    else:
                        got, note = await self._dispatch(n, intent, account, contract)
                except GatewayError as exc:
                    # Only reads get here (order-changing calls are settled in _call): nothing
                    # more was sent for this account.
                    unreached = True
                    got, note = [], f"{account.name}: gateway not reachable, nothing more sent: {exc}"
                outcomes += got
                if note:
                    notes.append(note)
        except BaseException:
            await self._flush()  # keep what is known; rows left SUBMITTING are reconciled
            raise
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

    async def _load_prior(self, template: Any, intents: list[Any]) -> None:
        """A resumed alert: wait until its accounts' unfinished rows are settled, then read the
        rows the earlier run wrote (by tag, for _submit)."""
        if self.executor.ready is not None:
            accounts = [await self.accounts.resolve(i.account, template=template.name) for i in intents]
            await self.executor.ready({a.account_id for a in accounts})
        self.prior_rows = await self.runner.run(self.journal.alert_orders, self.alert_id)

    @property
    def prior(self) -> dict[tuple[int, str], Any]:
        return {(r.account_id, r.client_order_id): r for r in self.prior_rows if r.client_order_id}

    def _prior(self, account_id: int, tag: str | None) -> Any:
        """The earlier run's row with this tag on this account, or None."""
        if not tag:
            return None
        return next(
            (r for r in self.prior_rows if r.account_id == account_id and r.client_order_id == tag), None
        )

    def _sent_before(self, account_id: int, tag: str | None) -> bool:
        """True when the earlier run's row with this tag may have reached the gateway."""
        prior = self._prior(account_id, tag)
        return prior is not None and prior.state != OrderState.NOT_PLACED

    def _prior_outcomes(self, outcomes: list[OrderOutcome]) -> list[OrderOutcome]:
        """``outcomes`` plus what the earlier run of a resumed alert did that this run did not
        meet again (a close done before the restart leaves nothing to close now)."""
        seen = {o.order_record_id for o in outcomes}
        earlier = [
            row_outcome(r)
            for r in self.prior_rows
            if r.id not in seen
            and r.state != OrderState.NOT_PLACED
            and r.leg in (Leg.ENTRY, Leg.CLOSE, Leg.CANCEL)
        ]
        return earlier + outcomes

    async def _settle(
        self,
        status: AlertStatus,
        outcomes: list[OrderOutcome],
        reason: str | None,
        ticker: str | None,
        contract_id: str | None,
        http_status: int = 200,
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
        return Settlement(self.alert_id, status, outcomes, reason, http_status)

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
                "alert.time_unchecked",
                message,
                level="warning",
                alert_id=self.alert_id,
                data={"strategy": strategy},
            )
        except JournalError as exc:
            log.error("could not journal the unchecked alert time of alert %s: %s", self.alert_id, exc)

    async def _dispatch(
        self, n: int, intent: OrderIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        where = f"in {contract.contract_id} on {account.name}"
        if not account.can_trade:
            return (
                [],
                f"account {account.name} cannot trade now (the gateway says canTrade false); nothing sent",
            )
        if isinstance(intent, SyncIntent):
            return await self._sync(n, intent, account, contract)
        if intent.action in (Action.BUY, Action.SELL):
            side = Side.BUY if intent.action == Action.BUY else Side.SELL
            if self.stale and not await self._only_reduces(intent, account, side, contract):
                self.withheld = True
                return (
                    [],
                    f"{account.name}: {self.stale}: entry not sent (exits are still executed); "
                    f"{STALE_ADVICE}",
                )
            return await self._place_entry(n, intent, account, side, contract), None
        if intent.action == Action.CANCEL:
            got = await self._cancel_working(account, contract)
            return got, None if got else f"no working order {where}"
        position = await self._position(account, contract)
        if intent.action == Action.EXIT:
            got = await self._flatten(account, contract, position)
            return got, None if got else f"no open position or working order {where}"
        # reverse: close what is open, then enter the other way with the intent's size
        if position is None:
            return [], f"reverse: no open position {where}; nothing to reverse"
        got = await self._flatten(account, contract, position)
        if not any(o.leg == Leg.CLOSE and o.state == OrderState.DONE for o in got):
            return got, "reverse stopped: the position was not closed, so no new entry was sent"
        if self.stale:
            return got, (
                f"reverse on {account.name}: the position was closed but the new entry was not "
                f"sent: {self.stale}; {STALE_ADVICE}"
            )
        return got + await self._place_entry(n, intent, account, position.side.opposite, contract), None

    async def _sync(
        self, n: int, intent: SyncIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        """Bring the account's position in ``contract`` to the alert's target (sync = "target").

        delta = target − the real position (signed contracts, Position/searchOpen). 0 sends
        nothing (NOOP). A flat target closes the position and cancels the contract's working
        orders (as exit). Growing on the same side, or from flat, is one entry of |delta| with
        the template's bracket. Shrinking is a market order of |delta| the other way (leg close,
        action exit, never a bracket: the gateway adapter has no Position/partialCloseContract),
        unless the working orders on the closing side would then add up, per order type, to more
        than the contracts left: a partial exit does not resize brackets (projectx-api.md §6.4),
        so then, as when crossing zero, the position is closed and the target entered anew, and
        only if the close was DONE (as reverse). Closing and shrinking run whatever the alert's
        age; the entry part of a stale alert is not sent. The entry part is a plain buy/sell
        OrderIntent through _place_entry (an entry, for the risk gate); nothing else is. After
        sending, a move the alert's own order does not explain is journaled ("sync.mismatch").
        """
        position = await self._position(account, contract)
        current, target = _signed(position), intent.target
        too_large = None
        if position is not None and current * target > 0 and abs(target) < abs(current):
            closing = position.side.opposite
            too_large = await self._closing_orders_beyond(account, contract, closing, abs(target))
        got, note = await self._sync_orders(n, intent, account, contract, position, too_large)
        await self._sync_mismatch(intent, account, contract, current, too_large is not None)
        if too_large is not None:
            entered = any(o.leg == Leg.ENTRY for o in got)
            await self._sync_event(
                "sync.reopen",
                f"{account.name} {contract.name}: the working orders {too_large} would close more "
                f"than the {abs(target)} contract(s) left after shrinking {_words(current)} to "
                f"{_words(target)} (a partial exit does not resize a bracket), so the position is "
                f"closed, then {_words(target)} entered anew"
                + ("" if entered else "; the entry was not sent (see the alert's reason)"),
                "warning",
                account,
                contract,
            )
        return got, note

    async def _sync_orders(
        self,
        n: int,
        intent: SyncIntent,
        account: Account,
        contract: Contract,
        position: Position | None,
        too_large: str | None,
    ) -> tuple[list[OrderOutcome], str | None]:
        """Send what takes ``position`` to the intent's target (see _sync)."""
        current, target = _signed(position), intent.target
        delta = target - current
        where = f"in {contract.contract_id} on {account.name}"
        if delta == 0:
            return [], f"already at the target position {_words(target)} {where}"
        if target == 0:
            return await self._flatten(account, contract, position), None
        grow = current == 0 or (current * target > 0 and abs(target) > abs(current))
        if position is not None and current * target > 0 and not grow and too_large is None:
            return [await self._reduce(n, account, contract, position.side.opposite, abs(delta))], None
        got: list[OrderOutcome] = []
        if not grow:  # crossing zero, or shrinking under protection larger than what is left
            got = await self._flatten(account, contract, position)
            if not any(o.leg == Leg.CLOSE and o.state == OrderState.DONE for o in got):
                return got, f"sync stopped {where}: the position was not closed, so no new entry was sent"
        size = abs(delta) if grow else abs(target)
        side = Side.BUY if target > 0 else Side.SELL
        if self.stale:
            self.withheld = True
            return got, (
                f"sync {where}: the entry {side} {size} was not sent: {self.stale} (exits are "
                f"still executed); {STALE_ADVICE}"
            )
        entry = OrderIntent(
            account=intent.account,
            contract_id=intent.contract_id,
            action=Action(side.value),
            side=side,
            quantity=size,
            bracket=intent.bracket,
            reference_price=intent.reference_price,
        )
        return got + await self._place_entry(n, entry, account, side, contract), None

    async def _reduce(
        self, n: int, account: Account, contract: Contract, side: Side, size: int
    ) -> OrderOutcome:
        """Shrink the position: a market order of ``size`` contracts on ``side`` (journaled as a
        close leg with action exit, so it is never an entry), without a bracket."""
        request = OrderRequest(
            account_id=account.account_id,
            contract_id=contract.contract_id,
            side=side,
            order_type=OrderType.MARKET,
            size=size,
            client_order_id=ids.client_order_id(self.instance, self.alert_id, n),
        )
        return await self._submit(
            account,
            Leg.CLOSE,
            Action.EXIT,
            request,
            tick_size=contract.tick_size,
            tick_value=contract.tick_value,
        )

    async def _closing_orders_beyond(
        self, account: Account, contract: Contract, closing: Side, remaining: int
    ) -> str | None:
        """The working ``closing``-side orders in ``contract`` (e.g. "sell 2 limit, sell 2 stop")
        when those of one order type add up to more than ``remaining`` contracts; else None."""
        totals: dict[str, int] = defaultdict(int)
        for order in await self.gateway.open_orders(account.account_id):
            if order.contract_id == contract.contract_id and order.side == closing:
                totals[order.order_type] += order.size - order.fill_volume
        if max(totals.values(), default=0) <= remaining:
            return None
        return ", ".join(f"{closing} {size} {kind}" for kind, size in sorted(totals.items()))

    async def _sync_mismatch(
        self, intent: SyncIntent, account: Account, contract: Contract, current: int, reopen: bool
    ) -> None:
        """Journal "sync.mismatch" (warning) when the account's move is not the alert's own order.

        With the alert's quantity (and action): whenever |delta| differs from it (or its side
        from the action), including delta 0. Without: whenever the account is not flat and the
        target differs from it; an entry from flat is taken as the alert's own order.
        """
        target = intent.target
        delta = target - current
        side_ok = intent.alert_side is None or delta == 0 or _side(delta) == intent.alert_side
        if intent.alert_quantity is not None:
            explained = side_ok and abs(delta) == intent.alert_quantity
        else:
            explained = side_ok and (delta == 0 or current == 0)
        if explained:
            return
        order = ""
        if intent.alert_quantity is not None:
            words = " ".join(str(w) for w in (intent.alert_side, intent.alert_quantity) if w is not None)
            order = f" (its order: {words})"
        message = (
            f"{account.name} {contract.name}: the account holds {_words(current)}, the strategy "
            f"expects {_words(target)} after this alert{order}: sending "
            f"{_sync_plan(current, target, reopen=reopen)}"
        )
        log.warning("alert %s: position sync mismatch: %s", self.alert_id, message)
        side = None if intent.alert_side is None else str(intent.alert_side)
        extra: dict[str, Any] = {"current": current, "target": target, "delta": delta}
        extra |= {"alert_quantity": intent.alert_quantity, "alert_side": side}
        await self._sync_event("sync.mismatch", message, "warning", account, contract, extra)

    async def _sync_event(
        self,
        kind: str,
        message: str,
        level: str,
        account: Account,
        contract: Contract,
        extra: dict[str, Any] | None = None,
    ) -> None:
        data = {"account_id": account.account_id, "contract_id": contract.contract_id, **(extra or {})}
        await self.runner.run(
            self.journal.add_event, kind, message, level=level, alert_id=self.alert_id, data=data
        )

    async def _only_reduces(
        self, intent: OrderIntent, account: Account, side: Side, contract: Contract
    ) -> bool:
        """A plain order (no bracket) of at most the contracts held the other way: an exit in
        substance (e.g. TradingView's "sell" that closes a long), executed even when stale."""
        if not _plain(intent, self.template):
            return False
        position = await self._position(account, contract)
        return only_reduces(_signed(position), side, intent.quantity or 0)

    async def _position(self, account: Account, contract: Contract) -> Position | None:
        positions = await self.gateway.open_positions(account.account_id)
        return next((p for p in positions if p.contract_id == contract.contract_id), None)

    async def _place_oco(
        self, n: int, first: OrderIntent, second: OrderIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        """Place an OCO pair as one group (kind "oco"); app/engine/protection.py watches it.

        When a leg is not accepted the other is cancelled: half a pair is not what was asked.
        """
        if not account.can_trade:
            return (
                [],
                f"account {account.name} cannot trade now (the gateway says canTrade false); nothing sent",
            )
        # One check for the pair, sized to its larger leg: only one of them is meant to fill.
        larger = max((first, second), key=lambda i: i.quantity or 0)
        assert larger.side is not None
        prior = self._prior(account.account_id, ids.client_order_id(self.instance, self.alert_id, n))
        resumed = prior is not None and prior.oco_group_id is not None
        if not resumed and not await self._passes_gate(larger, account, larger.side, contract):
            return [], None
        if resumed:
            group = prior.oco_group_id  # the pair's group, made by the run before the restart
        else:
            group = await self._new_group(account, contract, "oco", "oco_on_both_filled", "flatten")
        outcomes = []
        for k, intent in ((n, first), (n + 1, second)):
            assert intent.side is not None
            outcomes += await self._place_entry(
                k, intent, account, intent.side, contract, oco_group_id=group, gated=True
            )
        if all(o.state == OrderState.ACCEPTED for o in outcomes):
            legs = " and ".join(f"{o.side} {o.size} ({o.client_order_id})" for o in outcomes)
            await self._group_event(group, "oco.placed", f"OCO pair {group} working: {legs}", "info")
            return outcomes, None
        for o in outcomes:
            if o.state == OrderState.ACCEPTED and o.broker_order_id is not None:
                outcomes += await self._cancel(account, contract.contract_id, o.broker_order_id)
        note = (
            f"OCO pair {group} on {account.name} not placed whole: "
            + ", ".join(f"{o.client_order_id} {o.state}" for o in outcomes if o.leg == Leg.ENTRY)
            + "; the accepted leg was cancelled"
        )
        await self._flush()
        await self.runner.run(self.journal.set_oco_group, group, "failed", note=note)
        await self._group_event(group, "oco.failed", note, "error")
        return outcomes, note

    async def _new_group(
        self, account: Account, contract: Contract, kind: str, setting: str, default: str
    ) -> int:
        """Journal a working OCO group; its policy is the template's ``setting``."""
        return await self.runner.run(
            self.journal.add_oco_group,
            alert_id=self.alert_id,
            account_id=account.account_id,
            contract_id=contract.contract_id,
            kind=kind,
            policy=getattr(self.template, setting, default),
        )

    async def _group_event(self, group: int, kind: str, message: str, level: str) -> None:
        await self.runner.run(
            self.journal.add_event,
            kind,
            message,
            level=level,
            alert_id=self.alert_id,
            data={"oco_group_id": group},
        )

    async def _place_entry(
        self,
        n: int,
        intent: OrderIntent,
        account: Account,
        side: Side,
        contract: Contract,
        oco_group_id: int | None = None,
        *,
        gated: bool = False,
    ) -> list[OrderOutcome]:
        """Send one entry (its bracket with it, or managed). Every entry passes the risk gate
        first (``gated``: it already did, as an OCO pair); a refused one sends nothing."""
        tag = ids.client_order_id(self.instance, self.alert_id, n)
        sent_before = self._sent_before(account.account_id, tag)  # resumed: never gate it again
        if not gated and not sent_before and not await self._passes_gate(intent, account, side, contract):
            return []
        bracket = intent.bracket
        managed = bracket is not None and getattr(self.template, "bracket_mode", "native") == "managed"
        if managed:
            # Sent without the native bracket; protection places it after the fill (sized to it).
            prior = self._prior(account.account_id, tag)
            if prior is not None and prior.oco_group_id is not None:
                oco_group_id = prior.oco_group_id  # resumed: the group the earlier run made
            else:
                oco_group_id = await self._new_group(
                    account, contract, "managed_bracket", "bracket_on_failure", "close"
                )
        request = OrderRequest(
            account_id=account.account_id,
            contract_id=intent.contract_id,
            side=side,
            order_type=intent.order_type,
            size=intent.quantity,
            client_order_id=tag,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            bracket=None if managed else intent.bracket,
        )
        entry = await self._submit(
            account,
            Leg.ENTRY,
            intent.action,
            request,
            stop_loss_ticks=bracket.stop_loss_ticks if bracket else None,
            take_profit_ticks=bracket.take_profit_ticks if bracket else None,
            # for the slippage of the fill against the price the template rendered
            reference_price=intent.reference_price,
            tick_size=contract.tick_size,
            tick_value=contract.tick_value,
            oco_group_id=oco_group_id,
        )
        if managed and oco_group_id is not None:
            await self._managed_entry(oco_group_id, entry)
            return [entry]
        if bracket and entry.state in _PLACED:  # a resumed alert's entry may have filled since
            return [entry, *self._bracket_legs(account, request, entry)]
        if bracket and entry.state == OrderState.REJECTED and entry.broker_order_id:
            return [entry, *await self._contain_unprotected(account, request, entry)]
        return [entry]

    async def _passes_gate(
        self, intent: OrderIntent, account: Account, side: Side, contract: Contract
    ) -> bool:
        """Ask the risk gate about this entry; a refusal is kept for the alert's reason. A journal
        that cannot give the numbers refuses too: no number, no entry. An order without a bracket,
        not an OCO leg, that only reduces the position is an exit to the gate (never refused)."""
        if self.gate is None:
            return True
        entry = Entry(
            strategy=self.alert.strategy,
            contract_id=contract.contract_id,
            symbol_root=root_from_contract_id(contract.contract_id),
            side=side,
            size=intent.quantity or 0,
            stop_loss_ticks=intent.bracket.stop_loss_ticks if intent.bracket else None,
            tick_size=contract.tick_size,
            tick_value=contract.tick_value,
        )
        try:
            refusal = await self.gate.check(
                account,
                entry,
                getattr(self.template, "risk", None),
                price=intent.reference_price,
                exit_if_reducing=_plain(intent, self.template),
            )
        except JournalError as exc:
            refusal = f"the risk gate could not read the journal ({exc}); entry not sent"
        if refusal is not None:
            self.refusals.append(f"{account.name}: {refusal}")
            return False
        return True

    async def _managed_entry(self, group: int, entry: OrderOutcome) -> None:
        """Journal what happens to a managed bracket's entry; a refused entry ends its group."""
        if entry.state == OrderState.ACCEPTED:
            message = (
                f"entry {entry.client_order_id} sent without a native bracket (mode managed): the "
                "bridge places the stop loss and take profit when it fills, sized to the fill"
            )
            await self._group_event(group, "bracket.managed", message, "info")
            return
        if entry.state not in (OrderState.REJECTED, OrderState.NOT_PLACED):
            return  # UNKNOWN: the group stays working; protection acts if it turns up filled
        note = f"entry {entry.client_order_id} {entry.state}: nothing to protect"
        await self._flush()
        await self.runner.run(self.journal.set_oco_group, group, "failed", note=note)

    def _bracket_legs(
        self, account: Account, request: OrderRequest, entry: OrderOutcome
    ) -> list[OrderOutcome]:
        """The native stop loss / take profit the gateway created with the entry (§6.4), to be
        journaled with the alert's settlement (they were not sent by us: no write-ahead)."""
        assert request.bracket is not None
        legs = []
        if request.bracket.stop_loss_ticks:
            tag = ids.stop_loss_tag(request.client_order_id)
            legs.append(
                (Leg.STOP_LOSS, tag, OrderType.STOP, {"stop_loss_ticks": request.bracket.stop_loss_ticks})
            )
        if request.bracket.take_profit_ticks:
            tag = ids.take_profit_tag(request.client_order_id)
            ticks = {"take_profit_ticks": request.bracket.take_profit_ticks}
            legs.append((Leg.TAKE_PROFIT, tag, OrderType.LIMIT, ticks))
        outcomes = []
        for leg, tag, order_type, ticks in legs:
            if self._prior(account.account_id, tag) is not None:
                continue  # resumed: journaled already
            outcome = OrderOutcome(
                0,  # the row id comes with the settlement
                account.account_id,
                request.contract_id,
                leg,
                OrderState.ACCEPTED,
                client_order_id=tag,
                side=request.side.opposite,
                size=request.size,
            )
            row = {
                "account_id": account.account_id,
                "account_name": account.name,
                "contract_id": request.contract_id,
                "leg": leg,
                "action": Action(request.side.value),
                "side": request.side.opposite,
                "order_type": order_type,
                "size": request.size,
                "client_order_id": tag,
                "parent_id": entry.order_record_id,
                "state": OrderState.ACCEPTED,
                "message": "created by the gateway with the entry (native bracket)",
                **ticks,
            }
            self.new_rows.append((outcome, row))
            outcomes.append(outcome)
        return outcomes

    async def _contain_unprotected(
        self, account: Account, request: OrderRequest, entry: OrderOutcome
    ) -> list[OrderOutcome]:
        """The gateway refused the bracket but created the entry (§4.6, §6.4): take it back.

        A working entry is cancelled; whatever of it filled is closed with an opposite market
        order of exactly the filled size (not the whole position, which may hold other trades).
        """
        assert entry.broker_order_id is not None
        await self._flush()
        since = datetime.now(UTC) - timedelta(minutes=5)

        async def look_up() -> Any:
            orders = await self.gateway.search_orders(account.account_id, since)
            return next((o for o in orders if o.broker_order_id == entry.broker_order_id), None)

        outcomes: list[OrderOutcome] = []
        broker = await look_up()
        if broker is None or broker.state in (OrderState.WORKING, OrderState.PENDING):
            outcomes += await self._cancel(account, request.contract_id, entry.broker_order_id)
            broker = await look_up() or broker
        filled = broker.fill_volume if broker else 0
        if filled:
            flat = OrderRequest(
                account_id=account.account_id,
                contract_id=request.contract_id,
                side=request.side.opposite,
                order_type=OrderType.MARKET,
                size=filled,
                client_order_id=ids.flatten_tag(request.client_order_id),
            )
            outcomes.append(await self._submit(account, Leg.CLOSE, Action.EXIT, flat))
        message = (
            f"the gateway created entry {entry.broker_order_id} on {account.name} without its "
            f"bracket; {filled} contract(s) had filled and were closed, the rest cancelled"
        )
        await self.runner.run(
            self.journal.add_event,
            "bracket.unprotected_entry",
            message,
            level="critical",
            alert_id=self.alert_id,
            order_record_id=entry.order_record_id,
        )
        return outcomes

    async def _flatten(
        self, account: Account, contract: Contract, position: Position | None
    ) -> list[OrderOutcome]:
        """Close the position first, then cancel the working orders of that contract.

        Closing first means a failed close leaves the stop loss working.
        """
        outcomes = [] if position is None else [await self._close(account, position)]
        return outcomes + await self._cancel_working(account, contract)

    async def _cancel_working(self, account: Account, contract: Contract) -> list[OrderOutcome]:
        outcomes = []
        for order in await self.gateway.open_orders(account.account_id):
            if order.contract_id == contract.contract_id:
                outcomes += await self._cancel(account, contract.contract_id, order.broker_order_id)
        return outcomes


# An entry the gateway has (its native bracket legs with it).
_PLACED = (OrderState.ACCEPTED, OrderState.PENDING, OrderState.WORKING, OrderState.FILLED)

STALE_ADVICE = "check the tunnel's delay and this computer's clock, or raise [alert] max_age_s"


def _plain(intent: OrderIntent, template: Any) -> bool:
    """A buy or sell that opens nothing by itself (no bracket, not an OCO leg): when it only
    reduces the position it is an exit in substance, for the risk gate and for stale alerts."""
    return intent.bracket is None and getattr(template, "kind", "order") != "oco"


def _signed(position: Position | None) -> int:
    """A position in signed contracts: > 0 long, < 0 short, 0 flat (None)."""
    return 0 if position is None else signed(position.side, position.size)


def _side(delta: int) -> Side:
    return Side.BUY if delta > 0 else Side.SELL


def _words(signed: int) -> str:
    """A signed position as a trader says it: "long 2", "short 1", "flat"."""
    if signed == 0:
        return "flat"
    return f"{'long' if signed > 0 else 'short'} {abs(signed)}"


def _sync_plan(current: int, target: int, *, reopen: bool) -> str:
    """What a position sync from ``current`` to ``target`` sends, in words ("buy 3")."""
    delta = target - current
    if delta == 0:
        return "nothing"
    if target == 0:
        return f"a close of {_words(current)}"
    if current == 0 or (current * target > 0 and not reopen):
        return f"{_side(delta)} {abs(delta)}"
    return f"a close of {_words(current)}, then {_side(target)} {abs(target)}"


def stale_age(template: Any, alert: Alert, now: datetime) -> str | None:
    """Say how old ``alert`` is when it is older than the template's ``max_age_s`` at ``now``
    (UTC), e.g. "alert fired at 14:30:00 UTC, 47 s before it could be executed, older than
    max_age_s 30 of template 'mnq-market'"; None when it is not.

    Never stale when the template has no ``time_field``, ``max_age_s`` is 0 or the alert's time
    cannot be read (reference/tradingview.md §2.1, §4 pitfalls 4 and 7), nor when the time is
    ahead of ``now``: :func:`unchecked_time` says why the check could not judge such an alert.
    """
    max_age_s = getattr(template, "max_age_s", 0.0)
    alert_time = template.alert_time(alert) if getattr(template, "time_field", None) else None
    if not max_age_s or alert_time is None:
        return None
    age_s = (now - alert_time).total_seconds()
    shown = _shown_time(alert_time, now)
    if age_s <= max_age_s:
        return None
    return (
        f"alert fired at {shown} UTC, {_seconds(age_s, above=max_age_s)} s{_long(age_s)} before it "
        f"could be executed, older than max_age_s {max_age_s:g} of template '{alert.strategy}'"
    )


# A strategy whose alerts cannot be checked for age journals one warning event per this many
# seconds (each alert's reason still says so): a flood of such alerts is not a flood of events.
TIME_WARNING_EVERY_S = 600.0


def unchecked_time(template: Any, alert: Alert, now: datetime) -> str | None:
    """Why the stale check could not judge ``alert`` (its time field missing, unreadable, or
    more than max_age_s ahead of ``now``, UTC), or None when it could, or when the template has
    no check (no ``time_field``, or ``max_age_s = 0``). Such an alert is executed (a missing
    ``{{timenow}}`` must not stop the trading), and says so: the check is not silently off.
    """
    field = getattr(template, "time_field", None)
    max_age_s = getattr(template, "max_age_s", 0.0)
    if not field or not max_age_s:
        return None
    advice = f'send "{field}": "{{{{timenow}}}}" in the alert message (alerts/{alert.strategy}.txt)'
    value = alert.fields.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return (
            f"stale check not done: the alert has no '{field}' (time_field of template "
            f"'{alert.strategy}'); {advice}"
        )
    alert_time = template.alert_time(alert)
    if alert_time is None:
        shown = str(value)[:40]
        return (
            f"stale check not done: '{field}' is '{shown}', not a time (ISO-8601 such as "
            f"2026-03-02T14:30:00Z, or epoch ms); {advice}"
        )
    ahead_s = (alert_time - now).total_seconds()
    if ahead_s > max_age_s:
        return (
            f"stale check not done: the alert is dated {_shown_time(alert_time, now)} UTC, "
            f"{_seconds(ahead_s)} s{_long(ahead_s)} ahead: this computer's clock looks behind by "
            f"{_seconds(ahead_s)} s (set it right: automatic time), or the alert's '{field}' is wrong"
        )
    return None


def _shown_time(moment: datetime, now: datetime) -> str:
    return f"{moment:%H:%M:%S}" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M:%S}"


def _long(age_s: float) -> str:
    """A long age in words too, e.g. " (3 h)", so 10800 s is read at a glance."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if age_s >= 2 * size:
            return f" ({age_s / size:.0f} {unit})"
    return ""


def _seconds(value: float, *, above: float = 0.0) -> str:
    """Whole seconds; tenths when whole seconds would not show it is above ``above``."""
    whole = f"{value:.0f}"
    return whole if float(whole) > above else f"{value:.1f}"


# However the template sets its stale rule (max_age_s = 0 is "never stale"), a crash that kept
# the bridge down this long ends the entries it interrupted: that rule is about TradingView's
# delivery, and an entry sent ten minutes after the signal is not the trade the strategy meant.
RESUME_MAX_AGE_S = 600.0


def received_too_long_ago(template: Any, alert: Alert, now: datetime) -> str | None:
    """For a resumed alert: why its entries are too old to send, measured from the time it was
    received (UTC), or None. A template without ``time_field`` applies its ``max_age_s`` here
    (stale_age cannot); every template is held to RESUME_MAX_AGE_S (600 s)."""
    max_age_s = float(getattr(template, "max_age_s", 0.0) or 0.0)
    own_rule = bool(max_age_s) and not getattr(template, "time_field", None) and max_age_s < RESUME_MAX_AGE_S
    limit = max_age_s if own_rule else RESUME_MAX_AGE_S
    age_s = (now - alert.received_at).total_seconds()
    if age_s <= limit:
        return None
    rule = (
        f"older than max_age_s {max_age_s:g} of template '{alert.strategy}'"
        if own_rule
        else f"older than the {RESUME_MAX_AGE_S:g} s after which an entry a crash interrupted is never sent"
    )
    return (
        f"alert received at {alert.received_at:%Y-%m-%d %H:%M:%S} UTC, resumed after a restart "
        f"{_seconds(age_s, above=limit)} s{_long(age_s)} later, {rule}"
    )


def row_outcome(row: Any) -> OrderOutcome:
    """An order row the journal holds, as an outcome (a resumed alert's earlier orders)."""
    return OrderOutcome(
        row.id,
        row.account_id,
        row.contract_id,
        row.leg,
        row.state,
        client_order_id=row.client_order_id,
        broker_order_id=row.broker_order_id,
        message=row.message,
        side=row.side,
        size=row.size,
    )


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
