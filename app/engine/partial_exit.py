"""Partial exits: close part of a position (Position/partialCloseContract), then resize its legs.

An exit whose template renders ``order.exit_quantity`` closes that many contracts, or that
percentage of the position the gateway reports (Position/searchOpen, never the journal),
floored to whole contracts and at least 1. A size of the whole position or more is an ordinary
exit (AlertRun.flatten: the legs cancelled first, then Position/closeContract).

partialCloseContract answers no order id (projectx-api.md §4.9): its PARTIAL_CLOSE row is found
by its trades (the fill linked by journal/trade_fills.py, an unknown outcome settled by
reconcile.py). Once the gateway took it, the row is committed at once and the position's bracket
legs (native children, the bridge's managed legs) are shrunk so that its stop losses together,
and its take profits together, cover no more than what is left: a leg over it is resized by one
Order/modify of an absolute size (sent once, journaled as ``bracket.resized``), one with nothing
left to cover is cancelled. A stop loss larger than the position would, when hit, open a
position the other way. A managed
bracket's or scale-out's group holds the PARTIAL_CLOSE row, so its review caps its legs to the
entry's fill less what was closed and never sizes them back up (managed_brackets.py,
scale_out.py). A refused close
changes nothing: the legs keep their size and the alert answers the gateway's reason. After a
crash between the close and the resize, the alert's resumed run finds its PARTIAL_CLOSE row
sent, never sends it again, and resizes the legs to the position the gateway reports then.
"""

from __future__ import annotations

import logging
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from app.domain.enums import Leg, OrderState
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.domain.models import Account, BrokerOrder, Contract, OrderIntent, OrderOutcome, Position
from app.engine.sender import row_outcome
from app.engine.stray_legs import bracket_legs
from app.errors import GatewayError, OrderRejected
from app.failpoints import failpoint

if TYPE_CHECKING:
    from app.engine.alert_run import AlertRun
    from app.journal import OrderRecord

log = logging.getLogger(__name__)

Result = tuple[list[OrderOutcome], str | None]
# BrokerOrder.order_type values of a stop loss (the rest of a position's legs are take profits).
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})


def is_partial(intent: OrderIntent) -> bool:
    """True when the exit names part of the position (contracts or a percentage)."""
    return intent.exit_contracts is not None or intent.exit_percent is not None


def contracts_to_close(held: int, intent: OrderIntent) -> int:
    """The contracts an exit closes from a position of ``held``: its ``exit_contracts``, or its
    ``exit_percent`` of ``held`` floored to whole contracts, at least 1 (when something is held
    and the percentage is above 0). At least ``held`` means the whole position."""
    if intent.exit_percent is not None:
        if held <= 0 or intent.exit_percent <= 0:
            return 0
        share = (Decimal(held) * intent.exit_percent / 100).to_integral_value(rounding=ROUND_FLOOR)
        return max(int(share), 1)
    return intent.exit_contracts or 0


async def partial_exit(
    run: AlertRun,
    n: int,
    intent: OrderIntent,
    account: Account,
    contract: Contract,
    position: Position | None,
) -> Result:
    """Close part of ``position`` (the gateway's, None when flat) as ``intent`` asks; return the
    outcomes and the reason when it was not done. ``n``: the intent's index."""
    where = f"in {contract.contract_id} on {account.name}"
    earlier = _sent_before(run, account, contract)
    if earlier is not None:  # a resumed run: the close went out before the restart, never again
        log.info("alert %s: partial close row %s was sent before the restart", run.alert_id, earlier.id)
        outcome = row_outcome(earlier)
        if earlier.state != OrderState.DONE:
            return [outcome], f"partial close {where} not done before the restart: {earlier.message}"
        return [outcome, *await resize_legs(run, account, contract, position.size if position else 0)], None
    if position is None:
        return [], f"no open position {where}: nothing to close"
    size = contracts_to_close(position.size, intent)
    if size >= position.size:  # all of it (or more): the ordinary exit
        return await run.flatten(account, contract, position, n=n), None
    groups = await _managed_groups(run, account, contract)
    if len(groups) > 1:
        return [], (
            f"partial exit {where} not sent: {len(groups)} managed brackets protect this position "
            "and the bridge cannot tell which to shrink; exit all of it, or close part in the platform"
        )
    close = await run.orders.submit_partial_close(
        account, position, size, held=position.size, oco_group_id=groups[0] if groups else None
    )
    if close.state != OrderState.DONE:
        # Refused, not sent, or not found done: the position is as it was, so are its legs.
        reason = close.message or str(close.state)
        return [close], f"partial close of {size} of {position.size} {where} not done: {reason}"
    # Committed before the legs shrink: a managed bracket's review reads it to cap its legs.
    await run.orders.flush()
    failpoint("partial_exit.closed")  # closed at the gateway, the legs not resized yet
    return [close, *await resize_legs(run, account, contract, position.size - size)], None


async def resize_legs(run: AlertRun, account: Account, contract: Contract, left: int) -> list[OrderOutcome]:
    """Shrink the position's working bracket legs so that the stop losses together, and the take
    profits together, cover at most ``left`` contracts: the oldest keep theirs first, a leg
    over the budget is resized (Order/modify, once), one with none left is cancelled (``left``
    0: all of them). Nothing is ever sized up. Each resize is journaled (``bracket.resized``);
    a refusal or no answer is reported, not resent (an absolute size: a resumed run may send
    the same one again harmlessly)."""
    working = await run.gateway.open_orders(account.account_id)
    legs = await bracket_legs(run.runner, working, contract.contract_id)
    budget = {True: left, False: left}  # stop losses, take profits
    outcomes: list[OrderOutcome] = []
    for leg in sorted(legs, key=lambda o: o.broker_order_id):
        stop = leg.order_type in STOP_TYPES
        keep = min(leg.size, budget[stop])
        budget[stop] -= keep
        if keep <= 0:
            outcomes += await run.orders.submit_cancel(account, contract.contract_id, leg.broker_order_id)
        elif keep < leg.size:
            await _modify(run, account, contract, leg, keep)
    return outcomes


async def _modify(run: AlertRun, account: Account, contract: Contract, leg: BrokerOrder, size: int) -> None:
    message = (
        f"{account.name} {contract.contract_id}: order {leg.broker_order_id} resized {leg.size} → {size}"
    )
    level = EventLevel.INFO
    try:
        await run.gateway.modify_order(account.account_id, leg.broker_order_id, size=size)
        message += " after a partial exit"
    except OrderRejected as exc:  # filled or cancelled meanwhile, or the gateway would not
        message, level = f"{message}: refused ({exc})", EventLevel.WARNING
    except GatewayError as exc:
        message, level = f"{message}: no answer ({exc}); not resent", EventLevel.WARNING
    if level != EventLevel.INFO and leg.order_type in STOP_TYPES:
        # A stop loss larger than the position opens a position the other way when it fills. A
        # group of the bridge's own resizes it again in its review (refusals.py); a native leg
        # is the trader's to fix, so say so at the loudest level, with the numbers.
        level = EventLevel.CRITICAL
        message += (
            f": stop loss {leg.broker_order_id} may still be {leg.size} contracts for {size} open "
            f"(a fill would open {leg.size - size} the other way): resize it to {size} in TopstepX "
            "or flatten the position"
        )
    (log.info if level == EventLevel.INFO else log.warning)("alert %s: %s", run.alert_id, message)
    await run.leg_event(
        EventKind.BRACKET_RESIZED, message, level, account, contract, leg, from_size=leg.size, size=size
    )


def _sent_before(run: AlertRun, account: Account, contract: Contract) -> OrderRecord | None:
    rows = [
        r
        for r in run.orders.prior_rows
        if r.account_id == account.account_id
        and r.contract_id == contract.contract_id
        and r.leg == Leg.PARTIAL_CLOSE
        and r.state != OrderState.NOT_PLACED
    ]
    return rows[-1] if rows else None


async def _managed_groups(run: AlertRun, account: Account, contract: Contract) -> list[int]:
    """The working managed brackets and scale-out groups of the account in the contract (their
    group ids): the partial close joins the group, whose review then counts it."""
    groups = await run.runner.run(run.journal.oco_groups, OcoState.WORKING)
    return [
        g.id
        for g in groups
        if g.id is not None
        and g.kind in (OcoKind.MANAGED_BRACKET, OcoKind.SCALE_OUT)
        and g.account_id == account.account_id
        and g.contract_id == contract.contract_id
    ]
