"""Send one order-changing call once: write-ahead row, one send, the answer journaled, unknown reconciled.

Every order the bridge sends goes through an OrderSession (the alerts' runs in execute.py, the
protection of OCO pairs and managed brackets in protection.py, the kill switch in flatten.py):
the journal row is committed as SUBMITTING (with its tag and exact body) before the gateway
call; the call is made once and never retried; its answer (ACCEPTED with the broker id,
REJECTED with the gateway's message, DONE, NOT_PLACED when nothing was sent) is held until
flushed. An UNKNOWN answer is journaled at once and reconciled by its tag before the session
goes on (DESIGN.md, projectx-api.md §3, §8).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.models import Account, OrderOutcome, OrderRequest, Position
from app.domain.records import OrderUpdate
from app.engine import notices
from app.engine.outcomes import explain_rejection
from app.engine.ports import Gateway, Notifier, NullNotifier
from app.engine.reconcile import PendingOrder, Reconciler
from app.engine.runner import JournalRunner
from app.errors import GatewayError, GatewayUnavailable, OrderRejected, OutcomeUnknown
from app.failpoints import failpoint
from app.gateway.wire import partial_close_body

if TYPE_CHECKING:
    from app.journal import Journal, OrderRecord

log = logging.getLogger(__name__)

# A column of an order row (journal.add_order): ids, enums, prices, ticks, the request body.
Column = (
    int | str | Decimal | datetime | Leg | Action | Side | OrderType | OrderState | dict[str, object] | None
)


class OrderSender:
    """Make OrderSessions: what each needs to send once and journal (gateway, journal, reconciler).

    ``notifier``: where an order the gateway rejected is reported (ORDER_REJECTED, once per row).
    """

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        reconciler: Reconciler,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.reconciler = reconciler
        self.notifier: Notifier = notifier if notifier is not None else NullNotifier()

    def session(self, alert_id: int, *, strategy: str = "") -> OrderSession:
        """Send orders on behalf of alert ``alert_id`` (rows journaled under it); ``strategy``:
        the alert's, for the notices (empty when not known)."""
        return OrderSession(self, alert_id, strategy=strategy)


class OrderSession:
    """Orders sent on behalf of one alert: write-ahead rows, one send each, answers journaled.

    Answers are held in ``updates`` until flushed (an alert's settlement commits them with its
    status); ``place``, ``cancel`` and ``close`` flush at once, for callers outside an alert's
    run (the protection of OCO pairs and managed brackets, the kill switch); ``submit``,
    ``submit_cancel`` and ``submit_close`` hold the answer for ``flush``.

    ``prior_rows``: a resumed alert's rows from the run before a restart (by tag, in ``submit``).
    """

    def __init__(self, sender: OrderSender, alert_id: int, *, strategy: str = "") -> None:
        self.sender = sender
        self.strategy = strategy
        self.gateway = sender.gateway
        self.runner = sender.runner
        self.journal: Journal = sender.runner.journal
        self.reconciler = sender.reconciler
        self.alert_id = alert_id
        self.updates: list[OrderUpdate] = []  # answers not yet committed
        self.prior_rows: list[OrderRecord] = []

    async def place(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest, **row: Column
    ) -> OrderOutcome:
        """Order/place once with a write-ahead row (``row``: more columns, e.g. parent_id,
        oco_group_id); the answer is committed before this returns. UNKNOWN is reconciled by tag."""
        outcome = await self.submit(account, leg, action, request, **row)
        await self.flush()
        return outcome

    async def cancel(self, account: Account, contract_id: str, broker_order_id: int) -> OrderOutcome:
        """Order/cancel once with a write-ahead CANCEL row; committed before this returns."""
        [outcome] = await self.submit_cancel(account, contract_id, broker_order_id)
        await self.flush()
        return outcome

    async def close(self, account: Account, position: Position) -> OrderOutcome:
        """Position/closeContract once with a write-ahead CLOSE row; committed before this
        returns. No position left (PositionNotFound) is DONE: already flat."""
        outcome = await self.submit_close(account, position)
        await self.flush()
        return outcome

    async def flush(self) -> None:
        """Commit the answers owed so far (before anything that must see them in the journal)."""
        # Taken before the await: an alert's accounts send at once (execute.py), and another
        # account's answer that arrives while this commit waits on the journal's thread is kept
        # for the next flush, not dropped.
        updates, self.updates = self.updates, []
        if not updates:
            return
        try:
            await self.runner.run(self.journal.update_orders, updates)
        except BaseException:
            self.updates = updates + self.updates  # not committed: still owed
            raise

    async def submit_close(self, account: Account, position: Position) -> OrderOutcome:
        """Position/closeContract once (a CLOSE row); the answer held until ``flush``."""
        pending = await self._write_ahead(
            account,
            Leg.CLOSE,
            Action.EXIT,
            position.contract_id,
            side=position.side.opposite,
            size=position.size,
        )
        close = lambda: self.gateway.close_position(account.account_id, position.contract_id)  # noqa: E731
        return await self._call(pending, account, close, ok_state=OrderState.DONE, action=Action.EXIT)

    async def submit_partial_close(
        self, account: Account, position: Position, size: int, *, held: int, oco_group_id: int | None
    ) -> OrderOutcome:
        """Position/partialCloseContract of ``size`` contracts once (a PARTIAL_CLOSE row, no tag:
        the gateway takes none); the answer held until ``flush``. ``held``: the position's size
        before, journaled in the row's request beside the exact body; ``oco_group_id``: the
        managed bracket whose cap it lowers (managed_brackets.py), or None. The gateway answers
        no order id: the fills are linked by trade_fills.py, an unknown outcome settled by the
        trades (reconcile.py)."""
        body = {
            **partial_close_body(account.account_id, position.contract_id, size),
            "held": held,  # not sent: the position's size when the close was asked
        }
        pending = await self._write_ahead(
            account,
            Leg.PARTIAL_CLOSE,
            Action.EXIT,
            position.contract_id,
            side=position.side.opposite,
            size=size,
            columns={"order_type": OrderType.MARKET, "request": body, "oco_group_id": oco_group_id},
        )

        async def close() -> None:
            await self.gateway.partial_close_position(account.account_id, position.contract_id, size)

        return await self._call(pending, account, close, ok_state=OrderState.DONE, action=Action.EXIT)

    async def submit_cancel(
        self, account: Account, contract_id: str, broker_order_id: int
    ) -> list[OrderOutcome]:
        """Order/cancel once (a CANCEL row); the answer held until ``flush``."""
        pending = await self._write_ahead(
            account, Leg.CANCEL, Action.CANCEL, contract_id, broker_order_id=broker_order_id
        )
        cancel = lambda: self.gateway.cancel_order(account.account_id, broker_order_id)  # noqa: E731
        return [await self._call(pending, account, cancel, ok_state=OrderState.DONE, action=Action.CANCEL)]

    async def submit(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest, **row: Column
    ) -> OrderOutcome:
        """An Order/place: a SUBMITTING row with its tag and exact body, then one send; the
        answer held until ``flush`` (an UNKNOWN one is journaled and reconciled at once)."""
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
            client_order_id=request.client_order_id,
            columns={
                "order_type": request.order_type,
                "limit_price": request.limit_price,
                # a trailing stop's row keeps the trailPrice it was sent with (its start level)
                "stop_price": request.stop_price if request.stop_price is not None else request.trail_price,
                "request": self.gateway.place_order_body(request),
                **row,
            },
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

        return await self._call(
            pending, account, place, ok_state=OrderState.ACCEPTED, action=action, prices=_prices(request)
        )

    def prior(self, account_id: int, tag: str | None) -> OrderRecord | None:
        """The earlier run's row with this tag on this account, or None (only a resumed alert has any)."""
        if not tag:
            return None
        return next(
            (r for r in self.prior_rows if r.account_id == account_id and r.client_order_id == tag), None
        )

    async def _resubmit(
        self, account: Account, leg: Leg, action: Action, request: OrderRequest
    ) -> OrderOutcome | None:
        """A resumed alert's order whose row the earlier run wrote: its outcome as settled when
        it may have reached the gateway (never sent again); sent again with the same row and tag
        when it was proven absent; None when there is no such row (send it as new)."""
        prior = self.prior(account.account_id, request.client_order_id)
        if prior is None:
            return None
        if prior.state != OrderState.NOT_PLACED:
            log.info("order row %s (%s) was sent before the restart: not sent again", prior.id, prior.leg)
            return row_outcome(prior)
        assert prior.id is not None  # a journaled row
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
        outcome = await self._call(
            pending, account, place, ok_state=OrderState.ACCEPTED, action=action, prices=_prices(request)
        )
        if outcome.state == OrderState.REJECTED:
            # Perhaps the tag is taken: the first send did arrive after all. Look once more.
            await self.flush()
            found = await self.reconciler.settle(pending, attempts=1)
            if found.state == OrderState.ACCEPTED:
                outcome.state, outcome.broker_order_id, outcome.message = (
                    found.state,
                    found.broker_order_id,
                    found.message,
                )
        return outcome

    async def _write_ahead(
        self,
        account: Account,
        leg: Leg,
        action: Action,
        contract_id: str,
        *,
        side: Side | None = None,
        size: int | None = None,
        client_order_id: str | None = None,
        broker_order_id: int | None = None,
        columns: dict[str, Column] | None = None,
    ) -> PendingOrder:
        """Commit the SUBMITTING row (``columns``: more of its columns) before the gateway call."""
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
            side=side,
            size=size,
            client_order_id=client_order_id,
            broker_order_id=broker_order_id,
            **(columns or {}),
        )
        failpoint("order.written")
        return PendingOrder(
            id=row_id,
            alert_id=self.alert_id,
            account_id=account.account_id,
            contract_id=contract_id,
            leg=leg,
            client_order_id=client_order_id,
            broker_order_id=broker_order_id,
            created_at=datetime.now(UTC),
            side=side,
            size=size,
        )

    async def _call(
        self,
        pending: PendingOrder,
        account: Account,
        call: Callable[[], Awaitable[int | None]],
        *,
        ok_state: OrderState,
        action: Action,
        prices: str = "",
    ) -> OrderOutcome:
        """Send once; record the answer; reconcile by tag when there is none. A rejection is
        reported to the notifier (ORDER_REJECTED; ``action`` and ``prices`` for its text)."""
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
            if pending.leg in (Leg.CLOSE, Leg.PARTIAL_CLOSE) and exc.error_name == "PositionNotFound":
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
            await self.flush()
            settled = await self.reconciler.settle(pending)
            state, message = settled.state, settled.message
            broker_order_id = settled.broker_order_id or broker_order_id
        else:
            self.updates.append(update)
        failpoint("order.answered")  # answered; committed with the alert's settlement
        if state == OrderState.REJECTED:
            notice = notices.order_rejected(
                account=account.name,
                contract_id=pending.contract_id,
                leg=pending.leg,
                action=action,
                side=pending.side,
                size=pending.size,
                reason=message or "no reason given",
                order_row=pending.id,
                strategy=self.strategy,
                prices=prices,
            )
            notices.send(self.sender.notifier, notice)
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


def _prices(request: OrderRequest) -> str:
    """The order type and prices (points) as a trader reads them: ``limit @ 21500.25``."""
    price = request.limit_price if request.limit_price is not None else request.stop_price
    price = price if price is not None else request.trail_price
    return f"{request.order_type}" + (f" @ {price}" if price is not None else "")


def row_outcome(row: OrderRecord) -> OrderOutcome:
    """An order row the journal holds, as an outcome (a resumed alert's earlier orders)."""
    assert row.id is not None  # a journaled row
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
