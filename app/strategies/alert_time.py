"""Stand in for TradingView's ``{{timenow}}``: set a test alert's own time to the moment it is sent.

``tvbridge send`` and the webhooks page's "Send test alert" post saved example bodies whose time
is fixed, so an entry would be refused as stale (``[alert] max_age_s``). TradingView fills
``{{timenow}}`` when the alert fires (tradingview.md §2.1); these senders do the same here.
"""

from __future__ import annotations

import json
import re
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


def stale_check_warnings(template: StrategyTemplate, message: str | None) -> list[str]:
    """What would leave ``template``'s stale check silently off, for ``tvbridge check``.

    ``message``: the alert message to paste into TradingView (``alerts/<strategy>.txt``), or
    None when there is none to read. Warns when ``time_field`` is set with ``max_age_s = 0``
    (never stale), and when the message does not send ``time_field`` (the alert then executes
    without its age checked). A JSON message must have the key ``"<time_field>"``; a text message
    is read by the template's pattern, which must have the group ``(?P<time_field>...)``.
    """
    field = template.time_field
    if field is None:
        return []
    where = f"template '{template.name}'"
    if not template.max_age_s:
        return [
            f"{where}: time_field '{field}' is set but max_age_s = 0: its alerts are never refused "
            "as stale, however late they arrive; set max_age_s (the default is 30 s)"
        ]
    if message is None:
        return []
    if template.alert_format == "json":
        sent = re.search(rf'"{re.escape(field)}"\s*:', message) is not None
    else:
        sent = template.pattern is not None and field in template.pattern.groupindex
    if sent:
        return []
    return [
        f"{where}: its alert message alerts/{template.name}.txt does not send time_field '{field}', "
        f"so the stale check cannot run and every alert is executed however old; add "
        f'"{field}": "{{{{timenow}}}}" to the message (max_age_s {template.max_age_s:g})'
    ]
