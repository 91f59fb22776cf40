"""Keep secrets out of the logs: the signed webhook URL's token is a credential."""

from __future__ import annotations

import logging

from app.redact import mask_webhook_tokens

__all__ = ["MaskWebhookTokens", "install", "mask_webhook_tokens"]


class MaskWebhookTokens(logging.Filter):
    """A logging filter that masks webhook URL tokens in a record's message arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_webhook_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask_webhook_tokens(record.msg)
        return True


def install() -> None:
    """Mask tokens in uvicorn's access and error logs, httpx's request lines (the CLI's ``send``
    and the tunnel check post to signed URLs) and whatever reaches the root handlers (idempotent).
    """
    names = ("uvicorn.access", "uvicorn.error", "uvicorn", "httpx", "httpcore", "tvbridge")
    filtered: list[logging.Filterer] = [logging.getLogger(name) for name in names]
    filtered += logging.getLogger().handlers
    for target in filtered:
        if not any(isinstance(f, MaskWebhookTokens) for f in target.filters):
            target.addFilter(MaskWebhookTokens())
