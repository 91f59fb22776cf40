"""Keep secrets out of the logs: webhook secrets, URL tokens and the API key are credentials.

Every log record is scrubbed where it is made (a log record factory), not by a filter: a logger's
filter misses the records of its child loggers, and a handler's filter misses handlers added
later (pytest's caplog, a trader's own logging configuration). app/redact.py says what is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.redact import mask_webhook_tokens, scrub

__all__ = ["MaskWebhookTokens", "install", "mask_webhook_tokens", "scrub_record"]

_PLAIN = (int, float, bool, type(None))


class MaskWebhookTokens(logging.Filter):
    """A logging filter that scrubs a record (kept for handlers configured by name)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub the record's message, its arguments and its traceback in place.

    Arguments stay arguments (uvicorn's access formatter unpacks them); one whose text holds a
    credential is replaced by its scrubbed text.
    """
    record.msg = _scrub_arg(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_scrub_arg(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _scrub_arg(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def _scrub_arg(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, _PLAIN):
        return value
    try:
        text, shown = str(value), repr(value)
    except Exception:  # an object that cannot say what it is holds nothing to scrub
        return value
    if scrub(text) != text or scrub(shown) != shown:
        return scrub(text)
    return value


def _scrubbing_factory(make: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        scrub_record(record)
        return record

    factory.tvbridge_scrubs = True  # type: ignore[attr-defined]
    return factory


def install() -> None:
    """Scrub every log record the process makes from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "tvbridge_scrubs", False):
        logging.setLogRecordFactory(_scrubbing_factory(current))
