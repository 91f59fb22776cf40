"""Closing the terminal a bridge runs in (SIGHUP on macOS and Linux) stops it as Ctrl-C does: the
alerts in flight finish, the shutdown check runs and journals "bridge.shutdown"."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine.shutdown import SHUTDOWN_EVENT
from app.journal.journal import Journal
from tests.helpers import SHIPPED_TEMPLATES, free_port, start_serve


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGHUP on Windows (app/web/console_close.py)")
def test_closing_the_terminal_stops_the_bridge_gracefully(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    process = start_serve(tmp_path, {"TVBRIDGE_SERVER__PORT": str(free_port())}, subprocess.PIPE)

    process.send_signal(signal.SIGHUP)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, output
    assert "stopping: no new webhooks; alerts in flight finish first" in output
    assert "stopping: nothing is open on the followed accounts" in output
    # keep_awake is on by default; a computer without a desktop session says it cannot, and runs on.
    assert "keeping this computer awake" in output or "cannot keep this computer awake" in output
    journal = Journal(f"sqlite:///{tmp_path / 'tvbridge.db'}")  # the default [journal] url
    try:
        assert any(e.kind == SHUTDOWN_EVENT for e in journal.events(limit=100)), output
    finally:
        journal.close()
