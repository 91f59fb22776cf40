"""The simulator's contract catalogue: twelve CME/COMEX/NYMEX products, two months each.

Front-month rule (computed once from the sim clock when the state is made):

- equity indices (ES MES NQ MNQ RTY M2K YM MYM), quarterly H M U Z: the current quarterly month
  until its second Thursday (the CME roll date), then the next quarterly month;
- crude (CL MCL), every month: the calendar month after the current one;
- gold (GC MGC), even months G J M Q V Z: the first even month after the current one.

Each product lists its front month as active and the following cycle month as inactive. Any
other well-formed id of a known root (``CON.F.US.MNQ.U25``) still resolves, inactive, the way the
gateway resolves expired contracts (projectx-api.md §4.3, §8.11–8.12).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

MONTH_CODES = "FGHJKMNQUVXZ"
SEARCH_LIMIT = 20  # Contract/search returns at most 20 rows (§8.13)

_ID_PATTERN = re.compile(r"^CON\.F\.US\.([A-Z0-9]+)\.([FGHJKMNQUVXZ])(\d{2})$")

_QUARTERLY = "HMUZ"
_MONTHLY = MONTH_CODES
_EVEN = "GJMQVZ"


@dataclass(frozen=True)
class Product:
    """One futures product: the TradingView ticker root and the gateway's contract root."""

    ticker: str  # what traders call it: "MNQ"; contract names are ticker + month + 1-digit year
    root: str  # the gateway's root in contract and symbol ids: "ENQ" for NQ
    description: str
    tick_size: Decimal  # points
    tick_value: Decimal  # USD per tick per contract
    months: str  # listed month codes
    rolls_in_expiry_month: bool  # True: the front stays until the expiry month's 2nd Thursday
    start_price: Decimal  # where the price walk starts
    fee: Decimal  # USD per contract per fill (one side)

    @property
    def symbol_id(self) -> str:
        return f"F.US.{self.root}"


_MICRO_FEE = "0.37"  # USD per contract per fill
_MINI_FEE = "1.40"

# fmt: off
_SPECS = (
    # ticker  root    description                   tick    value    months      start       fee
    ("ES",   "EP",   "E-Mini S&P 500",             "0.25", "12.50", _QUARTERLY, "6000.00",  _MINI_FEE),
    ("MES",  "MES",  "Micro E-mini S&P 500",       "0.25", "1.25",  _QUARTERLY, "6000.00",  _MICRO_FEE),
    ("NQ",   "ENQ",  "E-mini NASDAQ-100",          "0.25", "5.00",  _QUARTERLY, "21500.00", _MINI_FEE),
    ("MNQ",  "MNQ",  "Micro E-mini Nasdaq-100",    "0.25", "0.50",  _QUARTERLY, "21500.00", _MICRO_FEE),
    ("RTY",  "RTY",  "E-mini Russell 2000",        "0.10", "5.00",  _QUARTERLY, "2300.0",   _MINI_FEE),
    ("M2K",  "M2K",  "Micro E-mini Russell 2000",  "0.10", "0.50",  _QUARTERLY, "2300.0",   _MICRO_FEE),
    ("YM",   "YM",   "E-mini Dow Jones ($5)",      "1",    "5.00",  _QUARTERLY, "44000",    _MINI_FEE),
    ("MYM",  "MYM",  "Micro E-mini Dow Jones",     "1",    "0.50",  _QUARTERLY, "44000",    _MICRO_FEE),
    ("CL",   "CLE",  "Crude Oil",                  "0.01", "10.00", _MONTHLY,   "70.00",    _MINI_FEE),
    ("MCL",  "MCLE", "Micro WTI Crude Oil",        "0.01", "1.00",  _MONTHLY,   "70.00",    _MICRO_FEE),
    ("GC",   "GCE",  "Gold",                       "0.10", "10.00", _EVEN,      "2650.0",   _MINI_FEE),
    ("MGC",  "GMET", "Micro Gold",                 "0.10", "1.00",  _EVEN,      "2650.0",   _MICRO_FEE),
)
# fmt: on

PRODUCTS: tuple[Product, ...] = tuple(
    Product(
        ticker=ticker,
        root=root,
        description=description,
        tick_size=Decimal(tick_size),
        tick_value=Decimal(tick_value),
        months=months,
        rolls_in_expiry_month=months == _QUARTERLY,
        start_price=Decimal(start_price),
        fee=Decimal(fee),
    )
    for ticker, root, description, tick_size, tick_value, months, start_price, fee in _SPECS
)

_BY_ROOT = {product.root: product for product in PRODUCTS}


@dataclass(frozen=True)
class SimContract:
    """One contract month, as ContractModel carries it (§4.2), plus its product."""

    id: str
    name: str
    description: str
    active: bool
    product: Product

    @property
    def tick_size(self) -> Decimal:
        return self.product.tick_size

    @property
    def tick_value(self) -> Decimal:
        return self.product.tick_value

    @property
    def symbol_id(self) -> str:
        return self.product.symbol_id

    def to_wire(self) -> dict[str, Any]:
        """ContractModel (§4.2), fields in the documented order."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "tickSize": self.tick_size,
            "tickValue": self.tick_value,
            "activeContract": self.active,
            "symbolId": self.symbol_id,
        }


def _second_thursday(year: int, month: int) -> date:
    first_weekday = calendar.weekday(year, month, 1)
    first_thursday = 1 + (calendar.THURSDAY - first_weekday) % 7
    return date(year, month, first_thursday + 7)


def _following(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _next_listed(product: Product, year: int, month: int) -> tuple[int, int]:
    """The first listed month strictly after ``year``/``month``."""
    year, month = _following(year, month)
    while MONTH_CODES[month - 1] not in product.months:
        year, month = _following(year, month)
    return year, month


def front_month(product: Product, today: date) -> tuple[int, int]:
    """Return (year, month) of the product's active contract on ``today`` (rule in the module doc)."""
    in_cycle = MONTH_CODES[today.month - 1] in product.months
    if product.rolls_in_expiry_month and in_cycle and today < _second_thursday(today.year, today.month):
        return today.year, today.month
    return _next_listed(product, today.year, today.month)


def make_contract(product: Product, year: int, month: int, active: bool) -> SimContract:
    """Build the contract of one product month: ``CON.F.US.MNQ.Z25`` / ``MNQZ5``."""
    code = MONTH_CODES[month - 1]
    return SimContract(
        id=f"CON.F.US.{product.root}.{code}{year % 100:02d}",
        name=f"{product.ticker}{code}{year % 10}",
        description=f"{product.description}: {calendar.month_name[month]} {year}",
        active=active,
        product=product,
    )


class Catalogue:
    """The listed contracts (front month active, next month inactive) of every product."""

    def __init__(self, today: date) -> None:
        self.listed: dict[str, SimContract] = {}
        for product in PRODUCTS:
            year, month = front_month(product, today)
            front = make_contract(product, year, month, active=True)
            after = make_contract(product, *_next_listed(product, year, month), active=False)
            self.listed[front.id] = front
            self.listed[after.id] = after

    def get(self, contract_id: str) -> SimContract | None:
        """Resolve a contract id; unlisted months of known roots resolve inactive, else None."""
        if contract_id in self.listed:
            return self.listed[contract_id]
        match = _ID_PATTERN.match(contract_id)
        if match is None or match[1] not in _BY_ROOT:
            return None
        product = _BY_ROOT[match[1]]
        if match[2] not in product.months:
            return None
        return make_contract(product, 2000 + int(match[3]), MONTH_CODES.index(match[2]) + 1, False)

    def all(self) -> list[SimContract]:
        """Every listed contract (Contract/available)."""
        return list(self.listed.values())

    def search(self, text: str) -> list[SimContract]:
        """Case-insensitive substring match on name, description and symbolId, at most 20.

        Like the gateway's (projectx-api.md §13 note 4), the match is fuzzy and lists one
        active month per product: "ES" finds ES, MES, YM and MYM ("Dow Jones"), every row
        ``activeContract: true``, so a client must choose by the id's product segment.
        """
        needle = text.strip().lower()
        found = [
            contract
            for contract in self.listed.values()
            if contract.active
            and any(
                needle in field.lower() for field in (contract.name, contract.description, contract.symbol_id)
            )
        ]
        return found[:SEARCH_LIMIT]
