"""The pre-flight (``tvbridge doctor``): read-only checks against the configured gateway.

Each check ends PASS, WARN or FAIL with what to do. Nothing here sends an order-changing call:
the checks read (login, Account/search, Contract/available, Contract/searchById through the
resolver), connect the User Hub and subscribe, and compare clocks. ``serve`` runs the cheap ones
(no hub, no tunnel) at start for the Status page.

A ticker's contract that stops trading within 5 trading days (app/domain/expiry.py roll_warning)
is a WARN: the strategy's chart should move to the next month before then.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from app.domain.models import Account, Alert
from app.engine.accounts import AccountDirectory
from app.errors import (
    AlertError,
    BridgeError,
    GatewayAuthError,
    GatewayError,
    GatewayUnavailable,
    TemplateError,
)
from app.gateway.hub import UserHub
from app.gateway.projectx import ProjectXGateway
from app.gateway.wire_errors import error_hint
from app.ingest.parse import parse_body
from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)

Verdict = Literal["PASS", "WARN", "FAIL"]
HUB_TIMEOUT_S = 10.0  # the User Hub must connect and subscribe within this
SKEW_WARN_S = 2.0  # a clock off by more decides stale alerts wrongly (max_age_s)
GATEWAY_LIMIT_PER_MINUTE = 200  # §3: all endpoints but History/retrieveBars
# Tunnel check: (arrived, what was seen) for the public base URL; given by the caller (the web
# layer knows the URL and the signed path).
TunnelProbe = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True)
class Check:
    """One check's result: ``todo`` says what to do (empty when there is nothing to do)."""

    name: str
    verdict: Verdict
    detail: str
    todo: str = ""

    def line(self) -> str:
        """``PASS login: …`` with ``→ what to do`` after it when there is something to do."""
        text = f"{self.verdict} {self.name}: {self.detail}"
        return f"{text}\n     → {self.todo}" if self.todo else text


@dataclass(frozen=True)
class DoctorReport:
    """All checks, in order, and when they ran (UTC)."""

    checks: tuple[Check, ...]
    ran_at: datetime

    @property
    def failed(self) -> bool:
        """Whether any check is FAIL."""
        return any(c.verdict == "FAIL" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when no check failed, else 1."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """``3 PASS, 1 WARN, 0 FAIL``."""
        counts = {v: sum(c.verdict == v for c in self.checks) for v in ("PASS", "WARN", "FAIL")}
        return ", ".join(f"{n} {v}" for v, n in counts.items())


def account_stage(name: str) -> str:
    """The account's stage read from its name (§13 item 8): the gateway says ``simulated: true``
    for funded accounts too, so the name is the only clue."""
    upper = name.upper()
    if upper.startswith("PRAC"):
        return "practice"
    if upper.startswith("EXPRESS"):
        return "express funded"
    if re.match(r"^\d+K?TC", upper):
        return "combine"
    return "stage unknown from the name"


async def run_doctor(
    gateway: ProjectXGateway,
    templates: Mapping[str, StrategyTemplate],
    *,
    alerts_dir: Path,
    rate_limit_per_minute: int,
    hub_url: str | None = None,
    tunnel: TunnelProbe | None = None,
    hub_timeout_s: float = HUB_TIMEOUT_S,
) -> DoctorReport:
    """Run every check; ``hub_url`` None skips the hub, ``tunnel`` None the tunnel (the cheap
    run). Never raises for what the gateway answers: each answer is a check's verdict."""
    checks: list[Check] = []
    login = await _login(gateway)
    checks.append(login)
    if login.verdict == "FAIL":
        checks.append(_rate_budget(templates, rate_limit_per_minute))
        return DoctorReport(tuple(checks), datetime.now(UTC))
    checks.append(_clock(gateway))
    accounts_check, accounts = await _accounts(gateway)
    checks.append(accounts_check)
    if accounts is not None:
        checks.append(await _template_accounts(gateway, templates, accounts))
    checks.extend(await _contracts(gateway, templates, alerts_dir))
    checks.append(_rate_budget(templates, rate_limit_per_minute))
    if hub_url is not None:
        ids = sorted(a.account_id for a in accounts or [])
        checks.append(await _hub(gateway, hub_url, ids, hub_timeout_s))
    if tunnel is not None:
        checks.append(await _tunnel(tunnel))
    return DoctorReport(tuple(checks), datetime.now(UTC))


async def _login(gateway: ProjectXGateway) -> Check:
    where = gateway.rest.base_url
    try:
        await gateway.rest.access_token()  # logs in unless a valid token is held (serve)
    except GatewayAuthError as exc:
        todo = error_hint(exc.endpoint, exc.error_name) or "check gateway.username and gateway.api_key"
        return Check("login", "FAIL", str(exc), todo)
    except GatewayUnavailable as exc:
        return Check(
            "login", "FAIL", str(exc), "check gateway.api_url / gateway.kind and your internet connection"
        )
    except GatewayError as exc:
        return Check("login", "FAIL", str(exc), "check gateway.api_url points at a ProjectX gateway")
    expires = gateway.rest.token_expires_at
    until = f"; token valid until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    return Check("login", "PASS", f"logged in at {where}{until}")


def _clock(gateway: ProjectXGateway) -> Check:
    offset = gateway.rest.clock_offset_s
    if offset is None:
        return Check("clock", "WARN", "the gateway sent no Date header; the clock could not be compared")
    ahead = "ahead of" if offset > 0 else "behind"
    detail = f"this computer's clock is {abs(offset):.1f} s {ahead} the gateway's"
    if abs(offset) > SKEW_WARN_S:
        return Check(
            "clock",
            "WARN",
            detail,
            f"turn on automatic time sync (over {SKEW_WARN_S:g} s off, alerts' age is judged "
            "wrongly: fresh entries refused as stale, or stale ones executed)",
        )
    return Check("clock", "PASS", detail)


async def _accounts(gateway: ProjectXGateway) -> tuple[Check, list[Account] | None]:
    try:
        accounts = await gateway.accounts()
    except BridgeError as exc:
        return Check("accounts", "FAIL", str(exc), "try again; check the firm's status page"), None
    if not accounts:
        return Check(
            "accounts",
            "FAIL",
            "Account/search lists no active account for this login",
            "check in the platform that this user has an active account (and the API add-on)",
        ), accounts
    listed = "; ".join(
        f"{a.name} ({a.account_id}): {'can trade' if a.can_trade else 'CANNOT trade'}, "
        f"{account_stage(a.name)}{', simulated' if a.simulated else ''}"
        for a in accounts
    )
    note = " (funded accounts say simulated too: the name tells the stage)"
    if not any(a.can_trade for a in accounts):
        return Check(
            "accounts",
            "FAIL",
            listed + note,
            "no account can trade (canTrade false): check the accounts' rules in the platform",
        ), accounts
    return Check("accounts", "PASS", listed + note), accounts


async def _template_accounts(
    gateway: ProjectXGateway, templates: Mapping[str, StrategyTemplate], accounts: list[Account]
) -> Check:
    directory = AccountDirectory(gateway)
    problems: list[str] = []
    found = 0
    for name, template in sorted(templates.items()):
        for spec in template.accounts:
            try:
                account = await directory.resolve(spec.account, template=name)
            except TemplateError as exc:
                problems.append(str(exc))
                continue
            except BridgeError as exc:
                problems.append(f"template '{name}': {exc}")
                continue
            found += 1
            if not account.can_trade:
                problems.append(
                    f"Template '{name}': account '{account.name}' cannot trade (canTrade false); "
                    "check its rules in the platform or name another account"
                )
    if problems:
        return Check(
            "template accounts",
            "FAIL",
            "; ".join(problems),
            "fix order.accounts in the named templates (names are case-insensitive; ids work too)",
        )
    return Check(
        "template accounts", "PASS", f"{found} account reference(s) in {len(templates)} template(s) found"
    )


def _example_ticker(template: StrategyTemplate, alerts_dir: Path) -> str:
    """The template's ticker: rendered from its example alert when it has one, else as a literal.
    Raises TemplateError / AlertError when it cannot be told."""
    fields: dict[str, object] = {}
    suffix = "txt" if template.alert_format == "text" else "json"
    example = alerts_dir / f"{template.name}.example.{suffix}"
    if example.is_file():
        fields = parse_body(example.read_bytes(), fmt=template.alert_format, pattern=template.pattern)
    alert = Alert(template.name, "", dict(fields), datetime.now(UTC))
    return template.ticker(alert)


async def _contracts(
    gateway: ProjectXGateway, templates: Mapping[str, StrategyTemplate], alerts_dir: Path
) -> list[Check]:
    try:
        catalogue = await gateway.resolver.available()
    except BridgeError as exc:
        return [Check("contracts available", "FAIL", str(exc), "try again; check the firm's status page")]
    checks = []
    if not catalogue:
        checks.append(
            Check(
                "contracts available",
                "FAIL",
                "Contract/available (live: false) lists no contract",
                "with practice credentials the gateway answers empty lists, not an error, when "
                "asked with live: true; the bridge asks live: false, so an empty list means this "
                "login has no market data: check the subscription in the platform",
            )
        )
    else:
        checks.append(
            Check("contracts available", "PASS", f"{len(catalogue)} contracts listed (live: false)")
        )
    for name, template in sorted(templates.items()):
        title = f"ticker of {name}"
        try:
            ticker = _example_ticker(template, alerts_dir)
        except (TemplateError, AlertError) as exc:
            checks.append(
                Check(
                    title,
                    "WARN",
                    f"cannot tell the ticker without an alert ({exc})",
                    f"save an example alert as {alerts_dir / (name + '.example.json')} to check it",
                )
            )
            continue
        try:
            contract = await gateway.contract(ticker)
        except (AlertError, GatewayError) as exc:
            checks.append(Check(title, "FAIL", str(exc), "fix order.ticker or [gateway.symbols]"))
            continue
        same = [c.contract_id for c in catalogue if c.symbol_id == contract.symbol_id and c.active]
        if len(same) > 1:
            checks.append(
                Check(
                    title,
                    "FAIL",
                    f"'{ticker}' is ambiguous: {len(same)} active contracts for {contract.symbol_id} "
                    f"({', '.join(same)})",
                    "send a dated ticker (e.g. MNQZ2026) so exactly one contract is meant",
                )
            )
            continue
        resolved = (
            f"'{ticker}' → {contract.contract_id} ({contract.name}), tick size "
            f"{contract.tick_size} points = {contract.tick_value} USD"
        )
        rolling = gateway.resolver.roll_warning(contract)
        if rolling is not None:
            checks.append(
                Check(
                    title,
                    "WARN",
                    f"{resolved}; {rolling}",
                    "move the TradingView chart and the alert to the next month before then",
                )
            )
            continue
        checks.append(Check(title, "PASS", resolved))
    return checks


def orders_per_alert(template: StrategyTemplate) -> int:
    """The order-changing calls one alert makes on the template's accounts, at least: one entry
    per account, two for an OCO pair, one more for each leg of a managed bracket (its stop loss,
    its take profit or each of its scale-out targets)."""
    per_account = 2 if template.kind == "oco" else 1
    if template.bracket_mode == "managed" and template.bracket_values:
        legs = [k for k in template.bracket_values if k not in ("break_even", "live_break_even", "trail")]
        per_account += len(legs)
    return per_account * len(template.accounts)


def _rate_budget(templates: Mapping[str, StrategyTemplate], rate_limit_per_minute: int) -> Check:
    burst = sum(orders_per_alert(t) for t in templates.values())
    budget = min(rate_limit_per_minute, GATEWAY_LIMIT_PER_MINUTE)
    detail = (
        f"one alert on every template at once sends at least {burst} order call(s); the budget "
        f"is {budget} requests / 60 s (gateway.rate_limit_per_minute {rate_limit_per_minute}, "
        f"the gateway's {GATEWAY_LIMIT_PER_MINUTE})"
    )
    todo = "name fewer accounts per template, or spread the alerts out"
    if burst > budget:
        return Check("rate budget", "FAIL", detail, todo + ": some orders would wait over a minute")
    if burst * 2 > budget:
        return Check("rate budget", "WARN", detail, todo + ": the reads that follow orders share the budget")
    return Check("rate budget", "PASS", detail)


async def _hub(gateway: ProjectXGateway, url: str, account_ids: list[int], timeout_s: float) -> Check:
    subscribed = asyncio.Event()

    async def ignore(_event: object) -> None:
        return None

    async def connected(_previous: datetime | None) -> None:
        subscribed.set()

    hub = UserHub(url, gateway.rest.access_token, ignore, connected, connect_timeout_s=timeout_s)
    await hub.start(account_ids)
    try:
        await asyncio.wait_for(subscribed.wait(), timeout_s)
    except TimeoutError:
        why = hub.state.last_error or "no answer"
        return Check(
            "user hub",
            "FAIL",
            f"not connected and subscribed within {timeout_s:g} s ({why})",
            "check gateway.user_hub_url and that WebSockets are not blocked (proxy, firewall)",
        )
    finally:
        await hub.stop()
    return Check("user hub", "PASS", f"connected and subscribed to {len(account_ids)} account(s)")


async def _tunnel(probe: TunnelProbe) -> Check:
    arrived, seen = await probe()
    if arrived:
        return Check("tunnel", "PASS", seen)
    return Check(
        "tunnel",
        "WARN",
        seen,
        "the check needs `tvbridge serve --tunnel` running; then `tvbridge tunnel --check`",
    )
