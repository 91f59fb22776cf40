"""Stand in for TradingView's ``{{timenow}}``: set a test alert's own time to the moment it is sent.

``tvbridge send`` and the webhooks page's "Send test alert" post saved example bodies whose time
is fixed, so an entry would be refused as stale (``[alert] max_age_s``). TradingView fills
``{{timenow}}`` when the alert fires (tradingview.md §2.1); these senders do the same here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from app.strategies.template import StrategyTemplate
from app.strategies.values import EPOCH_MS_FROM

_WHITESPACE = " \t\n\r"


def refresh_alert_time(
    raw: bytes, template: StrategyTemplate | None, *, now: datetime | None = None
) -> bytes:
    """Return ``raw`` with the template's ``time_field`` set to ``now`` (default: the UTC clock).

    Only a JSON object body that has ``time_field`` at its top level changes, and only that
    value, keeping its kind: ISO-8601 text becomes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds,
    as ``{{timenow}}``); epoch milliseconds (or seconds) stay so, as a number or as text. The rest
    of the body is kept byte for byte. Any other body (text, invalid JSON, no such field, no
    template or no ``time_field``) is returned unchanged.
    """
    if template is None or template.time_field is None or template.alert_format != "json":
        return raw
    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return raw
    if not isinstance(body, dict) or template.time_field not in body:
        return raw
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    # Rebuilt from the end so the earlier spans keep their offsets (a repeated key: every copy).
    for start, end in reversed(_value_spans(text, template.time_field)):
        text = text[:start] + _time_like(json.loads(text[start:end]), moment) + text[end:]
    return text.encode("utf-8")


def _time_like(old: object, moment: datetime) -> str:
    """``moment`` as JSON, in the shape of the ``old`` value."""
    number = old if isinstance(old, int | float) and not isinstance(old, bool) else None
    if isinstance(old, str) and old.strip().replace(".", "", 1).isdigit():
        number = float(old)
    if number is None:
        return json.dumps(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    epoch = int(moment.timestamp() * 1000) if number >= EPOCH_MS_FROM else int(moment.timestamp())
    return str(epoch) if not isinstance(old, str) else json.dumps(str(epoch))


def _value_spans(text: str, key: str) -> list[tuple[int, int]]:
    """Where the values of ``key`` sit in a JSON object's text (already known to be valid)."""
    decoder = json.JSONDecoder()
    spans = []
    at = _skip(text, _skip(text, 0) + 1)  # past "{"
    while text[at] == '"':
        name, at = decoder.raw_decode(text, at)  # the key: a JSON string
        at = _skip(text, _skip(text, at) + 1)  # past ":"
        _, end = decoder.raw_decode(text, at)
        if name == key:
            spans.append((at, end))
        at = _skip(text, end)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return spans


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at
