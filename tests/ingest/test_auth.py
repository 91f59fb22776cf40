"""Webhook secrets: the secrets file, signed URL tokens, and who gets a 401."""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path

import pytest

from app.errors import AlertAuthError, ConfigError
from app.ingest import authenticate, ensure_secrets, load_secrets, url_token, webhook_path

SECRET = "Zm9vYmFyLXNlY3JldC12YWx1ZS0xMjM0"


def refused(**kwargs: object) -> str:
    kwargs.setdefault("body_secret", None)
    kwargs.setdefault("url_token", None)
    strategy = kwargs.pop("strategy", "mnq-bracket")
    expected = kwargs.pop("expected", SECRET)
    with pytest.raises(AlertAuthError) as caught:
        authenticate(strategy, expected, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- the secrets file ----------------------------------------------------------------------


def test_missing_secrets_file_means_no_secrets(tmp_path: Path) -> None:
    assert load_secrets(tmp_path / "webhook_secrets.toml") == {}


def test_secrets_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text('# mine\nmnq-bracket = "abc"\n"odd name" = "def"\n')

    assert load_secrets(path) == {"mnq-bracket": "abc", "odd name": "def"}


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text("mnq-bracket = abc\n")

    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_secrets(path)


@pytest.mark.parametrize("value", ["123", "true", "{ a = 1 }", '""', '"   "'])
def test_non_string_or_empty_secret_names_file_and_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text(f'ok = "x"\nmnq-bracket = {value}\n')

    with pytest.raises(ConfigError) as caught:
        load_secrets(path)

    assert str(path) in str(caught.value) and "'mnq-bracket'" in str(caught.value)


def test_ensure_secrets_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"

    added = ensure_secrets(path, ["mnq-bracket", "nq-text"])

    assert added == ["mnq-bracket", "nq-text"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secrets = load_secrets(path)
    assert set(secrets) == {"mnq-bracket", "nq-text"}
    assert all(len(s) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", s) for s in secrets.values())
    assert secrets["mnq-bracket"] != secrets["nq-text"]
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_ensure_secrets_keeps_existing_entries_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text('# my secrets\nmnq-bracket = "keep-me"')
    path.chmod(0o644)

    added = ensure_secrets(path, ["mnq-bracket", "mnq-exit", "mnq-exit"])

    assert added == ["mnq-exit"]
    text = path.read_text()
    assert text.startswith('# my secrets\nmnq-bracket = "keep-me"\n')
    assert tomllib.loads(text)["mnq-bracket"] == "keep-me"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_ensure_secrets_with_nothing_to_add_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"
    ensure_secrets(path, ["mnq-bracket"])
    before = path.read_text()

    assert ensure_secrets(path, ["mnq-bracket"]) == []
    assert path.read_text() == before


def test_ensure_secrets_refuses_to_overwrite_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secrets.toml"
    path.write_text("this is = = not toml\n")

    with pytest.raises(ConfigError):
        ensure_secrets(path, ["mnq-bracket"])
    assert path.read_text() == "this is = = not toml\n"


# --- signed URL tokens ---------------------------------------------------------------------


def test_url_token_is_stable_and_url_safe() -> None:
    token = url_token("mnq-bracket", SECRET)

    assert token == url_token("mnq-bracket", SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", token)
    assert SECRET not in token
    assert token != url_token("mnq-exit", SECRET)
    assert token != url_token("mnq-bracket", SECRET + "x")


def test_webhook_path() -> None:
    assert webhook_path("mnq-bracket", SECRET) == f"/webhook/mnq-bracket/{url_token('mnq-bracket', SECRET)}"


# --- authenticate --------------------------------------------------------------------------


def test_valid_url_token_passes() -> None:
    authenticate("mnq-bracket", SECRET, body_secret=None, url_token=url_token("mnq-bracket", SECRET))


def test_valid_url_token_passes_despite_a_wrong_body_secret() -> None:
    token = url_token("mnq-bracket", SECRET)

    authenticate("mnq-bracket", SECRET, body_secret="not-it", url_token=token)


def test_correct_body_secret_passes() -> None:
    authenticate("mnq-bracket", SECRET, body_secret=SECRET, url_token=None)


def test_wrong_url_token_is_refused_without_echoing_it() -> None:
    bad = url_token("mnq-bracket", "another-secret")

    message = refused(url_token=bad)

    assert message.startswith("wrong secret for strategy 'mnq-bracket'")
    assert bad not in message and SECRET not in message


def test_token_of_another_strategy_is_refused() -> None:
    other = url_token("mnq-exit", SECRET)

    assert refused(url_token=other).startswith("wrong secret for strategy 'mnq-bracket'")


@pytest.mark.parametrize(
    "sent",
    [SECRET[:-1], SECRET + "0", SECRET[:-1] + "X", "", "é" + SECRET[1:], SECRET.upper()],
)
def test_wrong_body_secret_is_refused_without_echoing_it(sent: str) -> None:
    if not sent:
        assert "No webhook secret" in refused(body_secret=sent)
        return
    message = refused(body_secret=sent)

    assert message.startswith("wrong secret for strategy 'mnq-bracket'")
    assert sent not in message


def test_missing_secret_says_how_to_send_one() -> None:
    message = refused(body_secret=None, url_token=None)

    assert "tvbridge url mnq-bracket" in message
    assert '"secret"' in message


def test_empty_url_token_counts_as_missing() -> None:
    assert "No webhook secret" in refused(url_token="")


@pytest.mark.parametrize("configured", [None, ""])
def test_no_secret_configured_refuses_everything(configured: str | None) -> None:
    message = refused(expected=configured, body_secret="anything", url_token="anything")

    assert message.startswith("No webhook secret is configured for strategy 'mnq-bracket'")
    assert "tvbridge url mnq-bracket" in message
