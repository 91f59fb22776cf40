"""The tunnel client dies with the bridge, even when the bridge is killed.

A graceful stop (Ctrl-C, SIGTERM, SIGHUP, a console close on Windows) stops the client in
``TunnelSupervisor.stop()``. A bridge killed outright (Task Manager's End task, ``kill -9``, a
crash of Python) runs no code at all; the client, in a process group of its own, would go on
forwarding TradingView's alerts to a dead port, and a restarted bridge would start a second one.
So the operating system is asked to end the client with the bridge:

- Linux: the parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``), set in the child
  between fork and exec. The kernel sends it when the thread that started the client ends,
  which is the event loop's thread: the supervisor starts clients only from there.
- Windows: a job object that kills its processes when its last handle closes; the bridge holds
  the only handle, which Windows closes when the bridge ends however it ends.
- macOS has neither: a client outlives a killed bridge there (the graceful stop still ends it).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Windows: JOBOBJECT_EXTENDED_LIMIT_INFORMATION's flag, and the access AssignProcessToJobObject needs.
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
PROCESS_SET_QUOTA = 0x0100
PROCESS_TERMINATE = 0x0001

_job: int | None = None  # Windows: the job's handle, open for as long as this process runs


def child_options() -> dict[str, Any]:
    """Keywords for ``asyncio.create_subprocess_exec``: the client in its own process group (the
    terminal's Ctrl-C must not reach it: only ``stop()`` ends it), and on Linux the
    parent-death signal."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        die = _die_with_parent()
        if die is not None:
            options["preexec_fn"] = die
    return options


def adopt(pid: int) -> None:
    """Windows: put the started client (process ``pid``) in the bridge's kill-on-close job. Does
    nothing elsewhere. Never raises: a failure is logged (the graceful stop still ends the client)."""
    if sys.platform != "win32":
        return
    try:
        _assign(pid)
    except OSError as exc:
        log.warning(
            "tunnel: the client may outlive a killed bridge (job object: %s); a graceful stop still ends it",
            exc,
        )


def _die_with_parent() -> Callable[[], None] | None:
    """The function run in the child before exec. Everything it needs is looked up here, in the
    parent: between fork and exec only the system call itself runs."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        log.warning("tunnel: the client may outlive a killed bridge (no prctl)")
        return None
    parent = os.getpid()
    sig = int(signal.SIGTERM)

    def die() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the bridge died before the line above: no signal will come
            os._exit(1)

    return die


def _assign(pid: int) -> None:
    """Windows only (the ctypes names below exist only there). Raises OSError."""
    if sys.platform != "win32":
        return
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    kernel32.SetInformationJobObject.argtypes = [
        wintypes.HANDLE,
        ctypes.c_int,
        ctypes.c_void_p,
        wintypes.DWORD,
    ]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    global _job
    if _job is None:
        job = kernel32.CreateJobObjectW(None, None)  # not inheritable: only this process holds it
        if not job:
            raise ctypes.WinError(ctypes.get_last_error())
        info = _ExtendedLimits()
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if not kernel32.SetInformationJobObject(
            job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, ctypes.byref(info), ctypes.sizeof(info)
        ):
            error = ctypes.get_last_error()
            kernel32.CloseHandle(job)
            raise ctypes.WinError(error)
        _job = job  # never closed: Windows closes it when this process ends, killing the job
    process = kernel32.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, False, pid)
    if not process:
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        if not kernel32.AssignProcessToJobObject(_job, process):
            raise ctypes.WinError(ctypes.get_last_error())
    finally:
        kernel32.CloseHandle(process)


class _IoCounters(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
        "ReadTransferCount", "WriteTransferCount", "OtherTransferCount",
    )]  # fmt: skip


class _BasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class _ExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _BasicLimits),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]
