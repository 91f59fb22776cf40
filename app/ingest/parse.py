"""Read a TradingView webhook body: JSON or text, with a precise 422 for the usual mistakes.

TradingView sends the alert's Message box as it is after placeholder substitution, with no
envelope, and calls it ``text/plain`` whenever the text is not valid JSON
(reference/tradingview.md §1, §4), so the Content-Type is ignored and the raw body is parsed.
Every AlertInvalidError message says what is wrong, where (``line L``), and what to do.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from app.errors import AlertInvalidError

# Placeholders TradingView fills in (reference/tradingview.md §2.1, §2.2).
KNOWN_PLACEHOLDERS: tuple[str, ...] = (
    "ticker",
    "exchange",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "time",
    "timenow",
    "interval",
    *(f"plot_{n}" for n in range(20)),
    "strategy.order.action",
    "strategy.order.contracts",
    "strategy.order.price",
    "strategy.order.id",
    "strategy.order.comment",
    "strategy.order.alert_message",
    "strategy.market_position",
    "strategy.market_position_size",
    "strategy.prev_market_position",
    "strategy.prev_market_position_size",
    "strategy.position_size",
)

# No brace inside a placeholder: each scan stops at the next brace, so the search is linear
# (``.+?`` here made ``{{`` × 30,000 quadratic: 30 s of a frozen event loop).
_PLACEHOLDER = re.compile(r"\{\{([^{}\r\n]+)\}\}")
_PLOT_BY_TITLE = re.compile(r'plot\(".*"\)')
_TYPOGRAPHIC_DOUBLE = "“”„"
_TYPOGRAPHIC_SINGLE = "‘’‚"
_NO_NUMBER = ("nan", "-nan", "na", "infinity", "-infinity", "inf", "-inf")
_QUOTES = "\"'“”‘’"
# Bounds on a body's shape, checked by one linear scan before any JSON parser sees it: Python's
# json recurses per nesting level (``[`` × 1,100 raised RecursionError) and converts every digit
# of an integer (5,000 digits raised ValueError). TradingView alerts are flat objects with short
# numbers, so these leave room for any real message.
MAX_JSON_DEPTH = 32  # nested objects and arrays
MAX_NUMBER_CHARS = 40  # characters of one number literal, sign, point and exponent included
MAX_TEXT_CHARS = 4096  # a text body the template's own pattern is run on (see _parse_text)
# A JSON string, possessive so that it never backtracks: an unterminated one runs to the end.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_LONG_NUMBER = re.compile(rf"\d[\d.eE+-]{{{MAX_NUMBER_CHARS},}}")
# What _first_finding looks at, in the order it looks (the rest is skipped inside the regex).
_FINDING = re.compile(
    rf"""(?P<string>{_STRING.pattern})|(?P<mark>[“”„‘’‚'#]|//|/\*)"""
    # Runs of what JSON allows outside strings, one match each (not one per number).
    r"|(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|(?:true|false|null)(?![A-Za-z0-9_.])|[\s,:\[\]{}])++"
    r"|(?P<word>-?[A-Za-z_][A-Za-z0-9_.]*+)",
    re.DOTALL,
)
_LENIENT_FIELD = r"(?<![\w-])[{q}]?{field}[{q}]?\s*[:=]\s*(?:[{q}]([^{q}\r\n]*)[{q}]|([^\s,;}}{q}]+))"


def parse_body(
    raw: bytes, *, fmt: Literal["json", "text"], pattern: re.Pattern[str] | None = None
) -> dict[str, Any]:
    """Parse a webhook body into the alert's fields.

    JSON: the top-level object, floats as Decimal, ints as int, strings as sent.
    Text: the named groups of ``pattern.search(body)`` (unmatched optional groups left out).
    Raises AlertInvalidError (422) naming the line and the fault, then what to do.
    Raises ValueError when ``fmt`` is "text" and no ``pattern`` is given (a template bug).
    """
    text = _decode(raw)
    _reject_placeholders(text)
    if fmt == "json":
        fault = shape_fault(text)
        if fault is not None:
            raise AlertInvalidError(fault)
        return _parse_json(text)
    if pattern is None:
        raise ValueError("a text template needs a pattern")
    return _parse_text(text, pattern)


def shape_fault(text: str) -> str | None:
    """Why ``text`` is too deep or has too long a number to be parsed as JSON, or None.

    Outside strings: more than MAX_JSON_DEPTH nested ``[``/``{`` (unclosed ones count) or a
    number literal longer than MAX_NUMBER_CHARS characters. Linear: the regular expressions
    cannot backtrack, and the only Python loop is over the brackets.
    """
    bare = _STRING.sub('""', text)
    brackets = _NOT_BRACKET.sub("", bare)
    if brackets.count("[") + brackets.count("{") > MAX_JSON_DEPTH:
        depth = 0
        for at, ch in enumerate(brackets):
            depth = depth + 1 if ch in "[{" else max(0, depth - 1)
            if depth > MAX_JSON_DEPTH:
                where = _nth_bracket(bare, at)
                return (
                    f"line {_line(bare, where)}: more than {MAX_JSON_DEPTH} nested brackets — an "
                    "alert is a flat JSON object {…}; fix the alert's message"
                )
    number = _LONG_NUMBER.search(bare)
    if number is not None:
        return (
            f"line {_line(bare, number.start())}: a number longer than {MAX_NUMBER_CHARS} "
            "characters — send prices and quantities as plain numbers"
        )
    return None


def _nth_bracket(text: str, n: int) -> int:
    """The position in ``text`` of its ``n``-th bracket (0-based)."""
    for index, match in enumerate(_BRACKET.finditer(text)):
        if index == n:
            return match.start()
    return 0


def tradingview_content_type(raw: bytes) -> str:
    """The Content-Type TradingView sends with a message: application/json when the message is
    valid JSON, else text/plain (tradingview.md §1). Used to send test alerts as it would."""
    try:
        if shape_fault(raw.decode("utf-8")) is not None:
            return "text/plain; charset=utf-8"
        json.loads(raw)
    except (ValueError, RecursionError):
        return "text/plain; charset=utf-8"
    return "application/json"


def find_body_secret(raw: bytes, secret_field: str) -> str | None:
    """Return the webhook secret written in the body, or None.

    Reads a JSON object's top-level ``secret_field``; when the body is not valid JSON, looks
    for ``secret_field`` followed by ``:`` or ``=`` and a value in any quote style, so a
    trader whose JSON is broken but whose secret is right gets the precise 422, not a 401.
    """
    text = raw.decode("utf-8", errors="replace")
    try:
        if shape_fault(text) is not None:
            raise ValueError("not parsed: too deep, or too long a number")
        data = json.loads(text, parse_float=Decimal)
    except ValueError:
        pattern = _LENIENT_FIELD.format(q=_QUOTES, field=re.escape(secret_field))
        match = re.search(pattern, text)
        if match is None:
            return None
        return match.group(1) if match.group(1) is not None else match.group(2)
    if not isinstance(data, dict) or secret_field not in data:
        return None
    value = data[secret_field]
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def stored_body(raw: bytes, fields: dict[str, Any], secret_field: str) -> str:
    """Return the body to journal: the webhook secret removed, everything else as sent.

    A JSON object is re-serialised without ``secret_field`` (numbers kept digit for digit);
    any other occurrence of the secret's text becomes ``***``. A body without a secret is
    returned unchanged.
    """
    text = raw.decode("utf-8", errors="replace")
    secret = fields.get(secret_field)
    if secret is None or isinstance(secret, dict | list):
        secret = find_body_secret(raw, secret_field)
    if secret is None or str(secret) == "":
        return text
    try:
        data = None if shape_fault(text) is not None else json.loads(text, parse_float=Decimal)
    except ValueError:
        data = None
    if isinstance(data, dict) and secret_field in data:
        del data[secret_field]
        text = _dumps(data)
    return text.replace(str(secret), "***")


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlertInvalidError(
            f"body is not UTF-8 text (byte {exc.start}) — send the alert's message as plain "
            "text from TradingView's Message box"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise AlertInvalidError(
            "empty body — the alert's message is empty; type a message in TradingView's Message "
            "box (a {{strategy.order.alert_message}} is empty when the strategy's order call "
            "has no alert_message)"
        )
    return text


def _reject_placeholders(text: str) -> None:
    found = list(_PLACEHOLDER.finditer(text))
    if not found:
        return
    first = found[0]
    name = first.group(1).strip()[:100]
    line = _line(text, first.start())
    if name in KNOWN_PLACEHOLDERS or _PLOT_BY_TITLE.fullmatch(name):
        advice = (
            "TradingView did not fill it in: strategy placeholders work only in alerts made "
            "on a strategy, and alert() messages are sent as they are"
        )
    else:
        close = difflib.get_close_matches(name, KNOWN_PLACEHOLDERS, n=1, cutoff=0.6)
        example = f"{{{{{close[0]}}}}}" if close else "{{ticker}}"
        advice = f"TradingView sends a placeholder it does not know as it is; check its name (e.g. {example})"
    more = f"; {len(found) - 1} more after it" if len(found) > 1 else ""
    raise AlertInvalidError(f"line {line}: unsubstituted placeholder {first.group(0)} — {advice}{more}")


def _parse_text(text: str, pattern: re.Pattern[str]) -> dict[str, Any]:
    # The pattern is the trader's own regular expression, so its cost is theirs to choose, but a
    # body is not: Python's re has no timeout, so the input is bounded instead (a backtracking
    # pattern's cost grows with the text it is run on; TradingView messages are a line or two).
    if len(text) > MAX_TEXT_CHARS:
        raise AlertInvalidError(
            f"text body of {len(text)} characters (at most {MAX_TEXT_CHARS}) — a text alert is "
            "a short message; check the alert's Message box"
        )
    match = pattern.search(text)
    if match is None:
        shown = text.strip()[:80]
        raise AlertInvalidError(
            f"text body does not match the template's pattern '{pattern.pattern}': "
            f"'{shown}' — make the alert's message match the pattern, or change alert.pattern "
            "in the template"
        )
    return {name: value for name, value in match.groupdict().items() if value is not None}


class _NoNumber(ValueError):
    """JSON's NaN/Infinity: valid to Python's json module, never a usable value."""


def _refuse_constant(name: str) -> Any:
    raise _NoNumber(name)


def _parse_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except _NoNumber:
        raise AlertInvalidError(_diagnose(text, None)) from None
    except json.JSONDecodeError as exc:
        raise AlertInvalidError(_diagnose(text, exc)) from None
    if not isinstance(data, dict):
        kinds: dict[type, str] = {list: "an array [...]", str: "a string"}
        kind = kinds.get(type(data), f"the value {data}")
        raise AlertInvalidError(
            f"expected a JSON object {{…}}, got {kind} — put the alert's fields between {{ }}"
        )
    return data


@dataclass(frozen=True)
class _Finding:
    """Something outside a JSON string that JSON does not allow."""

    pos: int
    token: str


def _diagnose(text: str, exc: json.JSONDecodeError | None) -> str:
    """Explain why ``text`` is not JSON, at the spot json stopped (or the first NaN)."""
    stripped = text.strip()
    start = len(text) - len(text.lstrip())
    if len(stripped) > 1 and stripped[0] == "'" and stripped[-1] == "'":
        return (
            "line 1: the body is wrapped in single quotes '…' — paste only the JSON between "
            "them into the alert's Message box"
        )
    if stripped[0] not in "{[" + _TYPOGRAPHIC_DOUBLE:
        return (
            f"line {_line(text, start)}: the body is not JSON: '{stripped[:80]}' — this "
            "strategy's template expects a JSON object {…}; write the alert's message as JSON, "
            'or give the template alert.format = "text" and a pattern'
        )
    stop = exc.pos if exc is not None else None
    finding = _first_finding(text)
    if finding is not None and (stop is None or finding.pos <= stop):
        return _explain(text, finding)
    assert exc is not None  # a NaN is always found by the scan
    return _explain_structure(text, exc)


def _first_finding(text: str) -> _Finding | None:
    """Scan outside strings for typographic quotes, comments, single quotes and bare words."""
    for token in _FINDING.finditer(text):
        kind = token.lastgroup
        if kind in ("mark", "word"):
            return _Finding(token.start(), token.group())
    return None


def _explain(text: str, finding: _Finding) -> str:
    where = f"line {_line(text, finding.pos)}"
    mark = finding.token
    if len(mark) == 1 and mark in _TYPOGRAPHIC_DOUBLE + _TYPOGRAPHIC_SINGLE:
        return f'{where}: typographic quote {mark} — use plain " (JSON strings take double quotes)'
    if mark in ("//", "/*", "#"):
        return f"{where}: {mark} comment — JSON has no comments; remove it"
    if mark == "'":
        return f"{where}: single quote ' — JSON strings take double quotes; use plain \""
    if text[: finding.pos].rstrip()[-1:] in ("{", ","):
        return f'{where}: key {mark} without quotes — put keys in double quotes: "{mark}"'
    key = _key_before(text, finding.pos)
    if mark.lower() in _NO_NUMBER:
        return (
            f"{where}: {key} is {mark} — the placeholder produced no number; check that it "
            "has a value when the alert fires"
        )
    return f'{where}: {key} is {mark} without quotes — put text values in double quotes, e.g. "{mark}"'


def _explain_structure(text: str, exc: json.JSONDecodeError) -> str:
    where = f"line {exc.lineno}"
    here = text[exc.pos : exc.pos + 1]
    before = text[: exc.pos].rstrip()[-1:]
    if here in (",", "}", "]") and before in (":", ",", "[") and exc.msg == "Expecting value":
        return (
            f"{where}: {_key_before(text, exc.pos)} has no value — the placeholder produced no "
            "number; check that it has a value when the alert fires"
        )
    if here in ("}", "]") and before == ",":
        return f"{where}: trailing comma before {here} — JSON allows no comma after the last value; remove it"
    return (
        f"line {exc.lineno} column {exc.colno}: {exc.msg} — fix the JSON in the alert's "
        "Message box (a JSON checker shows the spot)"
    )


def _key_before(text: str, pos: int) -> str:
    match = re.search(r'"([^"\n]*)"\s*:\s*$', text[:pos])
    return f'"{match.group(1)}"' if match else "a value"


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _dumps(value: Any) -> str:
    """JSON text for a parsed body, writing Decimals digit for digit."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}: {_dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
