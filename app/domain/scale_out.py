"""A scale-out group's plan, kept in its ``oco_group.note`` while the group works.

The plan (the targets' distances and sizes, the break-even rule) must outlive the process: the
group's legs may all be placed after a restart. No column holds it, so it is the working group's
note, written with the group before its entry is sent: ``scale-out plan {"targets": [[ticks,
size], …], "break_even": [after_target, offset_ticks] | null, "live": [be_after_ticks, be_offset_ticks,
trail_ticks, trail_activation_ticks, trail_step_ticks] | absent, "best": "<price>" | absent}``;
a managed bracket with live stop moves (and no targets) keeps the same note with no targets.
``best`` is the most favourable live price seen since the fill (points), written by the live stop
moves so that a restart goes on from it. The group's final note replaces it once nothing is
left to place. The stop loss's distance is the entry row's stop_loss_ticks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.models import Bracket, BreakEven, LiveStops, Target

PREFIX = "scale-out plan "


def plan_note(bracket: Bracket | None) -> str | None:
    """The note of a new group for ``bracket``: its plan when it has targets, else None."""
    if bracket is None or not (bracket.targets or bracket.live):
        return None
    be, live = bracket.break_even, bracket.live
    body: dict[str, object] = {
        "targets": [[t.ticks, t.size] for t in bracket.targets],
        "break_even": None if be is None else [be.after_target, be.offset_ticks],
    }
    if live is not None:
        body["live"] = [
            live.be_after_ticks,
            live.be_offset_ticks,
            live.trail_ticks,
            live.trail_activation_ticks,
            live.trail_step_ticks,
        ]
    return PREFIX + json.dumps(body)


def sized_targets(targets: Sequence[Target], quantity: int) -> tuple[Target, ...]:
    """The targets' contracts for an entry of ``quantity`` contracts: one given as a percentage
    gets int(quantity × percent / 100) (rounded down; 0 skips it), one given in contracts keeps
    its size; when the percentages add up to 100 the rounding remainder goes to the last target.
    The result holds contracts only (``percent`` None)."""
    sized = [
        Target(t.ticks, int(quantity * t.percent / 100) if t.percent is not None else t.size) for t in targets
    ]
    percents = [t.percent for t in targets if t.percent is not None]
    if sized and percents and sum(percents) == 100:
        given = sum(t.size for t in sized)
        sized[-1] = Target(sized[-1].ticks, max(0, sized[-1].size + quantity - given))
    return tuple(sized)


def _body(note: str | None) -> dict[str, Any] | None:
    """The JSON body of a plan note (its values unchecked: each reader checks its own); else None."""
    if not note or not note.startswith(PREFIX):
        return None
    try:
        body = json.loads(note[len(PREFIX) :])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def read_live(note: str | None) -> LiveStops | None:
    """The live stop moves of a working group's note; None when it has none."""
    body = _body(note)
    try:
        live = None if body is None else body.get("live")
        if live is None:
            return None
        after, offset, trail, activation, step = live
        return LiveStops(
            None if after is None else int(after),
            int(offset),
            None if trail is None else int(trail),
            int(activation),
            int(step),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_plan(note: str | None) -> tuple[tuple[Target, ...], BreakEven | None] | None:
    """The targets and break-even rule of a working group's note; None when it holds no plan."""
    body = _body(note)
    if body is None:
        return None
    try:
        targets = tuple(Target(int(ticks), int(size)) for ticks, size in body["targets"])
        be = body.get("break_even")
        return targets, None if be is None else BreakEven(int(be[0]), int(be[1]))
    except (ValueError, KeyError, TypeError):
        return None


def read_best(note: str | None) -> Decimal | None:
    """The best live price since the fill kept in a working group's note (points); None when none."""
    body = _body(note)
    best = None if body is None else body.get("best")
    if not isinstance(best, str):
        return None
    try:
        value = Decimal(best)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def with_best(note: str, best: Decimal) -> str | None:
    """``note`` (a plan) with ``best`` kept in it; None when ``note`` holds no plan."""
    body = _body(note)
    if body is None:
        return None
    body["best"] = str(best)
    return PREFIX + json.dumps(body)
