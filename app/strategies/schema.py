"""Validate a parsed template file and compile its values (the format: app/strategies/__init__).

``validate`` reports every problem it finds through ``report(path, message)`` (the loader
turns the key path into ``file:line``) and still returns a best-effort Spec, so one run lists
all the problems of a file.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from app.config import RiskLimits
from app.strategies import values as conv
from app.strategies.schema_checks import Report, choice, get_table, unknown_keys
from app.strategies.schema_oco import ON_BOTH_FILLED, oco_order_values, oco_table, oco_values
from app.strategies.schema_order import (
    BRACKET_MODES,
    ON_FAILURE,
    SYNC_MODES,
    bracket_values,
    check_risk_sizing,
    default_mode,
    order_values,
)
from app.strategies.spec import AccountSpec, AlertFormat, BracketMode, Problem, Spec, SyncMode, TemplateKind
from app.toml_lines import Path

__all__ = [
    "AccountSpec",
    "AlertFormat",
    "BracketMode",
    "Problem",
    "Report",
    "Spec",
    "SyncMode",
    "TemplateKind",
    "oco_table",
    "validate",
]

TOP_KEYS = ("alert", "bracket", "description", "kind", "oco", "order", "risk")
# A strategy's own limits, on top of its accounts' ([risk] in tvbridge.toml): the stricter wins.
RISK_KEYS = (
    "max_contracts_per_contract",
    "max_contracts_total",
    "max_entries_per_day",
    "max_order_size",
    "max_trades_per_hour",
    "max_trades_per_minute",
    "require_stop_loss",
    "trading_windows",
)
KINDS = ("order", "oco")
ALERT_KEYS = (
    "dedupe_window_s",
    "format",
    "id_field",
    "max_age_s",
    "pattern",
    "secret_field",
    "time_field",
)
ACCOUNT_KEYS = ("account", "multiplier")


def validate(data: dict[str, Any], report: Report) -> Spec:
    """Check a parsed template and compile its values; report every problem found."""
    unknown_keys(data, TOP_KEYS, (), "the top level", report)
    description = data.get("description", "")
    if not isinstance(description, str):
        report(("description",), "description must be text in quotes")
        description = ""
    alert = get_table(data, "alert", report) or {}
    order = get_table(data, "order", report)
    if order is None:
        report((), "[order] is missing; a template needs at least accounts, ticker and action")
        order = {}
    bracket = get_table(data, "bracket", report) or {}
    accounts = _accounts(order, report)
    kind: TemplateKind = choice(data, "kind", KINDS, (), report) or "order"
    if kind == "oco":
        values = oco_order_values(order, report)
        oco = oco_values(data, accounts, report)
        if "bracket" in data:
            report(
                ("bracket",), 'a kind = "oco" template cannot have [bracket]; the pair is its own protection'
            )
    else:
        values = order_values(order, accounts, report)
        oco = {}
        if "oco" in data:
            report(
                ("oco",),
                '[oco] is only used with kind = "oco" at the top of the file; add it or remove [oco]',
            )
    legs = bracket_values(bracket, values, report)
    check_risk_sizing(values, legs, report)
    if "sync" in order and "targets" in bracket:
        report(
            ("bracket", "targets"), 'bracket.targets cannot be used with sync = "target"; remove one of them'
        )
    sync: SyncMode | None = None
    if kind == "order" and "sync" in order:
        sync = choice(order, "sync", SYNC_MODES, ("order",), report) or "target"
    return Spec(
        description=description,
        accounts=accounts,
        order_values=values,
        bracket_values=legs,
        kind=kind,
        bracket_mode=choice(bracket, "mode", BRACKET_MODES, ("bracket",), report) or default_mode(legs),
        bracket_on_failure=choice(bracket, "on_failure", ON_FAILURE, ("bracket",), report) or "close",
        oco_values=oco,
        oco_on_both_filled=choice(oco_table(data), "on_both_filled", ON_BOTH_FILLED, ("oco",), report)
        or "flatten",
        sync=sync,
        risk=_risk(data, report),
        **_alert(alert, report),
    )


def _risk(data: dict[str, Any], report: Report) -> RiskLimits | None:
    """[risk]: the strategy's own limits (RISK_KEYS), checked like tvbridge.toml's."""
    table = get_table(data, "risk", report)
    if table is None:
        return None
    unknown_keys(table, RISK_KEYS, ("risk",), "[risk] (a strategy's limits)", report)
    known = {key: value for key, value in table.items() if key in RISK_KEYS}
    try:
        return RiskLimits(**known)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            report(("risk", key) if key else ("risk",), f"risk.{key} is {error.get('input')!r}: {message}")
        return None


def _alert(alert: dict[str, Any], report: Report) -> dict[str, Any]:
    unknown_keys(alert, ALERT_KEYS, ("alert",), "[alert]", report)
    settings: dict[str, Any] = {}
    fmt = alert.get("format", "json")
    if fmt not in ("json", "text"):
        report(("alert", "format"), f'alert.format is {fmt!r}, expected "json" or "text"')
        fmt = "json"
    settings["alert_format"] = fmt
    for key in ("id_field", "secret_field", "time_field"):
        if key in alert:
            value = alert[key]
            if isinstance(value, str) and value.strip():
                settings[key] = value.strip()
            else:
                report(("alert", key), f"alert.{key} is {value!r}, expected the name of an alert field")
    for key, default, zero in (
        ("dedupe_window_s", 60, "0 or more"),
        ("max_age_s", 30, "0 or more (0: never stale)"),
    ):
        seconds = _seconds(alert, key, default, zero, report)
        if seconds is not None:
            settings[key] = seconds
    pattern = alert.get("pattern")
    if pattern is not None and fmt == "json":
        report(
            ("alert", "pattern"),
            'alert.pattern is only used with alert.format = "text"; remove it or set the format',
        )
    elif pattern is None and fmt == "text":
        report(
            ("alert", "format"),
            'alert.format = "text" needs alert.pattern, a regular expression with named groups',
        )
    elif pattern is not None:
        settings["pattern"] = _pattern(pattern, report)
    return settings


def _seconds(alert: dict[str, Any], key: str, default: int, zero: str, report: Report) -> float | None:
    """An [alert] duration in seconds (a TOML number, 0 or more); None (and a problem) otherwise."""
    value = alert.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | Decimal)
        or (isinstance(value, Decimal) and not value.is_finite())
        or value < 0
    ):
        report(("alert", key), f"alert.{key} is {value!r}, expected seconds, {zero}")
        return None
    return float(value)


def _pattern(pattern: object, report: Report) -> re.Pattern[str] | None:
    path = ("alert", "pattern")
    if not isinstance(pattern, str):
        report(path, "alert.pattern must be text (a regular expression in single quotes)")
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        report(path, f"alert.pattern does not compile: {exc}")
        return None
    if not compiled.groupindex:
        report(path, "alert.pattern has no named groups (?P<name>…); the groups are the alert's fields")
        return None
    return compiled


def _accounts(order: dict[str, Any], report: Report) -> list[AccountSpec]:
    raw = order.get("accounts")
    if not isinstance(raw, list) or not raw:
        report(
            ("order", "accounts") if "accounts" in order else ("order",),
            'order.accounts must list at least one account, e.g. accounts = ["SIM-AUTO-OCO"]',
        )
        return []
    accounts: list[AccountSpec] = []
    for index, item in enumerate(raw):
        spec = _account(item, ("order", "accounts", index), report)
        if spec is None:
            continue
        if any(spec.account == other.account for other in accounts):
            report(
                ("order", "accounts", index),
                f"account {spec.account!r} is listed twice; list each account once "
                "(use multiplier for more contracts)",
            )
            continue
        accounts.append(spec)
    return accounts


def _account(item: object, path: Path, report: Report) -> AccountSpec | None:
    if isinstance(item, dict):
        unknown_keys(item, ACCOUNT_KEYS, path, "an account entry", report)
        name, multiplier = item.get("account"), item.get("multiplier", 1)
        try:
            factor = conv.to_multiplier(multiplier)
        except ValueError as exc:
            report((*path, "multiplier"), f"account multiplier is {multiplier!r}, {exc}")
            return None
    else:
        name, factor = item, Decimal(1)
    if isinstance(name, str) and name.strip():
        return AccountSpec(name.strip(), factor)
    if isinstance(name, int) and not isinstance(name, bool) and name > 0:
        return AccountSpec(name, factor)
    report(path, f'account is {name!r}, expected an account name ("SIM-AUTO-OCO") or id (70000001)')
    return None
