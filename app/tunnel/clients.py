"""Each tunnel client's command line, what one line of its output says, and how to install it.

cloudflared quick tunnel (no account; a new trycloudflare.com URL at every start), cloudflared
named tunnel (a stable hostname: ``server.public_url``), and ngrok's v3 agent.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from typing import Literal

from app.config import TunnelSettings
from app.errors import ConfigError

Kind = Literal["cloudflared", "cloudflared-named", "ngrok"]

CONNECTED = "Registered tunnel connection"
QUICK_CREATED = "quick Tunnel has been created"
_ANY_URL = re.compile(r"https?://[^\s|\"']+")
_TRYCLOUDFLARE = re.compile(r"https://[A-Za-z0-9-]+\.trycloudflare\.com")
# cloudflared's console lines: "2023-01-16T08:32:58Z ERR message key=value".
_CLOUDFLARED_ERROR = re.compile(r"^\S+\s+(?:ERR|FTL)\s+(.*)$")
# ngrok's levels (log15): dbug, info, warn, eror, crit.
_NGROK_ERROR_LEVELS = ("eror", "crit", "error")

_INSTALL = {
    "cloudflared": (
        "  Windows: winget install --id Cloudflare.cloudflared\n"
        "  macOS:   brew install cloudflared\n"
        "  Linux:   add Cloudflare's package repository (https://pkg.cloudflare.com), then "
        "sudo apt-get install cloudflared;\n"
        "           or the binary from https://github.com/cloudflare/cloudflared/releases"
    ),
    "ngrok": (
        "  Windows: winget install ngrok.ngrok   (or: choco install ngrok)\n"
        "  macOS:   brew install ngrok\n"
        "  Linux:   sudo snap install ngrok   (or the download from https://ngrok.com/download)\n"
        "then once: ngrok config add-authtoken <token>   (the token of your ngrok account)"
    ),
}


class TunnelMissing(ConfigError):
    """The tunnel client is not installed (or ``tunnel.command`` names no executable).

    The message is several lines: what is missing, then the install command for Windows, macOS
    and Linux.
    """


@dataclass(frozen=True)
class Launch:
    """How to start the client: ``argv``, variables added to its environment (a dashboard token
    travels there, never in argv, which every process on the computer can read), and the public
    URL when it is known before the start (named tunnel, ngrok reserved domain)."""

    argv: list[str]
    env: dict[str, str]
    public_url: str | None


@dataclass(frozen=True)
class Line:
    """What one output line says: a public URL, a connection to the edge, or an error."""

    url: str | None = None
    connected: bool = False
    error: str | None = None


def program(kind: Kind) -> str:
    """The client's executable name: ``cloudflared`` or ``ngrok``."""
    return "ngrok" if kind == "ngrok" else "cloudflared"


def install_help(kind: Kind) -> str:
    """Multi-line text: how to install the client on Windows, macOS and Linux."""
    return _INSTALL[program(kind)]


def find_executable(tunnel: TunnelSettings) -> str:
    """The client's executable path: ``tunnel.command`` if set, else the client found on PATH.

    Raises TunnelMissing with the install commands when there is none.
    """
    name = program(tunnel.kind)
    wanted = tunnel.command or name
    found = shutil.which(wanted)
    if found:
        return found
    if tunnel.command:
        first = (
            f"tunnel.command '{tunnel.command}' is not an executable file: set it to the full path of "
            f"{name}, or remove it to use the {name} on PATH. To install {name}:"
        )
    else:
        first = (
            f"{name} (the tunnel client for [tunnel] kind = '{tunnel.kind}') is not installed or not on "
            "PATH; install it, then run the command again:"
        )
    last = f"(or set [tunnel] command in tvbridge.toml to the full path of {name})"
    raise TunnelMissing(f"{first}\n{install_help(tunnel.kind)}\n{last}")


def normalize_public_url(url: str) -> str:
    """``bridge.example.com/`` → ``https://bridge.example.com`` (scheme added, no trailing slash)."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"https://{url}"


def launch(tunnel: TunnelSettings, executable: str, local_url: str, public_url: str | None) -> Launch:
    """The command line for ``tunnel.kind`` pointed at ``local_url`` (the webhook listener).

    Raises ConfigError when a named tunnel has no ``server.public_url`` (its URL is not printed).
    """
    public = normalize_public_url(public_url) if public_url else None
    if tunnel.kind == "cloudflared":
        return Launch([executable, "tunnel", "--no-autoupdate", "--url", local_url], {}, None)
    if tunnel.kind == "cloudflared-named":
        if public is None:
            raise ConfigError(
                "[tunnel] kind 'cloudflared-named' needs server.public_url = the named tunnel's public "
                "hostname (e.g. https://bridge.example.com, the DNS route of the tunnel): cloudflared "
                "does not print it. Set [server] public_url in tvbridge.toml or TVBRIDGE_SERVER__PUBLIC_URL"
            )
        token = tunnel.token.get_secret_value()
        if token:  # a dashboard tunnel: its ingress (→ the local URL) is set in the dashboard
            return Launch([executable, "tunnel", "--no-autoupdate", "run"], {"TUNNEL_TOKEN": token}, public)
        argv = [executable, "tunnel", "--no-autoupdate", "run", "--url", local_url, tunnel.name]
        return Launch(argv, {}, public)
    argv = [executable, "http", local_url, "--log", "stdout", "--log-format", "json"]
    if public:
        argv += ["--url", public]
    return Launch(argv, {}, public)


def exit_hint(kind: Kind) -> str:
    """What to look at when the client exits before the tunnel is up."""
    if kind == "ngrok":
        return (
            "if ngrok has no authtoken yet, run once: ngrok config add-authtoken <token>; a "
            "server.public_url must be a domain reserved on your ngrok account"
        )
    if kind == "cloudflared-named":
        return "check tunnel.name (`cloudflared tunnel list`) or tunnel.token, and server.public_url"
    return "check the internet connection; quick tunnels are a free service without uptime guarantee"


class OutputParser:
    """Read one client's output, line by line (one parser per stream: stdout, stderr)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._box_follows = False

    def feed(self, line: str) -> Line:
        """What ``line`` says (an empty Line when nothing of interest)."""
        if self.kind == "ngrok":
            return _ngrok_line(line)
        return self._cloudflared_line(line)

    def _cloudflared_line(self, line: str) -> Line:
        if CONNECTED in line:
            return Line(connected=True)
        error = _CLOUDFLARED_ERROR.match(line)
        if error:
            return Line(error=error.group(1).strip())
        if self.kind != "cloudflared":
            return Line()  # a named tunnel's URL is server.public_url, never read from the output
        if QUICK_CREATED in line:
            self._box_follows = True
            return Line()
        box_line, self._box_follows = self._box_follows, False
        found = _ANY_URL.search(line) if box_line else _TRYCLOUDFLARE.search(line)
        return Line(url=found.group(0).rstrip("/")) if found else Line()


def _ngrok_line(line: str) -> Line:
    text = line.strip()
    if not text.startswith("{"):
        # Before its logger starts, ngrok prints failures as "ERROR:  …" on stderr.
        if text.startswith("ERROR:") or "ERR_NGROK_" in text:
            return Line(error=text.removeprefix("ERROR:").strip())
        return Line()
    try:
        record = json.loads(text)
    except ValueError:
        return Line()
    if not isinstance(record, dict):
        return Line()
    if record.get("msg") == "started tunnel" and isinstance(record.get("url"), str):
        return Line(url=record["url"].rstrip("/"), connected=True)
    if record.get("lvl") in _NGROK_ERROR_LEVELS:
        err = record.get("err")
        detail = f": {err}" if err and err != "<nil>" else ""
        return Line(error=f"{record.get('msg', 'error')}{detail}")
    return Line()
