"""Validate a parsed template file and compile its values (the format: app/strategies/__init__).

``validate`` reports every problem it finds through ``report(path, message)`` (the loader
turns the key path into ``file:line``) and still returns a best-effort Spec, so one run lists
all the problems of a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from app.config import RiskLimits
from app.domain.enums import Action, OrderType
from app.strategies import values as conv
from app.strategies.expressions import RenderBoundError, Value, compile_value, is_expression
from app.strategies.lines import Path

AlertFormat = Literal["json", "text"]
TemplateKind = Literal["order", "oco"]
BracketMode = Literal["native", "managed"]
SyncMode = Literal["target"]
Report = Callable[..., None]  # report(path, message, expression_line=None)

TOP_KEYS = ("alert", "bracket", "description", "kind", "oco", "order", "risk")
# A strategy's own limits, on top of its accounts' ([risk] in tvbridge.toml): the stricter wins.
RISK_KEYS = (
    "max_contracts_per_contract",
    "max_contracts_total",
    "max_entries_per_day",
    "max_order_size",
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
ORDER_KEYS = (
    "accounts",
    "action",
    "limit_price",
    "price",
    "quantity",
    "stop_price",
    "sync",
    "target_position",
    "target_signed",
    "target_size",
    "ticker",
    "type",
)
SYNC_MODES = ("target",)
TARGET_KEYS = ("target_position", "target_size", "target_signed")
_TARGET_CHECKS = {
    "target_position": conv.to_market_position,
    "target_size": conv.to_position_size,
    "target_signed": conv.to_signed_size,
}
BRACKET_LEGS = ("stop_loss", "take_profit")
BRACKET_KEYS = ("mode", "on_failure", *BRACKET_LEGS)
BRACKET_MODES = ("native", "managed")
ON_FAILURE = ("close", "keep")
OCO_KEYS = ("first", "on_both_filled", "second")
OCO_LEGS = ("first", "second")
OCO_LEG_KEYS = ("action", "limit_price", "quantity", "stop_price", "type")
ON_BOTH_FILLED = ("flatten", "keep")
LEG_KEYS = ("points", "price", "ticks")
ACCOUNT_KEYS = ("account", "multiplier")
PRICE_KEYS = ("limit_price", "stop_price", "price")
_LEG_CHECKS = {"ticks": conv.to_ticks, "points": conv.to_points, "price": conv.to_price}


@dataclass(frozen=True)
class AccountSpec:
    """An account a template trades on: its name or id, and a quantity multiplier (> 0)."""

    account: str | int
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class Problem:
    """One problem in a template file; ``str()`` is ``templates/x.toml:LINE: message``.

    ``line`` is 1-based; 0 means the problem is about the whole file or folder.
    """

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Spec:
    """A template file's settings, checked, with its order and bracket values compiled."""

    description: str = ""
    alert_format: AlertFormat = "json"
    pattern: re.Pattern[str] | None = None
    id_field: str | None = None
    dedupe_window_s: float = 60.0
    secret_field: str = "secret"  # noqa: S105 - the name of a body field, not a secret
    time_field: str | None = None
    max_age_s: float = 30.0
    accounts: list[AccountSpec] = field(default_factory=list)
    order_values: dict[str, Value] = field(default_factory=dict)
    bracket_values: dict[str, dict[str, Value]] = field(default_factory=dict)
    kind: TemplateKind = "order"
    bracket_mode: BracketMode = "native"
    bracket_on_failure: Literal["close", "keep"] = "close"
    oco_values: dict[str, dict[str, Value]] = field(default_factory=dict)
    oco_on_both_filled: Literal["flatten", "keep"] = "flatten"
    sync: SyncMode | None = None
    risk: RiskLimits | None = None


def validate(data: dict[str, Any], report: Report) -> Spec:
    """Check a parsed template and compile its values; report every problem found."""
    _unknown_keys(data, TOP_KEYS, (), "the top level", report)
    description = data.get("description", "")
    if not isinstance(description, str):
        report(("description",), "description must be text in quotes")
        description = ""
    alert = _table(data, "alert", report) or {}
    order = _table(data, "order", report)
    if order is None:
        report((), "[order] is missing; a template needs at least accounts, ticker and action")
        order = {}
    bracket = _table(data, "bracket", report) or {}
    accounts = _accounts(order, report)
    kind: TemplateKind = _choice(data, "kind", KINDS, (), report) or "order"
    if kind == "oco":
        values = _oco_order_values(order, report)
        oco = _oco(data, accounts, report)
        if "bracket" in data:
            report(
                ("bracket",), 'a kind = "oco" template cannot have [bracket]; the pair is its own protection'
            )
    else:
        values = _order_values(order, accounts, report)
        oco = {}
        if "oco" in data:
            report(
                ("oco",),
                '[oco] is only used with kind = "oco" at the top of the file; add it or remove [oco]',
            )
    legs = _bracket(bracket, values, report)
    sync: SyncMode | None = None
    if kind == "order" and "sync" in order:
        sync = _choice(order, "sync", SYNC_MODES, ("order",), report) or "target"
    return Spec(
        description=description,
        accounts=accounts,
        order_values=values,
        bracket_values=legs,
        kind=kind,
        bracket_mode=_choice(bracket, "mode", BRACKET_MODES, ("bracket",), report) or "native",
        bracket_on_failure=_choice(bracket, "on_failure", ON_FAILURE, ("bracket",), report) or "close",
        oco_values=oco,
        oco_on_both_filled=_choice(oco_table(data), "on_both_filled", ON_BOTH_FILLED, ("oco",), report)
        or "flatten",
        sync=sync,
        risk=_risk(data, report),
        **_alert(alert, report),
    )


def _risk(data: dict[str, Any], report: Report) -> RiskLimits | None:
    """[risk]: the strategy's own limits (RISK_KEYS), checked like tvbridge.toml's."""
    table = _table(data, "risk", report)
    if table is None:
        return None
    _unknown_keys(table, RISK_KEYS, ("risk",), "[risk] (a strategy's limits)", report)
    known = {key: value for key, value in table.items() if key in RISK_KEYS}
    try:
        return RiskLimits(**known)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            report(("risk", key) if key else ("risk",), f"risk.{key} is {error.get('input')!r}: {message}")
        return None


def oco_table(data: dict[str, Any]) -> dict[str, Any]:
    """The ``[oco]`` table when it is one, else empty."""
    table = data.get("oco")
    return table if isinstance(table, dict) else {}


def _choice(table: dict[str, Any], key: str, allowed: tuple[str, ...], path: Path, report: Report) -> Any:
    """A setting that is one of a few words; None (and a problem) when it is something else."""
    if key not in table:
        return None
    value = table[key]
    if value not in allowed:
        where = _dotted((*path, key))
        listed = " or ".join(f'"{word}"' for word in allowed)
        report((*path, key), f"{where} is {value!r}, expected {listed}")
        return None
    return value


def _oco_order_values(order: dict[str, Any], report: Report) -> dict[str, Value]:
    """[order] of an OCO template: accounts and ticker; each leg says the rest."""
    _unknown_keys(order, ("accounts", "ticker"), ("order",), '[order] of a kind = "oco" template', report)
    values: dict[str, Value] = {}
    if "ticker" not in order:
        report(("order",), 'order.ticker is missing; e.g. ticker = "{{ alert.ticker }}"')
    else:
        value = _value("ticker", order["ticker"], ("order", "ticker"), report, textual=True)
        if value is not None:
            values["ticker"] = value
            _check_literal(value, conv.to_ticker, report)
    return values


def _oco(data: dict[str, Any], accounts: list[AccountSpec], report: Report) -> dict[str, dict[str, Value]]:
    """[oco]: two order tables, ``first`` and ``second`` (buy/sell, limit/stop, price, quantity)."""
    table = _table(data, "oco", report)
    if table is None:
        if "oco" not in data:
            report((), 'kind = "oco" needs an [oco] table with first and second orders')
        return {}
    _unknown_keys(table, OCO_KEYS, ("oco",), "[oco]", report)
    legs: dict[str, dict[str, Value]] = {}
    for name in OCO_LEGS:
        path = ("oco", name)
        leg = table.get(name)
        if not isinstance(leg, dict):
            report(
                path if name in table else ("oco",),
                f"oco.{name} must be a table, e.g. {name} = "
                '{ action = "buy", type = "stop", stop_price = "{{ alert.high }}", quantity = 1 }',
            )
            continue
        legs[name] = _oco_leg(name, leg, accounts, report)
    return legs


def _oco_leg(name: str, leg: dict[str, Any], accounts: list[AccountSpec], report: Report) -> dict[str, Value]:
    path = ("oco", name)
    _unknown_keys(leg, OCO_LEG_KEYS, path, f"oco.{name}", report)
    values: dict[str, Value] = {}
    for key in OCO_LEG_KEYS:
        if key not in leg:
            if key in ("action", "quantity", "type"):
                report(path, f"oco.{name}.{key} is missing")
            continue
        value = _value(f"oco.{name}.{key}", leg[key], (*path, key), report, textual=key in ("action", "type"))
        if value is not None:
            values[key] = value
    action = _check_literal(values.get("action"), conv.to_action, report)
    if action is not None and action not in (Action.BUY, Action.SELL):
        report((*path, "action"), f"oco.{name}.action is '{action}', expected buy or sell")
    order_type = _check_literal(values.get("type"), conv.to_order_type, report)
    if order_type is OrderType.MARKET:
        report(
            (*path, "type"),
            f'oco.{name}.type is "market", expected limit or stop (a market order fills at once)',
        )
    quantity = _check_literal(values.get("quantity"), conv.to_quantity, report)
    for key in ("limit_price", "stop_price"):
        _check_literal(values.get(key), conv.to_price, report)
    needs = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}.get(order_type)
    if needs is not None and needs not in leg:
        report((*path, "type"), f'oco.{name}.type = "{order_type}" needs oco.{name}.{needs}')
    if isinstance(quantity, Decimal):
        for spec in accounts:
            _check(
                partial(conv.times_multiplier, quantity, spec.multiplier),
                (*path, "quantity"),
                f"oco.{name}.quantity {quantity} on account {spec.account!r}",
                report,
            )
    return values


def _alert(alert: dict[str, Any], report: Report) -> dict[str, Any]:
    _unknown_keys(alert, ALERT_KEYS, ("alert",), "[alert]", report)
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
        _unknown_keys(item, ACCOUNT_KEYS, path, "an account entry", report)
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


def _order_values(order: dict[str, Any], accounts: list[AccountSpec], report: Report) -> dict[str, Value]:
    _unknown_keys(order, ORDER_KEYS, ("order",), "[order]", report)
    sync = "sync" in order
    values: dict[str, Value] = {}
    for key in ("ticker", "action", "quantity", "type", *PRICE_KEYS, *TARGET_KEYS):
        if key in order:
            textual = key in ("ticker", "action", "type", "target_position")
            value = _value(key, order[key], ("order", key), report, textual=textual)
            if value is not None:
                values[key] = value
    for key in ("ticker",) if sync else ("ticker", "action"):
        if key not in order:
            report(("order",), f'order.{key} is missing; e.g. {key} = "{{{{ alert.{key} }}}}"')
    _check_literal(values.get("ticker"), conv.to_ticker, report)
    action = _check_literal(values.get("action"), conv.to_action, report)
    order_type = _check_literal(values.get("type"), conv.to_order_type, report)
    quantity = _check_literal(values.get("quantity"), conv.to_quantity, report)
    for key in PRICE_KEYS:
        _check_literal(values.get(key), conv.to_price, report)
    if sync:
        _sync_values(order, values, accounts, action, order_type, report)
    else:
        for key in TARGET_KEYS:
            if key in order:
                report(
                    ("order", key),
                    f'order.{key} is only used with sync = "target" (position sync); add that '
                    "to [order] or remove it",
                )
    if "quantity" not in order and not sync and action not in (Action.EXIT, Action.CANCEL):
        report(
            ("order",), 'order.quantity is missing; e.g. quantity = 1 or quantity = "{{ alert.quantity }}"'
        )
    if isinstance(quantity, Decimal):
        for spec in accounts:
            _check(
                partial(conv.times_multiplier, quantity, spec.multiplier),
                ("order", "quantity"),
                f"order.quantity {quantity} on account {spec.account!r}",
                report,
            )
    needs = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}.get(order_type)
    if needs is not None and needs not in order:
        report(("order", "type"), f'order.type = "{order_type}" needs order.{needs}')
    return values


def _sync_values(
    order: dict[str, Any],
    values: dict[str, Value],
    accounts: list[AccountSpec],
    action: Action | None,
    order_type: OrderType | None,
    report: Report,
) -> None:
    """[order] with ``sync = "target"``: exactly one target form; market orders; the optional
    action and quantity are the alert's own order (to tell a missed alert from a normal one)."""
    pair = [key for key in ("target_position", "target_size") if key in order]
    if pair and "target_signed" in order:
        report(
            ("order", "target_signed"),
            'sync = "target" takes one target: target_position with target_size, or '
            "target_signed; remove one of them",
        )
    elif not pair and "target_signed" not in order:
        report(
            ("order", "sync"),
            'sync = "target" needs the target position: target_position = '
            '"{{ alert.market_position }}" with target_size = "{{ alert.market_position_size }}", '
            'or target_signed = "{{ alert.position_size }}"',
        )
    elif len(pair) == 1:
        have, need = pair[0], "target_size" if pair[0] == "target_position" else "target_position"
        example = {
            "target_size": '"{{ alert.market_position_size }}" (contracts, 0 or more)',
            "target_position": '"{{ alert.market_position }}" (long, flat or short)',
        }[need]
        report(("order", have), f"order.{have} needs order.{need} too, e.g. {need} = {example}")
    if action is not None and action not in (Action.BUY, Action.SELL):
        report(
            ("order", "action"),
            f"order.action is '{action}', expected buy or sell with sync = \"target\" (the "
            "strategy's own order, {{strategy.order.action}}), or no action at all",
        )
    if order_type is not None and order_type is not OrderType.MARKET:
        report(
            ("order", "type"),
            f'order.type is "{order_type}", but sync = "target" sends market orders; remove it',
        )
    for key in ("limit_price", "stop_price"):
        if key in order:
            report(("order", key), f'order.{key} is not used with sync = "target" (market orders); remove it')
    for key, convert in _TARGET_CHECKS.items():
        literal = _check_literal(values.get(key), convert, report)
        if key == "target_position" or not isinstance(literal, Decimal):
            continue
        for spec in accounts:
            _check(
                partial(conv.target_contracts, literal, spec.multiplier),
                ("order", key),
                f"order.{key} {literal} on account {spec.account!r}",
                report,
            )


def _bracket(bracket: dict[str, Any], order: dict[str, Value], report: Report) -> dict[str, dict[str, Value]]:
    _unknown_keys(bracket, BRACKET_KEYS, ("bracket",), "[bracket]", report)
    legs: dict[str, dict[str, Value]] = {}
    for leg in BRACKET_LEGS:
        if leg not in bracket:
            continue
        path = ("bracket", leg)
        table = bracket[leg]
        if not isinstance(table, dict):
            report(path, f"bracket.{leg} must be a table, e.g. {leg} = {{ ticks = 40 }}")
            continue
        _unknown_keys(table, LEG_KEYS, path, f"bracket.{leg}", report)
        kinds = {k: v for k, v in table.items() if k in LEG_KEYS}
        literal = [k for k, v in kinds.items() if not is_expression(v)]
        if not kinds or (len(kinds) > 1 and literal):
            report(
                path,
                f"bracket.{leg} needs exactly one of ticks, points or price "
                "(several only when all are expressions, of which one renders)",
            )
            continue
        compiled = {}
        for kind, raw in kinds.items():
            value = _value(f"bracket.{leg}.{kind}", raw, (*path, kind), report)
            if value is not None:
                _check_literal(value, _LEG_CHECKS[kind], report)
                compiled[kind] = value
        if "price" in compiled:
            _check_price_leg(leg, order, report)
        legs[leg] = compiled
    return legs


def _check_price_leg(leg: str, order: dict[str, Value], report: Report) -> None:
    action, order_type = order.get("action"), order.get("type")
    if (
        action is not None
        and not action.is_expression
        and _quiet(conv.to_action, action.literal) == Action.REVERSE
    ):
        report(
            ("bracket", leg, "price"),
            f"bracket.{leg}.price cannot be used with action reverse "
            "(the side is not known until the position is); use ticks or points",
        )
    market = order_type is None or (
        not order_type.is_expression and _quiet(conv.to_order_type, order_type.literal) == OrderType.MARKET
    )
    if market and "price" not in order:
        report(
            ("bracket", leg, "price"),
            f"bracket.{leg}.price on a market entry needs order.price, the "
            'reference price the distance is measured from (e.g. price = "{{ alert.close }}")',
        )


def _value(name: str, raw: object, path: Path, report: Report, *, textual: bool = False) -> Value | None:
    allowed = (str,) if textual else (str, int, Decimal)
    if isinstance(raw, bool) or not isinstance(raw, allowed):
        kind = "text" if textual else "a number or text"
        report(path, f"{_dotted(path)} is {raw!r}, expected {kind} (literal or Jinja expression)")
        return None
    try:
        return compile_value(name, raw)
    except TemplateSyntaxError as exc:
        report(path, f"{_dotted(path)}: Jinja syntax error: {exc.message}", exc.lineno)
    except NameError as exc:
        report(path, f"{_dotted(path)} {exc}")
    except RenderBoundError as exc:
        report(path, f"{_dotted(path)}: {exc} — the expression would stall the bridge; simplify it")
    return None


def _check_literal(value: Value | None, convert: Callable[[object], Any], report: Report) -> Any:
    """Convert a literal value now so a bad literal stops the start; None for expressions."""
    if value is None or value.is_expression:
        return None
    path = ("order", value.field) if "." not in value.field else tuple(value.field.split("."))
    return _check(lambda: convert(value.literal), path, f"{_dotted(path)} is {value.literal!r}", report)


def _check(run: Callable[[], Any], path: Path, subject: str, report: Report) -> Any:
    try:
        return run()
    except ValueError as exc:
        report(path, f"{subject}, {exc}")
        return None


def _quiet(convert: Callable[[object], Any], value: object) -> Any:
    try:
        return convert(value)
    except ValueError:
        return None


def _table(data: dict[str, Any], key: str, report: Report) -> dict[str, Any] | None:
    if key not in data:
        return None
    table = data[key]
    if not isinstance(table, dict):
        report((key,), f"{key} must be a table: write [{key}] on its own line, then its keys")
        return None
    return table


def _unknown_keys(
    table: dict[str, Any], allowed: Iterable[str], path: Path, where: str, report: Report
) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            report((*path, key), f"unknown key '{key}' in {where}{hint}; allowed: {', '.join(allowed)}")


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in path if isinstance(part, str))
