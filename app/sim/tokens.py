"""Session tokens: JWT-shaped (HS256) so a client can read ``exp`` (projectx-api.md §2.5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenBook:
    """Issue, check and revoke the sim's session tokens.

    A token is valid when this book issued it, it was not logged out and ``exp`` (epoch
    seconds, UTC) lies after ``now``. Logging in again does not revoke older tokens (§2.5).
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._sessions: dict[str, tuple[str, int]] = {}  # token -> (user name, exp)

    def issue(self, user_name: str, now: datetime, lifetime_s: float) -> str:
        """Return a new token for ``user_name`` that expires ``lifetime_s`` seconds after now."""
        issued_at = int(now.timestamp())
        expires_at = issued_at + int(lifetime_s)
        claims = {
            "sub": user_name,
            "jti": secrets.token_hex(16),
            "iat": issued_at,
            "exp": expires_at,
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signed = f"{header}.{payload}".encode()
        signature = _b64url(hmac.new(self._secret, signed, hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self._sessions[token] = (user_name, expires_at)
        return token

    def is_valid(self, token: str, now: datetime) -> bool:
        """True when the token was issued here, not revoked, and not expired at ``now``."""
        session = self._sessions.get(token)
        return session is not None and now.timestamp() < session[1]

    def renew(self, token: str, now: datetime, lifetime_s: float) -> str:
        """Return a fresh token for the user of a valid ``token`` (Auth/validate, §2.3).

        The old token stays valid until it expires. Raises KeyError for an unknown token.
        """
        user_name, _ = self._sessions[token]
        return self.issue(user_name, now, lifetime_s)

    def revoke(self, token: str) -> None:
        """Forget a token (Auth/logout)."""
        self._sessions.pop(token, None)


def read_claims(token: str) -> dict[str, Any]:
    """Decode a token's payload without checking it (what a client does to read ``exp``).

    Raises ValueError when the token is not three base64url segments with a JSON payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"token has {len(parts)} segments, expected 3")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload))
    if not isinstance(claims, dict):
        raise ValueError("token payload is not a JSON object")
    return claims
