"""Shared test helpers: a polling wait, paths to the repository's shipped files, and running the
``tvbridge`` command (one-off commands and a served bridge)."""

from __future__ import annotations

import asyncio
import atexit
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import httpx

if TYPE_CHECKING:
    from sqlalchemy import Connection

REPO = Path(__file__).resolve().parents[1]
SHIPPED_TEMPLATES = REPO / "templates"
SHIPPED_ALERTS = REPO / "alerts"

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 10.0, interval_s: float = 0.02
) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or raises no AssertionError.

    A ValueError is waited out too: ``[row] = rows`` on a list that is still empty (or not yet
    down to one) is the commonest "not yet". Fails with the last of them (or a timeout message)
    after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last: AssertionError | ValueError | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except (AssertionError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def journal_url(tmp_path: Path) -> str:
    """A fresh journal database for one test, at the newest schema with nothing in it: not even
    the instance tag, which ``Journal.upgrade()`` makes as on a first start.

    SQLite in ``tmp_path`` by default. With ``TVBRIDGE_TEST_POSTGRES`` set to a PostgreSQL server
    URL (e.g. ``postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql``), a new database
    on that server instead, so the same tests prove the journal on PostgreSQL (.ci/run does both).
    Either is a copy of one database migrated once per test process: running every migration
    for every test cost a fifth of a second each, a minute of the suite (the migrations
    themselves are tested in tests/journal/test_schema.py, on fresh databases).
    """
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server:
        path = tmp_path / "journal.db"
        if not path.exists():  # asked again for the same folder: the same journal, as it is
            shutil.copyfile(_sqlite_template(), path)
        return f"sqlite:///{path}"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    template = _postgres_template(server)
    name = f"tvb_{uuid.uuid4().hex[:12]}"
    with _admin(server) as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    CREATED_DATABASES.append(name)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


CREATED_DATABASES: list[str] = []
_TEMPLATES: dict[str, str] = {}  # "sqlite" → file, server URL → database name (this process's)


def _sqlite_template() -> str:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="tvbridge-test-journal-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _migrate(f"sqlite:///{folder / 'journal.db'}")
        _TEMPLATES["sqlite"] = str(folder / "journal.db")
    return _TEMPLATES["sqlite"]


def _postgres_template(server: str) -> str:
    if server not in _TEMPLATES:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = f"tvb_template_{uuid.uuid4().hex[:12]}"
        with _admin(server) as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        CREATED_DATABASES.append(name)
        _migrate(make_url(server).set(database=name).render_as_string(hide_password=False))
        _TEMPLATES[server] = name
    return _TEMPLATES[server]


def _migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema, and close every connection to it."""
    from app.journal import migrate
    from app.journal.db import make_engine

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def _admin(server: str) -> Iterator[Connection]:
    from sqlalchemy import create_engine

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn
    finally:
        admin.dispose()


def drop_created_databases() -> None:
    """Drop the PostgreSQL databases journal_url made (at the end of the test session)."""
    server = os.environ.get("TVBRIDGE_TEST_POSTGRES")
    if not server or not CREATED_DATABASES:
        return
    from sqlalchemy import text

    with _admin(server) as conn:
        for name in reversed(CREATED_DATABASES):  # the templates last
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    CREATED_DATABASES.clear()
    _TEMPLATES.pop(server, None)


def tvbridge(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a ``tvbridge`` command as a trader does from a terminal in ``cwd``, with ``env`` added
    to the environment and ``stdin`` typed in, but in this process (``app.cli.main(argv)``): a
    Python start per command made the CLI tests slow. Returns its exit code and printed output as
    a finished process's. For what needs a real process (signals, ``serve`` until Ctrl-C), see
    :func:`tvbridge_process` and :func:`start_serve`."""
    from app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _terminal(cwd, env or {}, stdin or ""), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, --version, a usage error
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return subprocess.CompletedProcess(["tvbridge", *args], code, out.getvalue(), err.getvalue())


@contextmanager
def _terminal(cwd: Path, env: dict[str, str], stdin: str) -> Iterator[None]:
    """The working folder, environment and standard input of one command, put back after; the
    logging set-up the command changes (main() raises the app's loggers to INFO) too."""
    saved_cwd, saved_env, saved_stdin = Path.cwd(), dict(os.environ), sys.stdin
    levels = {name: _logger(name).level for name in ["", *logging.root.manager.loggerDict]}
    handlers = list(logging.root.handlers)  # main()'s logging.basicConfig adds one when none is there
    os.chdir(cwd)
    os.environ.update(env)
    sys.stdin = io.StringIO(stdin)
    try:
        yield
    finally:
        sys.stdin = saved_stdin
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        for name in ["", *logging.root.manager.loggerDict]:
            _logger(name).setLevel(levels.get(name, logging.NOTSET))
        logging.root.handlers[:] = handlers


def _logger(name: str) -> logging.Logger:
    return logging.getLogger(name or None)


def tvbridge_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app.cli`` as its own process in ``cwd`` (the smoke tests of the command
    itself: the module entry point, exit codes through the shell, a serve that must stop)."""
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


def start_serve(workdir: Path, env: dict[str, str], output: int | IO[str]) -> subprocess.Popen[str]:
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
            shown, _ = process.communicate()  # reads and closes its pipe, if it has one
            raise AssertionError(f"tvbridge serve did not start:\n{shown or '(see its log file)'}")
        time.sleep(0.1)


def start_sim(workdir: Path, *args: str, port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a standalone ``tvbridge sim`` in ``workdir`` (its state file there unless ``args``
    name another with ``--state``; ``--faults`` to control it) and wait until it answers; return
    the process and its base URL. Stop it with ``process.terminate()`` (or ``kill()``). Its output
    goes to ``sim-<port>.log`` in ``workdir`` (a pipe nobody reads could fill and stop it)."""
    port = port or free_port()
    log = workdir / f"sim-{port}.log"
    with log.open("w") as output:  # the process has its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "sim", "--port", str(port), "--no-access-log", *args],
            cwd=workdir,
            stdout=output,
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
            process.wait()
            raise AssertionError(f"tvbridge sim did not start:\n{log.read_text()}")
        time.sleep(0.05)
