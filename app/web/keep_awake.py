"""Keep the computer from sleeping while the bridge runs (``[server] keep_awake``).

A laptop that sleeps misses every alert that arrives meanwhile (an entry as much as an exit) and
stops watching the positions it holds, so the computer is kept awake for as long as ``serve``
runs, not only while positions are open. The screen may still turn off and lock (wakepy's
``keep.running``: Windows SetThreadExecutionState, macOS ``caffeinate``, a D-Bus inhibitor on a
Linux desktop). Closing a laptop's lid or choosing Sleep still sleeps. Where nothing can keep the
computer awake (a Linux server without a desktop session, wakepy missing) the bridge says so once
and runs on: this never stops the bridge.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def keep_awake(enabled: bool) -> Iterator[str | None]:
    """Keep the computer awake inside the block; yields the method used (e.g.
    "SetThreadExecutionState", "caffeinate"), or None when off or not possible. Never raises
    (but for the block's own exceptions)."""
    if not enabled:
        yield None
        return
    mode = _enter()
    try:
        yield None if mode is None else _method(mode)
    finally:
        if mode is not None:
            try:
                mode.__exit__(None, None, None)
            except Exception:  # the bridge is stopping anyway: say it, go on
                log.warning("keep awake: could not let the computer sleep again", exc_info=True)


def _enter() -> Any:
    """The active wakepy Mode, or None (said in a warning)."""
    try:
        from wakepy import keep

        mode = keep.running(on_fail="pass")
        mode.__enter__()
    except Exception as exc:  # an ImportError, a broken D-Bus: never a reason to stop
        _cannot(f"{type(exc).__name__}: {exc}")
        return None
    if not mode.active:
        # The methods of this platform that were tried (another platform's are not news).
        tried = mode.result.query(fail_stages=("REQUIREMENTS", "ACTIVATION"))
        log.debug("keep awake: wakepy says\n%s", mode.result.get_failure_text())
        names = ", ".join(m.method_name for m in tried) or "none for this system"
        _cannot(f"no method worked here; tried {names}")
        with contextlib.suppress(Exception):
            mode.__exit__(None, None, None)
        return None
    log.info(
        "keeping this computer awake while the bridge runs (%s); [server] keep_awake = false turns this off",
        _method(mode),
    )
    return mode


def _method(mode: Any) -> str | None:
    method = mode.active_method
    return None if method is None else str(method)


def _cannot(why: str) -> None:
    log.warning(
        "cannot keep this computer awake (%s): if it sleeps, alerts are missed and open positions "
        "go unwatched; set its power settings to never sleep, or [server] keep_awake = false to "
        "not try",
        why,
    )
