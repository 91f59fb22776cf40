"""Stand in for TradingView's ``{{timenow}}``: set a test alert's own time to the moment it is sent.

``tvbridge send`` and the webhooks page's "Send test alert" post saved example bodies whose time
is fixed, so an entry would be refused as stale (``[alert] max_age_s``). TradingView fills
``{{timenow}}`` when the alert fires (tradingview.md §2.1); these senders do the same here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from app.domain.staleness import field_at
from app.strategies.template import StrategyTemplate
from app.strategies.values import EPOCH_MS_FROM

_WHITESPACE = " \t\n\r"
_ABSENT = object()


def refresh_alert_time(
    raw: bytes, template: StrategyTemplate | None, *, now: datetime | None = None
) -> bytes:
    """Return ``raw`` with the template's ``time_field`` set to ``now`` (default: the UTC clock).

    Only a JSON object body that has ``time_field`` changes (a field name, or a dotted path into
    nested objects such as ``metadata.timestamp``), and only that value, keeping its kind:
    ISO-8601 text becomes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds, as ``{{timenow}}``);
    epoch milliseconds (or seconds) stay so, as a number or as text. The rest of the body is
    kept byte for byte. Any other body (text, invalid JSON, no such field, no template or no
    ``time_field``) is returned unchanged.
    """
    if template is None or template.time_field is None or template.alert_format != "json":
        return raw
    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return raw
    if not isinstance(body, dict) or field_at(body, template.time_field, _ABSENT) is _ABSENT:
        return raw
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    spans = _value_spans(text, template.time_field, 0)
    if not spans:  # a key holding the dots is read first, as field_at reads it
        spans = _path_spans(text, template.time_field.split("."), 0)
    # Rebuilt from the end so the earlier spans keep their offsets (a repeated key: every copy).
    for start, end in sorted(spans, reverse=True):
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


def _path_spans(text: str, path: list[str], start: int) -> list[tuple[int, int]]:
    """Where the values at the dotted ``path`` sit in the JSON object starting at ``start``."""
    spans = _value_spans(text, path[0], start)
    if len(path) == 1:
        return spans
    inner = []
    for at, _end in spans:
        if text[at] == "{":
            inner.extend(_path_spans(text, path[1:], at))
    return inner


def _value_spans(text: str, key: str, start: int) -> list[tuple[int, int]]:
    """Where the values of ``key`` sit in the JSON object starting at ``start`` of ``text``
    (already known to be valid)."""
    decoder = json.JSONDecoder()
    spans = []
    at = _skip(text, _skip(text, start) + 1)  # past "{"
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
        sent = _json_sends(message, field)
    else:
        sent = template.pattern is not None and field in template.pattern.groupindex
    if sent:
        return []
    return [
        f"{where}: its alert message alerts/{template.name}.txt does not send time_field '{field}', "
        f"so the stale check cannot run and every alert is executed however old; add "
        f'"{field}": "{{{{timenow}}}}" to the message (max_age_s {template.max_age_s:g})'
    ]


def _json_sends(message: str, field: str) -> bool:
    """Whether a JSON alert message has ``field`` (a name or a dotted path into nested objects).

    The message may hold TradingView placeholders that are not JSON (``{{close}}`` unquoted), so
    when it does not parse, a plain name is looked for as ``"name":`` and a dotted path as its
    last part's key after each earlier part's key.
    """
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return field_at(body, field, _ABSENT) is not _ABSENT
    if re.search(rf'"{re.escape(field)}"\s*:', message):
        return True
    keys = r"[\s\S]*?".join(rf'"{re.escape(part)}"\s*:' for part in field.split("."))
    return "." in field and re.search(keys, message) is not None


def example_time_warnings(template: StrategyTemplate, example: str | None, shown: str) -> list[str]:
    """Warn when the example alert ``example`` (the text of ``shown``, e.g.
    ``alerts/mnq-market.example.json``) lacks ``template``'s ``time_field``, for ``tvbridge check``.

    Such an example, sent with ``tvbridge send`` or the page's "try it", is executed with no stale
    check, and a message copied from it would be too. Nothing to say without ``time_field``,
    with ``max_age_s = 0`` (stale_check_warnings says that) or without an example.
    """
    field = template.time_field
    if field is None or not template.max_age_s or example is None:
        return []
    if template.alert_format == "json":
        try:
            body = json.loads(example)
        except ValueError:
            body = None
        found = isinstance(body, dict) and field_at(body, field, _ABSENT) is not _ABSENT
    else:
        matched = template.pattern.search(example) if template.pattern is not None else None
        found = matched is not None and matched.groupdict().get(field) is not None
    if found:
        return []
    return [
        f"template '{template.name}': its example alert {shown} has no time_field '{field}', so it "
        "is executed with no stale check; add the field (as the alert message sends it)"
    ]
