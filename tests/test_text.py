"""Journaled text printed on a terminal: control characters become visible escapes."""

from __future__ import annotations

from app.text import printable


def test_escape_codes_and_every_control_character_become_visible() -> None:
    evil = "mnq\x1b]0;pwned\x07\x1b[2J\rfake\x00\x7f\x9b31m\u202eusd"
    shown = printable(evil)
    assert shown == "mnq\\x1b]0;pwned\\x07\\x1b[2J\\rfake\\x00\\x7f\\x9b31m\\u202eusd"
    assert all(c.isprintable() for c in shown)
    assert printable("a\nb\tc") == "a\\nb\\tc"  # one value: no line of its own


def test_plain_text_and_unicode_are_kept_and_kept_line_breaks_stay() -> None:
    text = "SIM-AUTO-OCO: order size 3 contracts → refused, 21 500,25 € ✓ 日本"
    assert printable(text) == text
    assert printable("line 1\nline\x1b 2\r\n", keep="\n") == "line 1\nline\\x1b 2\\r\n"
    assert printable("") == "" and printable("\n\n", keep="\n") == "\n\n"


def test_it_is_linear_on_a_large_body() -> None:
    assert printable("\x1b" * 100_000) == "\\x1b" * 100_000
