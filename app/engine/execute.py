"""Turn one authenticated, journaled alert into gateway orders, write-ahead and never resent.

For every order: the journal row is committed as SUBMITTING (with its customTag) before the
gateway call, then updated to ACCEPTED, REJECTED or UNKNOWN; an UNKNOWN is reconciled by
customTag before anything else is done for the alert (DESIGN.md, projectx-api.md §3, §8).
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
    ) -> None:
        self._gateway = gateway
        self._runner = runner
        self._journal = runner.journal
        self._accounts = accounts
        self._reconciler = reconciler
        self._instance = instance

    async def execute(self, alert: Alert, template: Any) -> Settlement:
        """Render ``alert`` through ``template`` and send its orders; journal the outcome.

        Template and ticker problems end as 422 (INVALID); a gateway that cannot be reached
        before anything is sent ends as FAILED; once an order was sent the answer is 200.
        """
        assert alert.alert_id is not None
        ticker = contract_id = None
        try:
            ticker = template.ticker(alert)
            contract = await self._gateway.contract(ticker)
            contract_id = contract.contract_id
            intents = template.render(alert, contract)
            # Every account is resolved before the first order, so a typo in the second
            # account cannot leave the first one with an order the trader did not mean alone.
            accounts = [
                await self._accounts.resolve(i.account, template=template.name) for i in intents
            ]
        except (TemplateError, AlertInvalidError) as exc:
            return await self._settle(
                alert, AlertStatus.INVALID, [], str(exc), ticker, contract_id, 422
            )
        except GatewayError as exc:
            reason = f"gateway not reachable, nothing was sent: {exc}"
            return await self._settle(alert, AlertStatus.FAILED, [], reason, ticker, contract_id)

        outcomes: list[OrderOutcome] = []
        notes: list[str] = []
        for n, (intent, account) in enumerate(zip(intents, accounts, strict=True)):
            got, note = await self._dispatch(alert, n, intent, account, contract)
            outcomes += got
            if note:
                notes.append(note)
        status = alert_status(outcomes)
        reason = (
            "; ".join(notes + [o.message for o in outcomes if o.message and not _ok(o)]) or None
        )
        return await self._settle(alert, status, outcomes, reason, ticker, contract_id)

    async def _settle(
        self,
        alert: Alert,
        status: AlertStatus,
        outcomes: list[OrderOutcome],
        reason: str | None,
        ticker: str | None,
        contract_id: str | None,
        http_status: int = 200,
    ) -> Settlement:
        assert alert.alert_id is not None
        await self._runner.run(
            self._journal.set_alert_status,
            alert.alert_id,
            status,
            reason=reason,
            ticker=ticker,
            contract_id=contract_id,
            settled=True,
        )
        return Settlement(alert.alert_id, status, outcomes, reason, http_status)

    async def _dispatch(
        self, alert: Alert, n: int, intent: OrderIntent, account: Account, contract: Contract
    ) -> tuple[list[OrderOutcome], str | None]:
        if not account.can_trade:
            note = f"account {account.name} cannot trade now (the gateway says canTrade false); nothing sent"
            return [], note
        if intent.action in (Action.BUY, Action.SELL):
            side = Side.BUY if intent.action == Action.BUY else Side.SELL
            return await self._place_entry(alert, n, intent, account, side), None
        if intent.action == Action.CANCEL:
            got = await self._cancel_working(alert, account, contract)
            return (
                got,
                None if got else f"no working order in {contract.contract_id} on {account.name}",
            )
        position = await self._position(account, contract)
        if intent.action == Action.EXIT:
            got = await self._flatten(alert, account, contract, position)
            note = (
                None
                if got
                else f"no open position or working order in {contract.contract_id} on {account.name}"
            )
            return got, note
        # reverse: close what is open, then enter the other way with the intent's size
        if position is None:
            return (
                [],
                f"reverse: no open position in {contract.contract_id} on {account.name}; nothing to reverse",
            )
        got = await self._flatten(alert, account, contract, position)
        closed = any(o.leg == Leg.CLOSE and o.state == OrderState.DONE for o in got)
        if not closed:
            return got, "reverse stopped: the position was not closed, so no new entry was sent"
        return got + await self._place_entry(
            alert, n, intent, account, position.side.opposite
        ), None

    async def _position(self, account: Account, contract: Contract) -> Position | None:
        positions = await self._gateway.open_positions(account.account_id)
        return next((p for p in positions if p.contract_id == contract.contract_id), None)

    async def _place_entry(
        self, alert: Alert, n: int, intent: OrderIntent, account: Account, side: Side
    ) -> list[OrderOutcome]:
        assert alert.alert_id is not None
        tag = ids.client_order_id(self._instance, alert.alert_id, n)
        request = OrderRequest(
            account_id=account.account_id,
            contract_id=intent.contract_id,
            side=side,
            order_type=intent.order_type,
            size=intent.quantity,
            client_order_id=tag,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            bracket=intent.bracket,
        )
        bracket = intent.bracket
        entry = await self._submit(
            alert,
            account,
            Leg.ENTRY,
            intent.action,
            request,
            lambda: self._gateway.place_order(request),
            extra={
                "stop_loss_ticks": bracket.stop_loss_ticks if bracket else None,
                "take_profit_ticks": bracket.take_profit_ticks if bracket else None,
                "request": self._gateway.place_order_body(request),
            },
        )
        outcomes = [entry]
        if bracket and entry.state == OrderState.ACCEPTED:
            outcomes += await self._record_bracket_legs(alert, account, request, entry)
        elif bracket and entry.state == OrderState.REJECTED and entry.broker_order_id:
            outcomes += await self._contain_unprotected(alert, account, request, entry)
        return outcomes

    async def _record_bracket_legs(
        self, alert: Alert, account: Account, request: OrderRequest, entry: OrderOutcome
    ) -> list[OrderOutcome]:
        """Journal the native stop loss / take profit the gateway created with the entry (§6.4)."""
        assert request.bracket is not None
        legs = []
        if request.bracket.stop_loss_ticks:
            legs.append((Leg.STOP_LOSS, ids.stop_loss_tag(request.client_order_id), OrderType.STOP))
        if request.bracket.take_profit_ticks:
            legs.append(
                (Leg.TAKE_PROFIT, ids.take_profit_tag(request.client_order_id), OrderType.LIMIT)
            )
        outcomes = []
        for leg, tag, order_type in legs:
            row_id = await self._runner.run(
                self._journal.add_order,
                alert_id=alert.alert_id,
                account_id=account.account_id,
                account_name=account.name,
                contract_id=request.contract_id,
                leg=leg,
                action=Action(request.side.value),
                side=request.side.opposite,
                order_type=order_type,
                size=request.size,
                stop_loss_ticks=request.bracket.stop_loss_ticks if leg == Leg.STOP_LOSS else None,
                take_profit_ticks=request.bracket.take_profit_ticks
                if leg == Leg.TAKE_PROFIT
                else None,
                client_order_id=tag,
                parent_id=entry.order_record_id,
                state=OrderState.ACCEPTED,
                message="created by the gateway with the entry (native bracket)",
            )
            outcomes.append(
                OrderOutcome(
                    row_id,
                    account.account_id,
                    request.contract_id,
                    leg,
                    OrderState.ACCEPTED,
                    client_order_id=tag,
                    side=request.side.opposite,
                    size=request.size,
                )
            )
        return outcomes

    async def _contain_unprotected(
        self, alert: Alert, account: Account, request: OrderRequest, entry: OrderOutcome
    ) -> list[OrderOutcome]:
        """The gateway refused the bracket but created the entry (§4.6, §6.4): take it back.

        A working entry is cancelled; whatever of it filled is closed with an opposite market
        order of exactly the filled size (not the whole position, which may hold other trades).
        """
        assert entry.broker_order_id is not None
        since = datetime.now(UTC) - timedelta(minutes=5)
        found = [
            o
            for o in await self._gateway.search_orders(account.account_id, since)
            if o.broker_order_id == entry.broker_order_id
        ]
        outcomes: list[OrderOutcome] = []
        broker = found[0] if found else None
        if broker is None or broker.state in (OrderState.WORKING, OrderState.PENDING):
            outcomes += await self._cancel(
                alert, account, request.contract_id, entry.broker_order_id
            )
            broker = next(
                (
                    o
                    for o in await self._gateway.search_orders(account.account_id, since)
                    if o.broker_order_id == entry.broker_order_id
                ),
                broker,
            )
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
            outcomes.append(
                await self._submit(
                    alert,
                    account,
                    Leg.CLOSE,
                    Action.EXIT,
                    flat,
                    lambda: self._gateway.place_order(flat),
                    extra={"request": self._gateway.place_order_body(flat)},
                )
            )
        message = (
            f"the gateway created entry {entry.broker_order_id} on {account.name} without its "
            f"bracket; {filled} contract(s) had filled and were closed, the rest cancelled"
        )
        await self._runner.run(
            self._journal.add_event,
            "bracket.unprotected_entry",
            message,
            level="critical",
            alert_id=alert.alert_id,
            order_record_id=entry.order_record_id,
        )
        return outcomes

    async def _flatten(
        self, alert: Alert, account: Account, contract: Contract, position: Position | None
    ) -> list[OrderOutcome]:
        """Close the position first, then cancel the working orders of that contract.

        Closing first means a failed close leaves the stop loss working.
        """
        outcomes = []
        if position is not None:
            outcomes.append(
                await self._record_and_call(
                    alert,
                    account,
                    Leg.CLOSE,
                    Action.EXIT,
                    contract.contract_id,
                    lambda: self._gateway.close_position(account.account_id, contract.contract_id),
                    side=position.side.opposite,
                    size=position.size,
                )
            )
        return outcomes + await self._cancel_working(alert, account, contract)

    async def _cancel_working(
        self, alert: Alert, account: Account, contract: Contract
    ) -> list[OrderOutcome]:
        working = await self._gateway.open_orders(account.account_id)
        outcomes = []
        for order in working:
            if order.contract_id == contract.contract_id:
                outcomes += await self._cancel(
                    alert, account, contract.contract_id, order.broker_order_id
                )
        return outcomes

    async def _cancel(
        self, alert: Alert, account: Account, contract_id: str, broker_order_id: int
    ) -> list[OrderOutcome]:
        return [
            await self._record_and_call(
                alert,
                account,
                Leg.CANCEL,
                Action.CANCEL,
                contract_id,
                lambda: self._gateway.cancel_order(account.account_id, broker_order_id),
                broker_order_id=broker_order_id,
            )
        ]

    async def _record_and_call(
        self,
        alert: Alert,
        account: Account,
        leg: Leg,
        action: Action,
        contract_id: str,
        call: Callable[[], Awaitable[Any]],
        *,
        side: Side | None = None,
        size: int | None = None,
        broker_order_id: int | None = None,
    ) -> OrderOutcome:
        """A close or cancel: a row written before the call, DONE when the gateway confirms."""
        pending = await self._write_ahead(
            alert,
            account,
            leg,
            action,
            contract_id,
            side=side,
            size=size,
            broker_order_id=broker_order_id,
        )
        return await self._call(
            pending, account, call, ok_state=OrderState.DONE, side=side, size=size
        )

    async def _submit(
        self,
        alert: Alert,
        account: Account,
        leg: Leg,
        action: Action,
        request: OrderRequest,
        call: Callable[[], Awaitable[Any]],
        *,
        extra: dict[str, Any],
    ) -> OrderOutcome:
        """An Order/place: a SUBMITTING row with its customTag, then the one and only send."""
        pending = await self._write_ahead(
            alert,
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
            **extra,
        )
        return await self._call(
            pending,
            account,
            call,
            ok_state=OrderState.ACCEPTED,
            side=request.side,
            size=request.size,
        )

    async def _write_ahead(
        self, alert: Alert, account: Account, leg: Leg, action: Action, contract_id: str, **row: Any
    ) -> PendingOrder:
        row_id = await self._runner.run(
            self._journal.add_order,
            alert_id=alert.alert_id,
            account_id=account.account_id,
            account_name=account.name,
            contract_id=contract_id,
            leg=leg,
            action=action,
            state=OrderState.SUBMITTING,
            **row,
        )
        assert alert.alert_id is not None
        return PendingOrder(
            id=row_id,
            alert_id=alert.alert_id,
            account_id=account.account_id,
            contract_id=contract_id,
            leg=leg,
            client_order_id=row.get("client_order_id"),
            broker_order_id=row.get("broker_order_id"),
            created_at=datetime.now(UTC),
        )

    async def _call(
        self,
        pending: PendingOrder,
        account: Account,
        call: Callable[[], Awaitable[Any]],
        *,
        ok_state: OrderState,
        side: Side | None,
        size: int | None,
    ) -> OrderOutcome:
        broker_order_id = pending.broker_order_id
        message: str | None = None
        try:
            result = await call()
            state = ok_state
            if isinstance(result, int):
                broker_order_id = result
        except OrderRejected as exc:
            state, message = OrderState.REJECTED, explain_rejection(exc, account.name)
            broker_order_id = exc.broker_order_id or broker_order_id
            if pending.leg == Leg.CLOSE and exc.error_name == "PositionNotFound":
                state, message = OrderState.DONE, "already flat (the gateway found no position)"
        except GatewayUnavailable as exc:
            state, message = OrderState.NOT_PLACED, f"nothing was sent: {exc}"
        except OutcomeUnknown as exc:
            state, message = (
                OrderState.UNKNOWN,
                f"no answer from the gateway ({exc}); checking, not resending",
            )
        except (
            GatewayError
        ) as exc:  # anything else after the call started: assume it may have arrived
            state, message = (
                OrderState.UNKNOWN,
                f"unexpected gateway answer ({exc}); checking, not resending",
            )
        await self._runner.run(
            self._journal.update_order,
            pending.id,
            state,
            broker_order_id=broker_order_id,
            message=message,
        )
        if state == OrderState.UNKNOWN:
            settled = await self._reconciler.settle(pending)
            state, broker_order_id, message = (
                settled.state,
                settled.broker_order_id or broker_order_id,
                settled.message,
            )
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
            side=side,
            size=size,
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
