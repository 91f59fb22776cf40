"""Find the line of a key in TOML text: tomllib gives values but no positions (templates, settings).

Good enough for error messages: it follows ``[table]`` headers, dotted keys, inline tables
(``stop_loss = { ticks = 40 }``), multi-line arrays and multi-line strings.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_HEADER = re.compile(rf"^\s*\[\[?\s*({_PART}(?:\s*\.\s*{_PART})*)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_PART})\s*=")
_STRING = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_MULTILINE = ('"""', "'''")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path (list indexes left out) to the 1-based line where it first appears."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_key: tuple[str, ...] = ()
    depth = 0
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        if in_string is not None:
            if line.count(in_string) % 2 == 0:
                continue
            rest = line[line.find(in_string) + len(in_string) :]
            in_string = None
        elif depth == 0:
            header = _HEADER.match(line)
            if header is not None:
                table = _split(header.group(1))
                found.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key is None:
                continue
            open_key = table + _split(key.group(1))
            found.setdefault(open_key, number)
            rest = line[key.end() :]
        in_string = next((d for d in _MULTILINE if rest.count(d) % 2 == 1), None)
        if in_string is not None:
            rest = rest[: rest.rfind(in_string)]
        code = _STRING.sub('""', rest)
        for inline in _INLINE_KEY.finditer(code):
            found.setdefault(open_key + _split(inline.group(1)), number)
        depth = max(0, depth + _depth(code))
    return found


def find_line(lines: dict[tuple[str, ...], int], path: Path) -> int:
    """Return the line of ``path``, or of its longest known prefix; 1 when nothing is known."""
    keys = tuple(part for part in path if isinstance(part, str))
    for end in range(len(keys), 0, -1):
        if keys[:end] in lines:
            return lines[keys[:end]]
    return 1


def value_start(text: str, key_line: int) -> int:
    """The line where the value of the key on ``key_line`` starts (a multi-line string that
    opens with a line break starts on the next line)."""
    lines = text.splitlines()
    if not 1 <= key_line <= len(lines):
        return key_line
    after = lines[key_line - 1].split("=", 1)[-1].strip()
    return key_line + 1 if after in _MULTILINE else key_line


def _split(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_PART, dotted)
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in parts)


def _depth(code: str) -> int:
    code = code.split("#", 1)[0]
    return code.count("[") + code.count("{") - code.count("]") - code.count("}")
