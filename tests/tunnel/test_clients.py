"""What each tunnel client is started with, and what its real-looking output lines say."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import TunnelSettings
from app.errors import ConfigError
from app.tunnel.clients import Line, OutputParser, TunnelMissing, find_executable, launch

LOCAL = "http://127.0.0.1:8001"

DATA = Path(__file__).parent / "data"
QUICK_TUNNEL_LOG = (DATA / "cloudflared-quick.log").read_text()


def feed(kind: str, text: str) -> list[Line]:
    parser = OutputParser(kind)  # type: ignore[arg-type]
    return [seen for seen in map(parser.feed, text.splitlines()) if seen != Line()]


def test_a_quick_tunnel_url_is_read_from_its_box_and_nothing_else() -> None:
    seen = feed("cloudflared", QUICK_TUNNEL_LOG)

    # The developers.cloudflare.com link and the local URL in "Settings" are not the public URL.
    assert seen == [Line(url="https://oklahoma-solo-younger-truck.trycloudflare.com"), Line(connected=True)]


def test_a_trycloudflare_url_is_found_outside_the_box_too() -> None:
    line = "2024-05-01T10:00:00Z INF Visit https://calm-river-7.trycloudflare.com now"

    assert feed("cloudflared", line) == [Line(url="https://calm-river-7.trycloudflare.com")]


def test_cloudflared_error_lines_are_errors() -> None:
    text = (
        '2023-01-16T08:32:58Z ERR Failed to create new quick Tunnel error="Post '
        '\\"https://api.trycloudflare.com/tunnel\\": dial tcp: lookup api.trycloudflare.com: no such host"\n'
        "2023-01-16T08:33:01Z FTL failed to start tunnel\n"
        "2023-01-16T08:33:02Z WRN Your version 2023.1.0 is outdated\n"
    )

    seen = feed("cloudflared", text)

    assert [bool(s.error) for s in seen] == [True, True]
    assert (seen[0].error or "").startswith("Failed to create new quick Tunnel")
    assert seen[1].error == "failed to start tunnel"


def test_a_named_tunnel_reads_no_url_from_its_output() -> None:
    seen = feed("cloudflared-named", QUICK_TUNNEL_LOG)

    assert seen == [Line(connected=True)]


def test_ngrok_json_lines() -> None:
    """Its JSON log on stdout, its ERROR lines on stderr before the logger starts."""
    text = (DATA / "ngrok.log").read_text()

    seen = feed("ngrok", text)

    assert seen[0] == Line(url="https://3f2a-203-0-113-7.ngrok-free.app", connected=True)
    assert seen[1].error == (
        "command failed: authentication failed: Usage of ngrok requires a verified account and authtoken."
    )
    assert seen[2].error == "authentication failed: Usage of ngrok requires a verified account and authtoken."
    assert seen[3].error == "ERR_NGROK_4018"
    assert len(seen) == 4


def test_the_command_lines_point_at_the_webhook_listener() -> None:
    quick = launch(TunnelSettings(), "/bin/cloudflared", LOCAL, None)
    named = launch(
        TunnelSettings(kind="cloudflared-named", name="bridge"), "cf", LOCAL, "bridge.example.com/"
    )
    ngrok = launch(TunnelSettings(kind="ngrok"), "ngrok", LOCAL, None)
    reserved = launch(TunnelSettings(kind="ngrok"), "ngrok", LOCAL, "https://my-bridge.ngrok.app")

    assert quick.argv == ["/bin/cloudflared", "tunnel", "--no-autoupdate", "--url", LOCAL]
    assert quick.public_url is None
    assert named.argv == ["cf", "tunnel", "--no-autoupdate", "run", "--url", LOCAL, "bridge"]
    assert named.public_url == "https://bridge.example.com"
    assert ngrok.argv == ["ngrok", "http", LOCAL, "--log", "stdout", "--log-format", "json"]
    assert reserved.argv[-2:] == ["--url", "https://my-bridge.ngrok.app"]


def test_a_dashboard_token_goes_in_the_environment_never_in_argv() -> None:
    tunnel = TunnelSettings(kind="cloudflared-named", token="eyJhIjoiMTIzNCJ9-secret-token")

    started = launch(tunnel, "cloudflared", LOCAL, "https://bridge.example.com")

    assert started.argv == ["cloudflared", "tunnel", "--no-autoupdate", "run"]
    assert started.env == {"TUNNEL_TOKEN": "eyJhIjoiMTIzNCJ9-secret-token"}


def test_a_named_tunnel_needs_the_public_url() -> None:
    with pytest.raises(ConfigError, match=r"needs server\.public_url"):
        launch(TunnelSettings(kind="cloudflared-named", name="bridge"), "cloudflared", LOCAL, None)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "cloudflared",
            [
                "winget install --id Cloudflare.cloudflared",
                "brew install cloudflared",
                "https://pkg.cloudflare.com",
                "sudo apt-get install cloudflared",
                "https://github.com/cloudflare/cloudflared/releases",
            ],
        ),
        (
            "ngrok",
            [
                "winget install ngrok.ngrok",
                "choco install ngrok",
                "brew install ngrok",
                "sudo snap install ngrok",
                "ngrok config add-authtoken <token>",
            ],
        ),
    ],
)
def test_a_missing_client_says_how_to_install_it_on_each_system(
    kind: str, expected: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing installed

    with pytest.raises(TunnelMissing) as raised:
        find_executable(TunnelSettings(kind=kind))

    message = str(raised.value)
    assert isinstance(raised.value, ConfigError)
    assert message.splitlines()[0].startswith(f"{kind} (the tunnel client")
    for system in ("Windows:", "macOS:", "Linux:"):
        assert system in message
    for command in expected:
        assert command in message


def test_a_wrong_command_setting_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(TunnelMissing, match="tunnel.command '/opt/nowhere/cloudflared' is not an executable"):
        find_executable(TunnelSettings(command="/opt/nowhere/cloudflared"))
