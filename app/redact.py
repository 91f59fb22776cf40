"""Keep credentials out of text bound for logs: the signed webhook URL's token is one.
Below every other package: anything may import it."""

from __future__ import annotations

import re

_WEBHOOK_TOKEN = re.compile(r"(/webhook/[^/\s?]+)/[^\s?\"]+")


def mask_webhook_tokens(text: str) -> str:
    """``/webhook/mnq/AbC.xyz`` → ``/webhook/mnq/***``."""
    return _WEBHOOK_TOKEN.sub(r"\1/***", text)
