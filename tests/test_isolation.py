"""The autouse fixture of tests/conftest.py: a ``tvbridge.toml`` in the folder pytest is started
from, or a ``TVBRIDGE_*`` setting in its environment, never reaches a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import HARNESS_PREFIXES, HARNESS_VARIABLES
from tests.helpers import REPO


def test_each_test_runs_in_its_own_empty_folder(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_no_setting_from_the_outside_is_in_the_environment() -> None:
    kept = [n for n in os.environ if n.startswith("TVBRIDGE_")]
    assert all(n in HARNESS_VARIABLES or n.startswith(HARNESS_PREFIXES) for n in kept), kept


def test_the_suite_ignores_a_tvbridge_toml_and_tvbridge_variables_where_it_is_started(tmp_path: Path) -> None:
    """Without the fixture the second entry of this run is refused (one entry a day), and the
    tests read the webhook port and the gateway from the trader's settings."""
    (tmp_path / "tvbridge.toml").write_text(
        '[risk]\nmax_entries_per_day = 1\n\n[gateway]\nkind = "topstepx"\n'
    )
    env = {
        **os.environ,
        "TVBRIDGE_RISK__MAX_ENTRIES_PER_DAY": "1",
        "TVBRIDGE_ENGINE__RECONCILE_ATTEMPTS": "0",  # refused by the settings model: ge 1
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            str(REPO / "tests" / "e2e" / "test_alert_to_order.py"),
            "-k",
            "unique_tag or duplicate",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
