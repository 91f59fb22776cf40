"""``tvbridge set-password``, ``pause``, ``resume`` and ``flatten`` as a trader runs them: against a
running ``tvbridge serve``, and with no bridge running."""

from __future__ import annotations

import json
from pathlib import Path

from app.journal.journal import Journal
from app.web.access import load_auth, verify_password
from tests.e2e import test_cli
from tests.e2e.test_cli import BRACKET_EXAMPLE
from tests.helpers import free_port, tvbridge

# `tvbridge serve` on the built-in simulator in a copy of the shipped templates, as test_cli runs it.
workdir = test_cli.workdir
served = test_cli.served


def no_bridge() -> dict[str, str]:
    return {"TVBRIDGE_SERVER__PORT": str(free_port())}  # nothing listens there


def send_alert(root: Path, env: dict[str, str], alert_id: str = "") -> str:
    """Post the shipped bracket alert (with another id when given); return the alert's status."""
    path = BRACKET_EXAMPLE
    if alert_id:
        path = root / f"{alert_id}.json"
        path.write_text(json.dumps({**json.loads(BRACKET_EXAMPLE.read_text()), "id": alert_id}))
    sent = tvbridge("send", str(path), "--strategy", "mnq-bracket", cwd=root, env=env)
    return json.loads(sent.stdout.split("\n", 1)[1])["status"]


def test_pause_resume_and_flatten_against_the_running_bridge(served: tuple[Path, dict[str, str]]) -> None:
    root, env = served

    paused = tvbridge("pause", cwd=root, env=env)

    assert paused.returncode == 0, paused.stderr
    assert "is paused since" in paused.stdout and "(by command line)" in paused.stdout
    assert send_alert(root, env) == "paused"

    resumed = tvbridge("resume", cwd=root, env=env)

    assert resumed.returncode == 0, resumed.stderr
    assert "is not paused" in resumed.stdout
    # Executed now: a paused alert is never the original of a duplicate. A position and two legs.
    assert send_alert(root, env) == "executed"

    declined = tvbridge("flatten", cwd=root, env=env, stdin="n\n")

    assert declined.returncode == 1
    assert "Flatten? [y/N]" in declined.stdout and "nothing was done" in declined.stdout
    assert declined.stdout.count("cancel order ") == 2 and declined.stdout.count("close position ") == 1

    done = tvbridge("flatten", "--yes", cwd=root, env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SIM-AUTO-OCO (account 70000001):" in done.stdout
    assert "close position long 1 CON.F.US.MNQ." in done.stdout
    assert "Everything is flat." in done.stdout and "Flatten by command line" in done.stdout
    assert "Flatten?" not in done.stdout  # --yes does not ask
    assert send_alert(root, env, "after-flatten") == "paused"  # flatten paused first


def test_pause_with_no_bridge_running_writes_the_journal(workdir: Path) -> None:
    root, env = workdir, no_bridge()

    paused = tvbridge("pause", cwd=root, env=env)

    assert paused.returncode == 0, paused.stderr
    assert "no bridge answers at http://127.0.0.1:" in paused.stdout
    assert "the bridge will start paused" in paused.stdout
    journal = Journal(f"sqlite:///{root / 'tvbridge.db'}")
    try:
        state = journal.pause_state()
        assert state is not None and state.by == "command line"
        resumed = tvbridge("resume", cwd=root, env=env)
        assert "will start not paused" in resumed.stdout
        assert journal.pause_state() is None
    finally:
        journal.close()

    flatten = tvbridge("flatten", "--yes", cwd=root, env=env)
    assert flatten.returncode == 0
    assert "the simulator only lives inside `tvbridge serve`: there is nothing to flatten" in flatten.stdout


def test_set_password_stores_a_hash_and_refuses_a_short_one(workdir: Path) -> None:
    root, env = workdir, no_bridge()

    short = tvbridge("set-password", "--stdin", cwd=root, env=env, stdin="short\n")
    done = tvbridge("set-password", "--stdin", cwd=root, env=env, stdin="a long enough password\n")

    assert short.returncode == 2 and short.stderr.count("\n") == 1 and "at least 8" in short.stderr
    assert done.returncode == 0, done.stderr
    assert "tvbridge_auth.toml" in done.stdout
    keys = load_auth(root / "tvbridge_auth.toml", create=False)
    assert verify_password(keys, "a long enough password")
    assert "a long enough password" not in (root / "tvbridge_auth.toml").read_text()
