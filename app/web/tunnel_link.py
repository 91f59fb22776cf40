"""The tunnel wired to the bridge: prints the webhook URLs, warns when the public URL changed,
records the tunnel's state in the journal and checks that a signed request arrives through it.

``tvbridge serve --tunnel`` and ``tvbridge tunnel`` start it with :func:`start_tunnel`. The state
is recorded in the journal (and refreshed every HEARTBEAT_S), so a ``tvbridge tunnel`` running
beside ``tvbridge serve`` shows on the serve's pages. Webhook URLs carry the strategy's signed
token: they go to the trader's terminal (``out``), never to the log. A changed URL and a failed
reachability check are notices for the trader too (app/engine/health_notices.py): through the
serve's bridge's notifier, or the one ``tvbridge tunnel`` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.domain.kinds import EventKind, EventLevel
from app.engine import health_notices
from app.engine.ports import Notifier, NullNotifier
from app.engine.runner import JournalRunner
from app.errors import JournalError
from app.ingest.auth import load_secrets, webhook_path
from app.journal import Journal
from app.journal.db import database_exists
from app.tunnel import TunnelState, TunnelSupervisor, check_until_arrived
from app.tunnel.clients import find_executable, launch, normalize_public_url

if TYPE_CHECKING:
    from app.web.app import Runtime

log = logging.getLogger(__name__)

HEARTBEAT_S = 30.0  # how often the recorded state is refreshed
STALE_S = 120.0  # a recorded state not refreshed for this long: its process is gone
BY_SERVE = "tvbridge serve --tunnel"
BY_TUNNEL = "tvbridge tunnel"
_STABLE = {
    "cloudflared": ", or use a named tunnel (a stable URL): [tunnel] kind = 'cloudflared-named'",
    "ngrok": ", or use an ngrok reserved domain (a stable URL): [server] public_url",
    "cloudflared-named": "",
}

Out = Callable[[str], None]


def say(line: str) -> None:
    """Print to stdout at once, even when stdout is a pipe or a file (a service's log)."""
    print(line, flush=True)


def local_webhook_url(settings: Settings) -> str:
    """The webhook listener on this computer, e.g. ``http://127.0.0.1:8001`` (a wildcard listen
    address is reached on loopback)."""
    host = settings.server.webhook_host
    if host in ("0.0.0.0", "::", "", "localhost"):  # noqa: S104 — a listen address, reached on loopback
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.webhook_port}"


async def start_tunnel(
    settings: Settings, runtime: Runtime | None, *, out: Out = say, notifier: Notifier | None = None
) -> TunnelSupervisor:
    """Start the tunnel client pointed at the webhook listener; return its supervisor (call
    ``await supervisor.stop()`` at shutdown).

    ``runtime``: the serve's app.web.app.Runtime, or None for ``tvbridge tunnel`` (the journal is
    then opened here, and closed by ``stop()``). ``notifier``: where the notices go without a
    runtime (with one: its bridge's). Raises TunnelMissing (install commands in the
    message), ConfigError (a named tunnel without server.public_url), JournalError.
    """
    # The settings' faults first: nothing (not even the journal) is opened when the client is missing.
    preflight(settings)
    link = _Link(settings, runtime, out, notifier)
    try:
        recorded = await link.recorded()
    except BaseException:
        link.close()
        raise
    supervisor = TunnelSupervisor(
        settings.tunnel,
        local_webhook_url(settings),
        public_url=settings.server.public_url,
        last_url=link.last_url,
        on_url=link.on_url,
        on_change=link.on_change,
    )
    link.supervisor = supervisor
    if recorded and _is_current(recorded) and recorded.get("by") != link.by:
        out(f"note: {recorded.get('by')} (pid {recorded.get('pid')}) already runs a tunnel to this bridge")
    try:
        await supervisor.start()
    except BaseException:
        link.close()
        raise
    link.start_heartbeat()
    out(
        f"starting the {settings.tunnel.kind} tunnel to {local_webhook_url(settings)} (the webhook "
        "listener: the pages are not exposed); waiting for its public URL..."
    )
    return supervisor


def preflight(settings: Settings) -> None:
    """Check the tunnel can start: its client is installed and its settings complete. Raises
    TunnelMissing (install commands in the message) or ConfigError; starts nothing."""
    launch(
        settings.tunnel,
        find_executable(settings.tunnel),
        local_webhook_url(settings),
        settings.server.public_url,
    )


def tunnel_status(runtime: Runtime) -> dict[str, Any] | None:
    """The tunnel for the pages: this serve's own (``runtime.tunnel``), else the one a ``tvbridge
    tunnel`` recorded in the journal, else None. JSON values (TunnelState.as_json) plus ``by``
    (who runs it), ``url_changed`` and ``stale`` (True: not refreshed for STALE_S, its process
    is gone)."""
    supervisor = runtime.tunnel
    if supervisor is not None:
        return _view({**supervisor.state.as_json(), "by": BY_SERVE, "recorded_at": _now().isoformat()})
    try:
        recorded = runtime.journal.tunnel_state()
    except JournalError as exc:
        log.warning("could not read the tunnel's state from the journal: %s", exc)
        return None
    return _view(recorded)


def base_url_of(settings: Settings, status: dict[str, Any] | None) -> str | None:
    """The public base URL for webhook URLs: the tunnel's while it is up, else
    ``server.public_url``, else None (no public address known)."""
    if status and status.get("status") == "up" and not status.get("stale") and status.get("public_url"):
        return str(status["public_url"])
    return normalize_public_url(settings.server.public_url) if settings.server.public_url else None


def public_base_url(settings: Settings, runtime: Runtime | None) -> str | None:
    """The public base URL (no trailing slash): the tunnel's current URL while it is up, else the
    journal's recorded URL if its tunnel is up, else ``server.public_url``, else None.

    With ``runtime`` None (``tvbridge url``) the journal is opened just to read; a journal that
    does not exist yet is not created.
    """
    status = tunnel_status(runtime) if runtime is not None else _view(_read_recorded(settings))
    return base_url_of(settings, status)


class _Link:
    """The supervisor's listeners: terminal output, journal records, reachability checks."""

    def __init__(
        self, settings: Settings, runtime: Runtime | None, out: Out, notifier: Notifier | None = None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.out = out
        self._notifier = notifier or NullNotifier()
        self._unreachable_at: str | None = None  # the URL a failed check was notified for
        self.by = BY_SERVE if runtime is not None else BY_TUNNEL
        self.supervisor: TunnelSupervisor | None = None
        self.last_url: str | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        if runtime is not None:
            self.journal, self.runner, self._owned = runtime.journal, runtime.bridge.runner, False
        else:
            self.journal = Journal(settings.journal.url)
            try:
                self.journal.upgrade()
            except BaseException:
                self.journal.close()
                raise
            self.runner, self._owned = JournalRunner(self.journal), True

    async def recorded(self) -> dict[str, Any] | None:
        """The journal's recorded state; remembers its public URL to tell a change."""
        recorded = await self.runner.run(self.journal.tunnel_state)
        if recorded:
            self.last_url = recorded.get("public_url")
        return recorded

    async def on_url(self, state: TunnelState) -> None:
        url = state.public_url or ""
        kind = self.settings.tunnel.kind
        old, self.last_url = self.last_url, url
        if old and old != url:
            warning = (
                f"The public webhook URL changed from {old} to {url}: update the webhook URL in every "
                f"TradingView alert{_STABLE[kind]}"
            )
            log.warning(warning)
            bar = "!" * 78
            gone = "!! The new URLs are below; the old ones no longer work."
            self.out("\n".join([bar, f"!! {warning}", gone, bar]))
            data = {"previous_url": old, "public_url": url, "kind": kind}
            await self._journal(
                lambda: self.journal.add_event(
                    EventKind.TUNNEL_URL_CHANGED, warning, level=EventLevel.WARNING, data=data
                )
            )
            self.notifier.notify(
                health_notices.tunnel_url_changed(
                    old_url=old, new_url=url, kind=kind, stable_hint=_STABLE[kind], at=_now()
                )
            )
        self.out(f"Public URL: {url}  (the {kind} tunnel to {local_webhook_url(self.settings)})")
        urls = self._webhook_urls(url)
        if urls:
            self.out("Webhook URLs for TradingView (each carries the strategy's secret: keep it private):")
            width = max(len(name) for name in urls)
            for name, full in urls.items():
                self.out(f"  {name.ljust(width)}  {full}")
        if kind == "cloudflared" and not old:
            self.out(f"A quick tunnel's URL changes at every start: update the alerts then{_STABLE[kind]}.")
        if self.settings.tunnel.check:
            await self._check(url, urls)

    async def on_change(self, state: TunnelState) -> None:
        await self._record(state)
        if state.status == "stopped":
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            self.close()

    @property
    def notifier(self) -> Notifier:
        """The serve's bridge's notifier (read each time: it may be replaced), else the given one."""
        return self.runtime.bridge.notifier if self.runtime is not None else self._notifier

    def start_heartbeat(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="tunnel-heartbeat")

    def close(self) -> None:
        """Close the journal when this link opened it."""
        if self._owned:
            self._owned = False
            self.runner.shutdown()
            self.journal.close()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self.supervisor is not None:
                await self._record(self.supervisor.state)

    async def _check(self, base: str, urls: dict[str, str]) -> None:
        assert self.supervisor is not None
        if not urls:
            self.out("reachability check skipped: no strategy has a webhook secret yet")
            return
        name, url = next(iter(urls.items()))
        result = await check_until_arrived(url, deadline_s=self.settings.tunnel.check_timeout_s)
        self.supervisor.record_check(result.arrived, result.message)
        if result.arrived:
            log.info("tunnel check (strategy %s): %s", name, result.message)
            self._unreachable_at = None
        else:
            log.warning("tunnel check (strategy %s): %s", name, result.message)
            if self._unreachable_at != base:  # once per URL until a check arrives
                self._unreachable_at = base
                notice = health_notices.tunnel_unreachable(
                    url=base, kind=self.settings.tunnel.kind, message=result.message, at=_now()
                )
                self.notifier.notify(notice)
        self.out(f"reachability check ({name}): {result.message}")

    def _webhook_urls(self, base: str) -> dict[str, str]:
        """Strategy → full webhook URL on ``base``, for every strategy with a secret."""
        if self.runtime is not None:
            bridge = self.runtime.bridge
            names, secrets = sorted(bridge.templates), bridge.secrets
        else:
            names = sorted(p.stem for p in Path(self.settings.server.templates_dir).glob("*.toml"))
            secrets = load_secrets(self.settings.server.secrets_file)
        missing = [name for name in names if name not in secrets]
        if missing:
            self.out(f"no webhook secret yet for {', '.join(missing)}: `tvbridge serve` makes one")
        return {name: base + webhook_path(name, secrets[name]) for name in names if name in secrets}

    async def _record(self, state: TunnelState) -> None:
        record = {**state.as_json(), "by": self.by, "pid": os.getpid(), "recorded_at": _now().isoformat()}
        await self._journal(lambda: self.journal.set_tunnel_state(record))

    async def _journal(self, write: Callable[[], object]) -> None:
        """Write to the journal; a failure is logged, never stops the tunnel."""
        try:
            await self.runner.run(write)
        except JournalError as exc:
            log.warning("tunnel: could not write to the journal: %s", exc)


def _view(recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    if not recorded:
        return None
    previous = recorded.get("previous_url")
    changed = bool(previous) and previous != recorded.get("public_url")
    return {**recorded, "url_changed": changed, "stale": not _is_current(recorded)}


def _is_current(recorded: dict[str, Any]) -> bool:
    """A running tunnel's record refreshed within STALE_S (a stopped one is always current)."""
    if recorded.get("status") == "stopped":
        return True
    try:
        at = datetime.fromisoformat(str(recorded.get("recorded_at")))
    except ValueError:
        return False
    return _now() - at < timedelta(seconds=STALE_S)


def _read_recorded(settings: Settings) -> dict[str, Any] | None:
    if not database_exists(settings.journal.url):
        return None  # reading must not create the database
    with contextlib.suppress(JournalError):
        journal = Journal(settings.journal.url)
        try:
            return journal.tunnel_state()
        finally:
            journal.close()
    return None


def _now() -> datetime:
    return datetime.now(UTC)
