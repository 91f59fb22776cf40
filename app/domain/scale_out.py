"""A scale-out group's plan, kept in its ``oco_group.note`` while the group works.

The plan (the targets' distances and sizes, the break-even rule) must outlive the process: the
group's legs may all be placed after a restart. No column holds it, so it is the working group's
note, written with the group before its entry is sent: ``scale-out plan {"targets": [[ticks,
size], …], "break_even": [after_target, offset_ticks] | null}``. The group's final note replaces
it once nothing is left to place. The stop loss's distance is the entry row's stop_loss_ticks.
"""

from __future__ import annotations

import json

from app.domain.models import Bracket, BreakEven, Target

PREFIX = "scale-out plan "


def plan_note(bracket: Bracket | None) -> str | None:
    """The note of a new group for ``bracket``: its plan when it has targets, else None."""
    if bracket is None or not bracket.targets:
        return None
    be = bracket.break_even
    body = {
        "targets": [[t.ticks, t.size] for t in bracket.targets],
        "break_even": None if be is None else [be.after_target, be.offset_ticks],
    }
    return PREFIX + json.dumps(body)


def read_plan(note: str | None) -> tuple[tuple[Target, ...], BreakEven | None] | None:
    """The targets and break-even rule of a working group's note; None when it holds no plan."""
    if not note or not note.startswith(PREFIX):
        return None
    try:
        body = json.loads(note[len(PREFIX) :])
        targets = tuple(Target(int(ticks), int(size)) for ticks, size in body["targets"])
        be = body.get("break_even")
        return targets, None if be is None else BreakEven(int(be[0]), int(be[1]))
    except (ValueError, KeyError, TypeError):
        return None
