"""What the bridge leaves at the broker when it stops, and the flatten on shutdown.

A laptop gets closed, Ctrl-C is pressed: the positions and working orders on the followed accounts
stay at the broker, and nothing watches them until tvbridge runs again. At every stop, after the
web servers stopped taking alerts and the alerts in flight settled, and before the hub, the gateway
and the journal close, :func:`wind_down` reads what is open (the gateway's view; the journal's for
an account the gateway cannot be read for), flattens it first when engine.on_shutdown =
"flatten", logs what is left and journals one "bridge.shutdown" event, which the pages show after
the next start (app/engine/watchdog.py's ``left_open``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from app.domain.enums import Leg, OrderState, Side
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import BrokerOrder, Position
from app.engine import notices
from app.engine.flatten import AccountPlan

if TYPE_CHECKING:
    from app.engine.bridge import Bridge
    from app.journal import OrderRecord
    from app.journal.tables import PositionRecord

log = logging.getLogger(__name__)

SHUTDOWN_EVENT = EventKind.BRIDGE_SHUTDOWN
# Orders still able to fill: what a working order is in the journal's view.
WORKING_STATES = [s for s in OrderState if not s.is_final]
# At shutdown, how long the gateway may take to list what the followed accounts hold.
SHUTDOWN_READ_S = 5.0
SHUTDOWN_BY = "shutdown"  # who asked, for a flatten at shutdown (engine.on_shutdown = "flatten")


@dataclass(frozen=True)
class Held:
    """One open position or working order on an account, as a trader reads it.

    ``kind``: "position" or "order". ``side``: long/short for a position, buy/sell for an
    order. ``size`` in contracts; ``price`` in points (a position's average price, an order's
    limit or stop price) as a string, exact.
    """

    kind: str
    account_id: int
    account_name: str
    contract_id: str
    side: str
    size: int
    price: str | None = None
    order_type: str | None = None
    broker_order_id: int | None = None

    @classmethod
    def position(cls, account_name: str, row: Position | PositionRecord) -> Held:
        """From a Position (gateway) or PositionRecord (journal): side BUY = long."""
        side = "long" if row.side == Side.BUY else "short"
        price = None if row.average_price is None else str(row.average_price)
        return cls("position", row.account_id, account_name, row.contract_id, side, row.size, price)

    @classmethod
    def order(cls, account_name: str, row: BrokerOrder | OrderRecord) -> Held:
        """From a BrokerOrder (gateway) or OrderRecord (journal)."""
        price = row.limit_price if row.limit_price is not None else row.stop_price
        return cls(
            "order",
            row.account_id,
            account_name,
            row.contract_id,
            str(row.side or ""),
            row.size or 0,
            None if price is None else str(price),
            str(row.order_type or "order"),
            row.broker_order_id,
        )

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Held:
        """Read back what ``data()`` wrote (a journaled event's details)."""
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)

    def data(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)

    def describe(self) -> str:
        """E.g. ``position long 1 CON.F.US.MNQ.H26 @ 21500.25 on SIM-AUTO-OCO`` or ``working order
        3350000004: sell 1 stop @ 21490.25 in CON.F.US.MNQ.H26 on SIM-AUTO-OCO``."""
        at = f" @ {self.price}" if self.price is not None else ""
        if self.kind == "position":
            return f"position {self.side} {self.size} {self.contract_id}{at} on {self.account_name}"
        what = f"{self.side} {self.size} {self.order_type}{at} in {self.contract_id}"
        return f"working order {self.broker_order_id or '(no broker id)'}: {what} on {self.account_name}"


def counted(items: Iterable[Held]) -> str:
    """E.g. ``1 open position and 2 working orders``."""
    held = list(items)
    positions = sum(1 for h in held if h.kind == "position")
    orders = len(held) - positions
    parts = [_plural(positions, "open position")] if positions else []
    if orders:
        parts.append(_plural(orders, "working order"))
    return " and ".join(parts) or "nothing open"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def wind_down(bridge: Bridge, *, grace_s: float = 10.0) -> list[Held]:
    """Before the hub, the gateway and the journal close: let alerts in flight finish (up to
    ``grace_s``), then find what the followed accounts still hold. With engine.on_shutdown =
    "flatten", flatten it first (not paused after: no alert can arrive any more), bounded by
    engine.shutdown_flatten_timeout_s. Log what is left (one WARNING per position and order
    and a summary; INFO when nothing is) and journal one "bridge.shutdown" event.

    Returns what is left open. Never raises: an error here must not stop the shutdown.
    """
    try:
        await bridge.finish_alerts(grace_s)
        return await _report(bridge)
    except Exception:  # noqa: BLE001 — the rest of the shutdown must still run
        log.exception("the shutdown check failed: look at your accounts on the platform")
        notices.send(
            bridge.notifier, notices.bridge_stopped_unchecked(firm=bridge.settings.gateway.firm_name)
        )
        return []


async def _report(bridge: Bridge) -> list[Held]:
    engine = bridge.settings.engine
    held, unread = await holdings(bridge)
    flatten: dict[str, object] | None = None
    if held and engine.on_shutdown == "flatten":
        flatten = await _flatten(bridge, engine.shutdown_flatten_timeout_s)
        held, unread = await holdings(bridge)
    accounts = ", ".join(sorted({h.account_name for h in held}))
    if held:
        for item in held:
            log.warning("left open: %s", item.describe())
        message = (
            f"stopping with {counted(held)} on {accounts}: they stay at the broker, unwatched, "
            f"until tvbridge runs again; watch them on the {bridge.settings.gateway.firm_name} platform"
        )
    else:
        message = "stopping: nothing is open on the followed accounts"
    if unread:
        message += (
            f" (the gateway could not be read for {', '.join(unread)}, so for them this is the "
            "journal's view, which may be out of date)"
        )
    (log.warning if held or unread else log.info)("%s", message)
    data = {
        "on_shutdown": engine.on_shutdown,
        "positions": [h.data() for h in held if h.kind == "position"],
        "orders": [h.data() for h in held if h.kind == "order"],
        "journal_view": unread,
        "flatten": flatten,
    }
    level = EventLevel.WARNING if held or unread else EventLevel.INFO
    # Before the journal write: the trader hears of what is left even when the journal fails.
    notice = notices.bridge_stopped(
        held, unread, firm=bridge.settings.gateway.firm_name, flattened=flatten is not None
    )
    notices.send(bridge.notifier, notice)
    await bridge.runner.run(bridge.runner.journal.add_event, SHUTDOWN_EVENT, message, level=level, data=data)
    return held


async def _flatten(bridge: Bridge, timeout_s: float) -> dict[str, object]:
    """The kill switch's flatten, within ``timeout_s``; its outcome as JSON-ready data."""
    try:
        async with asyncio.timeout(timeout_s):
            report = await bridge.flatten(by=SHUTDOWN_BY, pause=False)  # it logs its summary
    except TimeoutError:
        error = (
            f"the flatten at shutdown did not finish within {timeout_s:g} s "
            "(engine.shutdown_flatten_timeout_s); what it did is in the journal"
        )
    except Exception as exc:  # noqa: BLE001 — JournalError or worse: report what is left
        error = f"the flatten at shutdown failed: {type(exc).__name__}: {exc}"
    else:
        return {"ok": report.ok, "alert_id": report.alert_id, "summary": report.summary()}
    log.error("%s", error)
    return {"ok": False, "error": error}


async def holdings(bridge: Bridge) -> tuple[list[Held], list[str]]:
    """What the followed accounts hold now: open positions and working orders, read from
    the gateway (Order/searchOpen, Position/searchOpen) within SHUTDOWN_READ_S; for an
    account the gateway cannot be read for, the journal's view. Returns the holdings and the
    names of the accounts read from the journal. Raises JournalError.
    """
    ids = await _followed_quickly(bridge)
    try:
        async with asyncio.timeout(SHUTDOWN_READ_S):
            plans = (await bridge.flattener.plan(ids)).accounts
    except TimeoutError:
        error = f"no answer within {SHUTDOWN_READ_S:g} s"
        plans = tuple(AccountPlan(i, f"account {i}", error=error) for i in ids)
    held: list[Held] = []
    unread = [p for p in plans if p.error is not None]
    for plan in plans:
        held += [Held.position(plan.account_name, p) for p in plan.positions]
        held += [Held.order(plan.account_name, o) for o in plan.orders]
    if unread:
        held += await _journal_holdings(bridge, {p.account_id: p.account_name for p in unread})
    return held, [p.account_name for p in unread]


async def _followed_quickly(bridge: Bridge) -> list[int]:
    """The followed accounts; those last resolved when the gateway does not answer in time."""
    try:
        async with asyncio.timeout(SHUTDOWN_READ_S):
            return await bridge.followed_account_ids()
    except TimeoutError:
        return sorted(bridge.followed)


async def _journal_holdings(bridge: Bridge, names: dict[int, str]) -> list[Held]:
    """Open positions and working orders the journal shows for the accounts in ``names``."""
    journal = bridge.runner.journal
    positions = await bridge.runner.run(journal.positions)
    orders = await bridge.runner.run(journal.orders_in_states, WORKING_STATES)
    held = [Held.position(names[p.account_id], p) for p in positions if p.size and p.account_id in names]
    return held + [
        Held.order(names[o.account_id], o)
        for o in orders
        if o.account_id in names and o.leg not in (Leg.CANCEL, Leg.CLOSE)
    ]
