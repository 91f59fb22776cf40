"""Named places where a crash test stops the process as ``kill -9`` would.

Inert unless the environment names the point (one dictionary look-up per point reached).
``TVBRIDGE_FAILPOINTS="managed.leg_sent"`` kills the process (SIGKILL: no cleanup, no journal
flush, no shutdown report) the first time ``failpoint("managed.leg_sent")`` is reached;
``name@3`` the third time; several points are separated by commas. In-process tests use
``arm(name)`` instead, which raises FailpointCrash (a BaseException, so no ``except Exception``
of the product swallows it) at that point. Below every other package: anything may import it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "TVBRIDGE_FAILPOINTS"


class FailpointCrash(BaseException):
    """Raised at an armed failpoint in-process: the test's stand-in for a killed process.

    Not a BridgeError: a BaseException, so that no `except Exception` handler swallows the crash."""


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("@")
        points[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return points


_killing: dict[str, int] = _parse(os.environ.get(ENV, ""))
_raising: dict[str, int] = {}
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Crash here when a test armed ``name`` (see the module docstring); else do nothing."""
    if not _killing and not _raising:
        return
    if name not in _killing and name not in _raising:
        return
    _hits[name] += 1
    if _killing.get(name) == _hits[name]:
        sys.stderr.write(f"failpoint {name}: killing the process\n")
        sys.stderr.flush()
        if hasattr(signal, "SIGKILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # Windows: no SIGKILL, the nearest thing
    if _raising.get(name) == _hits[name]:
        raise FailpointCrash(name)


@contextmanager
def arm(name: str, nth: int = 1) -> Iterator[None]:
    """Within the block, the ``nth`` time ``failpoint(name)`` is reached it raises FailpointCrash."""
    _raising[name] = nth
    _hits[name] = 0
    try:
        yield
    finally:
        _raising.pop(name, None)
        _hits.pop(name, None)
