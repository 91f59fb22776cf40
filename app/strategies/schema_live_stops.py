"""[bracket] break_even after_ticks and trail: stop moves from live quotes (managed mode).

    [bracket]
    mode = "managed"
    stop_loss = { ticks = 40 }
    break_even = { after_ticks = 20, offset_ticks = 1 }
    trail = { ticks = 20, activation_ticks = 10, step_ticks = 4 }

``break_even.after_ticks``: once the price went that many ticks in favour of the fill, the stop
loss goes to the fill ± offset_ticks (``after_target``, a target's fill, is schema_scale_out.py's:
exactly one of the two). ``trail``: once the price went ``activation_ticks`` (default 0) in
favour, the stop follows the best price at ``ticks``, moved by ``step_ticks`` (default 1) or more.
Both move a plain stop loss the bridge placed (app/engine/live_stops.py): never a trailing stop
loss (trail_ticks), never a native bracket. Compiled as legs ``live_break_even`` and ``trail``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.strategies import values as conv
from app.strategies.expressions import Value
from app.strategies.schema_checks import Report, check_literal, field_value, unknown_keys
from app.strategies.schema_scale_out import to_offset_ticks

LIVE_LEGS = ("live_break_even", "trail")
TRAIL_KEYS = ("ticks", "activation_ticks", "step_ticks")
_TRAILING_STOP_KEYS = ("trail_ticks", "trail_points")


def live_stop_values(bracket: dict[str, Any], report: Report) -> dict[str, dict[str, Value]]:
    """Compile [bracket] break_even.after_ticks and trail (see the module docstring)."""
    legs: dict[str, dict[str, Value]] = {}
    be = bracket.get("break_even")
    if isinstance(be, dict) and "after_ticks" in be:
        path = ("bracket", "break_even")
        if "after_target" in be:
            report(
                path,
                "bracket.break_even: give after_target (after a target fills) or after_ticks (after the "
                "price moved that many ticks in favour), not both",
            )
        else:
            unknown_keys(be, ("after_ticks", "offset_ticks"), path, "bracket.break_even", report)
        _needs_managed(bracket, path, "bracket.break_even.after_ticks", report)
        _needs_plain_stop(bracket, path, "bracket.break_even.after_ticks", report)
        checks: tuple[tuple[str, Callable[[object], int]], ...] = (
            ("after_ticks", conv.to_ticks),
            ("offset_ticks", to_offset_ticks),
        )
        legs["live_break_even"] = _compile(be, path, "bracket.break_even", checks, report)
    trail = bracket.get("trail")
    if trail is not None:
        path = ("bracket", "trail")
        if not isinstance(trail, dict) or "ticks" not in trail:
            report(
                path,
                "bracket.trail must be a table, e.g. "
                "trail = { ticks = 20, activation_ticks = 10, step_ticks = 4 }",
            )
            return legs
        unknown_keys(trail, TRAIL_KEYS, path, "bracket.trail", report)
        _needs_managed(bracket, path, "bracket.trail", report)
        _needs_plain_stop(bracket, path, "bracket.trail", report)
        checks = (
            ("ticks", conv.to_ticks),
            ("activation_ticks", to_offset_ticks),
            ("step_ticks", conv.to_ticks),
        )
        legs["trail"] = _compile(trail, path, "bracket.trail", checks, report)
    return legs


def _needs_plain_stop(bracket: dict[str, Any], path: tuple[str, ...], what: str, report: Report) -> None:
    stop_loss = bracket.get("stop_loss")
    if not isinstance(stop_loss, dict):
        report(path, f"{what} moves the stop loss: give bracket.stop_loss = {{ ticks = N }}")
    elif any(k in stop_loss for k in _TRAILING_STOP_KEYS):
        report(
            path,
            f"{what} moves a plain stop loss; this stop loss is a trailing stop (trail_ticks / "
            "trail_points), which the bridge never moves: remove one of them",
        )


def _needs_managed(bracket: dict[str, Any], path: tuple[str, ...], what: str, report: Report) -> None:
    if bracket.get("mode") != "managed":
        report(
            (*path,),
            f"{what} moves the stop loss from live quotes, which only the bridge can do: "
            'use mode = "managed"',
        )


def _compile(
    table: dict[str, Any],
    path: tuple[str, ...],
    where: str,
    checks: tuple[tuple[str, Callable[[object], int]], ...],
    report: Report,
) -> dict[str, Value]:
    compiled: dict[str, Value] = {}
    for key, convert in checks:
        if key not in table:
            continue
        value = field_value(f"{where}.{key}", table[key], (*path, key), report)
        if value is not None:
            check_literal(value, convert, report)
            compiled[key] = value
    return compiled
