"""Target position (``sync = "target"``): bring an account's position to what the alert states.

The alert says the position the strategy holds after it; the bridge reads the account's real
position and sends only the difference (closing, reducing, entering, or closing then entering
anew). A move the alert's own order does not explain is journaled (``sync.mismatch``).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, Contract, OrderIntent, OrderOutcome, OrderRequest, Position
from app.domain.risk import signed
from app.domain.staleness import STALE_ADVICE
from app.engine.alert_run import AlertRun
from app.engine.entries import place_entry
from app.strategies import SyncIntent

log = logging.getLogger(__name__)


async def sync(
    run: AlertRun, n: int, intent: SyncIntent, account: Account, contract: Contract
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
    OrderIntent through place_entry (an entry, for the risk gate); nothing else is. After
    sending, a move the alert's own order does not explain is journaled ("sync.mismatch").
    """
    position = await run.position(account, contract)
    current, target = signed_position(position), intent.target
    too_large = None
    if position is not None and current * target > 0 and abs(target) < abs(current):
        closing = position.side.opposite
        too_large = await _closing_orders_beyond(run, account, contract, closing, abs(target))
    got, note = await _sync_orders(run, n, intent, account, contract, position, too_large)
    await _sync_mismatch(run, intent, account, contract, current, too_large is not None)
    if too_large is not None:
        entered = any(o.leg == Leg.ENTRY for o in got)
        await _sync_event(
            run,
            EventKind.SYNC_REOPEN,
            f"{account.name} {contract.name}: the working orders {too_large} would close more "
            f"than the {abs(target)} contract(s) left after shrinking {_words(current)} to "
            f"{_words(target)} (a partial exit does not resize a bracket), so the position is "
            f"closed, then {_words(target)} entered anew"
            + ("" if entered else "; the entry was not sent (see the alert's reason)"),
            account,
            contract,
        )
    return got, note


def signed_position(position: Position | None) -> int:
    """A position in signed contracts: > 0 long, < 0 short, 0 flat (None)."""
    return 0 if position is None else signed(position.side, position.size)


async def _sync_orders(
    run: AlertRun,
    n: int,
    intent: SyncIntent,
    account: Account,
    contract: Contract,
    position: Position | None,
    too_large: str | None,
) -> tuple[list[OrderOutcome], str | None]:
    """Send what takes ``position`` to the intent's target (see sync)."""
    current, target = signed_position(position), intent.target
    delta = target - current
    where = f"in {contract.contract_id} on {account.name}"
    if delta == 0:
        return [], f"already at the target position {_words(target)} {where}"
    if target == 0:
        return await run.flatten(account, contract, position, n=n), None
    grow = current == 0 or (current * target > 0 and abs(target) > abs(current))
    if position is not None and current * target > 0 and not grow and too_large is None:
        return [await _reduce(run, n, account, contract, position.side.opposite, abs(delta))], None
    got: list[OrderOutcome] = []
    if not grow:  # crossing zero, or shrinking under protection larger than what is left
        got = await run.flatten(account, contract, position, n=n)
        if not any(o.leg == Leg.CLOSE and o.state == OrderState.DONE for o in got):
            return got, f"sync stopped {where}: the position was not closed, so no new entry was sent"
    size = abs(delta) if grow else abs(target)
    side = Side.BUY if target > 0 else Side.SELL
    if run.stale:
        run.withheld = True
        return got, (
            f"sync {where}: the entry {side} {size} was not sent: {run.stale} (exits are "
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
    return got + await place_entry(run, n, entry, account, side, contract), None


async def _reduce(
    run: AlertRun, n: int, account: Account, contract: Contract, side: Side, size: int
) -> OrderOutcome:
    """Shrink the position: a market order of ``size`` contracts on ``side`` (journaled as a
    close leg with action exit, so it is never an entry), without a bracket."""
    request = OrderRequest(
        account_id=account.account_id,
        contract_id=contract.contract_id,
        side=side,
        order_type=OrderType.MARKET,
        size=size,
        client_order_id=run.tag(n),
    )
    return await run.orders.submit(
        account,
        Leg.CLOSE,
        Action.EXIT,
        request,
        tick_size=contract.tick_size,
        tick_value=contract.tick_value,
    )


async def _closing_orders_beyond(
    run: AlertRun, account: Account, contract: Contract, closing: Side, remaining: int
) -> str | None:
    """The working ``closing``-side orders in ``contract`` (e.g. "sell 2 limit, sell 2 stop")
    when those of one order type add up to more than ``remaining`` contracts; else None."""
    totals: dict[str, int] = defaultdict(int)
    for order in await run.gateway.open_orders(account.account_id):
        if order.contract_id == contract.contract_id and order.side == closing:
            totals[order.order_type] += order.size - order.fill_volume
    if max(totals.values(), default=0) <= remaining:
        return None
    return ", ".join(f"{closing} {size} {kind}" for kind, size in sorted(totals.items()))


async def _sync_mismatch(
    run: AlertRun, intent: SyncIntent, account: Account, contract: Contract, current: int, reopen: bool
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
    log.warning("alert %s: position sync mismatch: %s", run.alert_id, message)
    side = None if intent.alert_side is None else str(intent.alert_side)
    extra: dict[str, object] = {"current": current, "target": target, "delta": delta}
    extra |= {"alert_quantity": intent.alert_quantity, "alert_side": side}
    await _sync_event(run, EventKind.SYNC_MISMATCH, message, account, contract, extra)


async def _sync_event(
    run: AlertRun,
    kind: EventKind,
    message: str,
    account: Account,
    contract: Contract,
    extra: dict[str, object] | None = None,
) -> None:
    """Journal a warning of the position sync, naming the account and contract."""
    data = {"account_id": account.account_id, "contract_id": contract.contract_id, **(extra or {})}
    await run.runner.run(
        run.journal.add_event, kind, message, level=EventLevel.WARNING, alert_id=run.alert_id, data=data
    )


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
