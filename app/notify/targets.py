"""The configured Apprise URLs as targets: each loaded once, shown only in Apprise's privacy form,
its secret parts remembered by the scrubber so no text the bridge writes ever holds them.

A URL carries credentials in many places: ``tgram://BOTTOKEN/CHATID`` (the host is the token),
``discord://WEBHOOK_ID/WEBHOOK_TOKEN``, ``mailto://user:password@host``, ``ntfys://token@host/topic``,
``json://host/path?token=…``. ``secret_parts`` takes them all (user, password, host pieces that are
not a host name, path segments, query values) except plain host names, numbers shorter than six
digits (ports) and short lowercase words (a topic such as ``alerts``: remembering it would blank
that word out of every log line; Apprise shows it in its privacy form anyway).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import apprise

from app import redact
from app.errors import ConfigError

SCOPE = "notify"
# A host name: labels of letters, digits and hyphens with a dot between (the last not all digits).
_HOST_NAME = re.compile(r"(?i)(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]*|localhost")
_PLAIN_WORD = re.compile(r"[a-z]{1,12}")
_SHORT_NUMBER = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Target:
    """One Apprise URL: ``url`` is secret (never shown); ``shown`` is Apprise's privacy form
    without its query (``tgram://1...w/987654321/``)."""

    url: str
    shown: str
    service: apprise.Apprise  # holding this URL alone, so its result is this URL's


def load_target(url: str, *, where: str) -> Target:
    """Load ``url`` into its own Apprise object (call ``remember`` first). Raises ConfigError
    naming ``where`` (e.g. ``[notify] urls #2``) and only the URL's scheme when Apprise cannot
    use it."""
    service = apprise.Apprise()
    if not service.add(url) or len(service) != 1:
        scheme = url.partition("://")[0] if "://" in url else "(none)"
        raise ConfigError(
            f"{where}: Apprise cannot use this URL (scheme '{scheme}'); see "
            "https://github.com/caronc/apprise/wiki for the URL of each service, e.g. "
            "tgram://BOT_TOKEN/CHAT_ID, discord://WEBHOOK_ID/WEBHOOK_TOKEN, ntfys://ntfy.sh/TOPIC"
        )
    # Scrubbed too: a topic or chat id Apprise shows is still one of the remembered parts.
    shown = redact.scrub(privacy_form(service.urls(privacy=True)[0]))
    return Target(url=url, shown=shown, service=service)


def load_targets(urls: Sequence[str], *, where: str = "[notify] urls") -> list[Target]:
    """Each URL loaded (ConfigError for one Apprise cannot use), in order, and every secret part
    of them remembered by the scrubber (app/redact.py, scope ``notify``)."""
    remember(urls)
    return [load_target(url, where=f"{where} #{n}") for n, url in enumerate(urls, 1)]


def remember(urls: Iterable[str]) -> None:
    """Scrub the secret parts of ``urls`` from every text from now on (replacing the last set)."""
    parts: list[str] = []
    for url in urls:
        parts += secret_parts(url)
    redact.remember(parts, scope=SCOPE)


def privacy_form(shown: str) -> str:
    """Apprise's privacy form without its query (the plugin's defaults, noise on a page)."""
    return shown.partition("?")[0]


def secret_parts(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials, as written and percent-decoded: its user
    and password, its host pieces that are not host names or addresses, its
    path segments and query values (see the module docstring for what is left out)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return [url] if len(url) >= redact.MIN_LENGTH else []
    rest, _, query = rest.partition("?")
    rest = rest.partition("#")[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    pieces: list[str] = []
    found: list[str] = []
    if at:
        user, colon, password = userinfo.partition(":")
        pieces += [userinfo, user]
        if colon:
            found += [password, unquote(password)]  # a password, whatever it looks like
    if not _public_host(hostport):
        pieces += [hostport, *hostport.split(":")]
    pieces += path.split("/")
    for key, value in parse_qsl(query, keep_blank_values=True):
        pieces += [value, *value.split(",")] if key else [value]
    for piece in pieces:
        for form in (piece, unquote(piece)):
            if (
                len(form) >= redact.MIN_LENGTH
                and not _PLAIN_WORD.fullmatch(form)
                and not _SHORT_NUMBER.fullmatch(form)
            ):
                found.append(form)
    return list(dict.fromkeys(part for part in found if len(part) >= redact.MIN_LENGTH))


def _public_host(hostport: str) -> bool:
    """True for ``host``/``host:port`` where host is a name (``ntfy.sh``) or an address."""
    host = hostport
    if host.startswith("["):  # [::1]:8080
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
        if not port.isdigit():
            return False  # tgram://123456789:AAH…: a bot token, not a host and port
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host))
