"""HTML rendering: the Jinja2 environment, its filters and what every page's header shows.

Templates live in ``app/web/templates`` and autoescape. Times are stored in UTC: pages show them in
the machine's local time zone (the trader's laptop) with the UTC time on hover; risk times also in
the exchange's zone ("15:10 Central"). Prices are shown on the contract's tick grid, quantities
right-aligned by the stylesheet (``td.num``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.templating import Jinja2Templates

from app import __version__
from app.domain.calendar import TradingCalendar
from app.errors import JournalError
from app.text import printable
from app.web.csrf import csrf_token

if TYPE_CHECKING:
    from app.web.app import Runtime

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


class SafeJSONResponse(JSONResponse):
    """JSON whose strings carry no ``<``, ``>`` or ``&`` as such (``\\u003c`` …): a value quoted
    from a query string or an alert can never read as markup, whatever sniffs the body."""

    def render(self, content: Any) -> bytes:
        text = super().render(content).decode("utf-8")
        # These characters only ever occur inside JSON strings, where \uXXXX means the same.
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return text.encode("utf-8")


def local_time(at: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> Markup:
    """``<time>`` in local time, UTC (ISO 8601) in its title and datetime attribute."""
    if not at:
        return Markup("")
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    utc = at.astimezone(UTC)
    local = utc.astimezone()
    iso = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Markup('<time datetime="{0}" title="{1} UTC">{2}</time>').format(
        iso, utc.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], local.strftime(fmt)
    )


def exchange_time(at: datetime | str | None, timezone: str = "America/Chicago") -> Markup:
    """``<time>`` in the exchange's zone ("15:10 Central", dated when not today there), then the
    local time in brackets; UTC (ISO 8601) in its title and datetime attribute."""
    if not at:
        return Markup("")
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    utc = at.astimezone(UTC)
    now = datetime.now(UTC)
    shown = TradingCalendar(timezone).describe(utc, now=now)
    local = utc.astimezone()
    fmt = "%H:%M" if local.date() == now.astimezone().date() else "%Y-%m-%d %H:%M"
    iso = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Markup(
        '<time datetime="{0}" title="{1} UTC">{2}</time> <span class="local">({3} local)</span>'
    ).format(iso, utc.strftime("%Y-%m-%d %H:%M:%S"), shown, local.strftime(fmt))


def price(value: Decimal | str | None, tick_size: Decimal | str | None = None) -> str:
    """A price in points with as many decimals as the contract's tick size (0.25 → 2)."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    if tick_size:
        places = max(0, -Decimal(str(tick_size)).normalize().as_tuple().exponent)  # type: ignore[operator]
        exact = number.quantize(Decimal(1).scaleb(-places))
        if exact == number:
            return f"{exact:.{places}f}"
    return f"{number.normalize():f}"


def duration(seconds: float) -> str:
    """A step of the latency chain: ms below 10 s, then s, min, h or days (the alert's own time
    can be long before it was received: a delayed or replayed alert)."""
    sign = "−" if seconds < 0 else "+"
    size = abs(seconds)
    if size < 10:
        return f"{sign}{size * 1000:.0f} ms"
    for unit, length in (("days", 86400), ("h", 3600), ("min", 60)):
        if size >= length * 2:
            return f"{sign}{size / length:.1f} {unit}"
    return f"{sign}{size:.1f} s"


def usd(value: Decimal | str | None) -> str:
    """An amount in USD with cents and a sign for losses."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


def flash(request: Request, text: str, kind: str = "info") -> None:
    """Show ``text`` once on the next page (kind: info, ok, warn, error)."""
    request.session.setdefault("flashes", []).append({"kind": kind, "text": text})


def page_context(request: Request) -> dict[str, Any]:
    """What base.html needs on every page: the SIM/LIVE badge, pause state, CSRF token, user,
    the watchdog's banners (the unreachable alarm, what the last shutdown left open) and, once
    logged in, the followed accounts' risk lockouts."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)  # None before the start
    bridge = runtime.bridge if runtime is not None else None
    watchdog = runtime.watchdog if runtime is not None else None
    settings = bridge.settings if bridge is not None else None
    session = request.scope.get("session")
    logged_in = bool(session and session.get("user"))
    return {
        "version": __version__,
        "live": settings is not None and settings.gateway.kind != "sim",
        "firm": settings.gateway.firm_name if settings is not None else "",
        "paused": bridge.paused if bridge is not None else None,
        "alarm": watchdog.alarm if watchdog is not None else None,
        "left_open": watchdog.left_open if watchdog is not None else None,
        "lockouts": lockout_banners(runtime) if logged_in else [],
        "logged_in": logged_in,
        "csrf_token": csrf_token(request) if session is not None else "",
        "flashes": session.pop("flashes", []) if session else [],
        "path": request.url.path,
        # The strip's numbers, read before the handler ran (app/web/strip.py, StripContext).
        "strip": request.scope.get("state", {}).get("strip") if logged_in else None,
    }


def lockout_banners(runtime: Runtime | None) -> list[dict[str, Any]]:
    """The followed accounts locked now, for the header's red banner: account_name, until (UTC),
    reason (without its trailing "on NAME") and the exchange's timezone.

    One indexed journal read (``active_lockouts``), called inline: a context processor cannot
    await, and a local SQLite journal answers in well under a millisecond (app/engine/runner.py).
    A journal that cannot answer shows no banner (the page itself still renders). Before the
    followed accounts are first resolved (``bridge.followed`` empty), every lockout is shown.
    """
    if runtime is None:
        return []
    bridge, journal = runtime.bridge, runtime.journal
    gate = bridge.gate
    try:
        locks = journal.active_lockouts(gate.clock())
    except JournalError as exc:
        log.warning("could not read the lockouts for the page's header: %s", exc)
        return []
    followed = bridge.followed
    return [
        {
            "account_name": lock.account_name,
            "until": lock.until,
            "reason": lock.reason.removesuffix(f" on {lock.account_name}"),
            "timezone": gate.settings.timezone,
        }
        for lock in locks
        if not followed or lock.account_id in followed
    ]


def shown(value: Any) -> Any:
    """What a page prints of ``value``: control characters a stranger may have sent (a strategy
    name with terminal escapes, a direction override) as visible escapes, like the CLI; line
    breaks and tabs kept for text of several lines (a template's TOML). Escaping stays Jinja2's."""
    if isinstance(value, Markup):
        # Already safe markup; escaping control characters adds no markup (only backslashes).
        return Markup(printable(str(value), keep="\n\t"))  # noqa: S704
    if isinstance(value, str):
        return printable(value, keep="\n\t")
    return value


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[page_context])
templates.env.finalize = shown  # before any template is compiled: every {{ }} passes through it
templates.env.filters.update(
    local_time=local_time, exchange_time=exchange_time, price=price, usd=usd, duration=duration
)
templates.env.globals.update(escape=escape)
