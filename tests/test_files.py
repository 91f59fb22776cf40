"""Writing the trader's files while another program holds them (Windows: an antivirus or an editor
makes ``os.replace`` fail with PermissionError for a moment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import app.files
from app.files import write_atomically


def test_a_write_is_tried_again_while_another_program_holds_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text("old = 1\n")
    real_replace, calls = os.replace, []

    def held_twice(src: str, dst: Path) -> None:
        calls.append(dst)
        if len(calls) <= 2:
            raise PermissionError(13, "The process cannot access the file", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(app.files, "REPLACE_BACKOFF_S", 0.001)
    monkeypatch.setattr(os, "replace", held_twice)

    write_atomically(path, b"new = 2\n")

    assert path.read_text() == "new = 2\n" and len(calls) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["webhook_secrets.toml"]  # no temp file left


def test_a_file_held_for_good_fails_with_the_old_one_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text("old = 1\n")

    def held(src: str, dst: Path) -> None:
        raise PermissionError(13, "The process cannot access the file", str(dst))

    monkeypatch.setattr(app.files, "REPLACE_BACKOFF_S", 0.001)
    monkeypatch.setattr(os, "replace", held)

    with pytest.raises(PermissionError):
        write_atomically(path, b"new = 2\n")

    assert path.read_text() == "old = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["webhook_secrets.toml"]
