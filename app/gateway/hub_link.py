"""The User Hub's signalrcore connection, seen from the event loop: one ``Link`` per connection,
the hub URL with its token, and keeping the token out of signalrcore's logs (§2.4: it logs the
token at DEBUG). The supervisor that owns the links is app/gateway/hub.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from signalrcore.hub.base_hub_connection import BaseHubConnection

SIGNALRCORE_LOGGER = "SignalRCoreClient"  # the one logger signalrcore writes to


class RedactTokens(logging.Filter):
    """Blank access tokens (``access_token=…``, JWTs, bearer values) in a record's text."""

    _patterns = (
        re.compile(r"(access_token=)[^&\s\"']+"),
        re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE),
        re.compile(r"()eyJ[\w-]*\.[\w-]+\.[\w-]*"),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redact(text: str) -> str:
    """``text`` with every access token replaced by ``***``."""
    for pattern in RedactTokens._patterns:
        text = pattern.sub(r"\1***", text)
    return text


def guard_signalrcore_logging() -> None:
    """Keep signalrcore's logger above DEBUG and filter tokens out of what it writes."""
    signalrcore_log = logging.getLogger(SIGNALRCORE_LOGGER)
    if signalrcore_log.level < logging.INFO:  # NOTSET or DEBUG: DEBUG lines carry the token
        signalrcore_log.setLevel(logging.INFO)
    if not any(isinstance(f, RedactTokens) for f in signalrcore_log.filters):
        signalrcore_log.addFilter(RedactTokens())


def hub_url(url: str, token: str) -> str:
    """``<url>?access_token=<token>`` with ws/wss for http/https (§7.1: the token rides in the URL)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "access_token"] + [("access_token", token)]
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))


class Link:
    """One signalrcore connection and what its threads reported about it."""

    def __init__(self, connection: BaseHubConnection, token: str) -> None:
        self.connection = connection
        self.token = token
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self.logout = False
        self.last_message = time.monotonic()  # written by signalrcore's thread: any message
        self.last_message_at = datetime.now(UTC)  # the same moment, wall clock (UTC)
        self.invocations: dict[str, asyncio.Future[str | None]] = {}
        # signalrcore's send is a bare sock.sendall: two threads sending at once (a Ping and a
        # subscription) could interleave their frames' bytes. Every send of ours holds this.
        self.send_lock = threading.Lock()

    def send(self, message: object) -> None:
        """Send one hub message (a Ping) on signalrcore's transport, holding ``send_lock``."""
        with self.send_lock:
            self.connection.transport.send(message)

    def touch(self) -> None:
        self.last_message = time.monotonic()
        self.last_message_at = datetime.now(UTC)

    def is_connected(self) -> bool:
        transport = self.connection.transport
        return transport is not None and transport.is_connected()

    def abort_socket(self) -> None:
        """Shut the socket down: wakes signalrcore's reader, which close() alone does not."""
        client = getattr(self.connection.transport, "_client", None)
        sock = getattr(client, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close_socket(self) -> None:
        client = getattr(self.connection.transport, "_client", None)
        sock = getattr(client, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.close()


def describe(exc: BaseException) -> str:
    """A one-line, token-free account of why a connect failed."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    first_line = (str(exc).strip().splitlines() or [""])[0]
    if first_line.startswith("Handshake failed:"):  # signalrcore quotes the HTTP status line
        first_line = "the hub answered " + first_line.removeprefix("Handshake failed:").strip()
    return redact(f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__)
