"""One client of the simulator's User Hub: its subscriptions, its outbox and writer, and the
fault switches that act on what it is sent (silence, duplicates, reordering); plus the
record framing of the SignalR JSON protocol (records end in 0x1E, signalr.md §1.3).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from app.sim.exchange import ACCOUNT_EVENT, ORDER_EVENT, POSITION_EVENT, TRADE_EVENT
from app.sim.wire import dump_json

if TYPE_CHECKING:
    from app.sim.hub import HubFaults

RS = "\x1e"  # the record separator ending every JSON hub message (signalr.md §1.3)
MAX_REORDER_BATCH = 16
_KIND_OF_EVENT = {ORDER_EVENT: "orders", POSITION_EVENT: "positions", TRADE_EVENT: "trades"}


@dataclass
class Connection:
    """One hub client: its socket, subscriptions, and one writer task with an outbox."""

    websocket: WebSocket
    token: str
    faults: HubFaults
    all_accounts: bool = False
    subscriptions: dict[str, set[int]] = field(
        default_factory=lambda: {"orders": set(), "positions": set(), "trades": set()}
    )
    contracts: set[str] = field(default_factory=set)  # the Market Hub's quote subscriptions
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)  # None: end
    held: list[str] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    close_message: dict[str, Any] | None = None
    _flush_timer: asyncio.TimerHandle | None = None

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        """True when this connection subscribed to ``event`` for the data's account."""
        if event == ACCOUNT_EVENT:
            return self.all_accounts
        kind = _KIND_OF_EVENT.get(event)
        return kind is not None and data.get("accountId") in self.subscriptions[kind]

    def push(self, message: dict[str, Any]) -> None:
        """Queue one message for the writer (dropped while the hub is silent)."""
        if not self.faults.silent:
            self.outbox.put_nowait(frame(message))

    def push_event(self, event: str, payload: dict[str, Any]) -> None:
        """Queue one event push, applying the duplicate and reorder switches."""
        if self.faults.silent:
            return  # lost, as on the live hub: nothing is replayed
        record = frame({"type": 1, "target": event, "arguments": [payload]})
        copies = [record, record] if self.faults.duplicate else [record]
        batch = min(self.faults.reorder_batch, MAX_REORDER_BATCH)
        if batch < 2:
            for copy in copies:
                self.outbox.put_nowait(copy)
            return
        self.held.extend(copies)
        if len(self.held) >= batch:
            self.flush()
        elif self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(self.faults.reorder_hold_s, self.flush)

    def flush(self) -> None:
        """Send the held events, newest first."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        held, self.held = self.held, []
        for record in reversed(held):
            self.outbox.put_nowait(record)

    def close(self, close_message: dict[str, Any] | None) -> None:
        """Ask the connection's tasks to end; send ``close_message`` first when given.

        The writer is ended by a sentinel in its queue, never cancelled: a send cancelled half
        way leaves the WebSocket unable to close, and the client would never see the drop.
        """
        self.close_message = close_message
        self.closing.set()
        self.outbox.put_nowait(None)

    async def write_loop(self) -> None:
        """Send queued records; a Ping after ``ping_interval_s`` of sending nothing."""
        while True:
            try:
                record = await asyncio.wait_for(self.outbox.get(), timeout=self.faults.ping_interval_s)
            except TimeoutError:
                record = frame({"type": 6})
            if record is None:  # close() asked the writer to end
                return
            if not self.faults.silent:
                await self.websocket.send_text(record)


def frame(message: dict[str, Any]) -> str:
    """One hub message as a record: its JSON and the separator."""
    return dump_json(message).decode() + RS


def split_frames(buffer: str) -> tuple[list[str], str]:
    """Split complete records off ``buffer``; return them and the unfinished rest."""
    *complete, rest = buffer.split(RS)
    return [record for record in complete if record.strip()], rest
