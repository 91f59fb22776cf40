"""A breakeven alert: move the stop loss of the position in the alert's contract to break-even.

TradersPost's ``action: "breakeven"`` is not defined in the reference the bridge follows
(shared/reference/tradingview.md), so the bridge reads it as: move the position's stop loss to
the position's average entry price (Position/searchOpen ``averagePrice``, rounded to the tick
in the trade's favour), never the wrong way.

Per account: the position the gateway reports (none: a noop with the reason); its working stop
losses among its bracket legs (stray_legs.bracket_legs: native children by parentOrderId, the
bridge's managed and scale-out legs by their journal rows), on the side that closes it. A stop
already at or better than break-even stays (a noop with the reason); a native trailing stop is
never modified (trailing.py) and is left as it is. A stop that would be moved above the market
(a long; below for a short: it would fill at once) is skipped with the reason: the stop stays.
Otherwise one Order/modify of ``stopPrice`` (an absolute price): written ahead as a
``break_even.modify`` event, sent once, its answer journaled (``break_even.result``). A resumed
run reads the gateway again, so a move that landed before a crash is found done and never sent
twice (and one that did not land is sent once).

A stop loss of a group the bridge manages is moved under that group's lock (protection's, the
one live_stops.py holds), read again once the lock is held: a live break-even or trail move in
flight lands first and is never undone by a looser break-even.

A position with no stop loss at all gets one at break-even, sized to the position, through the
sender (a write-ahead row, sent once, tag ``<intent>-BSL``): asked to protect at break-even, the
protective answer is a stop there rather than a refusal that leaves the position naked.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, BrokerOrder, Contract, OrderOutcome, OrderRequest, Position
from app.engine.partial_exit import STOP_TYPES
from app.engine.scale_out import at_or_better, break_even_price, past
from app.engine.sender import row_outcome
from app.engine.stray_legs import bracket_legs
from app.errors import GatewayError, OrderRejected
from app.failpoints import failpoint

if TYPE_CHECKING:
    from app.engine.alert_run import AlertRun

log = logging.getLogger(__name__)

Result = tuple[list[OrderOutcome], str | None]


async def break_even(
    run: AlertRun, n: int, account: Account, contract: Contract, position: Position | None
) -> Result:
    """Move the stop loss of ``position`` (the gateway's; None when flat) to break-even; return
    the outcomes (a stop placed) and the reason when nothing was changed or it failed.
    ``n``: the intent's index. Raises JournalError; gateway errors are answered, not raised."""
    where = f"in {contract.contract_id} on {account.name}"
    if position is None:
        return [], f"breakeven: no open position {where}: nothing to move"
    target = break_even_price(position.average_price, position.side, 0, contract.tick_size)
    try:
        working = await run.gateway.open_orders(account.account_id)
    except GatewayError as exc:
        return [], f"breakeven {where}: the working orders could not be read ({exc}); nothing sent"
    legs = await bracket_legs(run.runner, working, contract.contract_id)
    closing = position.side.opposite
    stops = [o for o in legs if o.order_type in STOP_TYPES and o.side == closing]
    if not stops:
        return await _place(run, n, account, contract, position, target)
    outcomes: list[OrderOutcome] = []
    notes: list[str] = []
    for stop in stops:
        moved, note = await _move_held(run, account, contract, position, stop, target)
        outcomes += [moved] if moved is not None else []
        notes += [note] if note else []
    return outcomes, "; ".join(notes) or None


async def _move_held(
    run: AlertRun,
    account: Account,
    contract: Contract,
    position: Position,
    stop: BrokerOrder,
    target: Decimal,
) -> tuple[OrderOutcome | None, str | None]:
    """``_move`` under the lock of the stop's group when the bridge manages it (protection's own:
    live_stops.py moves that stop under it too), the stop read again once the lock is held: a
    move made meanwhile (a live break-even or trail) is seen, never undone by a looser one."""
    row = await run.runner.run(
        run.journal.order_for_event, account.account_id, stop.broker_order_id, stop.client_order_id
    )
    if row is None or row.oco_group_id is None:
        return await _move(run, account, contract, position, stop, target)
    what = f"breakeven {account.name} {contract.contract_id}: stop loss {stop.broker_order_id}"
    async with run.group_locks[row.oco_group_id]:
        try:
            working = await run.gateway.open_orders(account.account_id)
        except GatewayError as exc:
            return None, f"{what}: the working orders could not be read again ({exc}); nothing sent"
        now = next((o for o in working if o.broker_order_id == stop.broker_order_id), None)
        if now is None or now.state != OrderState.WORKING:
            return None, f"{what} is no longer working: nothing to move"
        return await _move(run, account, contract, position, now, target)


async def _move(
    run: AlertRun,
    account: Account,
    contract: Contract,
    position: Position,
    stop: BrokerOrder,
    target: Decimal,
) -> tuple[OrderOutcome | None, str | None]:
    """Move one stop loss to ``target`` once: the stop's outcome when it was moved, and the
    reason when it was not."""
    what = f"breakeven {account.name} {contract.contract_id}: stop loss {stop.broker_order_id}"
    if stop.order_type != "stop" or stop.stop_price is None:
        return None, f"{what} is a {stop.order_type} order the bridge does not modify; it stays"
    if at_or_better(stop.stop_price, target, position.side):
        return None, f"{what} at {stop.stop_price} is already at or better than break-even {target}; it stays"
    last = await _last_price(run, contract)
    if past(last, target, position.side):
        beyond = "below" if position.side is Side.BUY else "above"
        reason = (
            f"{what} not moved: the market {last} is at or {beyond} break-even {target}, where the "
            f"stop would fill at once; it stays at {stop.stop_price}"
        )
        await _record(run, account, contract, stop, reason, EventLevel.WARNING, target)
        return None, reason
    message = f"{what} {stop.stop_price} → {target} (break-even, average entry {position.average_price})"
    await _record(run, account, contract, stop, message + ": sending", EventLevel.INFO, target, ahead=True)
    failpoint("break_even.modify_written")  # the move journaled, not sent
    try:
        await run.gateway.modify_order(account.account_id, stop.broker_order_id, stop_price=target)
    except OrderRejected as exc:
        reason = f"{message}: refused ({exc}); the stop stays at {stop.stop_price}"
        await _record(run, account, contract, stop, reason, EventLevel.WARNING, target)
        return None, reason
    except GatewayError as exc:
        # Not known to be done: not resent here (an alert sent again reads the gateway first).
        reason = f"{message}: no answer ({exc}); not resent: check the stop loss"
        await _record(run, account, contract, stop, reason, EventLevel.WARNING, target)
        return None, reason
    failpoint("break_even.modify_sent")  # moved at the gateway, the answer not journaled
    log.info("alert %s: %s", run.alert_id, message)
    row_id = await _record(run, account, contract, stop, message, EventLevel.INFO, target)
    moved = OrderOutcome(
        row_id or 0,
        account.account_id,
        contract.contract_id,
        Leg.STOP_LOSS,
        OrderState.WORKING,
        client_order_id=stop.client_order_id,
        broker_order_id=stop.broker_order_id,
        message=message,
        side=stop.side,
        size=stop.size,
        extra={"stop_price": str(target), "break_even": True},
    )
    return moved, None


async def _place(
    run: AlertRun, n: int, account: Account, contract: Contract, position: Position, target: Decimal
) -> Result:
    """No stop loss protects ``position``: place one at ``target``, sized to it, sent once."""
    tag = ids.break_even_tag(run.tag(n))
    prior = run.orders.prior(account.account_id, tag)
    if prior is not None:  # a resumed run: placed (or tried) before the restart, never again
        return [row_outcome(prior)], None
    where = f"in {contract.contract_id} on {account.name}"
    last = await _last_price(run, contract)
    if past(last, target, position.side):
        return [], (
            f"breakeven {where}: the position has no stop loss and the market {last} is past "
            f"break-even {target}, where a stop would fill at once: nothing placed; the position "
            "has NO stop loss"
        )
    request = OrderRequest(
        account.account_id,
        contract.contract_id,
        position.side.opposite,
        OrderType.STOP,
        position.size,
        tag,
        stop_price=target,
    )
    outcome = await run.orders.place(account, Leg.STOP_LOSS, Action.EXIT, request)
    message = (
        f"breakeven {account.name} {contract.contract_id}: no stop loss protected the position "
        f"({position.side} {position.size} @ {position.average_price}): placed a stop at break-even "
        f"{target} × {position.size} ({outcome.state}, tag {tag})"
    )
    await run.runner.run(
        run.journal.add_event,
        EventKind.BREAK_EVEN_RESULT,
        message,
        level=EventLevel.WARNING,
        alert_id=run.alert_id,
        order_record_id=outcome.order_record_id,
        data={
            "account_id": account.account_id,
            "contract_id": contract.contract_id,
            "stop_price": str(target),
        },
    )
    return [outcome], None


async def _last_price(run: AlertRun, contract: Contract) -> Decimal | None:
    """The contract's last price: the live feed's, else the gateway's latest bar; None unknown."""
    live = run.gate.live_prices().get(contract.contract_id) if run.gate is not None else None
    if live is not None:
        return live
    try:
        return await run.gateway.last_price(contract.contract_id)
    except GatewayError as exc:
        log.warning("breakeven: no last price for %s (%s)", contract.contract_id, exc)
        return None


async def _record(
    run: AlertRun,
    account: Account,
    contract: Contract,
    stop: BrokerOrder,
    message: str,
    level: EventLevel,
    target: Decimal,
    *,
    ahead: bool = False,
) -> int | None:
    """Journal one step of a stop's move (its order row linked when the journal has one);
    return that row's id."""
    kind = EventKind.BREAK_EVEN_MODIFY if ahead else EventKind.BREAK_EVEN_RESULT
    return await run.leg_event(
        kind,
        message,
        level,
        account,
        contract,
        stop,
        from_stop_price=str(stop.stop_price),
        stop_price=str(target),
    )
