"""Entries of an alert: the risk gate, native and managed brackets, OCO pairs.

An entry passes the risk gate, then is sent once (sender.py). Its native bracket legs, made by
the gateway with it (§6.4), are journaled with the alert's settlement; a managed bracket is a
group (kind ``managed_bracket``) whose legs protection.py places after the fill; an OCO pair is
a group (kind ``oco``) of two entries that protection.py watches. A bracket the gateway refused
while it still created the entry is taken back (``contain_unprotected``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain import ids
from app.domain.enums import Action, Leg, OrderState, OrderType, Side
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.domain.models import Account, BrokerOrder, Contract, OrderIntent, OrderOutcome, OrderRequest
from app.domain.notices import NoticeLevel
from app.domain.risk import Entry, root_from_contract_id
from app.domain.scale_out import plan_note
from app.engine import notices
from app.engine.alert_run import AlertRun
from app.engine.risk_gate import CANNOT_TRADE
from app.engine.sender import Column
from app.engine.trailing import managed_policy, trail_price
from app.errors import GatewayError, JournalError
from app.failpoints import failpoint
from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)

# An entry the gateway has (its native bracket legs with it).
PLACED = (OrderState.ACCEPTED, OrderState.PENDING, OrderState.WORKING, OrderState.FILLED)


def plain(intent: OrderIntent, template: StrategyTemplate) -> bool:
    """A buy or sell that opens nothing by itself (no bracket, not an OCO leg): when it only
    reduces the position it is an exit in substance, for the risk gate and for stale alerts."""
    return intent.bracket is None and template.kind != "oco"


async def place_entry(
    run: AlertRun,
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
    tag = run.tag(n)
    sent_before = run.sent_before(account.account_id, tag)  # resumed: never gate it again
    if not gated and not sent_before and not await _gate(run, n, intent, account, side, contract):
        return []
    bracket = intent.bracket
    # A trailing stop loss is always placed by the bridge (app/engine/trailing.py).
    managed = bracket is not None and (run.template.bracket_mode == "managed" or bracket.trailing)
    if managed:
        # Sent without the native bracket; protection places it after the fill (sized to it).
        prior = run.prior(account.account_id, tag)
        if prior is not None and prior.oco_group_id is not None:
            oco_group_id = prior.oco_group_id  # resumed: the group the earlier run made
        else:
            assert bracket is not None
            kind = OcoKind.SCALE_OUT if bracket.targets else OcoKind.MANAGED_BRACKET
            policy = managed_policy(run.template.bracket_on_failure, bracket.trailing)
            oco_group_id = await new_group(run, account, contract, kind, policy, note=plan_note(bracket))
            failpoint("group.written")  # the group journaled, its entry not yet written
    trail: Decimal | None = None
    leg = Leg.ENTRY
    # A resumed run's order sent before is found by its tag (sender.py): never priced again, so
    # never refused for want of a last price the earlier run had.
    if intent.order_type is OrderType.TRAILING_STOP and not sent_before:
        trail = trail_start(run, intent, account, side, contract)
        if trail is None:
            return []
        leg = await trailing_leg(run, account, contract, side, intent.quantity)
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
        trail_price=trail,
    )
    entry = await run.orders.submit(
        account,
        leg,
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
        await _managed_entry(run, oco_group_id, entry)
        return [entry]
    if bracket and entry.state in PLACED:  # a resumed alert's entry may have filled since
        return [entry, *_bracket_legs(run, account, request, entry)]
    if bracket and entry.state == OrderState.REJECTED and entry.broker_order_id:
        return [entry, *await contain_unprotected(run, account, request, entry)]
    return [entry]


def trail_start(
    run: AlertRun, intent: OrderIntent, account: Account, side: Side, contract: Contract
) -> Decimal | None:
    """The ``trailPrice`` of a trailing stop order on its own: ``intent.trail_ticks`` from the
    last price, below it for a sell, above it for a buy, on the tick grid (trailing.trail_price).
    The gateway measures the distance from its own last traded price (projectx-api.md §6.2), so
    the last price is the Market Hub's live quote; without one, the alert's order.price. None
    (a refusal kept for the alert's reason, nothing sent) when there is neither."""
    assert intent.trail_ticks is not None  # the template renders it with the type
    if run.gate is not None and run.gate.quoted_live(contract.contract_id):
        last, source = run.gate.live_prices()[contract.contract_id], "the Market Hub's last price"
    elif intent.reference_price is not None:
        last, source = intent.reference_price, "the alert's price"
    else:
        run.refusals.append(
            f"{account.name}: a trailing stop order is placed {intent.trail_ticks} ticks from the last "
            f"price, and there is none for {contract.contract_id}: the Market Hub has no quote of it "
            'and the alert gives no order.price; add price = "{{ alert.close }}" to [order], or keep '
            "[gateway] market_hub on"
        )
        return None
    start = trail_price(last, side.opposite, intent.trail_ticks, contract.tick_size)
    log.info(
        "alert %s: trailing stop %s %s ticks from %s %s: trailPrice %s",
        run.alert_id,
        side,
        intent.trail_ticks,
        source,
        last,
        start,
    )
    return start


async def trailing_leg(run: AlertRun, account: Account, contract: Contract, side: Side, size: int) -> Leg:
    """What a trailing stop order on its own is: a stop loss when it only reduces the open
    position (the other side, at most its size), so an exit cancels it before its close and the
    stray-leg sweep cancels it once the account is flat some other way (stray_legs.py; a
    leftover stop would fill into a naked position, §13.1); else an entry (it opens or adds).
    A position that cannot be read counts as an entry: the order is still sent, as asked."""
    try:
        position = await run.position(account, contract)
    except GatewayError as exc:
        log.warning(
            "alert %s: the position could not be read (%s): the trailing stop is an entry", run.alert_id, exc
        )
        return Leg.ENTRY
    protects = position is not None and position.side is side.opposite and size <= position.size
    return Leg.STOP_LOSS if protects else Leg.ENTRY


async def _gate(
    run: AlertRun, n: int, intent: OrderIntent, account: Account, side: Side, contract: Contract
) -> bool:
    """The gate's answer for intent ``n``: the one asked before the fan-out's lanes started
    (taken once), else asked now (passes_gate)."""
    answer = run.gate_answers.pop(n, None)
    if answer is not None:
        return answer
    return await passes_gate(run, intent, account, side, contract)


async def passes_gate(
    run: AlertRun, intent: OrderIntent, account: Account, side: Side, contract: Contract
) -> bool:
    """Ask the risk gate about this entry; a refusal is kept for the alert's reason. A journal
    that cannot give the numbers refuses too: no number, no entry. An order without a bracket,
    not an OCO leg, that only reduces the position is an exit to the gate (never refused)."""
    if run.gate is None:
        if account.can_trade:
            return True
        # No gate (a bare executor): canTrade false still refuses, as the gate would.
        run.refusals.append(f"{account.name}: account {account.name} cannot trade now ({CANNOT_TRADE})")
        return False
    entry = Entry(
        strategy=run.alert.strategy,
        contract_id=contract.contract_id,
        symbol_root=root_from_contract_id(contract.contract_id),
        side=side,
        size=intent.quantity or 0,
        stop_loss_ticks=intent.bracket.stop_loss_ticks if intent.bracket else None,
        tick_size=contract.tick_size,
        tick_value=contract.tick_value,
    )
    try:
        refusal = await run.gate.check(
            account,
            entry,
            run.template.risk,
            price=intent.reference_price,
            exit_if_reducing=plain(intent, run.template),
        )
    except JournalError as exc:
        refusal = f"the risk gate could not read the journal ({exc}); entry not sent"
    if refusal is not None:
        run.refusals.append(f"{account.name}: {refusal}")
        notice = notices.alert_refused(
            account=account.name,
            strategy=run.alert.strategy,
            contract_id=contract.contract_id,
            side=side,
            size=entry.size,
            reason=refusal,
            alert_id=run.alert_id,
        )
        notices.send(run.orders.sender.notifier, notice)
        return False
    return True


async def place_oco(
    run: AlertRun, n: int, first: OrderIntent, second: OrderIntent, account: Account, contract: Contract
) -> tuple[list[OrderOutcome], str | None]:
    """Place an OCO pair as one group (kind "oco"); app/engine/protection.py watches it.

    When a leg is not accepted the other is cancelled: half a pair is not what was asked.
    """
    # One check for the pair, sized to its larger leg: only one of them is meant to fill.
    larger = max((first, second), key=lambda i: i.quantity or 0)
    assert larger.side is not None
    prior = run.prior(account.account_id, run.tag(n))
    resumed = prior is not None and prior.oco_group_id is not None
    if not resumed and not await _gate(run, n, larger, account, larger.side, contract):
        return [], None
    if prior is not None and prior.oco_group_id is not None:
        group = prior.oco_group_id  # the pair's group, made by the run before the restart
    else:
        group = await new_group(run, account, contract, OcoKind.OCO, run.template.oco_on_both_filled)
    outcomes = []
    for k, intent in ((n, first), (n + 1, second)):
        assert intent.side is not None
        outcomes += await place_entry(
            run, k, intent, account, intent.side, contract, oco_group_id=group, gated=True
        )
    if all(o.state == OrderState.ACCEPTED for o in outcomes):
        legs = " and ".join(f"{o.side} {o.size} ({o.client_order_id})" for o in outcomes)
        await group_event(
            run, group, EventKind.OCO_PLACED, f"OCO pair {group} working: {legs}", EventLevel.INFO
        )
        return outcomes, None
    for o in outcomes:
        if o.state == OrderState.ACCEPTED and o.broker_order_id is not None:
            outcomes += await run.orders.submit_cancel(account, contract.contract_id, o.broker_order_id)
    note = (
        f"OCO pair {group} on {account.name} not placed whole: "
        + ", ".join(f"{o.client_order_id} {o.state}" for o in outcomes if o.leg == Leg.ENTRY)
        + "; the accepted leg was cancelled"
    )
    await run.orders.flush()
    await run.runner.run(run.journal.set_oco_group, group, OcoState.FAILED, note=note)
    await group_event(run, group, EventKind.OCO_FAILED, note, EventLevel.ERROR)
    return outcomes, note


async def new_group(
    run: AlertRun,
    account: Account,
    contract: Contract,
    kind: OcoKind,
    policy: str,
    *,
    note: str | None = None,
) -> int:
    """Journal a working OCO group with the template's ``policy`` for it; return its id."""
    return await run.runner.run(
        run.journal.add_oco_group,
        alert_id=run.alert_id,
        account_id=account.account_id,
        contract_id=contract.contract_id,
        kind=kind,
        policy=policy,
        note=note,
    )


async def group_event(run: AlertRun, group: int, kind: EventKind, message: str, level: EventLevel) -> None:
    """Journal an event of OCO group ``group`` under the alert."""
    await run.runner.run(
        run.journal.add_event,
        kind,
        message,
        level=level,
        alert_id=run.alert_id,
        data={"oco_group_id": group},
    )


async def _managed_entry(run: AlertRun, group: int, entry: OrderOutcome) -> None:
    """Journal what happens to a managed bracket's entry; a refused entry ends its group."""
    if entry.state == OrderState.ACCEPTED:
        message = (
            f"entry {entry.client_order_id} sent without a native bracket (mode managed): the "
            "bridge places the stop loss and take profit when it fills, sized to the fill"
        )
        await group_event(run, group, EventKind.BRACKET_MANAGED, message, EventLevel.INFO)
        return
    if entry.state not in (OrderState.REJECTED, OrderState.NOT_PLACED):
        return  # UNKNOWN: the group stays working; protection acts if it turns up filled
    note = f"entry {entry.client_order_id} {entry.state}: nothing to protect"
    await run.orders.flush()
    await run.runner.run(run.journal.set_oco_group, group, OcoState.FAILED, note=note)


def _bracket_legs(
    run: AlertRun, account: Account, request: OrderRequest, entry: OrderOutcome
) -> list[OrderOutcome]:
    """The native stop loss / take profit the gateway created with the entry (§6.4), to be
    journaled with the alert's settlement (they were not sent by us: no write-ahead)."""
    assert request.bracket is not None
    legs: list[tuple[Leg, str, OrderType, dict[str, Column]]] = []
    if request.bracket.stop_loss_ticks:
        tag = ids.stop_loss_tag(request.client_order_id)
        legs.append(
            (Leg.STOP_LOSS, tag, OrderType.STOP, {"stop_loss_ticks": request.bracket.stop_loss_ticks})
        )
    if request.bracket.take_profit_ticks:
        tag = ids.take_profit_tag(request.client_order_id)
        ticks: dict[str, Column] = {"take_profit_ticks": request.bracket.take_profit_ticks}
        legs.append((Leg.TAKE_PROFIT, tag, OrderType.LIMIT, ticks))
    outcomes = []
    for leg, tag, order_type, leg_ticks in legs:
        if run.prior(account.account_id, tag) is not None:
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
        row: dict[str, Column] = {
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
            **leg_ticks,
        }
        run.new_rows.append((outcome, row))
        outcomes.append(outcome)
    return outcomes


async def contain_unprotected(
    run: AlertRun, account: Account, request: OrderRequest, entry: OrderOutcome
) -> list[OrderOutcome]:
    """The gateway refused the bracket but created the entry (§4.6, §6.4): take it back.

    A working entry is cancelled; whatever of it filled is closed with an opposite market
    order of exactly the filled size (not the whole position, which may hold other trades).
    """
    assert entry.broker_order_id is not None
    await run.orders.flush()
    since = datetime.now(UTC) - timedelta(minutes=5)

    async def look_up() -> BrokerOrder | None:
        orders = await run.gateway.search_orders(account.account_id, since)
        return next((o for o in orders if o.broker_order_id == entry.broker_order_id), None)

    outcomes: list[OrderOutcome] = []
    broker = await look_up()
    if broker is None or broker.state in (OrderState.WORKING, OrderState.PENDING):
        outcomes += await run.orders.submit_cancel(account, request.contract_id, entry.broker_order_id)
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
        outcomes.append(await run.orders.submit(account, Leg.CLOSE, Action.EXIT, flat))
    closed = not filled or outcomes[-1].state in PLACED
    message = (
        f"the gateway created entry {entry.broker_order_id} on {account.name} without its "
        f"bracket; {filled} contract(s) had filled and were closed, the rest cancelled"
    )
    await run.runner.run(
        run.journal.add_event,
        EventKind.BRACKET_UNPROTECTED_ENTRY,
        message,
        level=EventLevel.CRITICAL,
        alert_id=run.alert_id,
        order_record_id=entry.order_record_id,
    )
    # The entry was taken back at once: a warning when that worked, critical when a filled part
    # could not be closed (it is open without a stop loss).
    done = "the bridge closed what filled" if closed else "the close of what filled was NOT accepted"
    case = notices.Unprotected(
        key=f"protection:{account.name}:{request.contract_id}:entry-{entry.order_record_id}",
        account=account.name,
        contract_id=request.contract_id,
        side=request.side,
        size=filled,
        what=(
            f"the gateway created entry {entry.broker_order_id} ({request.side} {request.size}) but "
            f"refused its bracket; {filled} contract(s) had filled: {done}, the rest was cancelled"
        ),
        strategy=run.alert.strategy,
    )
    level = NoticeLevel.WARNING if closed else NoticeLevel.CRITICAL
    notices.send(run.orders.sender.notifier, notices.unprotected(case, level=level))
    return outcomes
