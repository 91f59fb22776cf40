"""Shared test helpers: a polling wait, paths to the repository's shipped files, and running the
``tvbridge`` command (one-off commands and a served bridge)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
SHIPPED_TEMPLATES = REPO / "templates"
SHIPPED_ALERTS = REPO / "alerts"

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 5.0, interval_s: float = 0.02
) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or raises no AssertionError.

    Fails with the last AssertionError (or a timeout message) after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last: AssertionError | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def journal_url(tmp_path: Path) -> str:
    """A fresh, empty journal database for one test.

    SQLite in ``tmp_path`` by default. With ``TVBRIDGE_TEST_POSTGRES`` set to a PostgreSQL server
    URL (e.g. ``postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql``), a new database
    on that server instead, so the same tests prove the journal on PostgreSQL (.ci/run does both).
    """
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server:
        return f"sqlite:///{tmp_path / 'journal.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tvb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    CREATED_DATABASES.append(name)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


CREATED_DATABASES: list[str] = []


def drop_created_databases() -> None:
    """Drop the PostgreSQL databases journal_url made (at the end of the test session)."""
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server or not CREATED_DATABASES:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in CREATED_DATABASES:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    CREATED_DATABASES.clear()


def tvbridge(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a ``tvbridge`` command in ``cwd``, as a trader does from a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(workdir: Path, env: dict[str, str], output: Any) -> subprocess.Popen[Any]:
    """Start ``tvbridge serve`` in ``workdir`` (port in ``env``) and wait until it is ready;
    its output goes to ``output`` (a file or subprocess.PIPE). The webhook listener gets a free
    port unless ``env`` names one."""
    env = {"TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=workdir,
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{env['TVBRIDGE_SERVER__PORT']}/readyz"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            shown = process.stdout.read() if process.stdout else "(see its log file)"
            raise AssertionError(f"tvbridge serve did not start:\n{shown}")
        time.sleep(0.1)


def start_sim(workdir: Path, *args: str, port: int | None = None) -> tuple[subprocess.Popen[Any], str]:
    """Start a standalone ``tvbridge sim`` in ``workdir`` (its state file there unless ``args``
    name another with ``--state``; ``--faults`` to control it) and wait until it answers; return
    the process and its base URL. Stop it with ``process.terminate()`` (or ``kill()``)."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sim", "--port", str(port), "--no-access-log", *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/Status/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            shown = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"tvbridge sim did not start:\n{shown}")
        time.sleep(0.05)
