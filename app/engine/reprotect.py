"""Re-protect a position whose close did not go through after its exit cancelled the legs.

An exit (and a reverse, a target position) cancels the position's bracket legs first, then
calls Position/closeContract (projectx-api.md §13.1: a close leaves the legs working). When that
close is refused, or its outcome stays unknown after reconciliation, the position may be open
without its stop loss. Then, and only when the gateway says the position is still open
(Position/searchOpen, never a guess), the cancelled stop loss is placed again: same stop price,
same side, the position's current size, as a STOP_LOSS row through the alert's OrderSession
(write-ahead, sent once, tag ``<intent>-RSL``: a resumed alert finds its row and never sends it
twice). An event ``bracket.reprotected`` says why, and a critical notice tells the trader.

A stop price the market has already crossed is placed unchanged: the gateway fills it at once
(the simulator does), which closes the position, what the exit wanted; a second close in the
same run would repeat the call the gateway has just refused. Should the gateway refuse such a
stop, the event and the notice say the position is open without one. The take profit is not
placed again: the trader asked to be out, and the stop loss alone keeps the loss bounded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, BrokerOrder, Contract, OrderOutcome, OrderRequest
from app.engine import notices
from app.errors import GatewayError

if TYPE_CHECKING:
    from app.engine.alert_run import AlertRun

log = logging.getLogger(__name__)

_PLACED = (OrderState.ACCEPTED, OrderState.WORKING, OrderState.FILLED, OrderState.DONE)


def cancelled_stop(legs: list[BrokerOrder], cancels: list[OrderOutcome]) -> BrokerOrder | None:
    """The stop loss among ``legs`` whose cancel took effect (DONE), or None: a leg whose cancel
    did not is still working, and protects the position without a second stop. A trailing stop
    (type 5) counts when the gateway reports where it stands (stopPrice): it is placed again as a
    plain stop there, never looser than it was."""
    done = {o.broker_order_id for o in cancels if o.state == OrderState.DONE}
    stops = (OrderType.STOP, OrderType.TRAILING_STOP)
    return next(
        (
            leg
            for leg in legs
            if leg.order_type in stops and leg.stop_price is not None and leg.broker_order_id in done
        ),
        None,
    )


async def reprotect(
    run: AlertRun,
    n: int,
    account: Account,
    contract: Contract,
    stop: BrokerOrder,
    close: OrderOutcome,
) -> OrderOutcome | None:
    """After ``close`` did not go through (REJECTED, NOT_PLACED or UNKNOWN) and ``stop`` (the
    position's stop loss) was cancelled: place it again when the gateway still lists the
    position; journal the event and send the critical notice. Returns the new stop's outcome,
    None when nothing was placed. Raises JournalError; gateway errors are reported, not raised."""
    contract_id = contract.contract_id
    why = f"the close of alert {run.alert_id} {close.state}" + (
        f" ({close.message})" if close.message else ""
    )
    try:
        positions = await run.gateway.open_positions(account.account_id)
    except GatewayError as exc:
        what = (
            f"{why}; the bridge could not read the position to place the stop loss "
            f"{stop.stop_price} again ({exc}): nothing placed"
        )
        await _report(
            run, account, contract, stop, close, what, None, size=stop.size, side=stop.side.opposite
        )
        return None
    position = next((p for p in positions if p.contract_id == contract_id), None)
    if position is None:
        log.info("%s on %s: flat all the same, no stop loss placed again", why, account.name)
        return None
    if position.side != stop.side.opposite:
        what = (
            f"{why}; the position is now {position.side} {position.size}, not the side the "
            f"cancelled stop loss {stop.stop_price} protected: nothing placed"
        )
        await _report(run, account, contract, stop, close, what, None, size=position.size, side=position.side)
        return None
    assert stop.stop_price is not None
    request = OrderRequest(
        account.account_id,
        contract_id,
        stop.side,
        OrderType.STOP,
        position.size,
        ids.reprotect_tag(run.tag(n)),
        stop_price=stop.stop_price,
    )
    outcome = await run.orders.place(account, Leg.STOP_LOSS, Action.EXIT, request)
    if outcome.state in _PLACED:
        what = (
            f"{why}; the stop loss was placed again: {stop.side} stop {notices.points(stop.stop_price)} "
            f"× {position.size} ({outcome.state}, tag {request.client_order_id}); the take profit "
            "was not"
        )
    else:
        what = (
            f"{why}; placing the stop loss {notices.points(stop.stop_price)} × {position.size} again "
            f"failed ({outcome.state}: {outcome.message}): the position has NO stop loss"
        )
    await _report(run, account, contract, stop, close, what, outcome, size=position.size, side=position.side)
    return outcome


async def _report(
    run: AlertRun,
    account: Account,
    contract: Contract,
    stop: BrokerOrder,
    close: OrderOutcome,
    what: str,
    placed: OrderOutcome | None,
    *,
    size: int,
    side: Side,
) -> None:
    """Log, journal (``bracket.reprotected``) and notify (critical) what was done; ``side`` of
    the position (BUY = long), ``size`` in contracts."""
    protected = placed is not None and placed.state in _PLACED
    message = f"{account.name} {contract.contract_id}: {what}"
    (log.warning if protected else log.error)("%s", message)
    await run.runner.run(
        run.journal.add_event,
        EventKind.BRACKET_REPROTECTED,
        message,
        level=EventLevel.WARNING if protected else EventLevel.CRITICAL,
        alert_id=run.alert_id,
        order_record_id=placed.order_record_id if placed is not None else None,
        data={
            "account_id": account.account_id,
            "contract_id": contract.contract_id,
            "close_state": str(close.state),
            "close_message": close.message,
            "cancelled_stop_broker_order_id": stop.broker_order_id,
            "stop_price": str(stop.stop_price),
            "size": size,
            "state": str(placed.state) if placed is not None else None,
            "broker_order_id": placed.broker_order_id if placed is not None else None,
        },
    )
    notice = notices.close_not_done(
        account=account.name,
        contract_id=contract.contract_id,
        side=side,
        size=size,
        what=what[:1].upper() + what[1:],
        strategy=run.alert.strategy,
        key=f"reprotect:{account.name}:{contract.contract_id}:alert-{run.alert_id}",
    )
    notices.send(run.orders.sender.notifier, notice)
