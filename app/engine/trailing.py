"""A managed bracket whose stop loss is a native trailing stop (Order/place type 5).

The template asks for it with ``[bracket] stop_loss = { trail_ticks = 20 }`` (or
``trail_points``). The gateway takes no trailing stop-loss bracket (projectx-api.md §13.2: the
stop-loss bracket must be type 4; trailing brackets are "coming soon"), so the bracket is
managed: the bridge places the stop loss itself after the entry fills, as a type-5 order whose
``trailPrice`` is the absolute price the stop starts at, not a distance (§6.2). The gateway then
trails it by |last price − trailPrice| whole ticks and never loosens it; the bridge never
modifies its distance.

The group remembers that its stop loss trails in its ``policy`` column ("close+trailing",
"keep+trailing"), so the stop loss placed again after a crash or a reconnect is a trailing
stop too, without a schema change.

``trail_price`` also prices a trailing stop order on its own ([order] type = "trailing_stop",
app/engine/entries.py ``trail_start``), measured from the last price instead of a fill.
"""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import Side
from app.domain.ticks import MAX_TRAIL_TICKS, round_in_favour

TRAILING = "+trailing"  # the policy suffix of a managed bracket whose stop loss trails


def managed_policy(on_failure: str, trailing: bool) -> str:
    """The policy column of a managed bracket: ``on_failure`` ("close" | "keep"), marked when
    its stop loss is a trailing stop."""
    return on_failure + TRAILING if trailing else on_failure


def trails(policy: str) -> bool:
    """True when a managed bracket's stop loss is a native trailing stop."""
    return policy.endswith(TRAILING)


def on_failure(policy: str) -> str:
    """The group's policy without the trailing mark ("close", "keep", "flatten")."""
    return policy.removesuffix(TRAILING)


def trail_price(last: Decimal, entry_side: Side, ticks: int, tick_size: Decimal) -> Decimal:
    """The ``trailPrice`` of a trailing stop loss ``ticks`` ticks from ``last`` (points, on the
    tick grid): below the last price for a long's sell stop, above it for a short's buy stop.

    The gateway measures the distance from its own last traded price when the order arrives
    (§6.2), so the bridge gives it the price it measured from: the entry's fill price, the last
    trade it knows for certain at that moment. Raises ValueError for a trail of more than
    MAX_TRAIL_TICKS ticks (the gateway's maximum), with the numbers, so nothing is sent.
    """
    if not 1 <= ticks <= MAX_TRAIL_TICKS:
        raise ValueError(
            f"a trail of {ticks} ticks is outside 1..{MAX_TRAIL_TICKS} (the gateway's maximum): not sent"
        )
    away = -1 if entry_side is Side.BUY else 1
    # in the trade's favour: the distance the gateway measures is then never more than ``ticks``
    return round_in_favour(last + away * ticks * tick_size, tick_size, long=entry_side is Side.BUY)
