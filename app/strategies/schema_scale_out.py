"""[bracket] targets and break_even: a managed stop loss with up to three scale-out take profits.

    [bracket]
    mode = "managed"
    stop_loss = { ticks = 40 }
    targets = [ { ticks = 20, size = 1 }, { ticks = 40, size = 1 }, { ticks = 80, size = 1 } ]
    break_even = { after_target = 1, offset_ticks = 1 }

Each target has one distance (ticks, points or price, as a stop loss) and one size: ``size``
contracts (× the account's multiplier) or ``percent`` of the entry (rounded down; when the
percentages add up to 100 the contracts rounding left over go to the last target). The sizes add
up to at most the entry; contracts no target covers ride with the stop loss. The values are
compiled here as legs ``target1``…``target3`` and ``break_even`` of the template's bracket values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.strategies import values as conv
from app.strategies.expressions import Value, is_expression
from app.strategies.schema_checks import Report, check_literal, field_value, quiet, unknown_keys

MAX_TARGETS = 3
DISTANCE_KEYS = ("points", "price", "ticks")
SIZE_KEYS = ("percent", "size")
BREAK_EVEN_KEYS = ("after_target", "offset_ticks")
_DISTANCE_CHECKS = {"ticks": conv.to_ticks, "points": conv.to_points, "price": conv.to_price}


def to_percent(value: object) -> Decimal:
    """Read a target's share of the entry in percent (0 < p ≤ 100)."""
    number = conv.to_points(value)  # a positive number
    if number > 100:
        raise ValueError("expected a percentage above 0 and at most 100")
    return number


def to_offset_ticks(value: object) -> int:
    """Read break_even.offset_ticks: whole ticks, 0 or more."""
    if str(value).strip() in ("0", "0.0"):
        return 0
    return conv.to_ticks(value)


def target_key(n: int) -> str:
    """The compiled bracket leg of target ``n`` (1..MAX_TARGETS), read back by template.py."""
    return f"target{n}"


def scale_out_values(
    bracket: dict[str, Any], order: dict[str, Value], report: Report
) -> dict[str, dict[str, Value]]:
    """Compile [bracket] targets and break_even (checked against the bracket and the order)."""
    legs: dict[str, dict[str, Value]] = {}
    targets = bracket.get("targets")
    if targets is None:
        be = bracket.get("break_even")
        live = isinstance(be, dict) and "after_ticks" in be and "after_target" not in be
        if be is not None and not live:  # after_ticks: schema_live_stops.py
            report(
                ("bracket", "break_even"), "bracket.break_even needs bracket.targets (the target it follows)"
            )
        return legs
    path = ("bracket", "targets")
    example = "targets = [ { ticks = 20, size = 1 }, { ticks = 40, size = 1 } ]"
    if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
        report(path, f"bracket.targets must be a list of 1 to {MAX_TARGETS} tables, e.g. {example}")
        return legs
    if bracket.get("mode") != "managed":
        report(path, 'bracket.targets needs mode = "managed" (the bridge places and resizes them)')
    if "take_profit" in bracket:
        report(path, "bracket.targets replaces bracket.take_profit; remove one of them")
    if "stop_loss" not in bracket:
        report(path, "bracket.targets needs a bracket.stop_loss covering what is left")
    sizes: list[Decimal | None] = []
    units: set[str] = set()
    for n, table in enumerate(targets, start=1):
        where = f"bracket.targets[{n}]"
        tpath = (*path, str(n))
        if not isinstance(table, dict):
            report(tpath, f"{where} must be a table, e.g. {{ ticks = 20, size = 1 }}")
            continue
        unknown_keys(table, (*DISTANCE_KEYS, *SIZE_KEYS), tpath, where, report)
        distance = [k for k in DISTANCE_KEYS if k in table]
        size = [k for k in SIZE_KEYS if k in table]
        if len(distance) != 1 or len(size) != 1:
            report(
                tpath, f"{where} needs one distance (ticks, points or price) and one size (size or percent)"
            )
            continue
        compiled: dict[str, Value] = {}
        for key in (*distance, *size):
            value = field_value(f"bracket.targets.{n}.{key}", table[key], (*tpath, key), report)
            if value is None:
                continue
            convert = _DISTANCE_CHECKS.get(key) or (to_percent if key == "percent" else conv.to_quantity)
            literal = check_literal(value, convert, report)
            if key in SIZE_KEYS:
                sizes.append(Decimal(str(literal)) if literal is not None else None)
            compiled[key] = value
        if "price" in compiled and "price" not in order and not is_expression(table.get("price")):
            report(
                (*tpath, "price"), f"{where}.price needs order.price, the price the distance is measured from"
            )
        units.add(size[0])
        legs[target_key(n)] = compiled
    if len(units) > 1:
        report(path, "bracket.targets: give every target a size, or every target a percent, not both")
    known = [s for s in sizes if s is not None]
    if len(known) == len(sizes) and known:
        total = sum(known, Decimal(0))
        if units == {"percent"} and total > 100:
            report(path, f"bracket.targets: the percentages add up to {total}, more than 100")
        quantity = order.get("quantity")
        if units == {"size"} and quantity is not None and not quantity.is_expression:
            entry = quiet(conv.to_quantity, quantity.literal)
            if entry is not None and total > entry:
                report(
                    path, f"bracket.targets: the sizes add up to {total}, more than order.quantity {entry}"
                )
    _break_even(bracket, len(targets), legs, report)
    return legs


def _break_even(
    bracket: dict[str, Any], count: int, legs: dict[str, dict[str, Value]], report: Report
) -> None:
    table = bracket.get("break_even")
    if table is None:
        return
    path = ("bracket", "break_even")
    if isinstance(table, dict) and "after_ticks" in table:
        return  # from live quotes: schema_live_stops.py
    if not isinstance(table, dict) or "after_target" not in table:
        report(
            path,
            "bracket.break_even must be a table, e.g. break_even = { after_target = 1, offset_ticks = 1 }",
        )
        return
    unknown_keys(table, BREAK_EVEN_KEYS, path, "bracket.break_even", report)
    compiled: dict[str, Value] = {}
    for key, convert in (("after_target", conv.to_ticks), ("offset_ticks", to_offset_ticks)):
        if key not in table:
            continue
        value = field_value(f"bracket.break_even.{key}", table[key], (*path, key), report)
        if value is None:
            continue
        literal = check_literal(value, convert, report)
        if key == "after_target" and isinstance(literal, int) and literal > count:
            report(
                (*path, key), f"bracket.break_even.after_target is {literal}, but there are {count} target(s)"
            )
        compiled[key] = value
    legs["break_even"] = compiled
