"""Windows: closing the console window, logging off or shutting down stops the bridge as Ctrl-C does.

Windows sends no signal for these: it calls a console control handler on a thread of its own and
ends the process as soon as the handler returns, or after about 5 s (close, logoff) to 20 s
(shutdown) whatever it does. Python's own handler returns at once (Ctrl-C and Ctrl-Break become
SIGINT and SIGBREAK), so without this one the window's close button skipped the graceful stop and
``engine.on_shutdown``. This handler asks for the same stop as Ctrl-C, then holds Windows off
until the stop has finished (the alerts in flight, the tunnel client, the shutdown flatten, the
journal's "bridge.shutdown" event), within the time Windows gives. Elsewhere it does nothing:
closing a terminal on macOS or Linux sends SIGHUP, which app/web/serve.py handles.

Windows calls a console program's handler for logoff and shutdown only while it has loaded no
window library (user32.dll); tvbridge loads none.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

CTRL_CLOSE_EVENT = 2
CTRL_LOGOFF_EVENT = 5
CTRL_SHUTDOWN_EVENT = 6
_NAMES = {CTRL_CLOSE_EVENT: "closed", CTRL_LOGOFF_EVENT: "logging off", CTRL_SHUTDOWN_EVENT: "shutting down"}
# Longer than Windows ever waits: the handler returns when the stop is done, or Windows ends it.
HOLD_S = 30.0
# Every handler ever installed stays referenced: Windows may still be running one (on its own
# thread) when the block that installed it ends, and a collected callback would crash the process.
_KEPT: list[object] = []


def stop_handler(stop: Callable[[], None], stopped: threading.Event) -> Callable[[int], bool]:
    """The handler's logic, apart from Windows (tested on any system): for a close, logoff or
    shutdown event, call ``stop`` and wait for ``stopped``; True means handled. Other events
    (Ctrl-C, Ctrl-Break) return False: Python's handler turns them into signals."""

    def handle(event: int) -> bool:
        what = _NAMES.get(event)
        if what is None:
            return False
        log.warning("the console is %s: stopping (Windows allows a few seconds)", what)
        stop()
        if not stopped.wait(HOLD_S):
            log.warning("the stop did not finish in %g s", HOLD_S)
        return True

    return handle


@contextlib.contextmanager
def stop_on_console_close(stop: Callable[[], None], stopped: threading.Event) -> Iterator[None]:
    """Inside the block, on Windows, a console close/logoff/shutdown calls ``stop`` (from another
    thread: it must be thread-safe) and waits for ``stopped`` to be set. A no-op elsewhere, and
    where no console is attached (a service, pythonw)."""
    if sys.platform != "win32":
        yield
        return
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    routine_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)
    handle = stop_handler(stop, stopped)
    routine = routine_type(lambda event: bool(handle(int(event))))
    _KEPT.append(routine)
    if not kernel32.SetConsoleCtrlHandler(routine, True):
        log.warning(
            "closing the console will not stop the bridge gracefully (SetConsoleCtrlHandler: "
            "error %d); stop it with Ctrl-C",
            ctypes.get_last_error(),
        )
        yield
        return
    try:
        yield
    finally:
        kernel32.SetConsoleCtrlHandler(routine, False)
