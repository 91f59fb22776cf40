"""Size by risk, pure: floor(risk ÷ (stop ticks × tick value)) at its boundaries, exact in Decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.sizing import RiskRequest, size_by_risk

HALF = Decimal("0.50")  # MNQ: 0.50 USD per tick per contract


def usd(amount: str, multiplier: str = "1") -> RiskRequest:
    return RiskRequest(usd=Decimal(amount), multiplier=Decimal(multiplier))


def test_exactly_one_contract_of_risk_is_one_contract() -> None:
    sizing = size_by_risk(usd("10"), stop_ticks=20, tick_value=HALF)
    assert sizing.contracts == 1
    assert sizing.exact == 1
    assert sizing.text() == "size by risk: 10.00 USD ÷ (20 ticks × 0.50 USD/tick) = 1 → 1 contract"


def test_just_under_one_contract_is_refused_with_what_to_change() -> None:
    sizing = size_by_risk(usd("9.99"), stop_ticks=20, tick_value=HALF)
    assert sizing.contracts == 0
    assert sizing.refused
    assert sizing.exact == Decimal("0.999")
    assert sizing.text() == (
        "size by risk: 9.99 USD ÷ (20 ticks × 0.50 USD/tick) = 0.999 → 0 contracts: refused, not even "
        "one contract; risk at least 10.00 USD or a stop loss of at most 19 ticks"
    )


def test_a_fraction_floors_never_rounds_up() -> None:
    sizing = size_by_risk(usd("50"), stop_ticks=40, tick_value=HALF)
    assert (sizing.exact, sizing.contracts) == (Decimal("2.5"), 2)
    assert sizing.text().endswith("= 2.5 → 2 contracts")


def test_the_cap_is_named_and_applied() -> None:
    sizing = size_by_risk(usd("100"), stop_ticks=20, tick_value=HALF, max_order_size=5)
    assert sizing.contracts == 5
    assert sizing.text() == (
        "size by risk: 100.00 USD ÷ (20 ticks × 0.50 USD/tick) = 10 → capped at max_order_size 5"
    )
    # at the cap exactly: not "capped"
    assert size_by_risk(usd("50"), stop_ticks=20, tick_value=HALF, max_order_size=5).capped_at is None


def test_a_huge_risk_is_capped_without_overflow() -> None:
    sizing = size_by_risk(usd("1E+30"), stop_ticks=1, tick_value=HALF, max_order_size=10, cap_name="x 10")
    assert sizing.contracts == 10
    assert "capped at x 10" in sizing.text()


def test_decimal_is_exact_where_a_float_is_not() -> None:
    # 0.3 ÷ (1 × 0.1) is 2.9999999999999996 in binary floats: it must be exactly 3 contracts
    sizing = size_by_risk(usd("0.3"), stop_ticks=1, tick_value=Decimal("0.1"))
    assert sizing.contracts == 3
    assert 0.3 / 0.1 < 3  # the float trap this avoids


def test_percent_of_the_balance() -> None:
    request = RiskRequest(percent=Decimal("0.5"))
    sizing = size_by_risk(request, stop_ticks=20, tick_value=HALF, balance=Decimal("50000"))
    assert sizing.risk_usd == 250
    assert sizing.contracts == 25
    assert sizing.text().startswith(
        "size by risk: 0.5 % of balance 50000.00 USD = 250.00 USD ÷ (20 ticks × 0.50 USD/tick) = 25"
    )


def test_the_account_multiplier_scales_the_risk() -> None:
    sizing = size_by_risk(usd("15", "2"), stop_ticks=20, tick_value=HALF)
    assert sizing.risk_usd == 30
    assert sizing.contracts == 3  # floor(30 / 10), not floor(15 / 10) × 2 = 2
    assert sizing.text().startswith("size by risk: 15.00 USD × multiplier 2 = 30.00 USD ÷")


@pytest.mark.parametrize(
    ("request_", "kwargs", "words"),
    [
        (RiskRequest(percent=Decimal(1)), {"balance": None}, "balance above 0 (the account's is unknown)"),
        (RiskRequest(percent=Decimal(1)), {"balance": Decimal(0)}, "(the account's is 0.00 USD)"),
        (usd("10"), {"stop_ticks": 0}, "needs a stop loss of 1 tick or more"),
        (usd("10"), {"tick_value": Decimal(0)}, "needs the contract's tick value"),
        (RiskRequest(), {}, "needs risk_usd or risk_percent"),
    ],
)
def test_what_cannot_size_anything_says_why(
    request_: RiskRequest, kwargs: dict[str, object], words: str
) -> None:
    args: dict[str, object] = {"stop_ticks": 20, "tick_value": HALF, **kwargs}
    with pytest.raises(ValueError, match="size by risk") as caught:
        size_by_risk(request_, **args)  # type: ignore[arg-type]
    assert words in str(caught.value)


def test_a_risk_below_one_tick_says_no_stop_fits() -> None:
    sizing = size_by_risk(usd("0.25"), stop_ticks=4, tick_value=HALF)
    assert sizing.refused
    assert "no stop loss of 1 tick or more fits this risk" in sizing.text()
