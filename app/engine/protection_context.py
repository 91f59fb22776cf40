"""What the protection modules share: the journal and gateway, the newest broker reports, one lock per group.

Protection (protection.py) reviews groups through three parts, each given this one context:
the legs' cap (oco_review.py), managed brackets (managed_brackets.py) and native brackets
(native_brackets.py). A LegView is an order row merged with the newest broker report.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.domain.enums import Leg, OrderState, Side
from app.domain.events import OrderEvent
from app.domain.kinds import EventKind, EventLevel, OcoKind, OcoState
from app.domain.models import Account, BrokerOrder
from app.engine.events import EventApplier
from app.engine.notices import ProtectionWatch, Unprotected
from app.engine.ports import Gateway, Notifier
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.engine.sender import OrderSender, OrderSession

if TYPE_CHECKING:
    from app.domain.records import OcoGroupRow, OrderRow
    from app.journal import Journal

log = logging.getLogger(__name__)

# Order/search window before a group's creation: the gateway's clock may differ from ours.
SEARCH_SLACK = timedelta(minutes=5)
POLL_S = 0.05  # how often a verification looks at the journal
SEEN = (OrderState.WORKING, OrderState.FILLED, OrderState.CANCELLED, OrderState.EXPIRED)
PROTECTIVE = (Leg.STOP_LOSS, Leg.TAKE_PROFIT)
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True)
class LegView:
    """One order row of a group as the bridge knows it now: the journal row merged with the
    newest broker report (hub or REST) that the journal may not hold yet.

    ``filled`` and ``size`` in contracts; ``price`` the average fill price (points).
    """

    row: OrderRow
    state: OrderState
    filled: int
    price: Decimal | None
    size: int
    broker_order_id: int | None
    updated_at: datetime | None

    @property
    def id(self) -> int:
        """The order row's id."""
        return id_of(self.row)

    @property
    def working(self) -> bool:
        return not self.state.is_final

    @property
    def name(self) -> str:
        """How the trader reads the leg: ``stop_loss``, ``take_profit`` or ``buy stop``."""
        if self.row.leg in PROTECTIVE:
            return str(self.row.leg)
        return f"{self.row.side} {self.row.order_type}"

    def describe(self) -> dict[str, object]:
        return {
            "order_record_id": self.row.id,
            "leg": self.name,
            "client_order_id": self.row.client_order_id,
            "broker_order_id": self.broker_order_id,
            "state": str(self.state),
            "filled": self.filled,
            "size": self.size,
        }


class ProtectionContext:
    """The collaborators and the memory every part of protection shares.

    ``reports``: order row id → newest broker report (hub or REST) the journal may not hold
    yet; ``sizes``: order row id → size last asked for (Order/modify); ``cancel_asked``: order
    row ids whose cancel the gateway took; ``locks``: one per group, so two reviews of a group
    never interleave. ``started_at``: rows written before it belong to an earlier run.
    """

    def __init__(
        self,
        gateway: Gateway,
        runner: JournalRunner,
        reconciler: Reconciler,
        applier: EventApplier,
        *,
        verify_s: float,
        spawn: Spawn | None,
        notifier: Notifier | None = None,
    ) -> None:
        self.gateway = gateway
        self.runner = runner
        self.journal: Journal = runner.journal
        self.reconciler = reconciler
        self.applier = applier
        self.verify_s = verify_s
        self.sender = OrderSender(gateway, runner, reconciler, notifier=notifier)
        # Positions reported without a working stop loss, and their return (app/engine/notices.py).
        self.watch = ProtectionWatch(self.sender.notifier)
        self.spawn = spawn or self._own_spawn
        self._tasks: set[asyncio.Task[None]] = set()
        self.reports: dict[int, BrokerOrder] = {}
        self.sizes: dict[int, int] = {}
        self.cancel_asked: set[int] = set()
        self.locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Rows written before this moment belong to an earlier run: nothing of theirs is in flight.
        self.started_at = datetime.now(UTC)

    def remember(self, row: OrderRow, order: BrokerOrder) -> None:
        """Keep ``order`` as the row's newest broker report unless a newer one is held."""
        row_id = id_of(row)
        held = self.reports.get(row_id)
        if (
            held is None
            or held.updated_at is None
            or (order.updated_at or held.updated_at) >= held.updated_at
        ):
            self.reports[row_id] = order

    def view(self, row: OrderRow) -> LegView:
        """The row merged with the newest broker report and the size last asked for."""
        report = self.reports.get(id_of(row))
        state, filled, price = row.state, row.fill_volume or 0, row.filled_price
        size = row.size or 0
        broker_order_id, updated_at = row.broker_order_id, row.broker_updated_at
        if report is not None:
            if not state.is_final:  # the journal may not have taken the report yet
                state = report.state
            if report.fill_volume > filled:
                filled, price = report.fill_volume, report.filled_price or price
            size = report.size
            broker_order_id = broker_order_id or report.broker_order_id
            updated_at = report.updated_at or updated_at
        size = self.sizes.get(id_of(row), size)
        return LegView(row, state, filled, price, size, broker_order_id, updated_at)

    async def rows(self, oco_group_id: int) -> list[OrderRow]:
        """The group's order rows (its entry or entries, and its legs)."""
        return await self.runner.run(self.journal.oco_group_orders, oco_group_id)

    async def refresh(self, account_id: int, since: datetime, rows: list[OrderRow]) -> None:
        """Ask the gateway (Order/search) for ``rows``' orders; journal and remember its answer."""
        orders = await self.gateway.search_orders(account_id, since - SEARCH_SLACK)
        by_id = {o.broker_order_id: o for o in orders}
        by_tag = {o.client_order_id: o for o in orders if o.client_order_id}
        pairs = []
        for row in rows:
            found = by_id.get(row.broker_order_id) if row.broker_order_id else None
            found = found or by_tag.get(row.client_order_id or "")
            if found is not None:
                self.remember(row, found)
                pairs.append((row, OrderEvent(found)))
        if pairs:
            await self.applier.apply_to_rows(pairs)

    async def session(self, group: OcoGroupRow) -> OrderSession:
        """A session sending under the group's alert (answers committed by each call)."""
        return self.sender.session(group.alert_id)

    async def finish(
        self, group: OcoGroupRow, state: OcoState, note: str, legs: list[LegView], level: EventLevel
    ) -> None:
        """Move the group to ``state`` and journal why (event ``oco.<state>``)."""
        await self.runner.run(self.journal.set_oco_group, id_of(group), state, note=note)
        message = f"{kind_words(group)} {group.id} {state}: {note}"
        await self.record(group, EventKind.of_oco_state(state), message, level, legs)
        if state == OcoState.DONE:  # nothing of the position is left to protect
            self.watch.restored_group(id_of(group), f"the position is flat now ({note})")

    async def record(
        self,
        group: OcoGroupRow,
        kind: EventKind,
        message: str,
        level: EventLevel,
        legs: list[LegView] | None = None,
    ) -> None:
        """Log ``message`` and journal it as an event of the group, naming its legs."""
        log.log(_LOG_LEVELS.get(level, logging.INFO), "%s", message)
        data = {"oco_group_id": group.id, "legs": [v.describe() for v in legs or []]}
        await self.runner.run(
            self.journal.add_event, kind, message, level=level, alert_id=group.alert_id, data=data
        )

    async def case(self, group: OcoGroupRow, entry: OrderRow, size: int, what: str) -> Unprotected:
        """The position a group protects, for the UNPROTECTED / PROTECTED notices: keyed by the
        account, the contract and the group; ``size`` in contracts; ``what`` happened. Reads
        the alert's strategy (a rare path: only when a notice is due)."""
        strategy = ""
        try:
            alert = await self.runner.run(self.journal.get_alert, group.alert_id)
            strategy = alert.strategy if alert is not None else ""
        except Exception:  # noqa: BLE001 — a notice without the strategy is still worth sending
            log.warning("could not read the strategy of alert %s for a notice", group.alert_id)
        return Unprotected(
            key=protection_key(entry.account_name, group),
            account=entry.account_name,
            contract_id=group.contract_id,
            side=entry.side,
            size=size,
            what=what,
            strategy=strategy,
        )

    def _own_spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_LOG_LEVELS = {
    EventLevel.CRITICAL: logging.ERROR,
    EventLevel.ERROR: logging.ERROR,
    EventLevel.WARNING: logging.WARNING,
}


def current(legs: list[LegView]) -> list[LegView]:
    """The newest leg of each kind: a leg placed again stands for the one that never was."""
    newest: dict[str, LegView] = {}
    for view in legs:
        held = newest.get(view.row.leg)
        if held is None or view.id > held.id:
            newest[view.row.leg] = view
    return sorted(newest.values(), key=lambda v: v.id)


def id_of(row: OrderRow | OcoGroupRow) -> int:
    """The id of a row read from the journal (only a row not yet inserted has none)."""
    assert row.id is not None
    return row.id


def side_of(row: OrderRow) -> Side:
    """The side of an order row (every row that sends or fills has one)."""
    assert row.side is not None
    return Side(row.side)


def tick_of(row: OrderRow) -> Decimal:
    """The tick size (points) journaled with ``row`` from its contract (entries.py writes it on
    every entry). Never guessed: a wrong tick puts a leg anywhere. Raises ValueError when the row
    has none (protection's review logs it for the group)."""
    if row.tick_size is None:
        raise ValueError(f"order {row.client_order_id} has no tick size journaled: its legs cannot be priced")
    return row.tick_size


def tag_of(row: OrderRow) -> str:
    """The tag (client order id) of an order row the bridge placed."""
    assert row.client_order_id is not None
    return row.client_order_id


def account_of(row: OrderRow) -> Account:
    """The account an order row is on, as much as sending needs (id and name)."""
    return Account(row.account_id, row.account_name, Decimal(0), True)


def native_entry(row: OrderRow) -> bool:
    """An entry sent with a native bracket (no group of ours) that the gateway did not refuse."""
    return (
        row.leg == Leg.ENTRY
        and row.oco_group_id is None
        and bool(row.stop_loss_ticks or row.take_profit_ticks)
        and row.state != OrderState.REJECTED
    )


def protection_key(account_name: str, group: OcoGroupRow) -> str:
    """The notice key of the position a group protects (UNPROTECTED and PROTECTED share it)."""
    return f"protection:{account_name}:{group.contract_id}:group-{group.id}"


def kind_words(group: OcoGroupRow) -> str:
    if group.kind == OcoKind.SCALE_OUT:
        return "scale-out"
    return "managed bracket" if group.kind == OcoKind.MANAGED_BRACKET else "OCO pair"
