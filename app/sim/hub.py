"""The simulator's User Hub: the SignalR JSON hub protocol at ``/hubs/user``, with fault switches.

It speaks what the live ProjectX User Hub speaks (reference/signalr.md §1, projectx-api.md §7):
a WebSocket at ``/hubs/user?access_token=<token>`` (no negotiate needed; ``POST
/hubs/user/negotiate`` works too, then ``?id=``), the JSON handshake (version 0 or 1), records
ending in 0x1E, ``SubscribeAccounts()`` and ``Subscribe{Orders,Positions,Trades}(accountId)``
with their Unsubscribe twins, pushes of every SimState event as ``{"type":1,"target":…,
"arguments":[{action, data}]}`` to the connections subscribed to it, and a Ping when idle.
Subscriptions belong to the connection: they are lost when it ends, as on the live hub.

``state.hub`` (a HubFaults, made by ``hub_faults(state)``) holds the switches tests flip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.sim.hub_connection import MAX_REORDER_BATCH as MAX_REORDER_BATCH  # re-exported
from app.sim.hub_connection import RS as RS
from app.sim.hub_connection import Connection, frame, split_frames
from app.sim.state import SimState

log = logging.getLogger(__name__)

HUB_PATH = "/hubs/user"
DEFAULT_PING_INTERVAL_S = 15.0  # ASP.NET Core KeepAliveInterval (signalr.md §1.5)
HANDSHAKE_TIMEOUT_S = 15.0  # ASP.NET Core HandshakeTimeout
MAX_REFUSE_S = 3600.0
LOGOUT_EVENT = "GatewayLogout"

# Which subscription an event needs: (event name) → subscription kind.
_SUBSCRIBE = {
    "SubscribeOrders": "orders",
    "SubscribePositions": "positions",
    "SubscribeTrades": "trades",
}
_UNSUBSCRIBE = {"Unsubscribe" + name.removeprefix("Subscribe"): kind for name, kind in _SUBSCRIBE.items()}


class HubFaults:
    """The hub's switches and counters, settable from tests (``state.hub``).

    Switches (all off by default; ``clear()`` turns them off again):

    - ``drop_all()``: close every connection now, with no SignalR Close message.
    - ``refuse_for(seconds)``: answer new WebSocket upgrades with HTTP 503 for that long.
    - ``silent``: keep sockets open but send nothing at all (no pings, events, completions or
      handshake answers); events meanwhile are lost, nothing is queued (as on the live hub).
    - ``duplicate``: send every event twice.
    - ``reorder_batch``: hold events per connection until ``reorder_batch`` (2–16) are waiting,
      or ``reorder_hold_s`` passed, then send the batch reversed; 0 = in order.
    - ``expire_tokens()``: every token a hub client used stops being valid; connected sockets
      get a Close message (``type 7``) and reconnects with an old token get 401.
    - ``logout_all()``: send ``GatewayLogout`` (no arguments; its payload is undocumented,
      projectx-api.md §7.3) to every connection.

    Counters: ``connections_made`` (upgrades accepted), ``pings_received`` (client Pings),
    ``open_connections``. ``ping_interval_s`` is the idle time before the hub sends a Ping.
    """

    def __init__(self, hub: _UserHubServer) -> None:
        self._hub = hub
        self.ping_interval_s = DEFAULT_PING_INTERVAL_S
        self.silent = False
        self.duplicate = False
        self.reorder_batch = 0
        self.reorder_hold_s = 0.2
        self.connections_made = 0
        self.pings_received = 0
        self._refuse_until = 0.0  # time.monotonic()

    @property
    def open_connections(self) -> int:
        """Connections whose handshake is done and that are still open."""
        return len(self._hub.connections)

    @property
    def refusing(self) -> bool:
        """True while ``refuse_for`` is in effect."""
        return time.monotonic() < self._refuse_until

    def refuse_for(self, seconds: float) -> None:
        """Answer new upgrades with HTTP 503 for ``seconds`` (0 to 3600; 0 stops refusing)."""
        if not 0 <= seconds <= MAX_REFUSE_S:
            raise ValueError(f"refuse_for takes 0 to {MAX_REFUSE_S:.0f} seconds, got {seconds}")
        self._refuse_until = time.monotonic() + seconds

    def drop_all(self) -> int:
        """Close every connection now, without a Close message; return how many."""
        return self._hub.close_all(close_message=None)

    def expire_tokens(self) -> int:
        """Invalidate every token a hub client used; close live sockets with a Close message.

        Returns the number of connections closed.
        """
        for token in self._hub.tokens_seen:
            self._hub.state.logout(token)
        close = {"type": 7, "error": "Unauthorized: the access token expired.", "allowReconnect": True}
        return self._hub.close_all(close_message=close)

    def logout_all(self) -> int:
        """Send ``GatewayLogout`` to every connection; return how many."""
        for connection in list(self._hub.connections):
            connection.push({"type": 1, "target": LOGOUT_EVENT, "arguments": []})
        return len(self._hub.connections)

    def clear(self) -> None:
        """Turn every switch off (counters are kept)."""
        self.silent = False
        self.duplicate = False
        self.reorder_batch = 0
        self._refuse_until = 0.0


class _UserHubServer:
    """Connections, pending negotiations and the SimState listener behind ``/hubs/user``."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.faults = HubFaults(self)
        self.connections: list[Connection] = []
        self.tokens_seen: set[str] = set()
        self.negotiated: dict[str, str] = {}  # connection id or token → access token
        self.in_use: set[str] = set()  # negotiated ids with a live socket (a second one gets 409)
        state.add_listener(self.on_event)

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """SimState listener: push the event to every connection subscribed to it."""
        data = payload.get("data", payload)
        for connection in self.connections:
            if connection.wants(event, data):
                connection.push_event(event, payload)

    def close_all(self, close_message: dict[str, Any] | None) -> int:
        connections = list(self.connections)
        for connection in connections:
            connection.close(close_message)
        return len(connections)

    # -- negotiate (signalr.md §1.1) ----------------------------------------------------------

    async def negotiate(self, request: Request) -> Response:
        """``POST /hubs/user/negotiate[?negotiateVersion=1]``: version 0 or 1 response."""
        token = request.query_params.get("access_token") or _bearer(request.headers.get("authorization"))
        if token is None or not self.state.token_valid(token):
            return Response(status_code=401)
        version = 1 if request.query_params.get("negotiateVersion", "0") != "0" else 0
        connection_id = str(uuid.uuid4())
        body: dict[str, Any] = {
            "connectionId": connection_id,
            "negotiateVersion": version,
            "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
        }
        if version == 1:
            body["connectionToken"] = str(uuid.uuid4())
            self.negotiated[body["connectionToken"]] = token
        else:
            self.negotiated[connection_id] = token
        return JSONResponse(body)

    # -- the WebSocket --------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        """Authenticate the upgrade, run the handshake, then read and write until it ends."""
        negotiated_id = websocket.query_params.get("id")
        status, token = self._admit(negotiated_id, websocket.query_params.get("access_token"))
        if token is None:
            await _deny(websocket, status)
            return
        await websocket.accept()
        self.faults.connections_made += 1
        self.tokens_seen.add(token)
        connection = Connection(websocket, token, self.faults)
        if negotiated_id is not None:
            self.in_use.add(negotiated_id)
        try:
            rest = await self._handshake(connection)
            if rest is None:
                return
            self.connections.append(connection)
            await self._run(connection, rest)
        finally:
            if connection in self.connections:
                self.connections.remove(connection)
            if negotiated_id is not None:
                self.in_use.discard(negotiated_id)
                self.negotiated.pop(negotiated_id, None)
            connection.flush()

    def _admit(self, negotiated_id: str | None, token: str | None) -> tuple[int, str | None]:
        """(HTTP status to deny with, or the token to serve)."""
        if self.faults.refusing:
            return 503, None
        if negotiated_id is not None:
            if negotiated_id not in self.negotiated:
                return 404, None  # unknown or stale id: negotiate again (signalr.md §1.1)
            if negotiated_id in self.in_use:
                return 409, None
            token = token or self.negotiated[negotiated_id]
        if token is None or not self.state.token_valid(token):
            return 401, None
        return 0, token

    async def _handshake(self, connection: Connection) -> str | None:
        """Read the handshake; answer ``{}``. Return what followed it, None when it failed."""
        websocket = connection.websocket
        buffer = ""
        try:
            while RS not in buffer:
                buffer += await asyncio.wait_for(websocket.receive_text(), HANDSHAKE_TIMEOUT_S)
        except (TimeoutError, WebSocketDisconnect, KeyError):
            await _close_quietly(websocket)
            return None
        first, _, rest = buffer.partition(RS)
        error = _handshake_error(first)
        if not self.faults.silent:
            await websocket.send_text(frame({"error": error} if error else {}))
        if error:
            await _close_quietly(websocket)
            return None
        return rest

    async def _run(self, connection: Connection, buffer: str) -> None:
        """Run the reader and the writer until either ends or the connection is closed."""
        tasks = [
            asyncio.create_task(self._read_loop(connection, buffer)),
            asyncio.create_task(connection.write_loop()),
            *(asyncio.create_task(extra) for extra in self._more_loops(connection)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if connection.closing.is_set():
            if connection.close_message is not None:
                with contextlib.suppress(Exception):
                    await connection.websocket.send_text(frame(connection.close_message))
            await _close_quietly(connection.websocket)

    def _more_loops(self, connection: Connection) -> list[Coroutine[Any, Any, None]]:
        """Further tasks of one connection (the Market Hub's quote pump); none here."""
        return []

    async def _read_loop(self, connection: Connection, buffer: str) -> None:
        while True:
            records, buffer = split_frames(buffer)
            for record in records:
                if not self._on_message(connection, record):
                    return
            buffer += await connection.websocket.receive_text()

    def _on_message(self, connection: Connection, record: str) -> bool:
        """Handle one client message; False when the client closed."""
        try:
            message = json.loads(record)
        except ValueError:
            log.warning("hub client sent a record that is not JSON; closing it")
            return False
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == 6:
            self.faults.pings_received += 1
        elif kind == 7:
            return False
        elif kind == 1:
            error = self._invoke(connection, message.get("target"), message.get("arguments"))
            invocation_id = message.get("invocationId")
            if invocation_id is not None:  # no id: non-blocking, the callee must not answer
                completion: dict[str, Any] = {"type": 3, "invocationId": invocation_id}
                if error:
                    completion["error"] = error
                connection.push(completion)
        return True

    def _invoke(self, connection: Connection, target: Any, arguments: Any) -> str | None:
        """Run a hub method; return an error text, None on success (a void method)."""
        args = arguments if isinstance(arguments, list) else []
        if target in ("SubscribeAccounts", "UnsubscribeAccounts"):
            # PXPY-4 sends UnsubscribeAccounts with [accountId] (§7.2): accept any arguments.
            connection.all_accounts = target == "SubscribeAccounts"
            return None
        kind = _SUBSCRIBE.get(target) or _UNSUBSCRIBE.get(target)
        if kind is None:
            return f"Unknown hub method '{target}'"
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int):
            return f"Failed to invoke '{target}': send one argument, the integer account id; got {args!r}."
        account_id = args[0]
        if account_id not in self.state.accounts:
            return f"Failed to invoke '{target}': account {account_id} is not one of this user's accounts."
        if target in _SUBSCRIBE:
            connection.subscriptions[kind].add(account_id)
        else:
            connection.subscriptions[kind].discard(account_id)
        return None


def _handshake_error(text: str) -> str | None:
    """None for a valid ``{"protocol":"json","version":0|1}``, else the error the server sends."""
    try:
        request = json.loads(text)
    except ValueError:
        return "The handshake request is not JSON."
    if not isinstance(request, dict) or request.get("protocol") != "json":
        protocol = request.get("protocol") if isinstance(request, dict) else None
        return f"Requested protocol '{protocol}' is not available."
    if request.get("version") not in (0, 1):
        return f"The server does not support version {request.get('version')} of the 'json' protocol."
    return None


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _deny(websocket: WebSocket, status: int) -> None:
    """Refuse the upgrade with an HTTP status (close 1008 where the server cannot)."""
    try:
        await websocket.send_denial_response(Response(status_code=status))
    except RuntimeError:
        await websocket.close(code=1008)


async def _close_quietly(websocket: WebSocket) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=1000)


# -- mounting -----------------------------------------------------------------------------------


def hub_faults(state: SimState) -> HubFaults:
    """The User Hub of ``state`` (its switches), made on first use and kept as ``state.hub``."""
    faults = getattr(state, "hub", None)
    if not isinstance(faults, HubFaults):
        faults = _UserHubServer(state).faults
        state.hub = faults  # type: ignore[attr-defined]  # SimState stands beside the hub
    return faults


def hub_routes() -> list[BaseRoute]:
    """The User Hub's routes, to mount before the REST catch-all (the app's ``state.sim``)."""
    return mount_hub(HUB_PATH, lambda state: hub_faults(state)._hub)


def mount_hub(path: str, server: Callable[[SimState], _UserHubServer]) -> list[BaseRoute]:
    """A hub's routes at ``path`` (``/negotiate`` and the WebSocket); ``server(state)`` is the
    hub of the app's ``state.sim``."""

    async def negotiate(request: Request) -> Response:
        return await server(request.app.state.sim).negotiate(request)

    async def serve(websocket: WebSocket) -> None:
        await server(websocket.app.state.sim).serve(websocket)

    return [Route(path + "/negotiate", negotiate, methods=["POST"]), WebSocketRoute(path, serve)]


class _RedactTokens(logging.Filter):
    """Blank ``access_token=`` values: uvicorn logs each WebSocket's path with its query."""

    _pattern = re.compile(r"(access_token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message:
            record.msg, record.args = self._pattern.sub(r"\1***", message), None
        return True


def redact_uvicorn_logs() -> None:
    """Keep hub tokens out of uvicorn's WebSocket log lines (idempotent)."""
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RedactTokens) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_RedactTokens())
