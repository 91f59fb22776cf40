"""The built wheel is a working ``tvbridge`` on its own: built from the checkout (offline), installed
into a fresh venv outside it, then ``init``, ``serve`` on the simulator, ``send`` an example alert
and ``journal``, as a trader does after ``pipx install`` / ``uv tool install``.

One test (it builds and installs: ~20 s); every step has a timeout. Nothing reaches the network:
the build uses this venv's setuptools (--no-build-isolation), the install is --no-index, and the
dependencies come from this venv's site-packages (a .pth file), not from a registry.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx

from tests.helpers import REPO, free_port

STEP_TIMEOUT_S = 180


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    shutil.copytree(REPO / "app", source / "app", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", dist, source, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = dist.glob("tvbridge-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel; the dependencies are this venv's (read through a .pth).
    Returns its bin (Scripts) folder."""
    venv = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    ).stdout.strip()
    Path(purelib, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=tmp_path,
    )  # fmt: skip
    return python.parent


def test_the_built_wheel_inits_serves_sends_and_journals(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/journal/migrations/env.py" in names
    assert any(n.startswith("app/journal/migrations/versions/0001_") for n in names)
    assert "app/cli/starter/tvbridge.example.toml" in names
    assert "app/cli/starter/templates/mnq-bracket.toml" in names
    # The Performance page's chart library travels with its licence and notice (no CDN).
    vendor = "app/web/static/vendor/lightweight-charts"
    assert {f"{vendor}.standalone.production.js", f"{vendor}.LICENSE", f"{vendor}.NOTICE"} <= set(names)
    assert "app/web/static/performance.js" in names

    bin_dir = fresh_venv(tmp_path, wheel)
    tvbridge = str(bin_dir / ("tvbridge.exe" if os.name == "nt" else "tvbridge"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TVBRIDGE_", "PYTHON"))}
    home, elsewhere = tmp_path / "trading", tmp_path / "elsewhere"
    elsewhere.mkdir()

    # The installed package, not the checkout, answers.
    where = run(bin_dir / "python", "-c", "import app; print(app.__file__)", cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent)

    made = run(tvbridge, "init", home, cwd=elsewhere, env=env)
    assert "webhook_secrets.toml" in made.stdout
    secret = (home / "webhook_secrets.toml").read_text().split('mnq-bracket = "')[1].split('"')[0]
    assert secret not in made.stdout + made.stderr

    # Serve from another folder: TVBRIDGE_HOME finds the working folder, and serve names it.
    port = free_port()
    served_env = {
        **env,
        "TVBRIDGE_HOME": str(home),
        "TVBRIDGE_SERVER__PORT": str(port),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
    }
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [tvbridge, "serve"], cwd=elsewhere, env=served_env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        sent = run(
            tvbridge, "send", "alerts/mnq-bracket.example.json", "--strategy", "mnq-bracket",
            cwd=home, env=served_env,
        )  # fmt: skip
        assert sent.stdout.startswith("HTTP 200"), sent.stdout
        assert json.loads(sent.stdout.split("\n", 1)[1])["status"] == "executed"

        shown = run(tvbridge, "journal", cwd=elsewhere, env=served_env)
        assert "mnq-bracket" in shown.stdout and "EXECUTED" in shown.stdout
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    shown_log = log.read_text()
    assert f"working folder {home} (from TVBRIDGE_HOME)" in shown_log
    assert (home / "tvbridge.db").exists()  # the journal, migrated by the packaged scripts
    assert secret not in shown_log
