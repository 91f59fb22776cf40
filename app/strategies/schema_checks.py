"""The checks every template table shares: unknown keys, words, values, literals, tables.

Each reports a problem through ``report(path, message)`` and returns what it could read (None
when nothing), so one run of ``validate`` lists every problem of a file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from jinja2 import TemplateSyntaxError

from app.strategies.expressions import RenderBoundError, Value, compile_value
from app.toml_lines import Path

Report = Callable[..., None]  # report(path, message, expression_line=None)
T = TypeVar("T")


def choice(table: dict[str, Any], key: str, allowed: tuple[str, ...], path: Path, report: Report) -> Any:
    """A setting that is one of a few words; None (and a problem) when it is something else."""
    if key not in table:
        return None
    value = table[key]
    if value not in allowed:
        where = dotted((*path, key))
        listed = " or ".join(f'"{word}"' for word in allowed)
        report((*path, key), f"{where} is {value!r}, expected {listed}")
        return None
    return value


def field_value(name: str, raw: object, path: Path, report: Report, *, textual: bool = False) -> Value | None:
    """Compile one value (a literal, or a Jinja expression when ``textual`` or text); None when bad."""
    allowed = (str,) if textual else (str, int, Decimal)
    if isinstance(raw, bool) or not isinstance(raw, allowed):
        kind = "text" if textual else "a number or text"
        report(path, f"{dotted(path)} is {raw!r}, expected {kind} (literal or Jinja expression)")
        return None
    try:
        return compile_value(name, raw)
    except TemplateSyntaxError as exc:
        report(path, f"{dotted(path)}: Jinja syntax error: {exc.message}", exc.lineno)
    except NameError as exc:
        report(path, f"{dotted(path)} {exc}")
    except RenderBoundError as exc:
        report(path, f"{dotted(path)}: {exc} — the expression would stall the bridge; simplify it")
    return None


def check_literal(value: Value | None, convert: Callable[[object], T], report: Report) -> T | None:
    """Convert a literal value now so a bad literal stops the start; None for expressions."""
    if value is None or value.is_expression:
        return None
    path = ("order", value.field) if "." not in value.field else tuple(value.field.split("."))
    return check(lambda: convert(value.literal), path, f"{dotted(path)} is {value.literal!r}", report)


def check(run: Callable[[], T], path: Path, subject: str, report: Report) -> T | None:
    """Return ``run()``; a ValueError becomes a problem at ``path`` (``subject, reason``), and None."""
    try:
        return run()
    except ValueError as exc:
        report(path, f"{subject}, {exc}")
        return None


def quiet(convert: Callable[[object], T], value: object) -> T | None:
    """Return ``convert(value)``, or None when it raises ValueError (someone else reports it)."""
    try:
        return convert(value)
    except ValueError:
        return None


def get_table(data: dict[str, Any], key: str, report: Report) -> dict[str, Any] | None:
    """Return the table ``data[key]``; None when absent, or (with a problem) when not a table."""
    if key not in data:
        return None
    table = data[key]
    if not isinstance(table, dict):
        report((key,), f"{key} must be a table: write [{key}] on its own line, then its keys")
        return None
    return table


def unknown_keys(
    table: dict[str, Any], allowed: Iterable[str], path: Path, where: str, report: Report
) -> None:
    """Report every key of ``table`` not in ``allowed``, with the closest allowed key as a hint."""
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            report((*path, key), f"unknown key '{key}' in {where}{hint}; allowed: {', '.join(allowed)}")


def dotted(path: Path) -> str:
    """The key path as written in the file: ``order.quantity`` (list indexes left out)."""
    return ".".join(str(part) for part in path if isinstance(part, str))
