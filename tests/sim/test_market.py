"""Contract months and the seeded price walk (app/sim/contracts.py, exchange.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from app.sim.contracts import PRODUCTS, front_month
from tests.sim.conftest import MNQ, Api

PRODUCT = {product.ticker: product for product in PRODUCTS}


@pytest.mark.parametrize(
    ("ticker", "today", "expected"),
    [
        ("ES", date(2025, 11, 3), (2025, 12)),
        ("ES", date(2025, 12, 10), (2025, 12)),  # before the second Thursday (Dec 11)
        ("ES", date(2025, 12, 11), (2026, 3)),  # rolled
        ("CL", date(2025, 11, 3), (2025, 12)),
        ("CL", date(2025, 12, 31), (2026, 1)),
        ("GC", date(2025, 12, 1), (2026, 2)),
        ("MGC", date(2026, 1, 15), (2026, 2)),
    ],
)
def test_front_month_rule(ticker: str, today: date, expected: tuple[int, int]) -> None:
    assert front_month(PRODUCT[ticker], today) == expected


def test_the_walk_is_deterministic_per_seed_and_stays_on_the_tick_grid() -> None:
    def walk(seed: int) -> dict[str, Decimal]:
        state = SimState(seed=seed, clock=lambda: datetime(2025, 11, 3, tzinfo=UTC))
        for _ in range(50):
            state.step()
        return dict(state.prices)

    first, again, other = walk(7), walk(7), walk(8)

    assert first == again
    assert first != other
    state = SimState(clock=lambda: datetime(2025, 11, 3, tzinfo=UTC))
    for contract_id, price in first.items():
        assert price % state.contracts.listed[contract_id].tick_size == 0, contract_id
    assert Decimal("21000") < first[MNQ] < Decimal("22000")
    assert Decimal("60") < first["CON.F.US.CLE.Z25"] < Decimal("80")


async def test_a_step_fills_working_orders_it_crosses(api: Api, state: SimState) -> None:
    await api.place(type=1, limitPrice=21500, side=1)  # sells at 21500 once the walk touches it
    state.set_price(MNQ, Decimal("21499.75"))
    for _ in range(10_000):
        if state.price(MNQ) >= Decimal("21500"):
            break
        state.step()

    [order] = (
        await api.ok("Order/search", {"accountId": AUTO_OCO_ACCOUNT_ID, "startTimestamp": "2025-01-01"})
    )["orders"]
    assert (order["status"], order["filledPrice"]) == (2, 21500)
