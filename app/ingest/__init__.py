"""TradingView webhook body → alert fields, and webhook authentication.

``parse`` reads the raw body (JSON or text matched by the template's pattern) and strips the
secret before the body is journaled; ``auth`` checks the strategy's secret, given as a signed
URL token or in the body. Neither imports app.strategies: the engine joins them.
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
