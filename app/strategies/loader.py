"""Load ``templates/*.toml``: every problem of every file, each as ``file:line: message``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

from app.errors import ConfigError
from app.strategies.schema import Problem, validate
from app.strategies.template import StrategyTemplate
from app.toml_lines import Path as KeyPath
from app.toml_lines import find_line, key_lines, value_start

STRATEGY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def load_templates(directory: Path) -> dict[str, StrategyTemplate]:
    """Load every ``<strategy>.toml`` in ``directory``: strategy name → template.

    Raises ConfigError listing every problem of every file (``templates/x.toml:LINE: …``).
    """
    templates, problems = _load_all(directory)
    if problems:
        listed = "\n".join(f"  {problem}" for problem in problems)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(
            f"{count} in the templates in {directory}:\n{listed}\n"
            "Fix them, then run `tvbridge check` to confirm."
        )
    return templates


def check_templates(directory: Path) -> list[Problem]:
    """Return every problem of every template in ``directory`` (empty when all load)."""
    return _load_all(directory)[1]


def load_template(directory: Path, strategy: str) -> StrategyTemplate | None:
    """Load ``directory/<strategy>.toml`` alone; None when it is missing or has problems
    (``tvbridge check`` lists them)."""
    path = directory / f"{strategy}.toml"
    if not path.is_file():
        return None
    return _load_file(path)[0]


def _load_all(directory: Path) -> tuple[dict[str, StrategyTemplate], list[Problem]]:
    if not directory.is_dir():
        message = (
            "the templates folder does not exist; create it with one <strategy>.toml per "
            "strategy (see templates/mnq-bracket.toml)"
        )
        return {}, [Problem(str(directory), 0, message)]
    templates: dict[str, StrategyTemplate] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.toml")):
        template, found = _load_file(path)
        problems.extend(found)
        if template is not None:
            templates[template.name] = template
    return templates, problems


def _load_file(path: Path) -> tuple[StrategyTemplate | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems = _name_problems(str(path), path.stem)
        return None, [*problems, Problem(str(path), 0, f"cannot be read as UTF-8 text: {exc}")]
    return check_text(path.stem, text, path=path, file=str(path))


def check_text(
    name: str, text: str, *, path: Path, file: str
) -> tuple[StrategyTemplate | None, list[Problem]]:
    """Check one template's TOML ``text`` as strategy ``name``: the template, or its problems.

    ``path`` is where the template lives (its errors name it); ``file`` labels the problems
    (``file:LINE: message``), sorted by line. Every check load_templates makes: the name, TOML
    syntax, the schema and the Jinja expressions.
    """
    problems = _name_problems(file, name)
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        return None, [*problems, _syntax_problem(file, text, exc)]
    lines = key_lines(text)

    def report(key: KeyPath, message: str, expression_line: int | None = None) -> None:
        line = find_line(lines, key)
        if expression_line is not None:
            line = value_start(text, line) + expression_line - 1
        problems.append(Problem(file, line, message))

    spec = validate(data, report)
    if problems:
        return None, sorted(problems, key=lambda problem: problem.line)
    settings = {item.name: getattr(spec, item.name) for item in fields(spec)}
    template = StrategyTemplate(name=name, path=path, source=text, **settings)
    return template, []


def _name_problems(file: str, name: str) -> list[Problem]:
    if STRATEGY_NAME.match(name):
        return []
    return [Problem(file, 0, name_rule(name))]


def name_rule(name: str) -> str:
    """Say why ``name`` is not a valid strategy name, and what the rule is."""
    return (
        f"'{name}' is not a valid strategy name: use up to 64 lower-case letters, "
        "digits, - and _, starting with a letter or digit (e.g. mnq-bracket.toml)"
    )


def _syntax_problem(file: str, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    match = _TOML_AT.search(message)
    if match is not None:
        line = int(match.group(1))
        message = message[: match.start()]
    else:  # "(at end of document)"
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        message = message.replace(" (at end of document)", " at the end of the file")
    return Problem(file, line, f"not valid TOML: {message}")
