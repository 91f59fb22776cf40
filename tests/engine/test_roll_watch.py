"""At serve start the templates' fixed tickers are resolved, so a roll or an expired month shows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.domain.models import Contract
from app.engine.roll_watch import check_fixed_tickers, fixed_tickers
from app.errors import ContractExpiredError
from app.strategies.loader import load_templates
from tests.fakes import FakeGateway

TEMPLATE = """
[alert]
format = "json"

[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{ticker}"
action = "{{{{ alert.action }}}}"
quantity = 1
type = "market"
"""


@dataclass
class ExpiredGateway(FakeGateway):
    asked: list[str] = field(default_factory=list)

    async def contract(self, ticker: str) -> Contract:
        self.asked.append(ticker)
        if ticker == "MNQU4":
            raise ContractExpiredError("Ticker 'MNQU4': MNQU4 expired in September 2024")
        return self.contract_for


def write(folder: Path, name: str, ticker: str) -> None:
    (folder / f"{name}.toml").write_text(TEMPLATE.format(ticker=ticker), encoding="utf-8")


async def test_fixed_tickers_are_resolved_at_start_and_a_refusal_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "fixed-old", "MNQU4")
    write(tmp_path, "fixed-front", "ES1!")
    write(tmp_path, "from-alert", "{{ alert.ticker }}")
    templates = load_templates(tmp_path)
    assert fixed_tickers(templates.values()) == {"MNQU4": "fixed-old", "ES1!": "fixed-front"}

    gateway = ExpiredGateway()
    with caplog.at_level(logging.WARNING, logger="app.engine.roll_watch"):
        await check_fixed_tickers(gateway, templates.values())
    assert sorted(gateway.asked) == ["ES1!", "MNQU4"]
    assert [r.getMessage() for r in caplog.records] == [
        "template 'fixed-old': ticker MNQU4 cannot be traded now: "
        "Ticker 'MNQU4': MNQU4 expired in September 2024"
    ]
