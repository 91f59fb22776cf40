"""Size by risk for one alert's entries, per account, before the risk gate sees them.

A template with ``risk_usd`` or ``risk_percent`` renders its entries with quantity 0 and a
RiskRequest (app/strategies/template.py); here each account's entry gets its contracts from the
pure arithmetic (app/domain/sizing.py): the stop loss's ticks, the contract's tick value, the
account's own balance (risk_percent; the one the account directory holds, which the User Hub
keeps current) and its multiplier. The size is capped at max_order_size, the stricter of the
account's and the strategy's (app/domain/risk.py ``stricter``: the gate's own reading, not a
copy); every other limit (position, total, daily loss with the stop risk, …) is the gate's to
judge with the sized entry, as for any entry. An entry that sizes to 0 contracts is refused
with the numbers and what to change; nothing is sent for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.config import RiskLimits
from app.domain.models import Account, Contract, OrderIntent
from app.domain.risk import stricter
from app.domain.scale_out import sized_targets
from app.domain.sizing import Sizing, size_by_risk

log = logging.getLogger(__name__)

LimitsOf = Callable[[Account], RiskLimits]


@dataclass(frozen=True)
class Sized:
    """One account's sized entry: the intent with its contracts, or why none were sent."""

    intent: OrderIntent
    sizing: Sizing | None  # None when the computation could not run (``refusal`` says why)
    refusal: str | None  # the account's refusal, with the numbers; None when sized

    @property
    def line(self) -> str:
        """The computation in words, as `tvbridge render` and the journal show it."""
        if self.sizing is not None:
            return self.sizing.text()
        return self.refusal or ""


def size_entry(
    intent: OrderIntent,
    account: Account,
    contract: Contract,
    *,
    strategy: str,
    limits: RiskLimits | None,
    strategy_limits: RiskLimits | None,
) -> Sized:
    """Give ``intent`` (one with ``risk``) its contracts on ``account``; ``limits`` the account's
    (None: no cap from them, e.g. a bare executor), ``strategy_limits`` the template's [risk]."""
    assert intent.risk is not None
    stop = intent.bracket.stop_loss_ticks if intent.bracket is not None else None
    if stop is None:  # the template refuses this at render; a guard, not a path
        return Sized(intent, None, "size by risk needs a stop loss; nothing sent")
    cap, named = None, None
    if limits is not None:
        limit, named = stricter(limits, strategy_limits, "max_order_size", strategy)
        cap = None if limit is None else int(limit)
    try:
        sizing = size_by_risk(
            intent.risk,
            stop_ticks=stop,
            tick_value=contract.tick_value,
            balance=account.balance,
            max_order_size=cap,
            cap_name=named,
        )
    except ValueError as exc:
        return Sized(intent, None, f"{exc}; nothing sent")
    if sizing.refused:
        return Sized(intent, sizing, sizing.text())
    return Sized(with_quantity(intent, sizing.contracts), sizing, None)


def with_quantity(intent: OrderIntent, contracts: int) -> OrderIntent:
    """``intent`` sized to ``contracts``, its scale-out targets given theirs (a percentage of
    the entry: domain/scale_out.py ``sized_targets``)."""
    bracket = intent.bracket
    if bracket is not None and bracket.targets:
        bracket = replace(bracket, targets=sized_targets(bracket.targets, contracts))
    return replace(intent, quantity=contracts, bracket=bracket)
