"""Edit templates on disk: check one text, save it atomically keeping the previous version, and
start a new strategy from an existing template.

A save never leaves a half-written file: the new text goes to a temp file in the same folder,
is flushed to disk, then replaces ``<name>.toml`` in one rename. The version it replaces is kept
first as ``.previous/<name>.<UTC yyyymmddThhmmssZ>.toml`` (the loader reads only the folder's own
``*.toml``, so kept versions never load).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.errors import TemplateError
from app.files import write_atomically
from app.strategies.loader import STRATEGY_NAME, check_text, name_rule
from app.strategies.schema import Problem
from app.strategies.template import StrategyTemplate
from app.toml_lines import key_lines

PREVIOUS_DIR = ".previous"
_STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_US = "%Y%m%dT%H%M%S.%fZ"
_DESCRIPTION = re.compile(r"^(\s*description\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^'\n]*')(.*)$")


class TemplateInvalid(TemplateError):
    """A template text or name was refused; nothing was written. ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class Saved:
    """The outcome of a save: the template now on disk and the copy kept of the one it replaced
    (None for a new file, or when the text was unchanged and nothing was written)."""

    template: StrategyTemplate
    previous: Path | None


def check_template_text(
    name: str, text: str, *, directory: Path | None = None
) -> tuple[StrategyTemplate | None, list[Problem]]:
    """Check ``text`` as the template of strategy ``name``: the template, or every problem.

    The same checks as load_templates (name, TOML syntax, schema, Jinja expressions); problems
    read ``<name>.toml:LINE: message``. The template's path is ``directory/<name>.toml``.
    """
    path = (directory or Path()) / f"{name}.toml"
    return check_text(name, text, path=path, file=f"{name}.toml")


def save_template(directory: Path, name: str, text: str) -> Saved:
    """Validate ``text`` and write it as ``directory/<name>.toml``, keeping the old file's copy.

    Text equal to the file's current content is not written again (no copy is made). Raises
    TemplateInvalid with the problems, writing nothing, when the text or the name is invalid;
    OSError when the folder cannot be written.
    """
    template, problems = check_template_text(name, text, directory=directory)
    if template is None:
        raise TemplateInvalid(problems)
    path = directory / f"{name}.toml"
    try:
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    data = text.encode("utf-8")
    if current == data:
        return Saved(template, None)
    previous = _keep_previous(directory, name, current) if current is not None else None
    write_atomically(path, data)
    return Saved(template, previous)


def new_template_text(directory: Path, name: str, from_name: str) -> str:
    """The TOML of a new strategy ``name``: template ``from_name``'s text, its description
    saying where it came from. Nothing is written (save it with save_template).

    Raises TemplateInvalid when ``name`` breaks the name rule, is already a template in
    ``directory``, or ``from_name`` is not one.
    """
    file = f"{name}.toml"
    if not STRATEGY_NAME.match(name):
        raise TemplateInvalid([Problem(file, 0, name_rule(name))])
    if (directory / file).exists():
        raise TemplateInvalid(
            [Problem(file, 0, f"strategy '{name}' already exists; pick another name or edit '{name}'")]
        )
    source = directory / f"{from_name}.toml"
    if not STRATEGY_NAME.match(from_name) or not source.is_file():
        raise TemplateInvalid(
            [Problem(file, 0, f"cannot start from '{from_name}': there is no template {source}")]
        )
    return _adapt_description(source.read_text(encoding="utf-8"), from_name)


def previous_versions(directory: Path, name: str) -> list[Path]:
    """The kept earlier versions of ``name``'s template, newest first."""
    folder = directory / PREVIOUS_DIR
    found = []
    for path in folder.glob(f"{name}.*.toml"):
        at = _stamp_of(path.name[len(name) + 1 : -len(".toml")])
        if at is not None:
            found.append((at, path))
    return [path for _, path in sorted(found, reverse=True)]


def _stamp_of(text: str) -> datetime | None:
    for fmt in (_STAMP, _STAMP_US):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _keep_previous(directory: Path, name: str, content: bytes) -> Path:
    """Copy ``content`` to ``.previous/<name>.<UTC stamp>.toml``: seconds, or microseconds when a
    copy of that second exists (one more microsecond while that exists too)."""
    folder = directory / PREVIOUS_DIR
    folder.mkdir(exist_ok=True)
    at = datetime.now(UTC)
    fmt = _STAMP
    while True:
        path = folder / f"{name}.{at.strftime(fmt)}.toml"
        try:
            # "x": never overwrite a kept version, even one another save made a moment ago.
            with path.open("xb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
        except FileExistsError:
            if fmt == _STAMP:
                fmt = _STAMP_US
            else:
                at += timedelta(microseconds=1)
            continue
        return path


def _adapt_description(text: str, from_name: str) -> str:
    """Rewrite the one-line ``description = "…"`` to say the text is a copy of ``from_name``; add
    one at the top when there is none (a multi-line description is left as it is)."""
    try:
        old = tomllib.loads(text).get("description")
    except tomllib.TOMLDecodeError:
        return text  # saving it reports the problems with their lines
    line_number = key_lines(text).get(("description",))
    if old is None or line_number is None:
        return f"description = {_quote(f'Copy of {from_name}')}\n{text}"
    lines = text.splitlines(keepends=True)
    line = lines[line_number - 1]
    body = line.rstrip("\r\n")
    match = _DESCRIPTION.match(body)
    if match is None or not isinstance(old, str):
        return text
    new = f"{match.group(1)}{_quote(f'Copy of {from_name}: {old}')}{match.group(3)}"
    lines[line_number - 1] = new + line[len(body) :]
    return "".join(lines)


def _quote(value: str) -> str:
    """A TOML basic string (JSON's escapes are a subset of TOML's)."""
    return json.dumps(value, ensure_ascii=False)
