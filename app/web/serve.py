"""``tvbridge serve``: the pages' listener and the webhook listener in one process.

Two uvicorn servers on one event loop share the runtime: the pages and JSON API on
``server.host:port`` (127.0.0.1:8000, this computer only) and the webhook on
``server.webhook_host:webhook_port`` (127.0.0.1:8001), the only port a tunnel points at. Both
sockets are bound before anything else starts, so a port in use is one clear line. uvicorn's
proxy-header rewriting is off: the client address is taken only from the configured tunnel's
header (app/web/client.py). Ctrl-C, SIGTERM, SIGHUP (the terminal closed) or, on Windows, closing
the console window or logging off (app/web/console_close.py) stops both servers (alerts in flight
finish), then the runtime's shutdown runs (``engine.on_shutdown``); further signals meanwhile are
logged, not obeyed, so that a second Ctrl-C cannot cut a flatten in half. While it runs, the
computer is kept awake (``[server] keep_awake``, app/web/keep_awake.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Literal

import uvicorn

from app.config import Settings
from app.errors import ConfigError
from app.web import logsafe
from app.web.app import create_app, start_runtime, stop_runtime
from app.web.console_close import stop_on_console_close
from app.web.keep_awake import keep_awake
from app.web.webhook_app import create_webhook_app

log = logging.getLogger(__name__)

# SIGHUP: the terminal was closed; stop cleanly (and stop the tunnel client, which runs in its
# own process group so that the terminal's Ctrl-C does not kill it before the shutdown).
_SIGNALS = [signal.SIGINT, signal.SIGTERM] + (
    [signal.SIGBREAK] if sys.platform == "win32" else [signal.SIGHUP]  # type: ignore[attr-defined]
)


class _Server(uvicorn.Server):
    """A uvicorn server whose signals are handled by :func:`serve` for both servers at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int, what: str, setting: str) -> socket.socket:
    """A listening-ready TCP socket on ``host:port``. Raises ConfigError naming the setting."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        if sys.platform != "win32":  # on Windows SO_REUSEADDR would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} for the {what} ({exc.strerror or exc}): another "
            f"tvbridge or program uses it; stop it or set {setting}"
        ) from None
    return sock


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    webhook_host: str,
    webhook_port: int,
    tunnel: bool = False,
    out: Callable[[str], None] | None = None,
) -> int:
    """Run both listeners (and the tunnel client with ``tunnel``) until a signal; return the exit
    code. Raises ConfigError (port in use, tunnel client missing), GatewayError, JournalError."""
    logsafe.install()
    if tunnel:  # a missing tunnel client is said before anything starts (no gateway login)
        from app.web.tunnel_link import preflight

        preflight(settings)
    pages_socket = bind(host, port, "pages", "[server] port or serve --port")
    try:
        webhook_socket = bind(
            webhook_host, webhook_port, "webhook", "[server] webhook_port or serve --webhook-port"
        )
    except ConfigError:
        pages_socket.close()
        raise
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "the pages listen on %s:%d, reachable from other computers: they show your orders "
            "and control the kill switch; keep server.host = 127.0.0.1 unless you mean it",
            host,
            port,
        )
    try:
        runtime = await start_runtime(settings)
    except BaseException:
        pages_socket.close()
        webhook_socket.close()
        raise
    servers = [
        _Server(_config(create_app(settings, runtime), lifespan="on")),
        _Server(_config(create_webhook_app(runtime), lifespan="off")),
    ]
    # What the start built lives as long as the process. A full garbage collection walks every
    # object it tracks (about 100,000 here: 50-80 ms with the event loop stopped, the webhook's
    # p99); frozen, they are left out and a full collection walks only what came after.
    gc.collect()
    gc.freeze()
    # The handler stays until the runtime has shut down: a second Ctrl-C must not cut it short.
    stopped = threading.Event()  # set when the shutdown is done: a console close waits for it
    with _stop_on_signal(servers, stopped), keep_awake(settings.server.keep_awake):
        try:
            tasks = [
                asyncio.create_task(servers[0].serve(sockets=[pages_socket])),
                asyncio.create_task(servers[1].serve(sockets=[webhook_socket])),
            ]
            log.warning(
                "pages on http://%s:%d (this computer); webhook listener on http://%s:%d "
                "(POST /webhook/... only: point the tunnel here)",
                host,
                port,
                webhook_host,
                webhook_port,
            )
            try:
                if tunnel:
                    from app.web.tunnel_link import say, start_tunnel

                    runtime.tunnel = await start_tunnel(settings, runtime, out=out or say)
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for server in servers:
                    server.should_exit = True
                await asyncio.gather(*tasks, return_exceptions=True)
            return 0 if all(server.started for server in servers) else 1
        finally:
            try:
                if runtime.tunnel is not None:
                    await runtime.tunnel.stop()
            finally:
                try:
                    await stop_runtime(runtime)
                finally:
                    pages_socket.close()
                    webhook_socket.close()
                    stopped.set()


def _config(app: Any, *, lifespan: Literal["on", "off"]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="info",
        lifespan=lifespan,
        proxy_headers=False,
        # An open journal page holds a server-sent-event stream: do not wait on it to stop.
        timeout_graceful_shutdown=3,
    )


@contextlib.contextmanager
def _stop_on_signal(servers: list[_Server], stopped: threading.Event) -> Iterator[None]:
    """The first Ctrl-C / SIGTERM / SIGHUP (or console close on Windows) stops both servers;
    later ones while shutting down are logged. A console close waits for ``stopped``."""
    stopping = False

    def handle(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            log.warning("still stopping (finishing alerts in flight and the shutdown); please wait")
            return
        stopping = True
        log.warning("stopping: no new webhooks; alerts in flight finish first")
        for server in servers:
            server.should_exit = True

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        with stop_on_console_close(lambda: handle(signal.SIGTERM, None), stopped):
            yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
