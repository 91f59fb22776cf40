"""Make journaled text safe to print on a terminal. Below every other package: anything may import it.

A journal row holds what strangers sent: anyone can post to ``/webhook/<name>`` with a strategy
name carrying terminal escape codes (``\\x1b]0;…`` retitles the window, ``\\x1b[2J`` clears it,
``\\r`` overwrites a line, U+202E turns text around). Printed raw by ``tvbridge journal`` they would
act on the trader's terminal; printed through :func:`printable` they show as the visible escapes
``\\x1b``, ``\\r``, ``\\u202e``, and do nothing.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (U+0080..U+009F: 8-bit CSI, OSC, …), and the Unicode
# direction overrides and isolates that reorder what the terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every control character (C0, DEL, C1, an ESC that starts a sequence) and
    every direction override written as a visible escape: ESC → ``\\x1b``, CR → ``\\r``,
    U+202E → ``\\u202e``. Characters in ``keep`` (e.g. ``"\\n"`` for text of several lines that
    the caller built itself) are left as they are. Linear in the length of ``text``.
    """
    if keep:
        return "".join(
            part if len(part) == 1 and part in keep else printable(part) for part in _split(text, keep)
        )
    return _CONTROL.sub(_escape, text)


def _split(text: str, keep: str) -> list[str]:
    """``text`` cut around each character in ``keep``, those characters kept as parts."""
    return re.split(f"([{re.escape(keep)}])", text)
