"""``tvbridge notify --test [KIND]`` and ``tvbridge check`` on ``[notify]``, as a trader runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.domain.notices import NoticeKind
from tests.helpers import SHIPPED_TEMPLATES, free_port, tvbridge
from tests.notify_receiver import Receiver


def settings_file(folder: Path, *urls: str, extra: str = "") -> None:
    listed = ", ".join(f'"{url}"' for url in urls)
    (folder / "tvbridge.toml").write_text(f"[notify]\nurls = [{listed}]\n{extra}")


def test_a_sample_of_every_kind_reaches_each_url_and_each_is_reported(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    settings_file(tmp_path, notify_receiver.url_for("phone"), extra='level = "critical"\noff = ["fill"]\n')

    result = tvbridge("notify", "--test", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    received = notify_receiver.received()
    # Routing, "off" and the level floor are bypassed: every kind is sampled.
    assert len(received) == len(NoticeKind)
    assert all(m.title.startswith("[test] ") for m in received)
    lines = [line for line in result.stdout.splitlines() if line.startswith("json://")]
    assert len(lines) == len(NoticeKind) and all(line.endswith("worked") for line in lines)
    assert any("position.unprotected" in line for line in lines)
    assert f"{len(NoticeKind)} sent to 1 URL(s)" in result.stdout


def test_one_kind_and_a_failing_url_exit_1_naming_the_reason(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/"
    settings_file(tmp_path, notify_receiver.url, dead)

    result = tvbridge("notify", "--test", "position.unprotected", cwd=tmp_path)

    assert result.returncode == 1
    [message] = notify_receiver.received()
    assert "UNPROTECTED" in message.title and "Place a stop or close the position" in message.body
    lines = [line for line in result.stdout.splitlines() if "position.unprotected" in line]
    [worked] = [line for line in lines if line.startswith(notify_receiver.url)]
    [failed] = [line for line in lines if line.startswith(dead)]
    assert worked.endswith("worked")
    assert "FAILED: A Connection error occurred" in failed
    assert "1 of 2 failed" in result.stderr


def test_an_unknown_kind_is_refused_listing_the_kinds(tmp_path: Path, notify_receiver: Receiver) -> None:
    settings_file(tmp_path, notify_receiver.url)

    result = tvbridge("notify", "--test", "unprotected", cwd=tmp_path)

    assert result.returncode == 2
    assert "unknown notice kind 'unprotected'" in result.stderr and "position.unprotected" in result.stderr
    assert notify_receiver.attempts == 0


def test_no_url_says_how_to_set_one(tmp_path: Path) -> None:
    result = tvbridge("notify", "--test", cwd=tmp_path)

    assert result.returncode == 1
    assert "[notify]" in result.stderr and "TVBRIDGE_NOTIFY__URLS" in result.stderr


def test_urls_from_the_environment_are_never_printed(tmp_path: Path, notify_receiver: Receiver) -> None:
    url = f"json://trader:S3cretPassw0rd@127.0.0.1:{notify_receiver.port}/"
    dead = f"json://127.0.0.1:{free_port()}/hook-Tok3n9876abc"  # nothing reaches the network
    env = {"TVBRIDGE_NOTIFY__URLS": f'["{url}", "{dead}"]'}

    result = tvbridge("notify", "--test", "test", cwd=tmp_path, env=env)

    assert result.returncode == 1 and len(notify_receiver.received()) == 1
    output = result.stdout + result.stderr
    assert "S3cretPassw0rd" not in output and "Tok3n9876abc" not in output
    assert "json://trader:****@127.0.0.1" in output and "/***" in output


def test_check_lists_an_unknown_kind_and_a_url_apprise_cannot_use(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    (tmp_path / "webhook_secrets.toml").write_text(
        "".join(f'{p.stem} = "secret-{p.stem}-0123456789"\n' for p in (tmp_path / "templates").glob("*.toml"))
    )
    settings_file(tmp_path, "tgrm://secret-token-123/42", extra='off = ["fills"]\n')

    result = tvbridge("check", cwd=tmp_path)

    assert result.returncode == 1
    assert "[notify] off: unknown notice kind 'fills'; the kinds are: order.rejected" in result.stdout
    assert "[notify] urls #1: Apprise cannot use this URL (scheme 'tgrm')" in result.stdout
    assert "secret-token-123" not in result.stdout + result.stderr
