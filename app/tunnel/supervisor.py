"""Run the tunnel client, follow its public URL, restart it when it dies.

The client's stdout and stderr are read line by line; the public URL and the edge connection are
taken from them (app/tunnel/clients.py). A client that exits, or gives no URL within
``tunnel.start_timeout_s``, is started again after a delay that doubles from
``restart_delay_s`` to ``restart_max_delay_s``. ``stop()`` never leaves the child running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from app.config import TunnelSettings
from app.redact import mask_webhook_tokens
from app.tunnel.clients import Launch, OutputParser, exit_hint, find_executable, launch, program
from app.tunnel.lifetime import adopt, child_options

log = logging.getLogger(__name__)

Status = Literal["starting", "up", "restarting", "stopped"]
OUTPUT_LINES = 30  # kept for error messages
STABLE_S = 60.0  # up this long: the next restart waits restart_delay_s again
STOP_TIMEOUT_S = 5.0  # after terminate, wait this long before killing the client
_TIMES = ("up_since", "checked_at")


@dataclass(frozen=True)
class TunnelState:
    """The tunnel as the pages show it. Times are UTC; ``last_error`` never holds a secret.

    ``previous_url`` is the public URL before the current one when it changed (the trader must
    then update the webhook URL in every TradingView alert). ``reachable`` is the last
    reachability check's outcome (None: not checked yet).
    """

    kind: str
    public_url: str | None = None
    status: Status = "stopped"
    up_since: datetime | None = None
    restarts: int = 0
    last_error: str | None = None
    previous_url: str | None = None
    reachable: bool | None = None
    checked_at: datetime | None = None
    check_message: str | None = None

    @property
    def url_changed(self) -> bool:
        return self.previous_url is not None and self.previous_url != self.public_url

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values: times as ISO 8601 UTC text."""
        data = asdict(self)
        for key in _TIMES:
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunnelState:
        """The inverse of :meth:`as_json`; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in _TIMES:
            if known.get(key):
                known[key] = datetime.fromisoformat(known[key])
        return cls(**known)


Callback = Callable[[TunnelState], Awaitable[None]]


class TunnelSupervisor:
    """Keep ``tunnel.kind``'s client running, pointed at ``local_url`` (the webhook listener).

    ``public_url``: ``server.public_url`` (a named tunnel's hostname, an ngrok reserved domain).
    ``last_url``: the public URL of the previous run (from the journal), so that a change from it
    shows as ``previous_url``. ``on_url`` is awaited with the state each time the tunnel comes up
    (a new start or restart), one call at a time: a newer URL cancels a call still running for
    an older one. ``on_change`` is awaited with the newest state after any change (coalesced, in
    order), and once more with status "stopped" inside ``stop()``.
    """

    stop_timeout_s = STOP_TIMEOUT_S

    def __init__(
        self,
        tunnel: TunnelSettings,
        local_url: str,
        *,
        public_url: str | None = None,
        last_url: str | None = None,
        on_url: Callback | None = None,
        on_change: Callback | None = None,
    ) -> None:
        self.tunnel = tunnel
        self.local_url = local_url
        self.public_url = public_url
        self._on_url = on_url
        self._on_change = on_change
        self._state = TunnelState(kind=tunnel.kind)
        self._last_url = last_url
        self._lines: deque[str] = deque(maxlen=OUTPUT_LINES)
        self._launch: Launch | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._url_task: asyncio.Task[None] | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._up = asyncio.Event()
        self._seen_url: str | None = None
        self._connected = False
        self._run_error: str | None = None
        self._up_at = 0.0

    @property
    def state(self) -> TunnelState:
        return self._state

    @property
    def output(self) -> list[str]:
        """The client's last lines of output (tokens masked), oldest first."""
        return list(self._lines)

    async def start(self) -> None:
        """Start the client and return; it runs (and restarts) until :meth:`stop`.

        Raises TunnelMissing (with the install commands) when the client is not installed, and
        ConfigError when a setting it needs is missing; nothing is started then.
        """
        executable = find_executable(self.tunnel)
        self._launch = launch(self.tunnel, executable, self.local_url, self.public_url)
        self._set(status="starting")
        self._notifier = asyncio.create_task(self._notify_forever(), name="tunnel-notify")
        self._task = asyncio.create_task(self._run(), name="tunnel-supervisor")

    async def stop(self) -> None:
        """Stop the client: terminate, wait up to ``stop_timeout_s``, then kill. Safe to call
        twice, and safe to cancel (a cancelled stop kills the client at once)."""
        self._stopping.set()
        try:
            if self._process is not None:
                await self._terminate(self._process)
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
        finally:
            if self._process is not None and self._process.returncode is None:
                _kill(self._process)
            for task in (self._url_task, self._notifier, self._task):
                if task is not None:
                    task.cancel()
        if self._state.status != "stopped":
            self._set(status="stopped", up_since=None)
            if self._on_change is not None:
                await self._call(self._on_change, "on_change")

    def record_check(self, reachable: bool, message: str, at: datetime | None = None) -> None:
        """Keep a reachability check's outcome in the state (``at``: UTC, default now)."""
        self._set(reachable=reachable, check_message=message, checked_at=at or datetime.now(UTC))

    # -- the client's runs -----------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.tunnel.restart_delay_s
        while True:
            self._up_at = 0.0
            try:
                reason = await self._run_once()
            except OSError as exc:  # not executable, permission denied
                reason = f"could not be started ({exc})"
            if self._stopping.is_set():
                return
            if self._up_at and time.monotonic() - self._up_at >= STABLE_S:
                delay = self.tunnel.restart_delay_s
            self._restarted(reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            delay = min(delay * 2, self.tunnel.restart_max_delay_s)
            self._set(status="starting")

    async def _run_once(self) -> str:
        """Run the client until it exits (or gives no URL in time); return what happened."""
        assert self._launch is not None
        self._seen_url, self._connected, self._run_error = None, False, None
        self._lines.clear()  # the lines of this run explain its end
        self._up.clear()
        process = await asyncio.create_subprocess_exec(
            *self._launch.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self._launch.env},
            **child_options(),  # its own process group; on Linux it dies with the bridge
        )
        adopt(process.pid)  # Windows: it dies with the bridge (a job object)
        self._process = process
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.create_task(self._read(process.stdout, OutputParser(self.tunnel.kind))),
            asyncio.create_task(self._read(process.stderr, OutputParser(self.tunnel.kind))),
        ]
        exited = asyncio.create_task(process.wait())
        up = asyncio.create_task(self._up.wait())
        try:
            if self._stopping.is_set():
                return "stopped"
            timeout = self.tunnel.start_timeout_s
            await asyncio.wait({exited, up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if self._up.is_set():
                code = await exited
                return f"exited with code {code}"
            if exited.done():
                return f"exited with code {exited.result()} before the tunnel was up"
            return f"gave no public URL within {timeout:g} s"
        finally:
            up.cancel()
            await self._terminate(process)
            # The output ends with the process; a grandchild holding the pipes must not hang us.
            _, pending = await asyncio.wait(readers, timeout=1.0)
            for task in pending:
                task.cancel()
            self._process = None

    async def _read(self, stream: asyncio.StreamReader, parser: OutputParser) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream's limit: skipped
                continue
            if not raw:
                return
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            shown = self._mask(text)
            self._lines.append(shown)
            seen = parser.feed(text)
            if seen.error:
                self._run_error = self._mask(seen.error)
                log.warning("%s: %s", program(self.tunnel.kind), self._run_error)
                self._set(last_error=self._run_error)
            if seen.url:
                self._seen_url = seen.url
            self._connected = self._connected or seen.connected
            self._maybe_up()

    def _maybe_up(self) -> None:
        assert self._launch is not None
        url = self._seen_url or self._launch.public_url
        if not (url and self._connected) or self._up.is_set():
            return
        self._up.set()
        self._up_at = time.monotonic()
        previous = self._state.previous_url
        if self._last_url and self._last_url != url:
            previous = self._last_url
        self._last_url = url
        self._set(status="up", public_url=url, up_since=datetime.now(UTC), previous_url=previous)
        log.info("tunnel up: %s -> %s", url, self.local_url)
        if self._on_url is not None:
            if self._url_task is not None:
                self._url_task.cancel()  # its URL is gone
            self._url_task = asyncio.create_task(self._call(self._on_url, "on_url"))

    def _restarted(self, reason: str, delay: float) -> None:
        message = f"{program(self.tunnel.kind)} {reason}"
        if self._run_error:
            message += f": {self._run_error}"
        if not self._up_at:
            message += f"; {exit_hint(self.tunnel.kind)}"
        self._set(status="restarting", restarts=self._state.restarts + 1, last_error=message)
        tail = "\n".join(f"  | {line}" for line in list(self._lines)[-10:])
        log.warning(
            "tunnel: %s; starting it again in %g s (restart %d). Its last output:\n%s",
            message,
            delay,
            self._state.restarts,
            tail or "  (none)",
        )

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        try:
            process.terminate()
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(process.wait(), self.stop_timeout_s)
        except TimeoutError:
            name = program(self.tunnel.kind)
            log.warning("tunnel: %s did not stop within %g s: killed", name, self.stop_timeout_s)
            _kill(process)
            await process.wait()
        except BaseException:  # cancelled (a second Ctrl-C): never leave the child running
            _kill(process)
            raise

    # -- state and callbacks ---------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        self._state = replace(self._state, **changes)
        self._changed.set()

    async def _notify_forever(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._on_change is not None:
                await self._call(self._on_change, "on_change")

    async def _call(self, callback: Callback, name: str) -> None:
        try:
            await callback(self._state)
        except asyncio.CancelledError:
            raise
        except Exception:  # a listener's fault must not stop the tunnel
            log.exception("tunnel: the %s listener failed", name)

    def _mask(self, text: str) -> str:
        token = self.tunnel.token.get_secret_value()
        if token:
            text = text.replace(token, "***")
        return mask_webhook_tokens(text)


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
