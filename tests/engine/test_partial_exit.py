"""How many contracts a partial exit closes (app/engine/partial_exit.py): a percentage of the
gateway's position floored to whole contracts, at least 1; contracts as given."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.enums import Action
from app.domain.models import OrderIntent
from app.engine.partial_exit import contracts_to_close, is_partial


def exit_of(*, contracts: int | None = None, percent: str | None = None) -> OrderIntent:
    return OrderIntent(
        account="SIM-AUTO-OCO",
        contract_id="CON.F.US.MNQ.H26",
        action=Action.EXIT,
        exit_contracts=contracts,
        exit_percent=None if percent is None else Decimal(percent),
    )


@pytest.mark.parametrize(
    ("held", "percent", "closed"),
    [(4, "50", 2), (3, "50", 1), (3, "25", 1), (1, "1", 1), (7, "99.9", 6), (4, "100", 4), (0, "50", 0)],
)
def test_a_percentage_is_floored_and_at_least_one(held: int, percent: str, closed: int) -> None:
    assert contracts_to_close(held, exit_of(percent=percent)) == closed


def test_contracts_are_taken_as_given_even_beyond_the_position() -> None:
    assert contracts_to_close(4, exit_of(contracts=1)) == 1
    assert contracts_to_close(4, exit_of(contracts=9)) == 9  # ≥ held: the ordinary exit


def test_only_an_exit_with_a_size_is_partial() -> None:
    assert is_partial(exit_of(contracts=1)) and is_partial(exit_of(percent="50"))
    assert not is_partial(exit_of())
