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
    """Mask tokens in uvicorn's access and error logs (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskWebhookTokens) for f in logger.filters):
            logger.addFilter(MaskWebhookTokens())
