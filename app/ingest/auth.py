"""Webhook authentication: one secret per strategy, proven by a signed URL or in the body.

TradingView cannot send custom headers, so a secret travels in the URL or the message
(reference/tradingview.md §1). The secrets file is flat TOML, ``mnq-bracket = "…"``, kept
out of git with mode 0600. The URL carries an itsdangerous signature of the strategy name
made with that strategy's secret, so the secret itself never appears in TradingView.
Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterable
from pathlib import Path

from itsdangerous import Signer

from app.errors import AlertAuthError, ConfigError
from app.files import write_atomically

_SALT = "tvbridge.webhook"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = (
    "# tvbridge webhook secrets: one line per strategy (template file stem).\n"
    "# Keep this file private. `tvbridge url <strategy>` prints the signed webhook URL.\n"
)


def load_secrets(path: Path) -> dict[str, str]:
    """Read the secrets file: strategy → secret. A missing file is no secrets ({}).

    Raises ConfigError naming the file (and the key) when the TOML is bad or a value is not
    a non-empty string.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Secrets file {path} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f'Secrets file {path} is not valid TOML: {exc}; each line is strategy = "secret"'
        ) from None
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"Secrets file {path}: key '{key}' must be a non-empty string secret; delete "
                f"the line and run `tvbridge url {key}` to make a new one"
            )
    return data


def ensure_secrets(path: Path, strategies: Iterable[str]) -> list[str]:
    """Give every strategy without a secret a new random one; return the names added.

    Existing entries (and comments) are kept; the file is rewritten atomically (temp file +
    os.replace) with mode 0600. Raises ConfigError when the existing file is bad.
    """
    existing = load_secrets(path)
    added = [name for name in dict.fromkeys(strategies) if name not in existing]
    if not added:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = _HEADER
    if text and not text.endswith("\n"):
        text += "\n"
    lines = [f'{_toml_key(name)} = "{secrets.token_urlsafe(24)}"\n' for name in added]
    write_atomically(path, (text + "".join(lines)).encode("utf-8"), mode=0o600)
    return added


def url_token(strategy: str, secret: str) -> str:
    """Return the URL-safe token that proves ``secret`` for ``strategy`` (HMAC-SHA256)."""
    return _signer(secret).get_signature(strategy.encode("utf-8")).decode("ascii")


def webhook_path(strategy: str, secret: str) -> str:
    """Return the webhook path for TradingView: ``/webhook/<strategy>/<token>``."""
    return f"/webhook/{strategy}/{url_token(strategy, secret)}"


def authenticate(
    strategy: str,
    expected_secret: str | None,
    *,
    body_secret: str | None,
    url_token: str | None,
) -> None:
    """Accept the request when the URL token or the body's secret proves the strategy's secret.

    A valid URL token is enough (a wrong body secret beside it is ignored), and so is a
    correct body secret. Raises AlertAuthError (401) when no secret is configured, none was
    sent, or what was sent is wrong; the message never repeats what was sent.
    """
    if not expected_secret:
        raise AlertAuthError(
            f"No webhook secret is configured for strategy '{strategy}': run `tvbridge url "
            f'{strategy}` to make one (or add {strategy} = "…" to the secrets file) and use '
            "the signed URL it prints"
        )
    token = url_token or None
    secret = body_secret or None
    if token is None and secret is None:
        raise AlertAuthError(
            f"No webhook secret for strategy '{strategy}': use the signed webhook URL from "
            f'`tvbridge url {strategy}`, or put "secret": "<your secret>" in the alert message'
        )
    if token is not None and _signer(expected_secret).verify_signature(
        strategy.encode("utf-8"), token.encode("utf-8")
    ):
        return
    if secret is not None and hmac.compare_digest(secret.encode("utf-8"), expected_secret.encode("utf-8")):
        return
    sent = " and ".join(
        part
        for part, given in (("the URL token", token), ("the secret in the message", secret))
        if given is not None
    )
    raise AlertAuthError(
        f"wrong secret for strategy '{strategy}': {sent} does not match; copy the webhook URL "
        f"again from `tvbridge url {strategy}` into the alert"
    )


def _signer(secret: str) -> Signer:
    return Signer(secret, salt=_SALT, digest_method=hashlib.sha256)


def _toml_key(name: str) -> str:
    if _BARE_KEY.match(name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
