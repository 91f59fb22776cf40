"""``tvbridge init`` and the working folder: what a trader gets from an installed ``tvbridge``."""

from __future__ import annotations

import filecmp
import os
import stat
from pathlib import Path

import pytest

from tests.helpers import REPO, tvbridge

STARTER = REPO / "app" / "cli" / "starter"


@pytest.mark.parametrize("folder", ["templates", "alerts"])
def test_the_packaged_starter_is_the_repository_s_own(folder: str) -> None:
    """The clone's templates/ and alerts/ (the README's first command) and the wheel's are one set."""
    compared = filecmp.dircmp(REPO / folder, STARTER / folder, ignore=[".previous", "__pycache__"])
    assert (compared.left_only, compared.right_only, compared.diff_files) == ([], [], [])
    assert filecmp.cmp(REPO / "tvbridge.example.toml", STARTER / "tvbridge.example.toml", shallow=False)


def test_init_makes_a_working_folder_that_check_accepts(tmp_path: Path) -> None:
    made = tvbridge("init", "desk", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    desk = tmp_path / "desk"
    assert (desk / "tvbridge.toml").read_text() == (REPO / "tvbridge.example.toml").read_text()
    templates = sorted(p.stem for p in (desk / "templates").glob("*.toml"))
    assert templates and (desk / "alerts" / "mnq-bracket.example.json").exists()
    secrets = (desk / "webhook_secrets.toml").read_text()
    values = [line.split('"')[1] for line in secrets.splitlines() if " = " in line]
    assert len(values) == len(templates) == len(set(values))  # one fresh secret each
    assert all(value not in made.stdout + made.stderr for value in values)
    if os.name == "posix":
        assert stat.S_IMODE((desk / "webhook_secrets.toml").stat().st_mode) == 0o600

    checked = tvbridge("check", cwd=desk)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_init_refuses_to_overwrite_and_names_the_files(tmp_path: Path) -> None:
    (tmp_path / "tvbridge.toml").write_text("# mine\n")

    made = tvbridge("init", cwd=tmp_path)

    assert made.returncode == 1
    assert "tvbridge.toml" in made.stderr and "nothing written" in made.stderr
    assert (tmp_path / "tvbridge.toml").read_text() == "# mine\n"
    assert not (tmp_path / "templates").exists() and not (tmp_path / "webhook_secrets.toml").exists()


def test_config_s_folder_is_the_working_folder(tmp_path: Path) -> None:
    tvbridge("init", "desk", cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    by_config = tvbridge("--config", "../desk/tvbridge.toml", "url", "mnq-bracket", cwd=elsewhere)
    by_home = tvbridge("url", "mnq-bracket", cwd=elsewhere, env={"TVBRIDGE_HOME": str(tmp_path / "desk")})
    nowhere = tvbridge("url", "mnq-bracket", cwd=elsewhere)

    assert by_config.returncode == 0 and "/webhook/mnq-bracket/" in by_config.stdout, by_config.stderr
    assert by_home.stdout == by_config.stdout
    assert nowhere.returncode != 0  # no secrets in the current folder


def test_a_missing_home_folder_says_how_to_make_it(tmp_path: Path) -> None:
    result = tvbridge("check", cwd=tmp_path, env={"TVBRIDGE_HOME": str(tmp_path / "none")})

    assert result.returncode == 2
    assert "TVBRIDGE_HOME" in result.stderr and "tvbridge init" in result.stderr
