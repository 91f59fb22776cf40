"""A local notification target for tests: Apprise's ``json://127.0.0.1:PORT/path`` posts land here.

Apprise's plain JSON target (apprise/plugins/custom_json.py) POSTs one JSON object per
notification: ``{"version": "1.0", "title": …, "message": …, "type": "info"|"success"|"warning"|
"failure", "attachments": []}``. ``Receiver`` is a threaded HTTP server on 127.0.0.1 (port chosen
by the system) that keeps each one, and can be told to answer 500 (``fail``) or to hang without
answering until told otherwise or stopped (``hang``), so a test sees a failing or a dead target.

Use the ``notify_receiver`` fixture (import it into a conftest.py, or into the test module)::

    from tests.notify_receiver import Receiver, notify_receiver  # noqa: F401

    async def test_x(tmp_path: Path, notify_receiver: Receiver) -> None:
        settings = with_notify(make_settings(tmp_path), notify_receiver.url)  # tests/e2e/conftest.py's
        async with running(settings, tmp_path) as env:
            ...  # the simulator's fault switch that raises the condition
        [message] = await notify_receiver.wait_for(1)
        assert "MNQ" in message.body

A port nobody listens on (a target that refuses) is ``tests.helpers.free_port()``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from app.config import NotifySettings, Settings
from tests.helpers import eventually

Mode = Literal["ok", "fail", "hang"]


@dataclass(frozen=True)
class Message:
    """One notification received: Apprise's JSON payload and the path it was posted to."""

    path: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.payload.get("title", ""))

    @property
    def body(self) -> str:
        """Apprise's ``message`` field."""
        return str(self.payload.get("message", ""))

    @property
    def type(self) -> str:
        """Apprise's notify type: ``info``, ``success``, ``warning`` or ``failure``."""
        return str(self.payload.get("type", ""))

    @property
    def text(self) -> str:
        """Title and body, for "no secret anywhere in it" checks."""
        return f"{self.title}\n{self.body}"


class Receiver:
    """A JSON notification target on 127.0.0.1; ``start()``/``stop()`` or the fixture.

    ``mode``: ``"ok"`` answers 200 and keeps the message; ``"fail"`` answers 500 (the message is
    counted in ``attempts`` but not kept); ``"hang"`` keeps the request open without an answer
    until the mode changes or the receiver stops (``hanging`` counts those waiting now).
    """

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.messages: list[Message] = []
        self.attempts = 0  # every POST received, whatever was answered
        self.hanging = 0  # requests held open right now
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the receiver first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Apprise URL of this receiver: ``json://127.0.0.1:PORT/``."""
        return f"json://127.0.0.1:{self.port}/"

    def url_for(self, path: str) -> str:
        """The Apprise URL posting to ``path`` here, e.g. ``url_for("phone")``."""
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def set_mode(self, mode: Mode) -> None:
        """Answer from now on with ``mode``; leaving ``hang`` lets the held requests go (500)."""
        with self._lock:
            self.mode = mode
            self._released.notify_all()

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"raw": raw.decode("utf-8", "replace")}
                status = receiver._answer(Message(self.path, payload if isinstance(payload, dict) else {}))
                if status is None:
                    return  # stopped while hanging: no answer at all
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet: the tests read the messages, not an access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="notify-receiver", daemon=True
        )
        self._thread.start()
        return self

    def _answer(self, message: Message) -> int | None:
        with self._lock:
            self.attempts += 1
            if self.mode == "hang":
                self.hanging += 1
                while self.mode == "hang" and not self._stopping:
                    self._released.wait()
                self.hanging -= 1
                if self._stopping:
                    return None
                return 500
            if self.mode == "fail":
                return 500
            self.messages.append(message)
            return 200

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._released.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def received(self) -> list[Message]:
        """The messages kept so far, oldest first (a copy)."""
        with self._lock:
            return list(self.messages)

    async def wait_for(self, count: int, *, timeout_s: float = 10.0) -> list[Message]:
        """Wait (with ``eventually``) until at least ``count`` messages arrived; return them all."""

        async def arrived() -> list[Message]:
            got = self.received()
            assert len(got) >= count, f"{len(got)} of {count} notifications received: {got}"
            return got

        return await eventually(arrived, timeout_s=timeout_s)

    async def wait_for_attempts(self, count: int, *, timeout_s: float = 10.0) -> int:
        """Wait until at least ``count`` POSTs reached the receiver (whatever it answered)."""

        async def reached() -> int:
            assert self.attempts >= count, f"{self.attempts} of {count} posts received"
            return self.attempts

        return await eventually(reached, timeout_s=timeout_s)


def with_notify(settings: Settings, *urls: str, **notify: Any) -> Settings:
    """``settings`` with ``[notify] urls`` set (and any other ``[notify]`` setting, e.g.
    ``level="info"``, ``fills=True``, ``dedupe_s=0``); the bridge started on them sends there."""
    settings.notify = NotifySettings.model_validate({"urls": list(urls), **notify})
    return settings


@pytest.fixture
def notify_receiver() -> Iterator[Receiver]:
    """A started Receiver, stopped after the test."""
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
