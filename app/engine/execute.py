"""Turn one authenticated, journaled alert into gateway orders, write-ahead and never resent.

For every order the journal row is committed as SUBMITTING (with its tag) before the
gateway call. The answer (ACCEPTED with the broker id, REJECTED with the gateway's message, DONE)
and the native bracket legs are committed with the alert's final status in one transaction at
the end: a crash in between leaves the row SUBMITTING, which reconciliation settles by its tag.
An UNKNOWN answer is journaled at once and reconciled by its tag before anything else is done
for the alert (DESIGN.md, projectx-api.md §3, §8).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
from app.engine.accounts import AccountDirectory
from app.engine.outcomes import alert_status, explain_rejection
from app.engine.ports import Gateway
from app.engine.reconcile import PendingOrder, Reconciler
from app.engine.runner import JournalRunner
from app.errors import (
    AlertInvalidError,
    GatewayError,
    GatewayUnavailable,
    OrderRejected,
    OutcomeUnknown,
    TemplateError,
)
from app.journal.journal import OrderUpdate

log = logging.getLogger("tvbridge.engine")


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
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.accounts = accounts
        self.reconciler = reconciler
        self.instance = instance
        self.clock = clock  # UTC; an alert's age is measured on it (stale entries)

    async def execute(self, alert: Alert, template: Any) -> Settlement:
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
        """
        return await _Execution(self, alert).run(template)

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
        place = lambda: self.gateway.place_order(request)  # noqa: E731
        return await self._call(pending, account, place, ok_state=OrderState.ACCEPTED)

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


class _Execution(OrderSession):
    """One alert's run: what it sent, and the journal writes it still owes."""

    def __init__(self, executor: Executor, alert: Alert) -> None:
        assert alert.alert_id is not None
        super().__init__(executor, alert.alert_id)
        self.alert = alert
        self.template: Any = None
        self.new_rows: list[tuple[OrderOutcome, dict[str, Any]]] = []  # bracket legs to journal
        self.stale: str | None = None  # how old the alert is when too old for a new entry
        self.started_at = executor.clock()  # the alert's age is measured from here

    async def run(self, template: Any) -> Settlement:
        ticker: str | None = None
        contract_id: str | None = None
        try:
            ticker = template.ticker(self.alert)
            contract = await self.gateway.contract(ticker)
            contract_id = contract.contract_id
            intents = template.render(self.alert, contract)
            self.stale = stale_age(template, self.alert, self.started_at)
            if self.stale and all(i.action in (Action.BUY, Action.SELL) for i in intents):
                what = "OCO pair" if getattr(template, "kind", "order") == "oco" else "entry"
                refusal = f"{self.stale}: {what} not sent (exits are still executed); {STALE_ADVICE}"
                log.warning("alert %s not executed: %s", self.alert_id, refusal)
                return await self._settle(AlertStatus.STALE, [], refusal, ticker, contract_id)
            # Every account is resolved before the first order, so a typo in the second
            # account cannot leave the first one with an order the trader did not mean alone.
            accounts = [await self.accounts.resolve(i.account, template=template.name) for i in intents]
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
        status = AlertStatus.FAILED if unreached and not outcomes else alert_status(outcomes)
        failures = [o.message for o in outcomes if o.message and not _ok(o)]
        reason = "; ".join(notes + failures) or None
        return await self._settle(status, outcomes, reason, ticker, contract_id)

    async def _settle(
        self,
        status: AlertStatus,
        outcomes: list[OrderOutcome],
        reason: str | None,
        ticker: str | None,
        contract_id: str | None,
        http_status: int = 200,
    ) -> Settlement:
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

    async def _dispatch(
        self, n: int, intent: OrderIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        where = f"in {contract.contract_id} on {account.name}"
        if not account.can_trade:
            return (
                [],
                f"account {account.name} cannot trade now (the gateway says canTrade false); nothing sent",
            )
        if intent.action in (Action.BUY, Action.SELL):
            side = Side.BUY if intent.action == Action.BUY else Side.SELL
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
        group = await self._new_group(account, contract, "oco", "oco_on_both_filled", "flatten")
        outcomes = []
        for k, intent in ((n, first), (n + 1, second)):
            assert intent.side is not None
            outcomes += await self._place_entry(k, intent, account, intent.side, contract, oco_group_id=group)
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
    ) -> list[OrderOutcome]:
        bracket = intent.bracket
        managed = bracket is not None and getattr(self.template, "bracket_mode", "native") == "managed"
        if managed:
            # Sent without the native bracket; protection places it after the fill (sized to it).
            oco_group_id = await self._new_group(
                account, contract, "managed_bracket", "bracket_on_failure", "close"
            )
        request = OrderRequest(
            account_id=account.account_id,
            contract_id=intent.contract_id,
            side=side,
            order_type=intent.order_type,
            size=intent.quantity,
            client_order_id=ids.client_order_id(self.instance, self.alert_id, n),
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
        if bracket and entry.state == OrderState.ACCEPTED:
            return [entry, *self._bracket_legs(account, request, entry)]
        if bracket and entry.state == OrderState.REJECTED and entry.broker_order_id:
            return [entry, *await self._contain_unprotected(account, request, entry)]
        return [entry]

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


STALE_ADVICE = "check the tunnel's delay and this computer's clock, or raise [alert] max_age_s"


def stale_age(template: Any, alert: Alert, now: datetime) -> str | None:
    """Say how old ``alert`` is when it is older than the template's ``max_age_s`` at ``now``
    (UTC), e.g. "alert fired at 14:30:00 UTC, 47 s before it could be executed, older than
    max_age_s 30 of template 'mnq-market'"; None when it is not.

    Never stale when the template has no ``time_field``, ``max_age_s`` is 0 or the alert's time
    cannot be read (reference/tradingview.md §2.1, §4 pitfalls 4 and 7). A time more than
    max_age_s ahead of ``now`` is not stale and logs a WARNING: this computer's clock is behind.
    """
    max_age_s = getattr(template, "max_age_s", 0.0)
    alert_time = template.alert_time(alert) if getattr(template, "time_field", None) else None
    if not max_age_s or alert_time is None:
        return None
    age_s = (now - alert_time).total_seconds()
    shown = f"{alert_time:%H:%M:%S}" if alert_time.date() == now.date() else f"{alert_time:%Y-%m-%d %H:%M:%S}"
    if -age_s > max_age_s:
        log.warning(
            "alert %s of strategy '%s' is dated %s UTC, %s s ahead: this computer's clock looks "
            "behind by %s s; set it right (automatic time), or stale alerts go unnoticed",
            alert.alert_id,
            alert.strategy,
            shown,
            _seconds(-age_s),
            _seconds(-age_s),
        )
    if age_s <= max_age_s:
        return None
    return (
        f"alert fired at {shown} UTC, {_seconds(age_s, above=max_age_s)} s{_long(age_s)} before it "
        f"could be executed, older than max_age_s {max_age_s:g} of template '{alert.strategy}'"
    )


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
