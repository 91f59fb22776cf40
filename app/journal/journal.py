"""The order journal: every alert, order, state change and event, committed before anything acts.

Called from one worker thread (any thread, one at a time); each call is one short transaction
and returns rows detached and fully loaded. Every database failure raises JournalError.

This is the journal's one public class, a thin facade: each method opens one transaction
(database.py says how) and calls the function of its concern that says what is written or
read: alerts.py, orders.py, broker_state.py (hub events, fills, positions, accounts), oco.py,
controls.py (instance tag, pause, tunnel, follow mark), lockouts.py, events.py, read_model.py
(the pages) and risk.py. It is longer than ~400 lines because it is the journal's whole API in
one place: 60 short methods, each a signature, its docstring and a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import AlertStatus, OrderState
from app.domain.events import Fill, PositionEvent
from app.domain.kinds import EventLevel, OcoKind, OcoState
from app.domain.models import Account, BrokerOrder
from app.domain.records import (
    AlertEntry,
    JournalCursor,
    LatencyChain,
    OcoGroupRow,
    OrderRow,
    OrderUpdate,
    PauseState,
    RiskNumbers,
    Slippage,
)
from app.domain.trades import TradeFill
from app.errors import JournalError
from app.journal import (
    alerts,
    broker_state,
    controls,
    events,
    lockouts,
    migrate,
    notifications,
    oco,
    orders,
    read_model,
    risk,
    trade_fills,
)
from app.journal.common import aware, given, now
from app.journal.database import Database
from app.journal.db import redact
from app.journal.read_model import CHANGES_LIMIT
from app.journal.tables import (
    AccountStateRecord,
    AlertRecord,
    EventRecord,
    FillRecord,
    LockoutRecord,
    NotificationRecord,
    OcoGroupRecord,
    OrderRecord,
    OrderStatusRecord,
    PositionRecord,
)

# The plain records used to live here: re-exported so every import of them keeps working.
__all__ = [
    "CHANGES_LIMIT",
    "AlertEntry",
    "Journal",
    "JournalCursor",
    "LatencyChain",
    "OrderUpdate",
    "PauseState",
    "RiskNumbers",
    "Slippage",
]

log = logging.getLogger(__name__)


class Journal(Database):
    """The journal database at ``url`` (any SQLAlchemy URL; SQLite in WAL mode by default).

    ``on_commit``, when set, is called with no arguments after every write transaction commits,
    on the thread that ran it; its exceptions are logged and swallowed (the web page's live
    feed wakes up on it). Raises JournalError when the URL cannot be read or its driver is
    missing.

    ``gateway`` is the identity of the gateway the bridge runs on (``sim:<tag>``, ``topstepx``,
    ``custom:<api url>``; GatewaySettings.identity): accounts, orders, fills, positions and
    events are written with it, and what a gateway's ids key (fills by trade id, orders by broker
    id or tag, positions, account states, the risk numbers, the latest shutdown) is read only
    from its own rows, so a journal used with the simulator and then a live account never mixes
    them (migration 0006).
    """

    def __init__(self, url: str, *, gateway: str = "") -> None:
        super().__init__(url)
        self._instance: str | None = None
        self.gateway = gateway

    # -- schema --------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Migrate the database to the newest schema and make its instance tag. Idempotent."""
        migrate.upgrade(self._engine)
        with self._transaction("make the instance tag") as session:
            tag = controls.make_instance(session)
        self._instance = tag
        if self.gateway:
            with self._write("adopt rows without a gateway") as conn:
                controls.adopt_rows_without_gateway(conn, self.gateway)

    @property
    def instance(self) -> str:
        """This database's 6-character [a-z0-9] tag, used in every client_order_id."""
        if self._instance is None:
            with self._transaction("read the instance tag") as session:
                tag = controls.instance_in(session)
            if tag is None:
                raise JournalError(
                    f"Journal {redact(self._engine.url)} has no instance tag; run `tvbridge db upgrade`"
                )
            self._instance = tag
        return self._instance

    # -- alerts --------------------------------------------------------------------------

    def record_alert(
        self,
        *,
        strategy: str,
        raw_body: str,
        received_at: datetime,
        source_ip: str = "",
        content_type: str = "",
        dedupe_key: str | None = None,
        dedupe_window_s: float = 0.0,
        alert_time: datetime | None = None,
        status: AlertStatus = AlertStatus.RECEIVED,
        reason: str | None = None,
    ) -> AlertEntry:
        """Commit one received alert; mark it DUPLICATE when its key was seen just before.

        A duplicate is an alert of the same ``strategy`` with the same ``dedupe_key`` received
        within ``dedupe_window_s`` seconds (either side of ``received_at``, since alerts may be
        journaled slightly out of order) that was accepted for processing (status not in
        NOT_ACCEPTED). The newest such alert is the one compared with: when it sent nothing to
        the gateway (status FAILED and every order row NOT_PLACED, or none), the new alert is
        not a duplicate and is executed; otherwise (executed, being executed or resumed,
        refused, stale...) it is. A duplicate's row gets status DUPLICATE and ``duplicate_of``
        = the original's id (whatever ``status`` and ``reason`` were given, e.g. PAUSED). No
        key, or a window ≤ 0, disables the check. ``received_at`` is tz-aware UTC.

        The body and the reason are scrubbed here (app/redact.py), as are every alert reason
        and event written by this class: the journal is the one place every page, the CSV and
        ``/api/alerts`` read from, so no caller can forget it.
        """
        with self._write(f"record an alert for strategy '{strategy}'") as conn:
            return alerts.insert_alert(
                conn,
                strategy=strategy,
                raw_body=raw_body,
                received_at=received_at,
                source_ip=source_ip,
                content_type=content_type,
                dedupe_key=dedupe_key,
                dedupe_window_s=dedupe_window_s,
                alert_time=alert_time,
                status=status,
                reason=reason,
            )

    def set_alert_status(
        self,
        alert_id: int,
        status: AlertStatus,
        *,
        reason: str | None = None,
        ticker: str | None = None,
        contract_id: str | None = None,
        settled: bool = False,
    ) -> None:
        """Set an alert's status; None leaves a column as it is, ``settled`` stamps settled_at."""
        values = given(reason=reason, ticker=ticker, contract_id=contract_id)
        with self._write(f"set the status of alert {alert_id}") as conn:
            alerts.set_alert(conn, alert_id, status, values, settled_at=now() if settled else None)

    def settle_alert(
        self,
        alert_id: int,
        status: AlertStatus,
        *,
        reason: str | None = None,
        ticker: str | None = None,
        contract_id: str | None = None,
        updates: Iterable[OrderUpdate] = (),
        new_orders: Iterable[dict[str, Any]] = (),
    ) -> list[int]:
        """In one transaction: apply order ``updates``, add ``new_orders`` (add_order's keyword
        arguments, alert_id implied) and set the alert's final status; return the new rows' ids.
        A new order whose tag the account already has (a native bracket leg protection read from
        the gateway after a crash, before this alert was resumed) is not added again: its
        existing row's id is returned.

        The webhook's hot path ends here, so an alert costs three commits: the alert, its
        write-ahead order row(s), and this one.
        """
        at = now()
        values = given(reason=reason, ticker=ticker, contract_id=contract_id)
        with self._write(f"settle alert {alert_id}") as conn:
            orders.apply_updates(conn, updates, at)
            ids = [
                orders.insert_order_once(conn, alert_id=alert_id, now=at, gateway=self.gateway, **row)
                for row in new_orders
            ]
            alerts.set_alert(conn, alert_id, status, values, settled_at=at)
            return ids

    def unsettled_alerts(self) -> list[AlertRecord]:
        """Alerts not in a final status (RECEIVED, UNKNOWN), oldest first: what a start resumes."""
        with self._transaction("list the alerts not settled") as session:
            return alerts.unsettled_alerts(session)

    def get_alert(self, alert_id: int) -> AlertRecord | None:
        """The alert row, or None."""
        with self._transaction(f"read alert {alert_id}") as session:
            return session.get(AlertRecord, alert_id)

    def recent_alerts(self, *, limit: int = 20, strategy: str | None = None) -> list[AlertRecord]:
        """The newest ``limit`` alerts (of one ``strategy`` when given), newest first."""
        with self._transaction("list recent alerts") as session:
            return alerts.recent_alerts(session, limit=limit, strategy=strategy)

    # -- orders --------------------------------------------------------------------------

    def add_order(self, *, alert_id: int, **row: Any) -> int:
        """Commit one order row and its first status row; return the order_record id.

        ``row`` holds the columns by name (see orders.insert_order for the full list):
        account_id, account_name, contract_id, leg, action, and optionally side, order_type,
        size (contracts), limit_price/stop_price (points, Decimal), stop_loss_ticks/
        take_profit_ticks (positive whole ticks), client_order_id, broker_order_id (the
        gateway's id when the row acts on an existing order, a cancel), parent_id, state
        (default SUBMITTING), message, request (the exact gateway body sent), oco_group_id (its
        OCO group). Raises JournalError when ``client_order_id`` is already used on the account.
        """
        what = f"add order {row.get('client_order_id') or row.get('leg')} of alert {alert_id}"
        with self._write(what) as conn:
            return orders.insert_order(conn, now=now(), alert_id=alert_id, gateway=self.gateway, **row)

    def update_order(
        self,
        order_record_id: int,
        state: OrderState,
        *,
        broker_order_id: int | None = None,
        message: str | None = None,
        filled_price: Decimal | None = None,
        fill_volume: int | None = None,
    ) -> None:
        """Update an order row; add a status row when ``state`` differs from the stored one.

        None leaves a column as it is. ``filled_price`` in points, ``fill_volume`` contracts.
        """
        self.update_orders(
            [OrderUpdate(order_record_id, state, broker_order_id, message, filled_price, fill_volume)]
        )

    def update_orders(self, updates: Iterable[OrderUpdate]) -> None:
        """Apply several order updates in one transaction (as update_order does one by one)."""
        at = now()
        updates = list(updates)
        what = "update order records " + ", ".join(str(u.order_record_id) for u in updates[:5])
        with self._write(what) as conn:
            orders.apply_updates(conn, updates, at)

    def resend_order(self, order_record_id: int, *, request: dict[str, Any] | None, message: str) -> None:
        """Put a NOT_PLACED row back to SUBMITTING (sent_at now) just before it is sent again with
        the same tag (an alert resumed after a restart); ``request`` is the body to be sent."""
        at = now()
        values = orders.resend_values(request, message, at)
        with self._write(f"resend order record {order_record_id}") as conn:
            orders.update_order(conn, order_record_id, OrderState.SUBMITTING, at, values)

    def orders_of_alerts(self, alert_ids: Iterable[int]) -> list[OrderRecord]:
        """The orders of several alerts in one query, by alert then in the order they were added."""
        wanted = list(alert_ids)
        if not wanted:
            return []
        with self._transaction("list the orders of alerts") as session:
            return orders.orders_of_alerts(session, wanted)

    def alert_orders(self, alert_id: int) -> list[OrderRecord]:
        """The orders of one alert, in the order they were added."""
        with self._transaction(f"list the orders of alert {alert_id}") as session:
            return orders.alert_orders(session, alert_id)

    def orders_in_states(self, states: Iterable[OrderState]) -> list[OrderRecord]:
        """The orders whose state is one of ``states``, oldest first."""
        wanted = [OrderState(state) for state in states]
        if not wanted:
            return []
        with self._transaction("list orders by state") as session:
            return orders.orders_in_states(session, self.gateway, wanted)

    def bracket_entries(self, since: datetime) -> list[OrderRecord]:
        """Entry rows sent with a native bracket (stop loss or take profit ticks, no OCO group),
        written since ``since`` (tz-aware UTC), that the gateway did not refuse; oldest first.
        What protection checks at start and after a hub reconnect."""
        with self._transaction("list the entries sent with a native bracket") as session:
            return orders.bracket_entries(session, self.gateway, since)

    def order_by_client_id(self, account_id: int, client_order_id: str) -> OrderRecord | None:
        """The order with this client_order_id (the order tag) on this account, or None."""
        with self._transaction(f"find order {client_order_id} on account {account_id}") as session:
            return orders.order_by_client_id(session, self.gateway, account_id, client_order_id)

    def order_by_broker_id(self, account_id: int, broker_order_id: int) -> OrderRecord | None:
        """The order with this broker_order_id (ProjectX id) on this account, or None."""
        what = f"find broker order {broker_order_id} on account {account_id}"
        with self._transaction(what) as session:
            return orders.order_by_broker_id(session, self.gateway, account_id, broker_order_id)

    def order_history(self, order_record_id: int) -> list[OrderStatusRecord]:
        """The state changes of one order, oldest first (the first is its initial state)."""
        with self._transaction(f"read the history of order record {order_record_id}") as session:
            return orders.order_history(session, order_record_id)

    def order_for_event(
        self, account_id: int, broker_order_id: int | None, client_order_id: str | None
    ) -> OrderRow | None:
        """Our order row that a gateway event is about: by broker id, else by tag, else None.

        Cancel rows carry the broker id of the order they cancel, so they never match. Called
        for every hub event, so it runs prebuilt Core statements and returns a read-only row with
        the order_record columns as attributes (not an ORM object).
        """
        with self._read(f"find the order of broker order {broker_order_id}") as conn:
            return orders.order_for_event(conn, self.gateway, account_id, broker_order_id, client_order_id)

    # -- events --------------------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        level: str = EventLevel.INFO,
        alert_id: int | None = None,
        order_record_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        """Commit one event; return its id. ``kind`` an EventKind, ``level`` an EventLevel
        (info, warning, error or critical; ValueError otherwise)."""
        events.check_level(level)
        with self._write(f"add event '{kind}'") as conn:
            return events.insert_event(
                conn, kind, message, level, alert_id, order_record_id, data, self.gateway
            )

    def events(self, *, alert_id: int | None = None, limit: int = 100) -> list[EventRecord]:
        """The newest ``limit`` events (of one alert when given), newest first."""
        with self._transaction("list events") as session:
            return events.newest_events(session, alert_id=alert_id, limit=limit)

    def latest_event(self, kind: str) -> EventRecord | None:
        """The newest event of ``kind`` (e.g. "bridge.shutdown"), or None when there is none."""
        with self._transaction(f"read the latest '{kind}' event") as session:
            return events.latest_event(session, kind, self.gateway)

    # -- notifications -------------------------------------------------------------------

    def add_notification(
        self,
        *,
        at: datetime,
        kind: str,
        level: str,
        title: str,
        target: str,
        status: str,
        detail: str = "",
        attempts: int = 0,
    ) -> int:
        """Commit what became of one notice for one target (app/notify's Outcome; texts
        scrubbed; the newest 1,000 rows are kept); return its id. ``at`` tz-aware UTC."""
        at = aware(at, "at")
        with self._write(f"record a '{kind}' notification") as conn:
            return notifications.insert_notification(
                conn,
                at=at,
                kind=kind,
                level=level,
                title=title,
                target=target,
                status=status,
                detail=detail,
                attempts=attempts,
            )

    def recent_notifications(self, limit: int = 20) -> list[NotificationRecord]:
        """The newest ``limit`` notification rows, newest first."""
        with self._transaction("list notifications") as session:
            return notifications.newest_notifications(session, limit)

    # -- gateway events ------------------------------------------------------------------

    def apply_order_event(
        self, order_record_id: int, order: BrokerOrder, *, state: OrderState | None = None
    ) -> bool:
        """Bring one order row to the gateway's report ``order``, if it is the newest; return
        whether the row changed.

        ``state`` overrides ``order.state`` (a close that FILLED is DONE). The row keeps the
        newest state by the gateway's updateTimestamp: an older event changes nothing, an event
        without one changes nothing once a timestamped state is held, and at equal times a final
        state wins. A row still SUBMITTING or UNKNOWN belongs to the submission step: only its
        broker id is filled in. A status row is added only when the state really changes. Fills
        journaled before the row had a broker id are attached to it.
        """
        return self.apply_order_events([(order_record_id, order, state)]) == 1

    def apply_order_events(self, events: Iterable[tuple[int, BrokerOrder, OrderState | None]]) -> int:
        """apply_order_event for several ``(order_record_id, order, state)`` in one transaction;
        return how many rows changed."""
        events = list(events)
        at = now()
        with self._write(f"apply {len(events)} order event(s)") as conn:
            return sum(
                broker_state.apply_order(conn, at, row_id, order, state) for row_id, order, state in events
            )

    def record_fill(self, fill: Fill, order_record_id: int | None = None) -> bool:
        """Journal one fill once by its trade id; return False when it was already journaled.

        A re-sent fill changes only ``voided`` (and links ``order_record_id`` when the first copy
        had none). ``order_record_id`` is our order row when the filled order is ours: its first
        and last fill times follow its fills, and its fill volume and average price rise to
        theirs when the order's own event has not reported them yet.
        """
        what = f"record fill {fill.trade_id} on account {fill.account_id}"
        with self._write(what) as conn:
            return broker_state.record_fill(conn, fill, order_record_id, self.gateway)

    def set_position(self, event: PositionEvent) -> None:
        """Keep the latest position of ``event``'s account in its contract (side None = flat)."""
        with self._write(f"set the position of account {event.account_id} in {event.contract_id}") as conn:
            broker_state.set_position(conn, event, self.gateway)

    def set_account(self, account: Account) -> None:
        """Keep the latest state of ``account``: name, balance (USD), can-trade flag."""
        with self._write(f"set the state of account {account.account_id}") as conn:
            broker_state.set_account(conn, account, self.gateway)

    def apply_events(
        self,
        *,
        orders: Iterable[tuple[int, BrokerOrder, OrderState | None]] = (),
        fills: Iterable[tuple[Fill, int | None]] = (),
        positions: Iterable[PositionEvent] = (),
        accounts: Iterable[Account] = (),
    ) -> list[bool]:
        """What apply_order_events, record_fill, set_position and set_account do, for a batch of
        hub events in ONE transaction (the hub sends several per order); return, per fill,
        whether it was new."""
        with self._write("apply gateway events") as conn:
            return broker_state.apply_events(conn, self.gateway, orders, fills, positions, accounts)

    def fills_of_alerts(self, alert_ids: Iterable[int]) -> list[FillRecord]:
        """The fills of several alerts' orders in one query, oldest first."""
        wanted = list(alert_ids)
        if not wanted:
            return []
        with self._transaction("list the fills of alerts") as session:
            return broker_state.fills_of_alerts(session, wanted)

    def tick_sizes(self) -> dict[str, Decimal]:
        """contract id → tick size (points), from the order rows that recorded one."""
        with self._transaction("list tick sizes") as session:
            return broker_state.tick_sizes(session)

    def alert_fills(self, alert_id: int) -> list[FillRecord]:
        """The fills of one alert's orders (bracket legs included), oldest first."""
        with self._transaction(f"list the fills of alert {alert_id}") as session:
            return broker_state.alert_fills(session, alert_id)

    def positions(self, account_id: int | None = None) -> list[PositionRecord]:
        """The latest positions (flat ones included), of one account when given."""
        with self._transaction("list positions") as session:
            return broker_state.positions(session, self.gateway, account_id)

    def account_states(self) -> list[AccountStateRecord]:
        """The latest state of every account the gateway reported, by account id."""
        with self._transaction("list account states") as session:
            return broker_state.account_states(session, self.gateway)

    def last_gateway_time(self, account_id: int) -> datetime | None:
        """The newest gateway time journaled for the account (fill time or order updateTimestamp)."""
        with self._transaction(f"read the last gateway time of account {account_id}") as session:
            return broker_state.last_gateway_time(session, self.gateway, account_id)

    def oldest_open_order_at(self, account_id: int) -> datetime | None:
        """When the oldest of the account's tagged orders that are not final was written, or None."""
        with self._transaction(f"find the oldest open order of account {account_id}") as session:
            return broker_state.oldest_open_order_at(session, self.gateway, account_id)

    def alert_latency(self, alert_id: int) -> LatencyChain | None:
        """The latency chain and entry slippage of one alert (see LatencyChain), or None."""
        alert = self.get_alert(alert_id)
        return None if alert is None else LatencyChain.of(alert, self.alert_orders(alert_id))

    # -- OCO groups ----------------------------------------------------------------------

    def add_oco_group(
        self,
        *,
        alert_id: int,
        account_id: int,
        contract_id: str,
        kind: str,
        policy: str,
        state: str = OcoState.WORKING,
        note: str | None = None,
    ) -> int:
        """Commit one OCO group (``kind`` an OcoKind, ``state`` an OcoState); return its id."""
        oco.check_group(kind, state)
        with self._write(f"add an {kind} group for alert {alert_id}") as conn:
            return oco.insert_group(
                conn,
                alert_id=alert_id,
                account_id=account_id,
                contract_id=contract_id,
                kind=kind,
                policy=policy,
                state=state,
                note=note,
            )

    def set_oco_group(self, oco_group_id: int, state: str, *, note: str | None = None) -> None:
        """Set a group's state (an OcoState); None leaves the note as it is."""
        oco.check_group(OcoKind.OCO, state)
        with self._write(f"set the state of oco group {oco_group_id}") as conn:
            oco.set_group(conn, oco_group_id, state, note)

    def set_working_group_note(self, oco_group_id: int, note: str) -> bool:
        """Replace the note of a group still working; False when it is not (nothing written)."""
        with self._write(f"keep the note of oco group {oco_group_id}") as conn:
            return oco.set_working_note(conn, oco_group_id, note)

    def oco_group(self, oco_group_id: int) -> OcoGroupRow | None:
        """The group row (read-only, the oco_group columns as attributes), or None."""
        with self._read(f"read oco group {oco_group_id}") as conn:
            return oco.group(conn, oco_group_id)

    def oco_group_orders(self, oco_group_id: int) -> list[OrderRow]:
        """The order rows of one group (read-only, order_record columns), in the order added."""
        with self._read(f"list the orders of oco group {oco_group_id}") as conn:
            return oco.group_orders(conn, oco_group_id)

    def oco_groups(self, state: str = OcoState.WORKING) -> list[OcoGroupRecord]:
        """The groups in ``state``, oldest first."""
        with self._transaction(f"list the {state} oco groups") as session:
            return oco.groups_in(session, state)

    def set_order_group(self, order_record_id: int, oco_group_id: int) -> None:
        """Put an existing order row into a group (a native entry handed to managed protection)."""
        with self._write(f"put order record {order_record_id} in oco group {oco_group_id}") as conn:
            oco.set_order_group(conn, order_record_id, oco_group_id)

    # -- kill switch, tunnel, follow mark ------------------------------------------------

    def pause_state(self) -> PauseState | None:
        """Whether the kill switch holds alerts: since when (UTC) and by whom, or None."""
        with self._read("read the pause state") as conn:
            return controls.pause_in(conn)

    def set_paused(self, paused: bool, *, by: str) -> PauseState | None:
        """Pause (alerts journaled PAUSED, never executed) or resume; return the state now.

        One transaction writes or deletes the ``paused`` row of journal_meta and adds a
        warning event, "kill.pause" or "kill.resume", saying who and when. Idempotent: pausing
        while paused keeps the first ``since`` and adds no event; resuming while not paused
        does nothing.
        """
        with self._write(f"{'pause' if paused else 'resume'} (by {by})") as conn:
            return controls.set_paused(conn, paused, by)

    def tunnel_state(self) -> dict[str, Any] | None:
        """The tunnel's last recorded state (JSON object), or None when none is recorded.

        Lets a ``tvbridge tunnel`` running beside ``tvbridge serve`` show up on its pages.
        """
        with self._read("read the tunnel state") as conn:
            return controls.tunnel_state(conn)

    def set_tunnel_state(self, state: dict[str, Any] | None) -> None:
        """Record the tunnel's state (a JSON-ready object), or forget it with None."""
        with self._write("record the tunnel state") as conn:
            controls.set_tunnel_state(conn, state)

    def follow_mark(self) -> datetime | None:
        """From when (UTC) a REST catch-up of orders and trades misses nothing, as last recorded
        (app/engine/follow.py), or None when never recorded."""
        with self._read("read the follow mark") as conn:
            return controls.follow_mark(conn)

    def set_follow_mark(self, at: datetime) -> None:
        """Record the follow mark (UTC)."""
        value = controls.follow_mark_text(at)
        with self._write("record the follow mark") as conn:
            controls.set_follow_mark(conn, value)

    # -- queries for the pages -----------------------------------------------------------

    def find_alerts(
        self,
        *,
        strategy: str | None = None,
        account_id: int | None = None,
        statuses: Iterable[AlertStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        alert_ids: Iterable[int] | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts matching every filter given, newest first, at most ``limit``.

        ``account_id``: alerts with an order row on that account. ``since``/``until``: tz-aware
        UTC bounds on received_at (since inclusive, until exclusive). ``before_id``: only alerts
        older than that one (the next page). ``alert_ids``: only these (the page's live feed).
        """
        with self._transaction("find alerts") as session:
            return read_model.find_alerts(
                session,
                strategy=strategy,
                account_id=account_id,
                statuses=statuses,
                since=since,
                until=until,
                before_id=before_id,
                alert_ids=alert_ids,
                limit=limit,
            )

    def find_orders(
        self,
        *,
        account_id: int | None = None,
        states: Iterable[OrderState] | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[OrderRecord]:
        """Order rows matching every filter given (``since``: tz-aware UTC on created_at),
        newest first, at most ``limit``."""
        with self._transaction("find orders") as session:
            return read_model.find_orders(
                session, account_id=account_id, states=states, since=since, limit=limit
            )

    def find_fills(
        self, *, account_id: int | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[FillRecord]:
        """Fills matching every filter given (``since``: tz-aware UTC on filled_at), newest fill
        first, at most ``limit``."""
        with self._transaction("find fills") as session:
            return read_model.find_fills(session, account_id=account_id, since=since, limit=limit)

    def changes_since(self, cursor: JournalCursor | None) -> tuple[JournalCursor, list[int]]:
        """The journal's cursor now, and the ids of the alerts that changed since ``cursor``:
        new alerts, alerts settled, and alerts whose orders changed state, got fills or events.

        Ids newest first, at most CHANGES_LIMIT (200). ``cursor`` None: the cursor now and no
        ids. Every query is a max or a range on an indexed column.
        """
        with self._read("look for changes") as conn:
            return read_model.changes_since(conn, cursor)

    def trade_fills(self, *, until: datetime | None = None) -> list[TradeFill]:
        """Every fill of this gateway before ``until`` (UTC; None: all; voided ones left out),
        oldest first, with the alert, strategy and sender of the bridge's order that filled
        (app/journal/trade_fills.py): what app/domain/trades.match_trades reads."""
        with self._read("read the fills for trades") as conn:
            return trade_fills.trade_fills(conn, self.gateway, until=until)

    def contract_specs(self) -> dict[str, tuple[Decimal, Decimal]]:
        """contract id → (tick size points, tick value USD) as this gateway's order rows recorded them."""
        with self._read("read the contracts' tick sizes and values") as conn:
            return trade_fills.contract_specs(conn, self.gateway)

    # -- risk gate -----------------------------------------------------------------------

    def risk_numbers(self, account_id: int, since: datetime, *, strategy: str | None = None) -> RiskNumbers:
        """The account's numbers for the risk gate (see RiskNumbers), in one transaction.

        ``since`` (tz-aware UTC, inclusive) bounds realised P&L (by fill time) and the entry
        counts (by the alert's received_at), e.g. the trading day's start; the losing streak and
        the last fill prices are not bounded by it (a streak may cross the day's start).
        ``strategy`` None: ``strategy_entries`` is 0. Voided fills count for nothing.
        """
        with self._read(f"read the risk numbers of account {account_id}") as conn:
            return risk.risk_numbers(conn, self.gateway, account_id, since, strategy)

    def latest_prices(self) -> dict[str, tuple[Decimal, datetime]]:
        """contract id → (the latest price the journal has seen in it (points), when (UTC)): the
        newest of its live fills' prices and of the reference prices templates rendered (order rows).

        Not a live quote: it may be minutes or days old. Every account's rows count.
        """
        with self._read("read the latest prices") as conn:
            return risk.latest_prices(conn, self.gateway)

    def contract_ticks(self) -> dict[str, tuple[Decimal, Decimal]]:
        """contract id → (tick size in points, tick value in USD per tick per contract), from
        the newest order row that recorded both (the contract as it was when last traded)."""
        with self._read("read the contracts' tick sizes and values") as conn:
            return risk.contract_ticks(conn)

    def lock_account(
        self,
        account_id: int,
        account_name: str,
        *,
        reason: str,
        until: datetime,
        by: str,
        now: datetime | None = None,
    ) -> LockoutRecord:
        """Lock the account: entries are refused until ``until`` (tz-aware UTC); return the lock.

        Idempotent while locked: the first lockout is kept and returned, nothing is written. Else
        one transaction writes the ``lockout`` row (replacing an expired one) and an error event
        "risk.lockout" with the reason and the time. ``now`` (UTC, default the clock) is the
        lock's ``since``; ``by`` says who locked, e.g. "risk: daily loss limit".
        """
        at = aware(now or _clock(), "now")
        until = aware(until, "until")
        with self._write(f"lock account {account_name} ({account_id})") as conn:
            return lockouts.lock(conn, account_id, account_name, reason=reason, until=until, by=by, now=at)

    def active_lockouts(self, now: datetime) -> list[LockoutRecord]:
        """The lockouts still in force at ``now`` (tz-aware UTC: ``until`` later), by account id."""
        with self._transaction("list the active lockouts") as session:
            return lockouts.active_lockouts(session, now)

    def unlock_account(
        self, account_id: int, *, by: str, now: datetime | None = None
    ) -> LockoutRecord | None:
        """Lift the account's lockout early; return the lockout lifted, None when not locked.

        One transaction deletes the row and adds a warning event "risk.unlock" naming ``by``
        (e.g. "cli"). An expired lockout (``until`` not after ``now``, default the clock) is
        removed without an event: the account was not locked.
        """
        at = aware(now or _clock(), "now")
        with self._write(f"unlock account {account_id} (by {by})") as conn:
            return lockouts.unlock(conn, account_id, by=by, now=at)


_clock = now  # lock_account's and unlock_account's ``now`` parameter hides the module's name
