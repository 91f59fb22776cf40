"""The ProjectX User Hub client: signalrcore, kept dependable by a supervisor of our own.

signalrcore (reference/signalr.md §2) runs one connection on its own threads. Its faults
(§2.4) decide the design: its reconnect sticks after one failed attempt, it pings only when its
reconnect is configured, it notices a dead peer only when a send fails, a raising handler drops
the connection, it logs the token at DEBUG and never refreshes it. So signalrcore's reconnect is
never configured; instead one asyncio task owns the connection and STOPS and REBUILDS it, with
backoff and jitter, when the socket closes, signalrcore leaves the connected state, nothing at
all (ping included) arrived for ``silence_timeout_s``, the token changed, or the hub sent
``GatewayLogout``. It pings the hub itself, and after every (re)connect subscribes again and
calls ``on_connected`` with the moment the hub was last known good before it (nothing is
replayed after a reconnect: the engine reconciles over REST from that moment, projectx-api.md
§7.3, §8 items 6–10).

The wait between attempts grows only while the hub keeps refusing (or drops a connection within
seconds of making it), and is capped at ``URGENT_BACKOFF_S`` while ``urgent()`` says the followed
accounts hold something to protect: a hub answering again is reconnected within about 2 s.

Events cross from signalrcore's thread to the event loop with ``call_soon_threadsafe``, are
parsed by ``wire.parse_user_event`` and handed to ``on_event`` one at a time, in arrival order.

Over 400 lines on purpose: ``UserHub`` is one supervisor whose steps (connect, subscribe, watch,
back off, tear down) share one connection's lifecycle and state; the signalrcore side of a
connection (``Link``, the token-free logging) is app/gateway/hub_link.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.messages.ping_message import PingMessage
from signalrcore.types import HttpTransportType

from app.domain.events import GatewayEvent
from app.errors import GatewayUnavailable
from app.gateway import wire
from app.gateway.hub_link import SIGNALRCORE_LOGGER as SIGNALRCORE_LOGGER  # re-exported
from app.gateway.hub_link import Link, describe
from app.gateway.hub_link import guard_signalrcore_logging as guard_signalrcore_logging
from app.gateway.hub_link import hub_url as hub_url
from app.gateway.hub_link import redact as redact

log = logging.getLogger(__name__)

LOGOUT = "GatewayLogout"
USER_EVENTS = ("GatewayUserAccount", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade")
PER_ACCOUNT = ("SubscribeOrders", "SubscribePositions", "SubscribeTrades")  # §7.2
STOP_TIMEOUT_S = 5.0  # longest wait for signalrcore's stop() on its thread
# The longest wait between attempts while urgent() (positions or working orders to protect):
# with a connect, a hub answering again is reconnected within 2 s.
URGENT_BACKOFF_S = 1.0
# A connection that lasted this long was healthy: the next wait starts again from the lowest.
HEALTHY_AFTER_S = 5.0
REPEAT_WARNING_S = 60.0  # the same connect failure is logged at WARNING once a minute

T = TypeVar("T")
TokenSource = Callable[[], Awaitable[str]]
# on_connected(previous_good_at): the hub is (re)connected and subscribed; ``previous_good_at``
# is when the connection before it last received a message (UTC; None on the first connection).
OnConnected = Callable[[datetime | None], Awaitable[None]]


@dataclass(frozen=True)
class HubState:
    """The User Hub connection as the status page shows it (datetimes UTC).

    ``since``: when the current connection was subscribed (None while disconnected);
    ``last_event_at``: when the last GatewayUser* event arrived; ``reconnects``: successful
    connections after the first; ``last_error``: why the last connection ended or failed;
    ``handler_errors``: events that could not be parsed or whose handler raised;
    ``good_at``: when a subscribed connection last received anything (event, Ping, answer): up
    to then the hub delivered what happened; it stays after the connection ends (None before
    the first connection).
    """

    connected: bool
    since: datetime | None
    last_event_at: datetime | None
    reconnects: int
    last_error: str | None
    handler_errors: int = 0
    good_at: datetime | None = None


class HubConnectError(GatewayUnavailable):
    """A User Hub connection could not be made or lost its footing (in the tree: nothing was sent)."""


@dataclass(frozen=True)
class _Connected:
    """Queue marker: run on_connected here, in order with the events."""

    previous_good_at: datetime | None


class UserHub:
    """The User Hub for the engine: events in, ``on_connected`` after every (re)connect.

    ``token`` returns the current session token (asked at every connect and every
    ``token_check_s``); ``on_event`` gets each GatewayEvent in arrival order; ``on_connected``
    runs after every (re)connect once subscriptions are made, in order with the events, with
    the moment the hub was last known good before it (see OnConnected). Neither may stop the
    hub: what they raise is logged and counted. ``urgent()`` (optional, cheap, never raising)
    says whether the followed accounts hold positions or working orders: then the wait between
    attempts is at most URGENT_BACKOFF_S. Waits are in seconds: ``silence_timeout_s`` without
    any message rebuilds the connection, ``backoff_s`` (low, high) bounds the wait between
    attempts, ``connect_timeout_s`` bounds a connect and its subscriptions, and
    ``keep_alive_s`` is the interval of the bridge's own Pings (the live server drops a client
    silent for 30 s, signalr.md §1.5).

    The Market Hub (app/gateway/market_hub.py) is this supervisor with other subscriptions and
    events: it overrides ``NAME``, ``TARGETS``, ``_subscription_calls`` and ``_parse``.
    """

    NAME = "User Hub"  # in log lines and thread names
    TARGETS: tuple[str, ...] = USER_EVENTS  # the event targets that count as events

    def __init__(
        self,
        url: str,
        token: TokenSource,
        on_event: Callable[[GatewayEvent], Awaitable[None]],
        on_connected: OnConnected,
        *,
        urgent: Callable[[], bool] | None = None,
        silence_timeout_s: float = 45.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        token_check_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        keep_alive_s: float = 10.0,
    ) -> None:
        low, high = backoff_s
        if not 0 < low <= high:
            raise ValueError(f"backoff_s must be (low, high) with 0 < low <= high, got {backoff_s}")
        self.url = url
        self._token = token
        self._on_event = on_event
        self._on_connected = on_connected
        self._urgent = urgent or (lambda: False)
        self.silence_timeout_s = silence_timeout_s
        self.backoff_s = (low, high)
        self.token_check_s = token_check_s
        self.connect_timeout_s = connect_timeout_s
        self.keep_alive_s = keep_alive_s
        self._accounts: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._stopping = False
        self._link: Link | None = None
        self._since: datetime | None = None
        self._last_event_at: datetime | None = None
        self._connections = 0
        self._last_error: str | None = None
        self._handler_errors = 0
        self._good_at: datetime | None = None  # the last message of the connection before
        self._warned_at = float("-inf")  # monotonic: the last connect failure logged at WARNING

    @property
    def state(self) -> HubState:
        """A snapshot of the connection (see HubState)."""
        link = self._link
        return HubState(
            connected=link is not None and self._since is not None and link.is_connected(),
            since=self._since,
            last_event_at=self._last_event_at,
            reconnects=max(self._connections - 1, 0),
            last_error=self._last_error,
            handler_errors=self._handler_errors,
            good_at=link.last_message_at if link is not None and self._since is not None else self._good_at,
        )

    async def start(self, account_ids: Iterable[int]) -> None:
        """Follow ``account_ids``; connect in the background and return at once.

        Raises RuntimeError when already started.
        """
        if self._supervisor is not None:
            raise RuntimeError("UserHub.start() was called twice; use set_accounts() to add accounts")
        guard_signalrcore_logging()
        self._loop = asyncio.get_running_loop()
        self._accounts = set(account_ids)
        self._stopping = False
        self._consumer = asyncio.create_task(self._consume(), name="tvbridge user hub events")
        self._supervisor = asyncio.create_task(self._supervise(), name="tvbridge user hub")

    async def stop(self) -> None:
        """Close the connection and stop; events not yet handled are dropped."""
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            # A connect stuck in signalrcore's thread gets its own timeout, then is cancelled.
            await asyncio.wait({self._supervisor}, timeout=self.connect_timeout_s + STOP_TIMEOUT_S)
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._consumer is not None:
            self._consumer.cancel()
            # However it ended: cancelled here, or killed by what no handler catches (a test's
            # FailpointCrash standing in for kill -9), the rest of the shutdown must still run.
            await asyncio.wait({self._consumer})
        self._supervisor = self._consumer = None

    async def set_accounts(self, account_ids: Iterable[int]) -> None:
        """Also follow ``account_ids`` (it adds; it never unsubscribes), now and after reconnects."""
        added = set(account_ids) - self._accounts
        self._accounts |= added
        await self._call_now([(method, [a]) for a in sorted(added) for method in PER_ACCOUNT])

    async def _call_now(self, calls: list[tuple[str, list[Any]]]) -> None:
        """Make ``calls`` (subscriptions) on the current connection, if there is one; never raises
        for the connection's sake: when it fails or is down, the next connect makes every
        subscription followed then (``_subscription_calls``)."""
        link = self._link
        if not calls or link is None or self._since is None:
            return
        what = ", ".join(f"{method}({', '.join(map(str, arguments))})" for method, arguments in calls)
        try:
            await self._subscribe(link, calls)
        except (HubConnectError, TimeoutError) as exc:
            # The supervisor notices a dead link on its own.
            log.warning("%s: %s failed (%s)", self.NAME, what, exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller itself is being cancelled: let it end
            # The link was torn down meanwhile, which cancels its pending calls: raising that
            # here would end the caller's own loop (Market Hub's follower) for no reason.
            log.warning("%s: %s: the connection closed before the answer", self.NAME, what)

    # -- the supervisor -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            healthy, planned = False, False
            try:
                token = await self._token()
                link = await self._connect(token)
            except Exception as exc:
                self._failed(f"{self.NAME} connect to {self.url} failed: {describe(exc)}")
            else:
                try:
                    healthy, planned = await self._serve(link)
                except Exception as exc:
                    self._failed(f"{self.NAME} connection to {self.url} failed: {describe(exc)}")
                finally:
                    if self._since is not None:
                        self._good_at = link.last_message_at
                    self._link, self._since = None, None
                    await self._teardown(link)
            if self._stopping:
                break
            failures = 0 if healthy else failures + 1
            if not planned:
                await self._wait_to_retry(failures)

    async def _serve(self, link: Link) -> tuple[bool, bool]:
        """Subscribe, announce, and watch ``link``; return (was healthy, rebuild was planned)."""
        self._link = link
        await self._subscribe(link, self._subscription_calls())
        started = time.monotonic()
        self._since = datetime.now(UTC)
        self._connections += 1
        log.info("%s connected; %s", self.NAME, self._following())
        self._queue.put_nowait(_Connected(self._good_at))
        reason, planned = await self._watch(link)
        if not self._stopping:
            log.warning("%s: %s; reconnecting", self.NAME, reason)
            self._last_error = reason
        healthy_after_s = min(self.backoff_s[1], HEALTHY_AFTER_S)
        return time.monotonic() - started >= healthy_after_s or planned, planned

    def _subscription_calls(self) -> list[tuple[str, list[Any]]]:
        """The hub calls that (re)make every subscription on a new connection."""
        calls: list[tuple[str, list[Any]]] = [("SubscribeAccounts", [])]
        return calls + [(method, [a]) for a in sorted(self._accounts) for method in PER_ACCOUNT]

    def _following(self) -> str:
        return f"following accounts {sorted(self._accounts)}"

    def _parse(self, target: str, arguments: list[Any]) -> list[Any]:
        """The items one hub event puts on the queue for ``on_event`` (raises when unreadable)."""
        parsed = wire.parse_user_event(target, arguments)
        return parsed if isinstance(parsed, list) else [] if parsed is None else [parsed]

    def _failed(self, reason: str) -> None:
        """Note why an attempt failed: a WARNING when the reason changes, then one a minute
        (a hub refusing for an hour, retried every second, must not fill the log)."""
        reason = redact(reason)
        now = time.monotonic()
        repeated = reason == self._last_error and now - self._warned_at < REPEAT_WARNING_S
        self._last_error = reason
        if repeated:
            log.debug("%s; retrying", reason)
        else:
            self._warned_at = now
            log.warning("%s; retrying", reason)

    def _backoff(self, failures: int, *, urgent: bool = False) -> float:
        """Seconds before the next attempt: exponential in ``failures``, jittered, within
        backoff_s, and at most URGENT_BACKOFF_S when ``urgent``."""
        low, high = self.backoff_s
        if urgent:
            low, high = min(low, URGENT_BACKOFF_S), min(high, URGENT_BACKOFF_S)
        return random.uniform(low, min(high, low * 2 ** min(failures, 30)))

    async def _wait_to_retry(self, failures: int) -> None:
        """Wait the backoff for ``failures``; cut it short to URGENT_BACKOFF_S as soon as
        ``urgent()`` (an order placed during the outage makes a long wait urgent)."""
        started = time.monotonic()
        wait = self._backoff(failures)
        capped = False
        while not self._stopping:
            if not capped and self._is_urgent():
                capped = True
                wait = min(wait, self._backoff(failures, urgent=True))
            left = started + wait - time.monotonic()
            if left <= 0:
                return
            await self._pause(min(left, URGENT_BACKOFF_S))

    def _is_urgent(self) -> bool:
        try:
            return bool(self._urgent())
        except Exception:  # noqa: BLE001 — when in doubt, hurry
            log.exception("%s: urgent() failed; retrying soon", self.NAME)
            return True

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _watch(self, link: Link) -> tuple[str, bool]:
        """Ping and watch ``link`` until it must be rebuilt; return (why, planned)."""
        now = time.monotonic()
        next_ping, next_token_check = now + self.keep_alive_s, now + self.token_check_s
        tick = max(0.01, min(0.5, self.silence_timeout_s / 10, self.keep_alive_s / 2))
        while not self._stopping:
            if link.closed.is_set() or not link.is_connected():
                return "the hub closed the connection", False
            if link.logout:
                return "the hub sent GatewayLogout; connecting with a fresh token", False
            now = time.monotonic()
            silent_for = now - link.last_message
            if silent_for > self.silence_timeout_s:
                return f"no message from the hub for {silent_for:.1f} s (silence_timeout_s)", False
            if now >= next_ping:
                next_ping = now + self.keep_alive_s
                await self._in_thread(lambda: link.send(PingMessage()), "ping")
            if now >= next_token_check:
                next_token_check = now + self.token_check_s
                if await self._token_changed(link):
                    return "the session token changed; connecting with the new one", True
            await self._pause(tick)
        return "stopped", True

    async def _token_changed(self, link: Link) -> bool:
        try:
            return await self._token() != link.token
        except Exception as exc:  # the current token may well still be good: keep going
            log.warning("%s: asking for the session token failed (%s)", self.NAME, redact(str(exc)))
            return False

    # -- one connection -----------------------------------------------------------------------

    async def _connect(self, token: str) -> Link:
        """Open a connection and wait for the handshake. Raises HubConnectError, TimeoutError."""
        guard_signalrcore_logging()
        connection = (
            HubConnectionBuilder()
            .with_url(
                hub_url(self.url, token),
                options={"skip_negotiation": True, "transport": HttpTransportType.web_sockets},
            )
            .build()
        )
        link = Link(connection, token)
        self._wire(link)
        try:
            await self._in_thread(connection.start, "connect")
            deadline = time.monotonic() + self.connect_timeout_s
            while not link.opened.is_set():
                if connection.transport is None or connection.transport.is_disconnected():
                    raise HubConnectError("the hub refused the handshake")
                if time.monotonic() > deadline:
                    raise HubConnectError(f"no handshake answer within {self.connect_timeout_s} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(link.opened.wait(), 0.05)
        except BaseException:
            await self._teardown(link)
            raise
        return link

    def _wire(self, link: Link) -> None:
        """Attach callbacks; each runs on signalrcore's thread and only posts to the loop."""
        connection = link.connection
        handle_messages = connection.on_message

        def on_message(messages: list[Any]) -> None:
            link.touch()
            try:
                handle_messages(messages)
            except Exception:  # a raising handler would end signalrcore's reader (§2.4)
                log.exception("%s: signalrcore failed on a message; continuing", self.NAME)

        connection.on_message = on_message  # start() reads it

        def on_open() -> None:
            link.touch()
            self._post(link.opened.set)

        connection.on_open(on_open)
        connection.on_close(lambda: self._post(self._closed, link))
        connection.on_error(lambda message: self._post(self._completed, link, message))
        for target in (*self.TARGETS, LOGOUT):
            connection.on(target, _Handler(self, link, target))

    def _post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the event loop, from any thread."""
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the hub is gone
            self._loop.call_soon_threadsafe(callback, *args)

    def _closed(self, link: Link) -> None:
        link.closed.set()
        self._wake.set()

    def _completed(self, link: Link, message: Any) -> None:
        """A Completion arrived (``error`` None on success)."""
        future = link.invocations.pop(str(getattr(message, "invocation_id", "")), None)
        if future is not None and not future.done():
            future.set_result(getattr(message, "error", None) or None)

    def _on_hub_event(self, link: Link, target: str, arguments: list[Any]) -> None:
        """On the loop: parse an event and queue it for ``on_event``."""
        if target == LOGOUT and link is self._link:
            link.logout = True
            self._wake.set()
        if target in self.TARGETS:
            self._last_event_at = datetime.now(UTC)
        try:
            events = self._parse(target, arguments)
        except Exception:
            self._handler_errors += 1
            log.exception("%s: %s could not be read; reconciliation will catch up", self.NAME, target)
            return
        for event in events:
            self._queue.put_nowait(event)

    async def _consume(self) -> None:
        """Hand queued events to ``on_event`` one at a time; a failure never stops the queue."""
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, _Connected):
                    await self._on_connected(item.previous_good_at)
                else:
                    await self._on_event(item)
            except Exception:
                self._handler_errors += 1
                what = "on_connected" if isinstance(item, _Connected) else f"on_event({type(item).__name__})"
                log.exception("%s: %s failed; the hub carries on", self.NAME, what)

    async def _subscribe(self, link: Link, calls: list[tuple[str, list[Any]]]) -> None:
        """Invoke the calls and wait for their Completions (``connect_timeout_s`` in all).

        An error Completion is logged (the connection stays); no answer raises TimeoutError.
        """
        assert self._loop is not None
        pending: dict[str, asyncio.Future[str | None]] = {}
        for _ in calls:
            invocation_id = str(uuid.uuid4())
            pending[invocation_id] = link.invocations[invocation_id] = self._loop.create_future()

        def send_all() -> None:
            with link.send_lock:
                for invocation_id, (method, arguments) in zip(pending, calls, strict=True):
                    on_done = _Completion(self, link, invocation_id)
                    link.connection.invoke(
                        method, arguments, on_invocation=on_done, invocation_id=invocation_id
                    )

        await self._in_thread(send_all, "subscribe")
        errors = await asyncio.wait_for(asyncio.gather(*pending.values()), self.connect_timeout_s)
        for (method, arguments), error in zip(calls, errors, strict=True):
            if error:
                self._last_error = f"{self.NAME} {method}({', '.join(map(str, arguments))}) failed: {error}"
                log.error("%s; events for it will be missing until it is fixed", self._last_error)

    async def _teardown(self, link: Link) -> None:
        """Stop signalrcore's connection without ever blocking the loop."""
        link.abort_socket()
        with contextlib.suppress(Exception):
            await self._in_thread(link.connection.stop, "stop", timeout_s=STOP_TIMEOUT_S)
        link.close_socket()
        for future in link.invocations.values():
            future.cancel()

    async def _in_thread(self, call: Callable[[], T], what: str, *, timeout_s: float | None = None) -> T:
        """Run a blocking signalrcore call on a daemon thread; raise TimeoutError after the wait.

        Daemon threads, not the default executor: a call stuck on a dead socket must never hold
        up the loop's shutdown.
        """
        assert self._loop is not None
        future: asyncio.Future[T] = self._loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def run() -> None:
            try:
                result = call()
            except BaseException as exc:
                self._post(settle, None, exc)
            else:
                self._post(settle, result, None)

        threading.Thread(target=run, name=f"tvbridge {self.NAME} {what}", daemon=True).start()
        return await asyncio.wait_for(future, timeout_s or self.connect_timeout_s)


class _Handler:
    """signalrcore's handler for one event target: posts to the loop and never raises."""

    def __init__(self, hub: UserHub, link: Link, target: str) -> None:
        self.hub, self.link, self.target = hub, link, target

    def __call__(self, arguments: Any) -> None:
        try:
            listed = arguments if isinstance(arguments, list) else [arguments]
            self.hub._post(self.hub._on_hub_event, self.link, self.target, listed)
        except Exception:
            log.exception("%s: %s could not be handed over", self.hub.NAME, self.target)


class _Completion:
    """signalrcore's ``on_invocation`` for one call: a void Completion means success."""

    def __init__(self, hub: UserHub, link: Link, invocation_id: str) -> None:
        self.hub, self.link, self.invocation_id = hub, link, invocation_id

    def __call__(self, message: Any) -> None:
        done = _Done(self.invocation_id)
        self.hub._post(self.hub._completed, self.link, done)


@dataclass(frozen=True)
class _Done:
    invocation_id: str
    error: str | None = None
