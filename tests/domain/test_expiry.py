"""Last trading days per product family, trading days left, and the roll warning window."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.domain.expiry import (
    ROOT_SEGMENTS,
    ContractMonth,
    last_trading_day,
    parse_contract_id,
    roll_warning,
    trading_days_until,
)
from app.domain.models import Contract

CHRISTMAS_2025 = date(2025, 12, 25)


def contract(contract_id: str, name: str) -> Contract:
    return Contract(contract_id, name, "", Decimal("0.25"), Decimal("0.5"), "F.US.MNQ")


def test_root_segments_follow_the_reference() -> None:
    # projectx-api.md §13 note 4
    assert {root: ROOT_SEGMENTS[root] for root in ("ES", "NQ", "CL", "GC", "SI", "MCL", "MGC")} == {
        "ES": "EP",
        "NQ": "ENQ",
        "CL": "CLE",
        "GC": "GCE",
        "SI": "SIE",
        "MCL": "MCLE",
        "MGC": "GMET",
    }
    assert all(ROOT_SEGMENTS[root] == root for root in ("YM", "MES", "MNQ", "MYM", "SIL"))


@pytest.mark.parametrize(
    ("contract_id", "holidays", "last"),
    [
        ("CON.F.US.EP.Z25", (), date(2025, 12, 19)),  # third Friday
        ("CON.F.US.MNQ.U24", (), date(2024, 9, 20)),
        ("CON.F.US.MNQ.Z26", (), date(2026, 12, 18)),
        ("CON.F.US.CLE.F26", (CHRISTMAS_2025,), date(2025, 12, 19)),  # 25th a holiday: 4 days before
        ("CON.F.US.CLE.F26", (), date(2025, 12, 22)),  # without the holiday known: 3 days before
        ("CON.F.US.CLE.M25", (), date(2025, 5, 20)),  # 25 May 2025 a Sunday: 4 business days before
        ("CON.F.US.MCLE.F26", (CHRISTMAS_2025,), date(2025, 12, 18)),  # the business day before CL
        ("CON.F.US.GCE.Z25", (), date(2025, 12, 29)),  # third-last business day
        ("CON.F.US.GMET.G26", (), date(2026, 2, 25)),
        ("CON.F.US.SIE.H26", (), date(2026, 3, 27)),
    ],
)
def test_last_trading_day_by_product_family(contract_id: str, holidays: tuple[date, ...], last: date) -> None:
    month = parse_contract_id(contract_id)
    assert month is not None
    assert last_trading_day(month, holidays) == last


def test_a_product_without_a_rule_has_no_last_day() -> None:
    assert last_trading_day(ContractMonth(2025, 12, "EU6")) is None
    assert parse_contract_id("CON.F.US.MNQ") is None


@pytest.mark.parametrize(
    ("today", "left"),
    [
        (date(2026, 12, 10), 6),
        (date(2026, 12, 11), 5),  # Friday: Mon-Fri of expiry week left
        (date(2026, 12, 12), 5),  # the weekend counts nothing
        (date(2026, 12, 17), 1),
        (date(2026, 12, 18), 0),
        (date(2026, 12, 19), -1),
    ],
)
def test_trading_days_until_the_last_day(today: date, left: int) -> None:
    assert trading_days_until(date(2026, 12, 18), today) == left


def test_holidays_are_not_trading_days() -> None:
    assert trading_days_until(date(2026, 12, 18), date(2026, 12, 11), [date(2026, 12, 14)]) == 4


MNQZ6 = contract("CON.F.US.MNQ.Z26", "MNQZ6")  # last trading day Friday 2026-12-18


def test_no_roll_warning_before_the_window() -> None:
    assert roll_warning(MNQZ6, date(2026, 12, 10)) is None
    assert roll_warning(contract("CON.F.US.MNQ.H27", "MNQH7"), date(2026, 12, 11)) is None


def test_the_roll_warning_starts_5_trading_days_before() -> None:
    assert roll_warning(MNQZ6, date(2026, 12, 11)) == (
        "MNQZ6 (CON.F.US.MNQ.Z26) has its last trading day in 5 trading days (Fri 2026-12-18); the "
        "gateway then rolls to the next month: alerts using a continuous ticker follow it, dated "
        "tickers for December 2026 will be refused. Positions still open in it must be closed before then"
    )
    assert "in 1 trading day (" in str(roll_warning(MNQZ6, date(2026, 12, 17)))
    assert "last trading day today" in str(roll_warning(MNQZ6, date(2026, 12, 18)))
    assert "stopped trading on Fri 2026-12-18" in str(roll_warning(MNQZ6, date(2026, 12, 21)))


def test_no_roll_warning_without_a_known_rule() -> None:
    assert roll_warning(contract("CON.F.US.EU6.Z26", "6EZ6"), date(2026, 12, 14)) is None
