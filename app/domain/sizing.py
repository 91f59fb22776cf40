"""Size by risk, pure: how many contracts an entry may have so its stop loss loses at most a risk.

contracts = floor(risk ÷ (stop distance in ticks × tick value)), where the risk is a sum in USD
(``risk_usd``) or a share of the account's balance (``risk_percent``: 0.5 is 0.5 %), times the
account's multiplier. Then capped at ``max_order_size`` (the stricter of the account's and the
strategy's, as the risk gate reads it: app/domain/risk.py); the gate still judges the rest of
the limits with the sized entry. Money is Decimal USD, exact: nothing is rounded but the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskRequest:
    """What a template asks: a risk in USD, or a share of the account's balance in percent.

    Exactly one of ``usd`` and ``percent`` is set (both > 0); ``multiplier`` is the account's
    (order.accounts), which scales the risk as it scales a fixed quantity.
    """

    usd: Decimal | None = None
    percent: Decimal | None = None
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class Sizing:
    """One account's computation. ``contracts`` 0 means refused (``refusal`` says what to change)."""

    risk_usd: Decimal  # the risk in USD after the share of the balance and the multiplier
    stop_ticks: int
    tick_value: Decimal  # USD per tick per contract
    exact: Decimal  # risk ÷ (ticks × tick value), before the floor
    contracts: int  # after the floor and the cap
    capped_at: str | None  # e.g. "max_order_size 5" when the cap lowered the size
    basis: str  # how the risk was reached, e.g. "0.5 % of balance 50000.00 USD"

    @property
    def refused(self) -> bool:
        return self.contracts < 1

    @property
    def per_contract(self) -> Decimal:
        """USD lost per contract when the stop loss fills (ticks × tick value)."""
        return self.stop_ticks * self.tick_value

    def text(self) -> str:
        """The computation in one line, e.g. ``size by risk: 100.00 USD ÷ (20 ticks × 0.50
        USD/tick) = 10 → capped at max_order_size 5``."""
        basis = f"{self.basis} = " if self.basis else ""
        head = (
            f"size by risk: {basis}{_usd(self.risk_usd)} USD ÷ ({self.stop_ticks} ticks × "
            f"{_usd(self.tick_value)} USD/tick) = {_figure(self.exact)}"
        )
        if self.capped_at is not None:
            return f"{head} → capped at {self.capped_at}"
        if self.refused:
            return f"{head} → 0 contracts: {self.advice()}"
        return f"{head} → {self.contracts} contract{'s' if self.contracts != 1 else ''}"

    def advice(self) -> str:
        """What to change for one contract: a larger risk, or a closer stop loss."""
        ticks = int(self.risk_usd / self.tick_value) if self.tick_value > 0 else 0
        closer = (
            f"or a stop loss of at most {ticks} ticks"
            if ticks >= 1
            else "(no stop loss of 1 tick or more fits this risk)"
        )
        return f"refused, not even one contract; risk at least {_usd(self.per_contract)} USD {closer}"


def size_by_risk(
    request: RiskRequest,
    *,
    stop_ticks: int,
    tick_value: Decimal,
    balance: Decimal | None = None,
    max_order_size: int | None = None,
    cap_name: str | None = None,
) -> Sizing:
    """Size one entry: floor(risk ÷ (stop_ticks × tick_value)), capped at ``max_order_size``.

    ``stop_ticks`` ≥ 1 (the entry's stop loss distance), ``tick_value`` USD per tick per
    contract (> 0), ``balance`` USD (needed with ``request.percent``). ``cap_name`` names the
    cap with its number in the text (default "max_order_size N"; e.g. "strategy 'x'
    max_order_size 5", as the risk gate names it). Raises ValueError when an input
    cannot size anything (no balance for a percent, a tick value or distance not above 0).
    """
    if stop_ticks < 1:
        raise ValueError(f"size by risk needs a stop loss of 1 tick or more, not {stop_ticks}")
    if tick_value <= 0:
        raise ValueError(f"size by risk needs the contract's tick value, not {tick_value}")
    if request.percent is not None:
        if balance is None or balance <= 0:
            shown = "unknown" if balance is None else f"{_usd(balance)} USD"
            raise ValueError(
                f"size by risk: {_figure(request.percent)} % of the balance needs a balance above "
                f"0 (the account's is {shown})"
            )
        risk = balance * request.percent / _HUNDRED
        basis = f"{_figure(request.percent)} % of balance {_usd(balance)} USD"
    elif request.usd is not None:
        risk, basis = request.usd, ""
    else:
        raise ValueError("size by risk needs risk_usd or risk_percent")
    if request.multiplier != 1:
        basis = f"{basis or _usd(risk) + ' USD'} × multiplier {_figure(request.multiplier)}"
        risk *= request.multiplier
    exact = risk / (stop_ticks * tick_value)
    floor = int(exact.to_integral_value(rounding=ROUND_FLOOR))
    capped_at = None
    if max_order_size is not None and floor > max_order_size:
        floor, capped_at = max_order_size, cap_name or f"max_order_size {max_order_size}"
    return Sizing(risk, stop_ticks, tick_value, exact, max(floor, 0), capped_at, basis)


def _usd(amount: Decimal) -> str:
    """Two decimals for the eye (the arithmetic stays exact)."""
    return str(amount.quantize(_CENT)) if amount.adjusted() < 20 else f"{amount:.2E}"


def _figure(number: Decimal) -> str:
    """A number as a trader reads it: 10, 2.5, 0.999, 3.3333 (at most 4 decimals shown)."""
    if number.adjusted() >= 20:
        return f"{number:.2E}"
    shown = number.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR).normalize()
    return format(shown, "f")
