"""[order] and [bracket] of a kind = "order" template: the order's values, position sync, the legs."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from app.domain.enums import Action, OrderType
from app.strategies import values as conv
from app.strategies.expressions import Value, is_expression
from app.strategies.schema_checks import Report, check, check_literal, field_value, quiet, unknown_keys
from app.strategies.schema_live_stops import live_stop_values
from app.strategies.schema_scale_out import scale_out_values

if TYPE_CHECKING:
    from app.strategies.spec import AccountSpec, BracketMode

_PRICE_FOR = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}  # the price a type needs

ORDER_KEYS = (
    "accounts",
    "action",
    "exit_quantity",
    "limit_price",
    "price",
    "quantity",
    "risk_percent",
    "risk_usd",
    "stop_price",
    "sync",
    "target_position",
    "target_signed",
    "target_size",
    "ticker",
    "trail_points",
    "trail_ticks",
    "type",
)
SYNC_MODES = ("target",)
RISK_KEYS = ("risk_usd", "risk_percent")  # size by risk instead of a quantity (app/domain/sizing.py)
SIZE_KEYS = ("quantity", *RISK_KEYS)
_RISK_CHECKS = {"risk_usd": conv.to_risk_usd, "risk_percent": conv.to_risk_percent}
TARGET_KEYS = ("target_position", "target_size", "target_signed")
_TARGET_CHECKS = {
    "target_position": conv.to_market_position,
    "target_size": conv.to_position_size,
    "target_signed": conv.to_signed_size,
}
BRACKET_LEGS = ("stop_loss", "take_profit")
BRACKET_KEYS = ("mode", "on_failure", *BRACKET_LEGS, "targets", "break_even", "trail")
BRACKET_MODES = ("native", "managed")
ON_FAILURE = ("close", "keep")
LEG_KEYS = ("points", "price", "ticks", "trail_points", "trail_ticks")
# A stop loss given as trail_ticks / trail_points is a native trailing stop (Order/place type 5)
# the bridge places after the fill: always a managed bracket.
TRAIL_KEYS = ("trail_points", "trail_ticks")
PRICE_KEYS = ("limit_price", "stop_price", "price")
_LEG_CHECKS = {
    "ticks": conv.to_ticks,
    "points": conv.to_points,
    "price": conv.to_price,
    "trail_ticks": conv.to_trail_ticks,
    "trail_points": conv.to_points,
}


def order_values(order: dict[str, Any], accounts: list[AccountSpec], report: Report) -> dict[str, Value]:
    unknown_keys(order, ORDER_KEYS, ("order",), "[order]", report)
    sync = "sync" in order
    values: dict[str, Value] = {}
    keys = (
        "ticker",
        "action",
        "quantity",
        "type",
        "exit_quantity",
        *PRICE_KEYS,
        *TARGET_KEYS,
        *RISK_KEYS,
        *TRAIL_KEYS,
    )
    for key in keys:
        if key in order:
            textual = key in ("ticker", "action", "type", "target_position", "exit_quantity")
            value = field_value(key, order[key], ("order", key), report, textual=textual)
            if value is not None:
                values[key] = value
    for key in ("ticker",) if sync else ("ticker", "action"):
        if key not in order:
            report(("order",), f'order.{key} is missing; e.g. {key} = "{{{{ alert.{key} }}}}"')
    check_literal(values.get("ticker"), conv.to_ticker, report)
    action = check_literal(values.get("action"), conv.to_action, report)
    order_type = check_literal(values.get("type"), conv.to_order_type, report)
    quantity = check_literal(values.get("quantity"), conv.to_quantity, report)
    for key in PRICE_KEYS:
        check_literal(values.get(key), conv.to_price, report)
    _exit_quantity(order, values, action, sync, report)
    for key, convert in _RISK_CHECKS.items():
        check_literal(values.get(key), convert, report)
    _one_size(order, values, sync, report)
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
    sized = any(key in order for key in SIZE_KEYS)
    if not sized and not sync and action not in (Action.EXIT, Action.CANCEL, Action.BREAKEVEN):
        report(
            ("order",),
            'order.quantity is missing; e.g. quantity = 1 or quantity = "{{ alert.quantity }}", or '
            "size by risk: risk_usd = 100 (USD) or risk_percent = 0.5 (% of the balance)",
        )
    if isinstance(quantity, Decimal):
        for spec in accounts:
            check(
                partial(conv.times_multiplier, quantity, spec.multiplier),
                ("order", "quantity"),
                f"order.quantity {quantity} on account {spec.account!r}",
                report,
            )
    needs = _PRICE_FOR.get(order_type) if order_type is not None else None
    if needs is not None and needs not in order:
        report(("order", "type"), f'order.type = "{order_type}" needs order.{needs}')
    _trailing_order(order, values, order_type, report)
    return values


def _trailing_order(
    order: dict[str, Any], values: dict[str, Value], order_type: OrderType | None, report: Report
) -> None:
    """A trailing stop order on its own: order.type = "trailing_stop" with exactly one of
    order.trail_ticks / trail_points (its distance, at most MAX_TRAIL_TICKS ticks: §6.2)."""
    check_literal(values.get("trail_ticks"), conv.to_trail_ticks, report)
    check_literal(values.get("trail_points"), conv.to_points, report)
    given = [key for key in TRAIL_KEYS if key in order]
    if order_type is OrderType.TRAILING_STOP and len(given) != 1:
        report(
            ("order", "type"),
            'order.type = "trailing_stop" needs exactly one of order.trail_ticks or order.trail_points '
            "(the distance it trails the price by), e.g. trail_ticks = 20",
        )
    type_known = "type" not in values or not values["type"].is_expression  # none: market
    if given and type_known and order_type is not OrderType.TRAILING_STOP:
        report(
            ("order", given[0]),
            f"order.{given[0]} is the distance of a trailing stop order: it needs "
            'order.type = "trailing_stop"',
        )


def _exit_quantity(
    order: dict[str, Any], values: dict[str, Value], action: Action | None, sync: bool, report: Report
) -> None:
    """order.exit_quantity: part of the position an exit closes (contracts or "50%"); read
    only by exits, so a literal other action (or position sync) with it is a mistake."""
    if "exit_quantity" not in order:
        return
    check_literal(values.get("exit_quantity"), conv.to_exit_quantity, report)
    if sync or action in (Action.BUY, Action.SELL, Action.CANCEL, Action.REVERSE, Action.BREAKEVEN):
        report(
            ("order", "exit_quantity"),
            'order.exit_quantity is only read by exits (action = "exit"); remove it',
        )


def _one_size(order: dict[str, Any], values: dict[str, Value], sync: bool, report: Report) -> None:
    """Exactly one of quantity, risk_usd and risk_percent (several only when all are
    expressions, of which one renders); size by risk is for entries, not a position sync."""
    given = [key for key in SIZE_KEYS if key in order]
    literal = [key for key in given if key in values and not values[key].is_expression]
    if len(given) > 1 and literal:
        report(
            ("order", given[1]),
            f"order takes one of quantity, risk_usd or risk_percent, not {' and '.join(given)} "
            "(several only when all are expressions, of which one renders)",
        )
    for key in RISK_KEYS:
        if sync and key in order:
            report(
                ("order", key),
                f'order.{key} (size by risk) is not used with sync = "target", which follows the '
                "strategy's position size; remove it",
            )


def check_risk_sizing(order: dict[str, Value], legs: dict[str, dict[str, Value]], report: Report) -> None:
    """risk_usd / risk_percent size the entry by its stop loss's distance: [bracket] needs one."""
    for key in RISK_KEYS:
        if key in order and "stop_loss" not in legs:
            report(
                ("order", key),
                f"order.{key}: size by risk needs a stop loss, the distance the risk is measured "
                "over; add [bracket] stop_loss = { ticks = 20 } (or points, or price)",
            )


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
        literal = check_literal(values.get(key), convert, report)
        if key == "target_position" or not isinstance(literal, Decimal):
            continue
        for spec in accounts:
            check(
                partial(conv.target_contracts, literal, spec.multiplier),
                ("order", key),
                f"order.{key} {literal} on account {spec.account!r}",
                report,
            )


def bracket_values(
    bracket: dict[str, Any], order: dict[str, Value], report: Report
) -> dict[str, dict[str, Value]]:
    unknown_keys(bracket, BRACKET_KEYS, ("bracket",), "[bracket]", report)
    order_type = order.get("type")
    if (
        bracket
        and order_type is not None
        and not order_type.is_expression
        and quiet(conv.to_order_type, order_type.literal) == OrderType.TRAILING_STOP
    ):
        report(
            ("bracket",),
            'a trailing stop order (order.type = "trailing_stop") carries no bracket: it is the '
            "protection; remove [bracket] or use a market, limit or stop entry",
        )
    legs: dict[str, dict[str, Value]] = {}
    for leg in BRACKET_LEGS:
        if leg not in bracket:
            continue
        path = ("bracket", leg)
        table = bracket[leg]
        if not isinstance(table, dict):
            report(path, f"bracket.{leg} must be a table, e.g. {leg} = {{ ticks = 40 }}")
            continue
        unknown_keys(table, LEG_KEYS, path, f"bracket.{leg}", report)
        kinds = {k: v for k, v in table.items() if k in LEG_KEYS}
        for key in TRAIL_KEYS:
            if key in kinds and leg != "stop_loss":
                report(
                    (*path, key),
                    f"bracket.{leg}.{key}: only the stop loss can trail; use ticks, points or price",
                )
                del kinds[key]
        literal = [k for k, v in kinds.items() if not is_expression(v)]
        if not kinds or (len(kinds) > 1 and literal):
            report(
                path,
                f"bracket.{leg} needs exactly one of ticks, points or price"
                + (" (or trail_ticks, trail_points for a trailing stop)" if leg == "stop_loss" else "")
                + " "
                "(several only when all are expressions, of which one renders)",
            )
            continue
        compiled = {}
        for kind, raw in kinds.items():
            value = field_value(f"bracket.{leg}.{kind}", raw, (*path, kind), report)
            if value is not None:
                check_literal(value, _LEG_CHECKS[kind], report)
                compiled[kind] = value
        if "price" in compiled:
            _check_price_leg(leg, order, report)
        legs[leg] = compiled
    stop_loss = bracket.get("stop_loss")
    trails = isinstance(stop_loss, dict) and any(
        key in stop_loss and not is_expression(stop_loss[key]) for key in TRAIL_KEYS
    )
    if trails and "targets" in bracket:
        report(
            ("bracket", "targets"),
            "scale-out targets resize and move a plain stop loss; a trailing stop loss (trail_ticks / "
            "trail_points) is not moved by the bridge: use stop_loss = { ticks = N } with targets, and "
            "trail = { ticks = N } for the bridge to trail it from live quotes",
        )
    if trails and bracket.get("mode") == "native":
        report(
            ("bracket", "mode"),
            "a trailing stop loss (trail_ticks / trail_points) is placed by the bridge after the fill: "
            'use mode = "managed" (or leave mode out)',
        )
    legs.update(scale_out_values(bracket, order, report))  # targets, break_even
    legs.update(live_stop_values(bracket, report))  # break_even.after_ticks, trail
    return legs


def default_mode(legs: dict[str, dict[str, Value]]) -> BracketMode:
    """A bracket's mode when ``[bracket] mode`` is not given: "managed" when its stop loss can
    only be a trailing stop (the bridge places those), else "native". A stop loss that may render
    either way (e.g. traderspost's) stays native and is managed for the alerts that trail."""
    kinds = set(legs.get("stop_loss", {}))
    return "managed" if kinds and kinds <= set(TRAIL_KEYS) else "native"


def _check_price_leg(leg: str, order: dict[str, Value], report: Report) -> None:
    action, order_type = order.get("action"), order.get("type")
    if (
        action is not None
        and not action.is_expression
        and quiet(conv.to_action, action.literal) == Action.REVERSE
    ):
        report(
            ("bracket", leg, "price"),
            f"bracket.{leg}.price cannot be used with action reverse "
            "(the side is not known until the position is); use ticks or points",
        )
    market = order_type is None or (
        not order_type.is_expression and quiet(conv.to_order_type, order_type.literal) == OrderType.MARKET
    )
    if market and "price" not in order:
        report(
            ("bracket", leg, "price"),
            f"bracket.{leg}.price on a market entry needs order.price, the "
            'reference price the distance is measured from (e.g. price = "{{ alert.close }}")',
        )
