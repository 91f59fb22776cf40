"""TradingView webhook body → alert fields, webhook authentication, and sender checks.

``parse`` reads the raw body (JSON or text matched by the template's pattern) within its
bounds (JSON depth, number length and text length, checked by a linear scan before parsing) and
strips the secret before the body is journaled; ``auth`` checks the strategy's secret, given as
a signed URL token or in the body; ``sender`` holds TradingView's source addresses and the
per-address limit on refused requests (the lockout). None of them imports app.strategies: the
engine joins them.
"""

from app.ingest.auth import authenticate, ensure_secrets, load_secrets, url_token, webhook_path
from app.ingest.parse import find_body_secret, parse_body, stored_body

__all__ = [
    "authenticate",
    "ensure_secrets",
    "find_body_secret",
    "load_secrets",
    "parse_body",
    "stored_body",
    "url_token",
    "webhook_path",
]
