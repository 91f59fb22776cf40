"""The texts of the notices about the bridge's connections and reachability: one builder per kind.

Each builder returns a ``Notice`` (app/domain/notices.py) and sends nothing: the caller hands it
to the ``Notifier`` (app/engine/ports.py) where the condition is first found (the watchdog, the
intake's refusal digest, the tunnel link). A title is one line; the body says what is down and
since when (UTC), which accounts it touches, what tvbridge does meanwhile, and what to do. Keys
name the condition, not the moment, so the notifier's dedupe window holds across a restart.

No text here ever holds a secret: webhook URLs are shown by their host with the token masked,
refused deliveries by their counts, never their bodies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import urlsplit

from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.engine.shutdown import Held, counted
from app.redact import MASK

Link = Literal["hub", "gateway"]

_LINK_NAME: dict[Link, str] = {"hub": "User Hub", "gateway": "Gateway"}
_LINK_WHAT: dict[Link, str] = {
    "hub": "the User Hub (the live order, fill and position events) is disconnected",
    "gateway": "the ProjectX gateway does not answer (connection failures or HTTP 5xx)",
}


def utc(at: datetime) -> str:
    """``2026-03-02 14:00:00 UTC``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _hhmm(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M UTC")


def _minutes(seconds: float) -> str:
    return f"{max(seconds, 0.0) / 60:.1f} min"


def _accounts_line(accounts: Sequence[str]) -> str:
    return f"Accounts affected: {', '.join(accounts)}." if accounts else "Accounts affected: none followed."


def _held_line(held: Sequence[Held]) -> str:
    if not held:
        return "Nothing is open on the followed accounts (as the journal last saw them)."
    return f"Open at the broker: {counted(held)} ({'; '.join(h.describe() for h in held)})."


# -- the User Hub and the gateway -------------------------------------------------------------


def link_lost(
    link: Link,
    *,
    since: datetime,
    now: datetime,
    accounts: Sequence[str],
    held: Sequence[Held] = (),
    polled: bool = False,
) -> Notice:
    """HUB_LOST or GATEWAY_LOST: ``link`` down since ``since`` (UTC), noticed at ``now``.

    Critical while positions are open (or for the gateway: no alert can be sent); a hub lost
    with nothing open is a warning. Key: the link alone (one condition per link)."""
    name = _LINK_NAME[link]
    if link == "hub":
        kind = NoticeKind.HUB_LOST
        meanwhile = (
            "tvbridge follows the accounts by REST polling (fills and protection seconds late) and "
            "reconnects the hub by itself"
            if polled
            else "tvbridge sees no fill as it happens and cannot place protection after a fill; it "
            "reconnects the hub by itself and catches up when it is back"
        )
        level = NoticeLevel.CRITICAL if held else NoticeLevel.WARNING
    else:
        kind = NoticeKind.GATEWAY_LOST
        meanwhile = (
            "alerts that arrive now cannot be sent (each is journaled with the failure), protection "
            "cannot be placed or moved, and tvbridge keeps asking the gateway"
        )
        level = NoticeLevel.CRITICAL
    title = f"{name} lost since {_hhmm(since)}" + (f": {counted(held)} unwatched" if held else "")
    body = "\n".join(
        [
            f"Since {utc(since)} ({_minutes((now - since).total_seconds())} so far) {_LINK_WHAT[link]}.",
            _accounts_line(accounts),
            _held_line(held),
            f"Meanwhile {meanwhile}.",
            "What to do: check this computer's internet connection (and that it is not asleep) and "
            "the firm's status page; watch open positions on the platform and manage them there if "
            "this lasts. You will get a notice when it is back.",
        ]
    )
    return Notice(kind, title, body, level=level, key=link, data={"since": since.isoformat()})


def link_back(link: Link, *, since: datetime, now: datetime, accounts: Sequence[str]) -> Notice:
    """HUB_BACK or GATEWAY_BACK: ``link``, down since ``since``, answers again at ``now``."""
    name = _LINK_NAME[link]
    kind = NoticeKind.HUB_BACK if link == "hub" else NoticeKind.GATEWAY_BACK
    down = _minutes((now - since).total_seconds())
    caught_up = (
        "tvbridge reconnected and reconciles what happened meanwhile (fills, orders, positions) "
        "from the gateway"
        if link == "hub"
        else "alerts are sent again"
    )
    body = "\n".join(
        [
            f"The {'User Hub' if link == 'hub' else 'gateway'} is back at {utc(now)} after {down} "
            f"(lost since {utc(since)}): {caught_up}.",
            _accounts_line(accounts),
            "What to do: look at the journal for what happened meanwhile (alerts failed while the "
            "gateway was away are not sent again by themselves).",
        ]
    )
    title = f"{name} back after {down}"
    return Notice(kind, title, body, key=link, data={"since": since.isoformat(), "back": now.isoformat()})


# -- the session token ------------------------------------------------------------------------


def token_failing(*, expires_at: datetime, now: datetime, accounts: Sequence[str]) -> Notice:
    """TOKEN_FAILING: the session token expiring at ``expires_at`` (UTC) was due for renewal
    and could not be renewed (Auth/validate, then a new login with the API key)."""
    left = (expires_at - now).total_seconds()
    when = f"expired at {utc(expires_at)}" if left <= 0 else f"expires at {utc(expires_at)}"
    if left > 0:
        when += f" (in {_minutes(left)})"
    title = f"Session token cannot be renewed: it {when.split(' (')[0]}"
    body = "\n".join(
        [
            f"tvbridge could not renew its ProjectX session token, which {when}. Once it has "
            "expired no order can be sent and the User Hub cannot connect.",
            _accounts_line(accounts),
            "Meanwhile tvbridge keeps trying (Auth/validate, then a new login with the API key).",
            "What to do: check the API key in the firm's dashboard (not revoked or expired, the "
            "API subscription active) and the internet connection; `tvbridge doctor` tries the "
            "login; restart tvbridge once the key is fixed.",
        ]
    )
    return Notice(
        NoticeKind.TOKEN_FAILING,
        title,
        body,
        key=f"token-expiring-{expires_at.astimezone(UTC):%Y%m%dT%H%M%S}",
        data={"expires_at": expires_at.isoformat()},
    )


# -- the tunnel -------------------------------------------------------------------------------


def host_of(url: str) -> str:
    """The scheme and host of ``url`` (``https://abc.trycloudflare.com``): never a path, so
    never a webhook token."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def tunnel_url_changed(*, old_url: str, new_url: str, kind: str, stable_hint: str, at: datetime) -> Notice:
    """TUNNEL_URL_CHANGED: the tunnel's public URL moved from ``old_url`` to ``new_url`` (bases,
    shown by host); every TradingView alert still posts to the old, dead address."""
    old, new = host_of(old_url), host_of(new_url)
    body = "\n".join(
        [
            f"At {utc(at)} the {kind} tunnel came up at a new public address: {new} (was {old}).",
            f"Every TradingView alert still posts to {old}/webhook/…, which no longer reaches "
            "tvbridge: those alerts are lost until they are updated. Affects every strategy and "
            "every account its alerts trade.",
            "Meanwhile tvbridge runs and takes alerts at the new address only.",
            f"What to do: update the webhook URL of each alert to {new}/webhook/<strategy>/{MASK} "
            "(`tvbridge url STRATEGY` prints each in full; the Webhooks page shows them)"
            + (stable_hint.replace(", or", "; or", 1) if stable_hint else "")
            + ".",
        ]
    )
    return Notice(
        NoticeKind.TUNNEL_URL_CHANGED,
        f"Tunnel address changed to {new}: update every TradingView alert",
        body,
        key=f"tunnel-url:{new}",
        data={"previous_host": old, "host": new, "kind": kind},
    )


def tunnel_unreachable(*, url: str, kind: str, message: str, at: datetime) -> Notice:
    """TUNNEL_UNREACHABLE: the reachability check through the tunnel's public ``url`` (a base)
    did not arrive at tvbridge; ``message`` is the check's own word (it holds no token)."""
    host = host_of(url)
    body = "\n".join(
        [
            f"At {utc(at)} a signed test request sent to {host} did not arrive at tvbridge: {message}",
            "TradingView alerts posting there are probably lost too; affects every strategy.",
            f"Meanwhile tvbridge runs; the {kind} tunnel client keeps (re)connecting by itself.",
            "What to do: run `tvbridge tunnel --check`; check the tunnel client's output and this "
            "computer's internet connection; restart `tvbridge serve --tunnel` if it lasts.",
        ]
    )
    return Notice(
        NoticeKind.TUNNEL_UNREACHABLE,
        f"Webhooks do not reach tvbridge through {host}",
        body,
        key=f"tunnel-check:{host}",
        data={"host": host, "kind": kind},
    )


# -- refused webhook deliveries ---------------------------------------------------------------


@dataclass(frozen=True)
class RefusedSummary:
    """Refused webhook deliveries between ``first`` and ``last`` (UTC): counts by why
    (``bad token``, ``invalid body``, …), by known strategy, and by address."""

    first: datetime
    last: datetime
    by_reason: Mapping[str, int]
    by_strategy: Mapping[str, int]  # known strategies only: a path's name is not trusted text
    by_address: Mapping[str, int]
    lockouts: int = 0  # addresses locked out meanwhile (intake's WEBHOOK_LOCKOUT)

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


def _counts(counts: Mapping[str, int], limit: int = 5) -> str:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{n} {name}" for name, n in ranked[:limit])
    return shown + (f", {len(ranked) - limit} more" if len(ranked) > limit else "")


def deliveries_refused(summary: RefusedSummary, *, window_s: float) -> Notice:
    """DELIVERIES_REFUSED: a summary of the refused deliveries of the last ``window_s`` seconds
    (never a token or a body)."""
    minutes = max(1, math.ceil(window_s / 60 - 1e-9))
    addresses = len(summary.by_address)
    top = ", ".join(
        f"{address or '(none)'} ×{n}"
        for address, n in sorted(summary.by_address.items(), key=lambda item: (-item[1], item[0]))[:3]
    )
    strategies = (
        f"Strategies: {_counts(summary.by_strategy)}." if summary.by_strategy else "No known strategy."
    )
    locked = (
        f" {summary.lockouts} address{'es' if summary.lockouts != 1 else ''} locked out meanwhile "
        "(their refused requests get 429 and are not journaled one by one)."
        if summary.lockouts
        else ""
    )
    headline = (
        f"{summary.total} refused webhook deliveries in the last {minutes} min: "
        f"{_counts(summary.by_reason)}; from {addresses} address{'es' if addresses != 1 else ''}"
    )
    body = "\n".join(
        [
            f"{headline} ({top}), {utc(summary.first)} to {utc(summary.last)}.",
            strategies + locked,
            "Meanwhile nothing was executed for them; every refusal is in the journal (Journal page, "
            "status unauthorized / invalid …) with its reason.",
            "What to do: a bad token from TradingView's addresses means an alert's webhook URL is "
            "out of date (`tvbridge url STRATEGY` prints the right one); an invalid body means the "
            "alert's Message does not match its template (alerts/<strategy>.txt); other addresses "
            "are someone probing the URL: if the secret may have leaked, delete the strategy's line "
            "in the secrets file and restart tvbridge (a new secret is made), then update its alerts.",
        ]
    )
    return Notice(
        NoticeKind.DELIVERIES_REFUSED,
        headline,
        body,
        key=f"refused-since-{summary.first.astimezone(UTC):%Y%m%dT%H%M%S}",
        data={
            "total": summary.total,
            "by_reason": dict(summary.by_reason),
            "addresses": addresses,
            "lockouts": summary.lockouts,
        },
    )


# -- contract roll ----------------------------------------------------------------------------


def roll_approaching(
    *,
    contract_id: str,
    name: str,
    last_day: date,
    days_left: int,
    next_name: str | None,
    today: date,
    held: Iterable[Held] = (),
) -> Notice:
    """ROLL_APPROACHING: ``name`` (``contract_id``) stops trading on ``last_day``, ``days_left``
    trading days after ``today`` (0: today; negative: already stopped). Key: contract and day."""
    held = [h for h in held if h.contract_id == contract_id]
    if days_left < 0:
        when = f"stopped trading on {last_day:%a %Y-%m-%d}"
    elif days_left == 0:
        when = f"has its last trading day today ({last_day:%a %Y-%m-%d})"
    else:
        days = f"{days_left} trading day{'s' if days_left != 1 else ''}"
        when = f"has its last trading day in {days} ({last_day:%a %Y-%m-%d})"
    use = f"the next contract is {next_name}" if next_name else "the next contract month"
    body = "\n".join(
        [
            f"{name} ({contract_id}) {when}.",
            _held_line(held) if held else "No position is open in it on the followed accounts.",
            "Meanwhile alerts with a continuous ticker (e.g. NQ1!) follow the gateway's active "
            "contract by themselves; templates with a dated ticker for this month will be refused "
            "once it stops trading.",
            f"What to do: {use}; change dated tickers in templates to it, and close or roll "
            "positions still open in this contract before its last trading day.",
        ]
    )
    return Notice(
        NoticeKind.ROLL_APPROACHING,
        f"{name} {when.split(' (')[0]}" + (f"; use {next_name}" if next_name else ""),
        body,
        level=NoticeLevel.CRITICAL if held and days_left <= 1 else None,
        key=f"roll:{contract_id}:{today.isoformat()}",
        contract=name,
        data={"contract_id": contract_id, "last_trading_day": last_day.isoformat(), "next": next_name},
    )
