"""Settings: tvbridge.toml, TVBRIDGE_* environment, and one clear line for a bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import load_settings, settings_problems
from app.errors import ConfigError
from app.toml_lines import key_lines


def test_defaults_run_on_the_simulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./tvbridge.toml here
    settings = load_settings()
    assert settings.gateway.kind == "sim"
    assert settings.journal.url == "sqlite:///tvbridge.db"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)


def test_file_then_environment_with_nesting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tvbridge.toml"
    config.write_text(
        '[gateway]\nkind = "topstepx"\nusername = "trader1"\napi_key = "from-file"\n[server]\nport = 9000\n'
    )
    monkeypatch.setenv("TVBRIDGE_GATEWAY__API_KEY", "from-env")

    settings = load_settings(config)

    assert settings.gateway.resolved_api_url == "https://api.topstepx.com"
    assert settings.gateway.resolved_user_hub_url == "https://rtc.topstepx.com/hubs/user"
    assert settings.gateway.api_key.get_secret_value() == "from-env"  # environment wins
    assert settings.server.port == 9000
    assert "from-env" not in repr(settings) and "from-env" not in str(settings.gateway)


def test_custom_firm_needs_both_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVBRIDGE_GATEWAY__KIND", "custom")
    monkeypatch.setenv("TVBRIDGE_GATEWAY__USERNAME", "me")
    monkeypatch.setenv("TVBRIDGE_GATEWAY__API_KEY", "k")
    monkeypatch.setenv("TVBRIDGE_GATEWAY__API_URL", "https://api.alphaticks.projectx.com")
    with pytest.raises(ConfigError, match="user_hub_url"):
        load_settings(None)


def test_a_bad_value_names_the_key_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVBRIDGE_SERVER__PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert "server.port" in message and "eighty" in message and "\n" not in message


def test_an_api_key_is_never_echoed_in_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tvbridge.toml"
    config.write_text('[gateway]\napi_key = ["not", "a", "string", "s3cr3t-value"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "s3cr3t-value" not in str(caught.value)


def test_broken_toml_and_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    config = tmp_path / "tvbridge.toml"
    config.write_text("[gateway\nkind = 'sim'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_rate_limit_above_the_gateways_is_refused_except_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    live = {"kind": "topstepx", "username": "me", "api_key": "k", "rate_limit_per_minute": 500}
    with pytest.raises(ConfigError, match="200 requests / 60 s"):
        load_settings(None, gateway=live)
    bench = {
        "kind": "custom",
        "api_url": "http://127.0.0.1:8100",
        "user_hub_url": "ws://127.0.0.1:8100/hubs/user",
        "username": "bench",
        "api_key": "bench",
        "rate_limit_per_minute": 100_000,
    }
    assert load_settings(None, gateway=bench).gateway.rate_limit_per_minute == 100_000


def test_hub_silence_timeout_below_twice_the_ping_interval_is_refused_on_a_real_gateway() -> None:
    live = {"kind": "topstepx", "username": "me", "api_key": "k"}
    with pytest.raises(ConfigError, match=r"hub_silence_timeout_s 5 is below 30 s.*15 s ping interval"):
        load_settings(None, gateway={**live, "hub_silence_timeout_s": 5})

    assert (
        load_settings(None, gateway={**live, "hub_silence_timeout_s": 30}).gateway.hub_silence_timeout_s == 30
    )
    # The built-in simulator pings at half the timeout, so shorter ones are fine there (tests).
    assert load_settings(None, gateway={"kind": "sim", "hub_silence_timeout_s": 1.5}).gateway.kind == "sim"


def test_order_size_ceiling_is_10_by_default_and_can_be_set_higher_per_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 12: max_order_size is on with no [risk] at all; a trader raises it on purpose."""
    monkeypatch.chdir(tmp_path)  # no ./tvbridge.toml here
    assert load_settings().risk.for_account("PRAC-1", 1).max_order_size == 10
    path = tmp_path / "tvbridge.toml"
    path.write_text('[risk]\nmax_order_size = 30\n[risk.accounts."PRAC-2"]\nmax_order_size = 50\n')
    risk = load_settings(path).risk
    assert risk.for_account("PRAC-1", 1).max_order_size == 30
    assert risk.for_account("PRAC-2", 2).max_order_size == 50
    with pytest.raises(ConfigError, match="max_order_size"):
        path.write_text("[risk]\nmax_order_size = 0\n")
        load_settings(path)


SEVERAL_WRONG = """\
# a trader's tvbridge.toml with three mistakes
[gateway]
kind = "sim"
timeout_s = 600

[server]
port = 8000
max_body_bytes = 12

[risk]
session_close = "3pm"
holidays = [2026-12-24]

[tunnel]
restart_delay_s = 0
"""


def test_every_settings_problem_is_listed_with_its_file_and_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 14: `tvbridge check` said only the first wrong setting, and not where it was."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tvbridge.toml"
    config.write_text(SEVERAL_WRONG)

    problems = settings_problems(config)

    assert len(problems) == 4, problems
    assert problems[0].startswith(f"{config}:4: Setting 'gateway.timeout_s' = 600: ")
    assert problems[1].startswith(f"{config}:8: Setting 'server.max_body_bytes' = 12: ")
    assert problems[2].startswith(f"{config}:15: Setting 'tunnel.restart_delay_s' = 0: ")
    # A rule over the section's keys (checked once its keys are each right) names the key's line.
    assert (
        problems[3]
        == f"{config}:11: Setting 'risk.session_close': session_close '3pm' must be HH:MM, e.g. 15:10"
    )
    with pytest.raises(ConfigError, match=r"\(\+3 more\)"):  # serve still stops at the first
        load_settings(config)


def test_a_problem_from_the_environment_names_the_variable_and_secrets_are_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tvbridge.toml"
    config.write_text(
        '[server]\nport = 8000\n\n[gateway]\nkind = "topstepx"\nusername = "me"\n'
        '[risk.accounts."SIM-AUTO-OCO"]\nmax_order_size = 0\n'
    )
    monkeypatch.setenv("TVBRIDGE_SERVER__PORT", "eighty")

    gateway, server, account = settings_problems(config)

    # A rule over the [gateway] keys points at the first key it names that the file has.
    assert gateway.startswith(f"{config}:5: Setting 'gateway.kind': kind 'topstepx' needs gateway.api_key")
    assert server.startswith("TVBRIDGE_SERVER__PORT: Setting 'server.port' = 'eighty': ")
    assert account.startswith(f"{config}:8: Setting 'risk.accounts.SIM-AUTO-OCO.max_order_size' = 0: ")
    config.write_text('[gateway]\nkind = "topstepx"\nusername = "me"\napi_key = ["s3cr3t-value"]\n')
    monkeypatch.delenv("TVBRIDGE_SERVER__PORT")
    [problem] = settings_problems(config)
    assert problem.startswith(f"{config}:4: Setting 'gateway.api_key': ") and "s3cr3t" not in problem


def test_good_settings_and_broken_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tvbridge.toml"
    config.write_text("[server]\nport = 9000\n")
    assert settings_problems(config) == []
    config.write_text("[server]\nport = 9000\n[gateway\n")
    [broken] = settings_problems(config)
    assert broken.startswith(f"{config}:3: not valid TOML: ")
    assert settings_problems(tmp_path / "missing.toml") == [
        f"Config file {tmp_path / 'missing.toml'} does not exist; create it or drop --config"
    ]


def test_key_lines_reads_tables_dotted_and_quoted_keys() -> None:
    text = '[a]\nx = 1\n  y.z = 2\n[b."c.d"]\n"e" = 3  # note\n[[f]]\ng=4\n'
    assert key_lines(text) == {
        ("a",): 1,
        ("a", "x"): 2,
        ("a", "y", "z"): 3,
        ("b", "c.d"): 4,
        ("b", "c.d", "e"): 5,
        ("f",): 6,
        ("f", "g"): 7,
    }
