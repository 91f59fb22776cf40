"""Output on a Windows code page: ``tvbridge --help`` and ``tvbridge journal`` piped to a file or
another program, with the console's encoding cp1252 (which has no "→"), print UTF-8 and exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from app.domain.enums import AlertStatus
from app.journal.journal import Journal


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``python -m app.cli ARGS`` with its output to a pipe and a cp1252 console encoding."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "cp1252"},
        capture_output=True,
        timeout=60,
    )


def test_help_and_journal_piped_on_a_cp1252_console_print_utf8(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'tvbridge.db'}")  # the default [journal] url
    try:
        journal.upgrade()
        journal.record_alert(
            strategy="mnq→es…",
            raw_body="",
            received_at=datetime.now(UTC),
            source_ip="198.51.100.9",
            status=AlertStatus.UNKNOWN_STRATEGY,
            reason="unknown strategy 'mnq→es…'",
        )
    finally:
        journal.close()

    helped = piped("--help", cwd=tmp_path)
    table = piped("journal", cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr.decode("utf-8", "replace")
    assert "TradingView alert webhooks → ProjectX Gateway orders." in helped.stdout.decode("utf-8")
    assert table.returncode == 0, table.stderr.decode("utf-8", "replace")
    assert "mnq→es…" in table.stdout.decode("utf-8")
