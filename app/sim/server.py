"""Serving the simulator: embedded in a running event loop (SimServer) or standalone (run_sim)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Generator
from pathlib import Path
from types import TracebackType

import uvicorn

from app.sim.hub import redact_uvicorn_logs
from app.sim.rest import create_sim_app
from app.sim.state import SimState
from app.sim.store import remove_state_file

STARTUP_TIMEOUT_S = 10.0


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class SimServer:
    """The simulator on a real socket, served as a task in the current event loop.

    ``async with SimServer() as sim: httpx.AsyncClient(base_url=sim.url)…``
    """

    def __init__(
        self,
        state: SimState | None = None,
        *,
        seed: int = 7,
        walk_interval_s: float | None = None,
        state_path: Path | None = None,
    ) -> None:
        """Serve ``state``, or a new SimState seeded with ``seed`` and kept in ``state_path``
        (None: in memory; both ignored with a state). Raises StateFileError when another
        simulator holds ``state_path``."""
        self.state = state if state is not None else SimState(seed=seed, state_path=state_path)
        self.walk_interval_s = walk_interval_s  # seconds between price steps; None = still
        self.port: int | None = None
        self._host = "127.0.0.1"
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._walk_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``. Raises RuntimeError before start()."""
        if self.port is None:
            raise RuntimeError("SimServer is not started; await start() first")
        return f"http://{self._host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind ``host:port`` (0 = an ephemeral port), serve, and start the price walk if set.

        Raises OSError when the port cannot be bound, RuntimeError when uvicorn fails to start.
        """
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are
        # TCP, and without it every answer waits ~40 ms for the client's delayed ACK (Nagle).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError:
            listener.close()
            raise
        self._host, self.port = host, listener.getsockname()[1]
        config = uvicorn.Config(
            create_sim_app(self.state),
            lifespan="off",
            # Leave logging alone: in-process, uvicorn's own config would re-level the bridge's
            # uvicorn loggers, and access_log=False here would empty the shared access logger.
            log_config=None,
            log_level=None,
            timeout_graceful_shutdown=1,
            # The live hub keeps alive with SignalR Pings only (reference/signalr.md §1.5);
            # signalrcore never answers WebSocket-level pings, so uvicorn's would drop it.
            ws_ping_interval=None,
            ws_ping_timeout=None,
        )
        redact_uvicorn_logs()
        config.access_log = False  # after configure_logging ran: quiet for this server only
        self._server = _EmbeddedServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[listener]))
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if self._serve_task.done() or asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise RuntimeError(f"simulator failed to start on {host}:{self.port}")
            await asyncio.sleep(0.01)
        if self.walk_interval_s is not None:
            self._walk_task = asyncio.create_task(self.state.run_price_walk(self.walk_interval_s))

    async def stop(self) -> None:
        """Stop the price walk and the server; in-flight requests get one second to finish."""
        if self._walk_task is not None:
            self._walk_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._walk_task
            self._walk_task = None
        if self._server is not None and self._serve_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._serve_task
        self._server = None
        self._serve_task = None
        self.state.close()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve_forever(
    host: str,
    port: int,
    seed: int,
    walk_interval_s: float | None,
    rate_limit: int,
    access_log: bool,
    state_path: Path | None,
    fault_control: bool,
    latency_s: float,
    extra_accounts: int,
) -> None:
    state = SimState(seed=seed, state_path=state_path)
    state.rate_limit.limit = rate_limit
    state.faults.latency_s = latency_s
    held = sum(a.name.startswith("SIM-EXTRA-") for a in state.accounts.values())  # a kept state file's
    state.add_practice_accounts(max(0, extra_accounts - held))
    redact_uvicorn_logs()
    server = uvicorn.Server(
        uvicorn.Config(
            create_sim_app(state, fault_control=fault_control),
            host=host,
            port=port,
            access_log=access_log,
            ws_ping_interval=None,  # SignalR Pings only, as in SimServer.start
            ws_ping_timeout=None,
        )
    )
    walk = asyncio.create_task(state.run_price_walk(walk_interval_s)) if walk_interval_s is not None else None
    try:
        await server.serve()
    finally:
        if walk is not None:
            walk.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await walk
        state.close()


def run_sim(
    host: str,
    port: int,
    seed: int,
    walk_interval_s: float | None = 1.0,
    *,
    rate_limit: int = 200,
    access_log: bool = True,
    state_path: Path | None = None,
    fresh: bool = False,
    fault_control: bool = False,
    latency_s: float = 0.0,
    extra_accounts: int = 0,
) -> None:
    """Serve the simulator until Ctrl-C (``tvbridge sim --port N``); blocks.

    ``seed`` fixes the price walk; ``walk_interval_s`` is the time between steps (None: prices
    move only when a test sets them); ``rate_limit`` is requests per 60 s per token (the live
    gateway's is 200, projectx-api.md §3; benchmarks raise it). ``state_path`` keeps orders,
    positions, balances and ids across restarts (None: in memory); ``fresh`` deletes it first.
    ``latency_s`` holds every REST answer that long after the call was performed (the crash
    tests' slow gateway). ``extra_accounts``: practice accounts SIM-EXTRA-1… beside the two
    built in (bench/fanout.py). ``fault_control`` serves the fault endpoint (control.py); it raises
    ValueError unless ``host`` is a loopback address. Raises StateFileError when another
    simulator holds the file.
    """
    if fault_control and not is_loopback(host):
        raise ValueError(
            f"--faults serves a fault control endpoint; it is refused on {host}, which is not a "
            "loopback address (use 127.0.0.1)"
        )
    if fresh and state_path is not None:
        remove_state_file(state_path)
    asyncio.run(
        _serve_forever(
            host,
            port,
            seed,
            walk_interval_s,
            rate_limit,
            access_log,
            state_path,
            fault_control,
            latency_s,
            extra_accounts,
        )
    )
