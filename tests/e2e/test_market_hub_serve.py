"""``[gateway] market_hub = true``: serve follows live quotes for the contracts the accounts hold."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from app.gateway.market_hub import Quote
from tests.e2e.conftest import make_settings, running
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()


async def test_serve_quotes_the_contract_of_an_open_position_and_drops_it_once_flat(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, market_hub=True)
    # Bounded as a whole: a wait that never ends fails here with where it waited (it hung once).
    async with asyncio.timeout(90), running(settings, tmp_path) as env:
        market = env.runtime.market
        assert market is not None
        assert market.hub.contract_ids == []  # nothing held yet

        response = await env.send("mnq-bracket", BRACKET_ALERT)
        assert response.json()["status"] == "executed", response.text
        contract_id = response.json()["orders"][0]["contract_id"]
        price = env.sim.price(contract_id) + 4 * Decimal("0.25")
        env.sim.set_price(contract_id, price)

        async def quoted() -> Quote:
            quote = market.hub.book.get(contract_id)
            assert quote is not None and quote.last_price == price, quote
            return quote

        quote = await eventually(quoted, timeout_s=10)
        assert quote.symbol_id == "F.US.MNQ"
        assert market.hub.book.live

        # Past the 80-tick take profit: it fills, the stop loss is cancelled, the account is flat.
        env.sim.set_price(contract_id, price + 200 * Decimal("0.25"))

        async def dropped() -> bool:
            return market.hub.contract_ids == [] and market.hub.book.get(contract_id) is None

        await eventually(dropped, timeout_s=10)


async def test_serve_has_no_market_hub_by_default(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        assert env.runtime.market is None


async def test_with_market_hub_traded_a_contract_stays_quoted_once_flat(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, market_hub=True, market_hub_traded=True)
    async with asyncio.timeout(90), running(settings, tmp_path) as env:
        market = env.runtime.market
        assert market is not None
        response = await env.send("mnq-bracket", BRACKET_ALERT)
        assert response.json()["status"] == "executed", response.text
        contract_id = response.json()["orders"][0]["contract_id"]
        price = env.sim.price(contract_id)
        env.sim.set_price(contract_id, price + 200 * Decimal("0.25"))  # the take profit fills: flat

        async def flat_and_quoted() -> bool:
            assert not env.sim.open_positions(70000001) and not env.sim.open_orders(70000001)
            assert market.hub.contract_ids == [contract_id]
            quote = market.hub.book.get(contract_id)
            return quote is not None and quote.last_price == price + 200 * Decimal("0.25")

        await eventually(flat_and_quoted, timeout_s=15)
