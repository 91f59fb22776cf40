"""tvbridge.example.toml lists every setting of app/config.py, at its default, and nothing else.

A trader copies the example to start a tvbridge.toml: a setting missing from it, a key the
bridge does not know (the start would stop on it), or a default that moved on in the code would
each mislead. A line ``# key = value`` is a setting that is off unless set (its default is None,
which TOML cannot write): the test reads it too, and its example value must parse.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from app.config import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "tvbridge.example.toml"
README = Path(__file__).resolve().parents[1] / "README.md"
_OFF = re.compile(r"^# ([a-z_]+ = .*)$")  # a setting that is off unless set: "# key = value  # …"
_SETTING = re.compile(r"^([A-Za-z0-9_]+) = ")


def _sections() -> dict[str, type[BaseModel]]:
    sections = {}
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel), name
        sections[name] = field.annotation
    return sections


def _model_keys() -> set[str]:
    return {f"{section}.{key}" for section, model in _sections().items() for key in model.model_fields}


def _example(*, with_off: bool) -> dict[str, Any]:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    if with_off:
        lines = [_OFF.sub(r"\1", line) for line in lines]
    return tomllib.loads("\n".join(lines))


def _off_keys() -> set[str]:
    keys, section = set(), ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        found = _OFF.match(line)
        if found:
            keys.add(f"{section}.{found.group(1).split(' ', 1)[0]}")
    return keys


def _flat(data: dict[str, Any]) -> set[str]:
    # Tables of a section's own dict settings (risk.contract_weights) are one setting each.
    return {f"{section}.{key}" for section, values in data.items() for key in values}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("TVBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_setting_is_in_the_example_and_nothing_else() -> None:
    listed = _flat(_example(with_off=True))
    assert sorted(_model_keys() - listed) == [], "settings missing from tvbridge.example.toml"
    assert sorted(listed - _model_keys()) == [], "keys in tvbridge.example.toml the bridge does not know"


def test_example_values_are_the_defaults(clean_env: Path) -> None:
    path = clean_env / "tvbridge.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    loaded, defaults = load_settings(path), Settings()
    for key in sorted(_flat(_example(with_off=False))):
        section, name = key.split(".")
        assert getattr(getattr(loaded, section), name) == getattr(getattr(defaults, section), name), key


def test_settings_off_unless_set_have_no_default_and_their_examples_parse(clean_env: Path) -> None:
    off = _off_keys()
    for key in sorted(off):
        section, name = key.split(".")
        assert getattr(getattr(Settings(), section), name) is None, f"{key} has a default: write it"
    path = clean_env / "tvbridge.toml"
    text = "\n".join(_OFF.sub(r"\1", line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines())
    path.write_text(text, encoding="utf-8")
    loaded = load_settings(path)  # raises ConfigError when an example value is wrong
    for key in sorted(off):
        section, name = key.split(".")
        assert getattr(getattr(loaded, section), name) is not None, key


def test_every_setting_has_a_comment() -> None:
    previous = ""
    uncommented = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        setting = _OFF.sub(r"\1", line)
        if _SETTING.match(setting) and "  # " not in setting and not previous.startswith("#"):
            uncommented.append(setting)
        previous = line
    assert uncommented == []


def test_every_setting_is_named_in_the_readme() -> None:
    """README's Settings section has a table per section naming each of its keys."""
    readme = README.read_text(encoding="utf-8")
    settings = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    assert "tvbridge.example.toml" in settings
    tables = dict(re.findall(r"^### `\[([a-z]+)\]`\n(.*?)(?=^### |\Z)", settings, re.M | re.S))
    missing = [
        key
        for key in sorted(_model_keys())
        if f"| `{key.split('.')[1]}` |" not in tables.get(key.split(".")[0], "")
    ]
    assert missing == []
