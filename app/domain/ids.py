"""client_order_id (the order tag the gateway stores): unique per account, derived from the alert.

Shape: ``tvb-<instance>-<alert_id>-<n>`` where ``instance`` is a random tag made once per
journal database (so a new journal can never reuse the tags of an old one on the same account),
``alert_id`` the journal's alert row and ``n`` the intent's position in the alert. A re-sent
alert is matched to its first copy by the journal (dedupe), so it maps to the same tags and can
never make a second order. The gateway appends ``-SL``/``-TP`` for native bracket children
(reference/projectx-api.md §6.3); the base stays well under 60 characters. The bridge's own
protective orders add ``-MSL``/``-MTP`` (managed stop loss / take profit; ``-MSL2``, ``-MSL3`` … when
a leg that never reached the gateway is placed again after a restart) and ``-FL`` (a market order
that takes back contracts: an unprotected entry, an OCO over-fill), and ``-RSL`` (a stop loss placed
again after an exit cancelled the legs but its close did not go through).
"""

from __future__ import annotations

import re

_TAG = re.compile(
    r"^tvb-(?P<instance>[a-z0-9]+)-(?P<alert_id>\d+)-(?P<n>\d+)(?P<suffix>(?:-SL|-TP|-MSL\d*|-MTP\d*|-RSL|-T[1-3]\d*)?(?:-FL)?)$"
)


def client_order_id(instance: str, alert_id: int, n: int) -> str:
    """Return the tag of intent ``n`` (0-based) of alert ``alert_id``."""
    return f"tvb-{instance}-{alert_id}-{n}"


def stop_loss_tag(entry_tag: str) -> str:
    """The tag the gateway gives a native stop loss child of ``entry_tag``."""
    return f"{entry_tag}-SL"


def take_profit_tag(entry_tag: str) -> str:
    """The tag the gateway gives a native take profit child of ``entry_tag``."""
    return f"{entry_tag}-TP"


def flatten_tag(entry_tag: str) -> str:
    """The tag of the market order that takes back contracts of ``entry_tag``: an entry the
    gateway left unprotected, or the excess when both legs of an OCO pair filled."""
    return f"{entry_tag}-FL"


def reprotect_tag(intent_tag: str) -> str:
    """The tag of the stop loss placed again by intent ``intent_tag`` (an exit, reverse or
    target position) whose close did not go through after it cancelled the position's legs."""
    return f"{intent_tag}-RSL"


def break_even_tag(intent_tag: str) -> str:
    """The tag of the stop loss a breakeven alert (intent ``intent_tag``) places at break-even
    when the position had none."""
    return f"{intent_tag}-BSL"


def managed_stop_loss_tag(entry_tag: str, attempt: int = 1) -> str:
    """The tag of the stop loss the bridge places itself after ``entry_tag`` filled (managed);
    ``attempt`` 2, 3 … when an earlier one never reached the gateway (tags are never reused)."""
    return f"{entry_tag}-MSL{_nth(attempt)}"


def managed_take_profit_tag(entry_tag: str, attempt: int = 1) -> str:
    """The tag of the take profit the bridge places itself after ``entry_tag`` filled (managed);
    ``attempt`` as for managed_stop_loss_tag."""
    return f"{entry_tag}-MTP{_nth(attempt)}"


def scale_target_tag(entry_tag: str, n: int, attempt: int = 1) -> str:
    """The tag of scale-out target ``n`` (1…3) the bridge places after ``entry_tag`` filled;
    ``attempt`` as for managed_stop_loss_tag (``-T1``, ``-T12`` its second attempt)."""
    return f"{entry_tag}-T{n}{_nth(attempt)}"


def target_number(tag: str | None) -> int | None:
    """The target number (1…3) of a scale-out target's tag, else None."""
    m = _TARGET.search(tag or "")
    return int(m.group(1)) if m else None


_TARGET = re.compile(r"-T([1-3])\d*$")


def _nth(attempt: int) -> str:
    return "" if attempt <= 1 else str(attempt)


def is_ours(tag: str | None, instance: str) -> bool:
    """True when ``tag`` was made by this journal (children included)."""
    if not tag:
        return False
    m = _TAG.match(tag)
    return bool(m and m.group("instance") == instance)
