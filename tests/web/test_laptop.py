"""Living on a laptop: kept awake while serving (never at the cost of the bridge), and on Windows a
console close stops the bridge as Ctrl-C does and waits for the stop to finish."""

from __future__ import annotations

import logging
import sys
import threading
import types
from typing import Any

import pytest

from app.web.console_close import CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, stop_handler
from app.web.keep_awake import keep_awake

CTRL_C_EVENT = 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's D-Bus inhibitors")
def test_keep_awake_without_any_way_to_do_it_warns_once_and_runs_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # a Linux without a desktop session
    with keep_awake(True) as method:
        ran = True
    assert ran and method is None
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("cannot keep this computer awake (no method worked here; tried ")
    assert "[server] keep_awake = false" in warning


def test_keep_awake_survives_a_broken_library_and_is_not_tried_when_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(**kwargs: Any) -> Any:
        calls.append("running")
        raise RuntimeError("D-Bus exploded")

    import wakepy

    monkeypatch.setattr(wakepy, "keep", types.SimpleNamespace(running=broken))
    with keep_awake(False) as off:
        pass
    assert off is None and calls == []
    with keep_awake(True) as method:
        pass
    assert method is None and calls == ["running"]
    assert "cannot keep this computer awake (RuntimeError: D-Bus exploded)" in caplog.text


def test_a_console_close_stops_like_ctrl_c_and_waits_until_the_stop_is_done() -> None:
    stopped = threading.Event()
    asked: list[str] = []

    def stop() -> None:
        asked.append("stop")
        threading.Timer(0.05, stopped.set).start()  # the shutdown finishing on the main thread

    handle = stop_handler(stop, stopped)

    assert handle(CTRL_C_EVENT) is False and asked == []  # Python's own handler: SIGINT
    assert handle(CTRL_CLOSE_EVENT) is True  # returned only once the stop was done
    assert asked == ["stop"] and stopped.is_set()
    assert handle(CTRL_LOGOFF_EVENT) is True and asked == ["stop", "stop"]  # serve's handler logs a 2nd
