"""Native brackets: the stop loss / take profit the gateway attaches to an entry (§6.4), checked.

After a native entry fills, its -SL/-TP children must be seen working within ``verify_s``;
else a critical event and a managed bracket of the same ticks takes over. At start and after a
reconnect, native entries whose legs the journal never learned (their alert's settlement was
lost) have them read from the gateway by tag (``<entry>-SL``/``-TP``, or their parentOrderId)
and journaled; a filled one whose position is open without a working stop loss gets managed
protection at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.domain import ids
from app.domain.enums import Leg, OrderState, OrderType
from app.domain.events import OrderEvent
from app.domain.kinds import EventKind, EventLevel, OcoKind
from app.domain.models import BrokerOrder
from app.engine.protection_context import (
    POLL_S,
    PROTECTIVE,
    SEARCH_SLACK,
    SEEN,
    LegView,
    ProtectionContext,
    id_of,
    native_entry,
    side_of,
    tag_of,
)
from app.errors import GatewayError, JournalError

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from app.domain.records import OrderRow

log = logging.getLogger(__name__)

# How far back native entries are checked at start and after a reconnect (Order/search window).
NATIVE_LOOKBACK = timedelta(days=7)
# Review one group (Protection.review): oco group id, resumed.
Review = Callable[..., Awaitable[None]]


class NativeBrackets:
    """Verify native brackets after their entry fills; adopt legs the journal lacks; fall back to managed."""

    def __init__(self, ctx: ProtectionContext, review: Review) -> None:
        self.ctx = ctx
        self.review = review
        self.checked: set[int] = set()  # native entries whose children are checked

    async def verify(self, entry_id: int, alert_id: int) -> None:
        """After a native entry fills, its -SL/-TP children must be seen within ``verify_s``;
        else a critical event and managed protection (projectx-api.md §6.4)."""
        try:
            deadline = time.monotonic() + self.ctx.verify_s
            refreshed = False
            while True:
                rows = await self.ctx.runner.run(self.ctx.journal.alert_orders, alert_id)
                entry = next(r for r in rows if r.id == entry_id)
                if not native_entry(entry):
                    return  # refused by the gateway: the executor took it back
                children: list[OrderRow] = [
                    r for r in rows if r.parent_id == entry_id and r.leg in PROTECTIVE
                ]
                expected = bool(entry.stop_loss_ticks) + bool(entry.take_profit_ticks)
                views = [self.ctx.view(r) for r in children]
                if len(views) >= expected and all(v.state in SEEN for v in views):
                    message = f"entry {entry.client_order_id} filled: native stop loss / take profit working"
                    await self.ctx.runner.run(
                        self.ctx.journal.add_event,
                        EventKind.BRACKET_VERIFIED,
                        message,
                        alert_id=alert_id,
                        order_record_id=entry_id,
                        data={"legs": [v.describe() for v in views]},
                    )
                    return
                if time.monotonic() >= deadline:
                    if refreshed:
                        break
                    orders = await self.ctx.gateway.search_orders(
                        entry.account_id, entry.created_at - SEARCH_SLACK
                    )
                    await self.adopt_children(entry, children, orders)
                    refreshed = True
                    continue
                await asyncio.sleep(POLL_S)
            await self._fallback(entry, views)
        except Exception:  # noqa: BLE001
            log.exception("verifying the native bracket of order row %s failed", entry_id)

    async def _fallback(self, entry: OrderRow, children: list[LegView], *, resumed: bool = False) -> None:
        """The native legs do not protect the filled entry: a managed bracket of the same ticks
        takes over (sized to the gateway's position when ``resumed``)."""
        seen = ", ".join(f"{v.name} {v.state}" for v in children) or "none"
        group_id = await self.ctx.runner.run(
            self.ctx.journal.add_oco_group,
            alert_id=entry.alert_id,
            account_id=entry.account_id,
            contract_id=entry.contract_id,
            kind=OcoKind.MANAGED_BRACKET,
            policy="close",
            note="native bracket not seen: managed protection instead",
        )
        await self.ctx.runner.run(self.ctx.journal.set_order_group, id_of(entry), group_id)
        group = await self.ctx.runner.run(self.ctx.journal.oco_group, group_id)
        if group is None:  # the group row was written in the same transaction as its legs
            log.error("OCO group %s of entry %s is not in the journal", group_id, entry.client_order_id)
            return
        when = "at start or after a reconnect" if resumed else f"within {self.ctx.verify_s:g} s"
        message = (
            f"entry {entry.client_order_id} filled but its native stop loss / take profit were not "
            f"seen working {when} (children: {seen}); the bridge places its own now"
        )
        await self.ctx.record(group, EventKind.BRACKET_NATIVE_MISSING, message, EventLevel.CRITICAL)
        filled = self.ctx.view(entry).filled
        what = (
            f"entry {entry.client_order_id} filled {filled} but its native stop loss / take profit "
            f"were not seen working {when} (seen: {seen}); the bridge is placing its own stop loss "
            "and take profit now (a notice follows when they work)"
        )
        self.ctx.watch.lost(await self.ctx.case(group, entry, filled, what))
        await self.review(group_id, resumed=resumed)

    async def resume(self, account_id: int | None) -> None:
        """Native entries of the last NATIVE_LOOKBACK whose legs the journal lacks or still holds
        open: their legs are read from the gateway (one Order/search per account) and journaled;
        a filled entry whose position is open without a working stop loss gets managed
        protection at once. Never raises."""
        try:
            since = datetime.now(UTC) - NATIVE_LOOKBACK
            entries = [
                e
                for e in await self.ctx.runner.run(self.ctx.journal.bracket_entries, since)
                if account_id is None or e.account_id == account_id
            ]
            alert_ids = sorted({e.alert_id for e in entries})
            rows = (
                await self.ctx.runner.run(self.ctx.journal.orders_of_alerts, alert_ids) if alert_ids else []
            )
        except Exception:  # noqa: BLE001
            log.exception("could not read the native bracket entries to check")
            return
        children: defaultdict[int, list[OrderRow]] = defaultdict(list)
        for row in rows:
            if row.parent_id is not None and row.leg in PROTECTIVE:
                children[row.parent_id].append(row)
        by_account: defaultdict[int, list[OrderRow]] = defaultdict(list)
        for entry in entries:
            if native_unsettled(entry, children[id_of(entry)]):
                by_account[entry.account_id].append(entry)
        for account, todo in by_account.items():
            try:
                oldest = min(e.created_at for e in todo)
                orders = await self.ctx.gateway.search_orders(account, oldest - SEARCH_SLACK)
                if any(not e.state.is_final for e in todo):  # legs held until the entry fills
                    listed = {o.broker_order_id for o in orders}
                    orders += [o for o in await self._suspended(account) if o.broker_order_id not in listed]
                for unsettled in todo:
                    await self._check(unsettled, children[id_of(unsettled)], orders)
            except Exception:  # noqa: BLE001 — one account must not stop the others
                log.exception("could not check the native brackets of account %s", account)

    async def _check(self, entry: OrderRow, children: list[OrderRow], orders: list[BrokerOrder]) -> None:
        """Journal what the gateway says of one native entry and its legs; protect it when it
        is filled and no stop loss works while the gateway holds its position."""
        children = await self.adopt_children(entry, children, orders)
        rows = await self.ctx.runner.run(self.ctx.journal.alert_orders, entry.alert_id)
        entry = next(r for r in rows if r.id == entry.id)
        filled = self.ctx.view(entry).filled
        if not native_entry(entry) or not filled or entry.id in self.checked:
            return  # not filled, or its verification after the fill is running already
        views = [self.ctx.view(r) for r in rows if r.parent_id == entry.id and r.leg in PROTECTIVE]
        if sum(v.filled for v in views) >= filled:
            return  # a leg took the whole position back: nothing of this entry is open
        stop_loss = [v for v in views if v.row.leg == Leg.STOP_LOSS]
        protected = any(v.working for v in stop_loss) or (not entry.stop_loss_ticks and bool(views))
        if protected or await self._held_for(entry) <= 0:
            return
        self.checked.add(id_of(entry))
        await self._fallback(entry, views, resumed=True)

    async def _held_for(self, entry: OrderRow) -> int:
        positions = await self.ctx.gateway.open_positions(entry.account_id)
        position = next((p for p in positions if p.contract_id == entry.contract_id), None)
        return position.size if position is not None and position.side == side_of(entry) else 0

    async def adopt_children(
        self, entry: OrderRow, children: list[OrderRow], orders: list[BrokerOrder]
    ) -> list[OrderRow]:
        """Journal the gateway's reports of a native entry and its -SL/-TP legs (``orders``: an
        Order/search answer), adding the leg rows the journal lacks: those the alert's
        settlement would have written, when that settlement was lost (the entry is from an
        earlier run, or its alert is settled). Return the entry's leg rows."""
        by_id = {o.broker_order_id: o for o in orders}
        by_tag = {o.client_order_id: o for o in orders if o.client_order_id}
        broker = by_id.get(entry.broker_order_id) if entry.broker_order_id else None
        broker = broker or by_tag.get(entry.client_order_id or "")
        if broker is None:
            return children  # not listed: reconciliation settles the entry itself
        children = list(children)
        held = {r.leg for r in children}
        if await self._settled_elsewhere(entry):
            adopted = []
            for leg, ticks, tag, order_type in (
                (Leg.STOP_LOSS, entry.stop_loss_ticks, ids.stop_loss_tag, OrderType.STOP),
                (Leg.TAKE_PROFIT, entry.take_profit_ticks, ids.take_profit_tag, OrderType.LIMIT),
            ):
                if not ticks or leg in held:
                    continue
                found = by_tag.get(tag(tag_of(entry))) or next(
                    (
                        o
                        for o in orders
                        if o.parent_broker_order_id == broker.broker_order_id and o.order_type == order_type
                    ),
                    None,
                )
                if found is None:
                    continue
                row = await self._journal_child(entry, leg, order_type, ticks, found)
                if row is not None:
                    children.append(row)
                    adopted.append(f"{leg} {found.broker_order_id} {found.state}")
            if adopted:
                message = (
                    f"entry {entry.client_order_id}: native " + ", ".join(adopted) + " read from the "
                    "gateway and journaled (the alert's settlement was lost)"
                )
                log.warning("%s", message)
                await self.ctx.runner.run(
                    self.ctx.journal.add_event,
                    EventKind.BRACKET_NATIVE_ADOPTED,
                    message,
                    level=EventLevel.WARNING,
                    alert_id=entry.alert_id,
                    order_record_id=entry.id,
                )
        pairs = [(entry, OrderEvent(broker))]
        for row in children:
            found = by_id.get(row.broker_order_id) if row.broker_order_id else None
            found = found or by_tag.get(row.client_order_id or "")
            if found is not None:
                self.ctx.remember(row, found)
                pairs.append((row, OrderEvent(found)))
        self.ctx.remember(entry, broker)
        await self.ctx.applier.apply_to_rows(pairs)
        return children

    async def _suspended(self, account_id: int) -> list[BrokerOrder]:
        """The account's suspended bracket children (Order/v2/query); none when the gateway
        cannot say (an older gateway without v2/query): they are read once their entry fills."""
        try:
            return await self.ctx.gateway.suspended_orders(account_id)
        except GatewayError as exc:
            log.warning("could not read the suspended bracket legs of account %s: %s", account_id, exc)
            return []

    async def _settled_elsewhere(self, entry: OrderRow) -> bool:
        """True when no alert settlement of this run may still write the entry's legs."""
        if entry.created_at < self.ctx.started_at:
            return True
        alert = await self.ctx.runner.run(self.ctx.journal.get_alert, entry.alert_id)
        return alert is not None and alert.settled_at is not None

    async def _journal_child(
        self, entry: OrderRow, leg: Leg, order_type: OrderType, ticks: int, order: BrokerOrder
    ) -> OrderRow | None:
        """Add the row of a native leg the gateway made with ``entry``; None when it cannot."""
        made = ids.stop_loss_tag if leg == Leg.STOP_LOSS else ids.take_profit_tag
        tag = order.client_order_id or made(tag_of(entry))
        try:
            await self.ctx.runner.run(
                self.ctx.journal.add_order,
                alert_id=entry.alert_id,
                account_id=entry.account_id,
                account_name=entry.account_name,
                contract_id=entry.contract_id,
                leg=leg,
                action=entry.action,
                side=side_of(entry).opposite,
                order_type=order_type,
                size=entry.size,
                client_order_id=tag,
                broker_order_id=order.broker_order_id,
                parent_id=entry.id,
                state=OrderState.ACCEPTED,
                message="created by the gateway with the entry (native bracket); journaled from the gateway",
                **{f"{leg}_ticks": ticks},
            )
        except JournalError:  # journaled meanwhile (e.g. by alert recovery): read it back
            log.info("native %s %s of entry %s already journaled", leg, tag, entry.client_order_id)
        return await self.ctx.runner.run(self.ctx.journal.order_by_client_id, entry.account_id, tag)


def native_unsettled(entry: OrderRow, children: list[OrderRow]) -> bool:
    """A native entry worth a look at start: still working, or filled with a leg the journal
    lacks or still holds open (whose state the gateway may have moved on)."""
    if entry.state in (OrderState.CANCELLED, OrderState.EXPIRED) and not entry.fill_volume:
        return False
    if not entry.state.is_final:
        return True
    held = {r.leg for r in children}
    expected = {
        leg
        for leg, ticks in ((Leg.STOP_LOSS, entry.stop_loss_ticks), (Leg.TAKE_PROFIT, entry.take_profit_ticks))
        if ticks
    }
    return bool(expected - held) or any(not r.state.is_final for r in children)
