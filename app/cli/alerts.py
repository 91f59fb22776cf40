"""``tvbridge check``, ``render``, ``url`` and ``send``: templates, secrets and test alerts."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from app.cli.accounts_check import check_template_accounts
from app.cli.common import EXIT_CONFIG, read_file, read_text, say, settings_of, webhook_url
from app.config import settings_problems
from app.errors import BridgeError, ConfigError


def check(args: argparse.Namespace) -> int:
    """List every problem of the settings, templates and webhook secrets; 1 when there is one."""
    from app.ingest.auth import load_secrets
    from app.notify.check import notify_problems
    from app.strategies import (
        check_templates,
        example_time_warnings,
        load_templates,
        stale_check_warnings,
    )

    wrong = settings_problems(args.config)
    if wrong:
        for problem in wrong:
            say(problem)
        say(
            f"tvbridge check: {len(wrong)} settings problem(s); templates and secrets are checked "
            "once the settings load",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    settings = settings_of(args)
    problems = [str(p) for p in check_templates(settings.server.templates_dir)]
    problems += notify_problems(settings.notify)  # kind names and URLs config.py cannot check
    # Warnings do not fail the check: the template works, but its stale check is off.
    try:
        loaded = load_templates(settings.server.templates_dir)
    except ConfigError:
        loaded = {}  # listed as problems above; warnings wait until the templates load
    for template in loaded.values():
        message = read_text(settings.server.alerts_dir / f"{template.name}.txt")
        for warning in stale_check_warnings(template, message):
            say(f"warning: {warning}")
        for example in sorted(settings.server.alerts_dir.glob(f"{template.name}.example.*")):
            shown = example.as_posix()
            for warning in example_time_warnings(template, read_text(example), shown):
                say(f"warning: {warning}")
    accounts = asyncio.run(check_template_accounts(settings, loaded))
    problems += accounts.problems
    if accounts.skipped:
        say(f"warning: {accounts.skipped}")
    secrets = load_secrets(settings.server.secrets_file)
    names = sorted(p.stem for p in settings.server.templates_dir.glob("*.toml"))
    for name in names:
        if name not in secrets:
            problems.append(
                f"{settings.server.secrets_file}: no webhook secret for strategy '{name}' "
                "(`tvbridge serve` makes one on start)"
            )
    for problem in problems:
        say(problem)
    if any("no webhook secret" not in p for p in problems):
        say(f"tvbridge check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    checked = "accounts not checked" if accounts.skipped else "accounts found"
    say(f"tvbridge check: {len(names)} template(s) OK, gateway {settings.gateway.firm_name} ({checked})")
    return 0


def render(args: argparse.Namespace) -> int:
    """Print the gateway requests an alert file would make; sends nothing."""
    from app.web.preview import render_alert

    settings = settings_of(args)
    raw = read_file(args.alert_file)
    calls = asyncio.run(render_alert(settings, args.strategy, raw))
    say(json.dumps(calls, indent=2, default=str))
    return 0


def url(args: argparse.Namespace) -> int:
    """Print the strategy's signed webhook URL (the tunnel's, public_url's, else local)."""
    from app.web.tunnel_link import local_webhook_url, public_base_url

    settings = settings_of(args)
    base = args.base_url or public_base_url(settings, None) or local_webhook_url(settings)
    say(webhook_url(settings, args.strategy, base))
    return 0


def send(args: argparse.Namespace) -> int:
    """Post an alert file as TradingView would: its time field set to now, as {{timenow}} is.

    When the body is JSON with the strategy template's ``time_field``, that value becomes the
    current UTC time (``2026-03-02T14:30:05Z``, or epoch ms when it was ms), so a saved example
    is not refused as stale; the rest of the file is sent as it is.
    """
    import httpx

    from app.ingest.parse import tradingview_content_type
    from app.strategies import load_template, refresh_alert_time

    settings = settings_of(args)
    read = read_file(args.alert_file)
    template = load_template(settings.server.templates_dir, args.strategy)
    raw = refresh_alert_time(read, template)
    if raw != read and template is not None:
        say(
            f"tvbridge send: {template.time_field} set to now, as TradingView's {{{{timenow}}}}",
            file=sys.stderr,
        )
    target = webhook_url(settings, args.strategy, args.base_url)
    try:
        response = httpx.post(
            target, content=raw, headers={"Content-Type": tradingview_content_type(raw)}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise BridgeError(
            f"could not reach the bridge at {target.split('/webhook/')[0]} ({type(exc).__name__}); "
            "is `tvbridge serve` running?"
        ) from None
    try:
        shown = json.dumps(response.json(), indent=2)
    except ValueError:
        shown = response.text
    say(f"HTTP {response.status_code}\n{shown}")
    return 0 if response.status_code < 400 else 1
