"""Keep credentials out of every text the bridge writes: replies, journal fields, pages, logs.

Three jobs, all below every other package (anything may import this module):

- ``mask_webhook_tokens`` hides the token segment of a webhook path, however the path is spelt
  (``/WEBHOOK/…``, ``%2f`` for a slash, percent-encoded letters), so an access-log line never
  shows one even for a request that was refused.
- ``scrub`` removes *by value* every credential the process has been told about with
  ``remember`` (each strategy's webhook secret, its signed URL token, the gateway API key),
  whatever the text's shape: as sent, percent-encoded (any case of hex) or written with JSON
  ``\\uXXXX`` escapes. A refusal's reason may quote the body that carried the secret; the scrub
  is what keeps it out of the reply, the journal, the pages, the CSV and the log.
- ``url_without_password`` shows a database (or any) URL with its password replaced by ``***``,
  for the pages, ``/api/status`` and the CLI.

The remembered values are process-wide on purpose: logging is process-wide too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Shorter values would blank ordinary words out of every message; a secret that short is not one.
MIN_LENGTH = 4


def _spelt(char: str, *, fold: bool = False) -> str:
    """A pattern for one character: itself (either case with ``fold``), ``%XX`` or ``%25XX``
    (percent-encoded once or twice) or ``\\uXXXX`` (a JSON escape), hex digits in any case."""
    chars = {char, char.swapcase()} if fold else {char}
    forms = [re.escape(c) for c in sorted(chars)] + ([r"\\/"] if char == "/" else [])
    for c in sorted(chars):
        if ord(c) < 0x100:
            forms += [f"%(?:25)?{ord(c):02x}", f"%(?:25)?{ord(c):02X}"]
        forms += [f"\\\\u{ord(c):04x}", f"\\\\u{ord(c):04X}"]
    return "(?:" + "|".join(dict.fromkeys(forms)) + ")"


def _path_pattern() -> re.Pattern[str]:
    slash = _spelt("/")
    word = "".join(_spelt(c, fold=True) for c in "webhook")
    segment = rf"(?:(?!{slash})[^/\s?#\"'])+"
    token = rf"(?:(?!{slash})[^\s?#\"'&])+"
    return re.compile(rf"({slash}{word}{slash}{segment})({slash}){token}")


_WEBHOOK_TOKEN = _path_pattern()


def mask_webhook_tokens(text: str) -> str:
    """``/webhook/mnq/AbC.xyz`` → ``/webhook/mnq/***``; also ``/WEBHOOK/…`` and ``%2f``-spelt paths."""
    if "webhook" not in _decoded(text).lower():  # the pattern is slow on a flood of '%'
        return text
    return _WEBHOOK_TOKEN.sub(rf"\1\2{MASK}", text)


class _Known:
    """The remembered values by scope and the pattern that finds any spelling of them (copy on write)."""

    def __init__(self) -> None:
        self.scopes: dict[str, frozenset[str]] = {}
        self.values: tuple[str, ...] = ()
        self.pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()


_known = _Known()


def remember(values: Iterable[str], *, scope: str) -> None:
    """Scrub these values from now on, in place of those remembered before for ``scope``
    (``"webhook"``: the secrets and their URL tokens; ``"gateway"``: the API key). A scope is
    replaced, not added to, so a process that starts many bridges (the tests) does not scrub
    an ever longer list. Values shorter than MIN_LENGTH are ignored."""
    fresh = frozenset(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)
    with _known.lock:
        if _known.scopes.get(scope) == fresh:
            return
        _known.scopes[scope] = fresh
        merged: set[str] = set().union(*_known.scopes.values())
        # Longest first, so a value containing another is removed whole.
        ordered = tuple(sorted(merged, key=lambda v: (-len(v), v)))
        pattern = re.compile("|".join("".join(_spelt(c) for c in v) for v in ordered)) if ordered else None
        _known.values, _known.pattern = ordered, pattern


def scrub(text: str) -> str:
    """``text`` with every remembered value (in any spelling) and every webhook token replaced by ``***``."""
    values, pattern = _known.values, _known.pattern
    if values and pattern is not None:
        if ("%" in text or "\\" in text) and _may_hold(text, values):
            text = pattern.sub(MASK, text)
        else:  # the common case: plain text, found by str.replace in C
            for value in values:
                if value in text:
                    text = text.replace(value, MASK)
    return mask_webhook_tokens(text)


def _may_hold(text: str, values: tuple[str, ...]) -> bool:
    """Whether ``text``, its escapes decoded, holds a value: the pattern runs only when it may
    match (it costs tens of ms on 64 KiB of ``%``; decoding costs a few)."""
    decoded = _decoded(text)
    return any(value in decoded for value in values)


def _decoded(text: str) -> str:
    """``text`` with percent-escapes (once or twice) and JSON ``\\uXXXX`` escapes decoded."""
    if "%" not in text and "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape, _ESCAPE.sub(_unescape, text))  # twice: %2573 → %73 → s


# Only well-formed escapes, found in C: urllib's unquote loops in Python over every '%'.
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")


def _unescape(found: re.Match[str]) -> str:
    return chr(int(found.group(1) or found.group(2), 16))


def scrub_data(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string scrubbed, keys too."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub_data(k): scrub_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_data(v) for v in value)
    return value


def url_without_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, as SQLAlchemy shows a URL:
    ``postgresql+psycopg://trader:***@db:5432/tvbridge``; text that is not a URL is returned as is."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a port that is not a number
        return url
    if not password:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
