"""The journal's vocabulary: event kinds, event levels, OCO group kinds and states.

Each is a ``StrEnum`` so a member *is* its stored string: rows written before these enums
existed read back equal, and the pages, the CSV and the tests keep comparing plain text.
Add a member here before journaling a new kind; never build a kind from user text.
"""

from __future__ import annotations

from enum import StrEnum


class EventLevel(StrEnum):
    """How much an event needs the trader: ``critical`` means act now (a position without its stop loss)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class EventKind(StrEnum):
    """Every kind of row in the journal's ``event`` table, grouped by what raised it."""

    # alerts
    ALERT_FAILED = "alert.failed"
    ALERT_RESUMED = "alert.resumed"
    ALERT_TIME_UNCHECKED = "alert.time_unchecked"
    # position sync before an order (execute)
    SYNC_MISMATCH = "sync.mismatch"
    SYNC_REOPEN = "sync.reopen"
    # brackets: native (gateway-attached) and managed (bridge-placed) stop loss / take profit
    BRACKET_MANAGED = "bracket.managed"
    BRACKET_MANAGED_PLACED = "bracket.managed_placed"
    BRACKET_MANAGED_RESTORED = "bracket.managed_restored"
    BRACKET_NATIVE_ADOPTED = "bracket.native_adopted"
    BRACKET_NATIVE_MISSING = "bracket.native_missing"
    BRACKET_TAKE_PROFIT_MISSING = "bracket.take_profit_missing"
    BRACKET_DUPLICATE_LEG = "bracket.duplicate_leg"
    BRACKET_UNPROTECTED_ENTRY = "bracket.unprotected_entry"
    BRACKET_VERIFIED = "bracket.verified"
    # a leg cancelled because the account is flat in its contract (app/engine/stray_legs.py)
    STRAY_LEG_CANCELLED = "bracket.stray_leg_cancelled"
    # an exit cancelled the position's legs, its close did not go through: the stop loss is
    # placed again (app/engine/reprotect.py)
    BRACKET_REPROTECTED = "bracket.reprotected"
    # scale-out groups (app/engine/scale_out.py): legs placed, a modify written ahead of its
    # send, the stop loss moved to break-even
    SCALE_OUT_PLACED = "scale_out.placed"
    SCALE_OUT_MODIFY = "scale_out.modify"
    SCALE_OUT_BREAK_EVEN = "scale_out.break_even"
    # OCO groups (one per OcoState change, plus the legs' own steps)
    OCO_PLACED = "oco.placed"
    OCO_RESUMED = "oco.resumed"
    OCO_CANCEL = "oco.cancel"
    OCO_MODIFY = "oco.modify"
    OCO_MODIFY_REFUSED = "oco.modify_refused"  # a leg's change refused every attempt (refusals.py)
    OCO_WORKING = "oco.working"
    OCO_DONE = "oco.done"
    OCO_RACED = "oco.raced"
    OCO_FAILED = "oco.failed"
    # the kill switch and the risk limits
    KILL_PAUSE = "kill.pause"
    KILL_RESUME = "kill.resume"
    KILL_FLATTEN = "kill.flatten"
    RISK_LOCKOUT = "risk.lockout"
    RISK_UNLOCK = "risk.unlock"
    RISK_GUARD = "risk.guard"  # a position on a locked account closed (or its close failed)
    RISK_NAKED = "risk.naked_position"  # a position with no working stop loss past the grace
    # the gateway, the hubs, the tunnel, the pages
    RECONCILE_NOT_PLACED = "reconcile.not_placed"
    GATEWAY_LOGOUT = "gateway.logout"
    ALARM_UNREACHABLE = "alarm.unreachable"
    ALARM_CLEARED = "alarm.cleared"
    TUNNEL_URL_CHANGED = "tunnel.url_changed"
    LOGIN_FAILED = "login.failed"
    WEBHOOK_LOCKOUT = "webhook.lockout"
    BRIDGE_SHUTDOWN = "bridge.shutdown"
    # notices on a clock (app/engine/notice_tasks.py): the day whose summary was sent
    NOTIFY_DAILY_SUMMARY = "notify.daily_summary"
    # a partial exit resized the position's bracket legs to what is left (app/engine/partial_exit.py)
    BRACKET_RESIZED = "bracket.resized"
    # size by risk: an entry's contracts computed from its risk (app/engine/sizing.py)
    ALERT_SIZED = "alert.sized"
    # a breakeven alert (app/engine/break_even.py): the stop loss's move written ahead of its
    # send, then its result (moved, refused, skipped, or a stop placed at break-even)
    BREAK_EVEN_MODIFY = "break_even.modify"
    BREAK_EVEN_RESULT = "break_even.result"

    @classmethod
    def of_oco_state(cls, state: OcoState) -> EventKind:
        """The event journaled when an OCO group enters ``state`` (``oco.done``, ``oco.failed``…)."""
        return cls(f"oco.{state.value}")


class OcoKind(StrEnum):
    """What an OCO group holds: a template's OCO pair, or a bracket the bridge places and watches."""

    OCO = "oco"
    MANAGED_BRACKET = "managed_bracket"
    SCALE_OUT = "scale_out"  # a managed stop loss and up to three targets (app/engine/scale_out.py)


class OcoState(StrEnum):
    """Where an OCO group is.

    ``working``: the bridge watches the pair; ``done``: one leg filled and the other is gone (or
    nothing was left to protect); ``raced``: both legs filled; ``failed``: the pair could not be made
    to work.
    """

    WORKING = "working"
    DONE = "done"
    RACED = "raced"
    FAILED = "failed"
