"""[order] and [oco] of a kind = "oco" template: accounts and ticker, then the two orders."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from app.domain.enums import Action, OrderType
from app.strategies import values as conv
from app.strategies.expressions import Value
from app.strategies.schema_checks import Report, check, check_literal, field_value, get_table, unknown_keys

if TYPE_CHECKING:
    from app.strategies.spec import AccountSpec

_PRICE_FOR = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}  # the price a type needs

OCO_KEYS = ("first", "on_both_filled", "second")
OCO_LEGS = ("first", "second")
OCO_LEG_KEYS = ("action", "limit_price", "quantity", "stop_price", "type")
ON_BOTH_FILLED = ("flatten", "keep")


def oco_table(data: dict[str, Any]) -> dict[str, Any]:
    """The ``[oco]`` table when it is one, else empty."""
    table = data.get("oco")
    return table if isinstance(table, dict) else {}


def oco_order_values(order: dict[str, Any], report: Report) -> dict[str, Value]:
    """[order] of an OCO template: accounts and ticker; each leg says the rest."""
    unknown_keys(order, ("accounts", "ticker"), ("order",), '[order] of a kind = "oco" template', report)
    values: dict[str, Value] = {}
    if "ticker" not in order:
        report(("order",), 'order.ticker is missing; e.g. ticker = "{{ alert.ticker }}"')
    else:
        value = field_value("ticker", order["ticker"], ("order", "ticker"), report, textual=True)
        if value is not None:
            values["ticker"] = value
            check_literal(value, conv.to_ticker, report)
    return values


def oco_values(
    data: dict[str, Any], accounts: list[AccountSpec], report: Report
) -> dict[str, dict[str, Value]]:
    """[oco]: two order tables, ``first`` and ``second`` (buy/sell, limit/stop, price, quantity)."""
    table = get_table(data, "oco", report)
    if table is None:
        if "oco" not in data:
            report((), 'kind = "oco" needs an [oco] table with first and second orders')
        return {}
    unknown_keys(table, OCO_KEYS, ("oco",), "[oco]", report)
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
        legs[name] = _leg(name, leg, accounts, report)
    return legs


def _leg(name: str, leg: dict[str, Any], accounts: list[AccountSpec], report: Report) -> dict[str, Value]:
    path = ("oco", name)
    unknown_keys(leg, OCO_LEG_KEYS, path, f"oco.{name}", report)
    values: dict[str, Value] = {}
    for key in OCO_LEG_KEYS:
        if key not in leg:
            if key in ("action", "quantity", "type"):
                report(path, f"oco.{name}.{key} is missing")
            continue
        value = field_value(
            f"oco.{name}.{key}", leg[key], (*path, key), report, textual=key in ("action", "type")
        )
        if value is not None:
            values[key] = value
    action = check_literal(values.get("action"), conv.to_action, report)
    if action is not None and action not in (Action.BUY, Action.SELL):
        report((*path, "action"), f"oco.{name}.action is '{action}', expected buy or sell")
    order_type = check_literal(values.get("type"), conv.to_order_type, report)
    if order_type in (OrderType.MARKET, OrderType.TRAILING_STOP):
        report(
            (*path, "type"),
            f'oco.{name}.type is "{order_type}", expected limit or stop '
            + (
                "(a market order fills at once)"
                if order_type is OrderType.MARKET
                else "(a trailing stop is no side of a breakout)"
            ),
        )
    quantity = check_literal(values.get("quantity"), conv.to_quantity, report)
    for key in ("limit_price", "stop_price"):
        check_literal(values.get(key), conv.to_price, report)
    needs = _PRICE_FOR.get(order_type) if order_type is not None else None
    if needs is not None and needs not in leg:
        report((*path, "type"), f'oco.{name}.type = "{order_type}" needs oco.{name}.{needs}')
    if isinstance(quantity, Decimal):
        for spec in accounts:
            check(
                partial(conv.times_multiplier, quantity, spec.multiplier),
                (*path, "quantity"),
                f"oco.{name}.quantity {quantity} on account {spec.account!r}",
                report,
            )
    return values
