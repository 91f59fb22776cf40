"""What every command shares: printing, settings, files, and the running bridge's URLs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from app.config import Settings, load_settings
from app.errors import BridgeError, ConfigError
from app.text import printable

EXIT_CONFIG = 2


def say(text: str, *, file: TextIO | None = None) -> None:
    """Print one message. Control characters become visible escapes (app/text.py): journaled
    text (strategy names, reasons, account names) may come from strangers, and must never act on
    the terminal; the message's own line breaks are kept."""
    print(printable(text, keep="\n"), file=file)


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings from ``--config`` (default ./tvbridge.toml if present). Raises ConfigError."""
    return load_settings(args.config)


def read_text(path: Path) -> str | None:
    """The text of ``path``, or None when it cannot be read (missing, not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def read_file(path: Path) -> bytes:
    """The bytes of an alert file. Raises BridgeError naming the file when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read alert file {path}: {exc.strerror}") from None


def webhook_url(settings: Settings, strategy: str, base_url: str | None) -> str:
    """The strategy's signed webhook URL under ``base_url`` (default the pages' host and port).

    Raises ConfigError when the secrets file has no secret for ``strategy``.
    """
    from app.ingest.auth import load_secrets, webhook_path

    secret = load_secrets(settings.server.secrets_file).get(strategy)
    if secret is None:
        raise ConfigError(
            f"no webhook secret for strategy '{strategy}' in {settings.server.secrets_file}: "
            f"check the name (templates/{strategy}.toml) or run `tvbridge serve` once to make one"
        )
    base = (base_url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/")
    return base + webhook_path(strategy, secret)
