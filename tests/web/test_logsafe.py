"""The signed webhook URL's token is a credential: it never reaches the log."""

from __future__ import annotations

import logging

import pytest

from app.web.logsafe import MaskWebhookTokens, mask_webhook_tokens


def test_tokens_are_masked_and_strategies_kept() -> None:
    line = '127.0.0.1:5000 - "POST /webhook/mnq-bracket/AbC.dEf-123_x HTTP/1.1" 200'
    assert mask_webhook_tokens(line) == '127.0.0.1:5000 - "POST /webhook/mnq-bracket/*** HTTP/1.1" 200'
    assert mask_webhook_tokens("POST /webhook/mnq-bracket HTTP/1.1") == "POST /webhook/mnq-bracket HTTP/1.1"


def test_uvicorn_style_access_record_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.access")
    logger.addFilter(MaskWebhookTokens())
    with caplog.at_level(logging.INFO, logger="test.access"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "POST", "/webhook/s/secret-token", "1.1", 200)
    assert "secret-token" not in caplog.text
    assert "/webhook/s/***" in caplog.text
