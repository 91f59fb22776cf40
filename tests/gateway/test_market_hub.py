"""MarketHub (the User Hub's supervisor, quotes instead of user events) against the simulator's
Market Hub on 127.0.0.1: quotes tagged by symbolId reach the book under the contract id, merged,
and the connection survives the same faults as the User Hub's."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import httpx
import pytest

from app.config import GatewaySettings
from app.domain.models import Contract
from app.gateway.hub import SIGNALRCORE_LOGGER
from app.gateway.market_hub import MarketHub, Quote, symbol_id_of
from app.sim import SimServer, SimState
from app.sim.market_hub import MarketHubFaults, market_hub_faults
from tests.gateway.test_hub import Tokens
from tests.helpers import eventually
from tests.sim.conftest import ES, MNQ, MNQ_START, START, ManualClock

T = TypeVar("T")
SILENCE_TIMEOUT_S = 1.5  # the simulator pings every 0.1 s: only a real silence reaches it
TICK = Decimal("0.25")


def contract(contract_id: str, symbol_id: str) -> Contract:
    return Contract(contract_id, contract_id, "", TICK, Decimal("0.5"), symbol_id)


MNQ_CONTRACT = contract(MNQ, "F.US.MNQ")
ES_CONTRACT = contract(ES, "F.US.EP")


class Rig:
    def __init__(self, server: SimServer, tokens: Tokens, hub: MarketHub, quotes: list[Quote]) -> None:
        self.server, self.tokens, self.hub, self.quotes = server, tokens, hub, quotes
        self.faults: MarketHubFaults = market_hub_faults(server.state)

    async def connected(self, connections: int) -> None:
        """Wait until the hub says connected after ``connections`` accepted connections."""

        async def check() -> bool:
            return self.faults.connections_made >= connections and self.hub.state.connected

        await eventually(check)

    async def price_reaches_book(self, contract_id: str, price: Decimal) -> Quote:
        """Move the simulator's price and wait for the book to show it (last, bid and ask)."""
        self.server.state.set_price(contract_id, price)

        async def check() -> Quote:
            quote = self.hub.book.get(contract_id)
            assert quote is not None and quote.last_price == price and quote.best_bid == price, quote
            return quote

        return await eventually(check)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with (
        SimServer(SimState(clock=ManualClock())) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        faults = market_hub_faults(server.state)
        faults.ping_interval_s = 0.1
        faults.quote_interval_s = 0.02
        tokens = Tokens(http)
        tokens.current = await tokens.login()
        quotes: list[Quote] = []

        async def on_quote(quote: Quote) -> None:
            quotes.append(quote)

        hub = MarketHub(
            server.url + "/hubs/market",
            tokens,
            on_quote=on_quote,
            silence_timeout_s=SILENCE_TIMEOUT_S,
            backoff_s=(0.05, 0.3),
            token_check_s=0.1,
            connect_timeout_s=2.0,
            keep_alive_s=0.1,
        )
        await hub.start_quotes([MNQ_CONTRACT])
        yield Rig(server, tokens, hub, quotes)
        await hub.stop()
        assert not hub.state.connected
        assert not hub.book.live


async def test_quotes_tagged_by_symbol_reach_the_book_under_the_contract_id_merged(rig: Rig) -> None:
    await rig.connected(1)
    first = await eventually(lambda: _some(rig.hub.book.get(MNQ)))
    assert first is not None
    assert first.last_price == MNQ_START and first.best_ask == MNQ_START + TICK
    assert rig.hub.book.live

    quote = await rig.price_reaches_book(MNQ, MNQ_START + 10 * TICK)

    # The simulator sends the last price and the book in two sparse messages tagged F.US.MNQ:
    # the book's quote holds both, under the contract id, with the quote's own UTC time.
    assert quote.contract_id == MNQ and quote.symbol_id == "F.US.MNQ"
    assert quote.best_ask == MNQ_START + 11 * TICK
    assert quote.at == START
    assert quote.received_at.tzinfo is not None
    assert rig.quotes and all(q.contract_id == MNQ for q in rig.quotes)
    assert rig.hub.book.get(ES) is None  # not subscribed: the simulator sends none


async def test_subscribe_and_unsubscribe_follow_contracts_at_once(rig: Rig) -> None:
    await rig.connected(1)

    await rig.hub.subscribe([ES_CONTRACT])
    await rig.price_reaches_book(ES, Decimal("6010.00"))
    await rig.hub.unsubscribe([ES])

    assert rig.hub.book.get(ES) is None
    assert rig.hub.contract_ids == [MNQ]
    await rig.price_reaches_book(MNQ, MNQ_START - 4 * TICK)
    assert rig.hub.book.get(ES) is None
    assert rig.faults.connections_made == 1


async def test_a_subscription_cut_short_by_a_rebuild_returns_and_is_made_on_the_next_connect(
    rig: Rig,
) -> None:
    # The hub goes silent while a subscription waits for its answer: the silence watchdog
    # rebuilds the connection, which cancels the pending call. The caller (serve's follower
    # loop) must get its call back, not a CancelledError that would end its loop.
    await rig.connected(1)
    rig.faults.silent = True

    await rig.hub.subscribe([ES_CONTRACT])  # returns once the rebuild cut it short

    assert rig.hub.contract_ids == [ES, MNQ]
    rig.faults.silent = False
    await rig.connected(2)
    await rig.price_reaches_book(ES, Decimal("6010.00"))  # subscribed again on the new connection


async def test_dropped_hub_is_reconnected_and_resubscribed(rig: Rig) -> None:
    await rig.connected(1)
    await rig.price_reaches_book(MNQ, MNQ_START + TICK)

    rig.faults.drop_all()
    await rig.connected(2)

    assert rig.hub.state.reconnects == 1
    await rig.price_reaches_book(MNQ, MNQ_START + 2 * TICK)  # subscribed again


async def test_refused_hub_is_retried_until_it_is_back(rig: Rig) -> None:
    await rig.connected(1)
    await rig.price_reaches_book(MNQ, MNQ_START - TICK)

    rig.faults.refuse_for(0.6)
    rig.faults.drop_all()
    await eventually(lambda: _some("503" in (rig.hub.state.last_error or "") or None))
    assert not rig.hub.book.live
    assert rig.hub.book.get(MNQ) is not None  # the last quote stays, with its time
    await rig.connected(2)

    await rig.price_reaches_book(MNQ, MNQ_START + 3 * TICK)


async def test_silent_hub_is_detected_within_the_silence_timeout_and_rebuilt(rig: Rig) -> None:
    await rig.connected(1)
    rig.faults.silent = True
    went_silent = time.monotonic()

    await eventually(lambda: _some(not rig.hub.state.connected or None), timeout_s=SILENCE_TIMEOUT_S + 4.0)
    detected_after = time.monotonic() - went_silent
    rig.faults.silent = False
    await rig.connected(2)

    assert detected_after >= SILENCE_TIMEOUT_S - 0.2
    assert "no message from the hub" in (rig.hub.state.last_error or "")
    await rig.price_reaches_book(MNQ, MNQ_START + 5 * TICK)


async def test_expired_token_reconnects_with_a_fresh_one(rig: Rig) -> None:
    await rig.connected(1)

    rig.faults.expire_tokens()
    await eventually(lambda: _some("401" in (rig.hub.state.last_error or "") or None))
    rig.tokens.current = await rig.tokens.login()
    await rig.connected(2)

    await rig.price_reaches_book(MNQ, MNQ_START + 6 * TICK)


async def test_gateway_logout_rebuilds_the_connection(rig: Rig) -> None:
    await rig.connected(1)

    rig.faults.logout_all()
    await rig.connected(2)

    await rig.price_reaches_book(MNQ, MNQ_START + 7 * TICK)


async def test_the_token_never_reaches_the_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=SIGNALRCORE_LOGGER)  # even if someone turns DEBUG on
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    first = rig.tokens.current
    await rig.connected(1)

    rig.faults.expire_tokens()
    await eventually(lambda: _some("401" in (rig.hub.state.last_error or "") or None), timeout_s=10)
    rig.tokens.current = await rig.tokens.login()
    await rig.connected(2)
    await rig.price_reaches_book(MNQ, MNQ_START + 8 * TICK)

    assert any(record.name == "app.gateway.hub" for record in caplog.records)
    for token in (first, rig.tokens.current):
        assert token not in caplog.text


async def _some(value: T) -> T | None:
    return value or None


async def test_a_quote_over_1_mib_is_read_without_closing_the_connection(rig: Rig) -> None:
    await rig.connected(1)
    await rig.price_reaches_book(MNQ, MNQ_START + TICK)
    [connection] = rig.faults._hub.connections
    big = {"symbol": "F.US.MNQ", "symbolName": "x" * (3 * 2**19), "lastPrice": float(MNQ_START + 9 * TICK)}

    connection.push({"type": 1, "target": "GatewayQuote", "arguments": ["F.US.MNQ", big]})

    async def read() -> bool:
        quote = rig.hub.book.get(MNQ)
        return quote is not None and quote.last_price == MNQ_START + 9 * TICK

    await eventually(read)
    assert rig.faults.connections_made == 1 and rig.hub.state.connected


def test_sparse_quotes_merge_per_symbol_into_every_contract_of_the_product() -> None:
    hub = MarketHub("http://127.0.0.1:1/hubs/market", _no_token)
    march = contract("CON.F.US.MNQ.H26", "F.US.MNQ")
    hub._contracts = {c.contract_id: c for c in (MNQ_CONTRACT, march, ES_CONTRACT)}

    hub._parse("GatewayQuote", ["F.US.MNQ", {"symbol": "F.US.MNQ", "lastPrice": 21500.25}])
    quotes = hub._parse(
        "GatewayQuote",
        [
            "F.US.MNQ",
            {"symbol": "F.US.MNQ", "bestBid": 21500, "bestAsk": 21500.5, "timestamp": "2025-11-03T14:30:01Z"},
        ],
    )

    assert [q.contract_id for q in quotes] == ["CON.F.US.MNQ.H26", MNQ]
    mnq = hub.book.get(MNQ)
    assert mnq is not None
    assert (mnq.last_price, mnq.best_bid, mnq.best_ask) == (
        Decimal("21500.25"),
        Decimal(21500),
        Decimal("21500.5"),
    )
    assert mnq.at == datetime(2025, 11, 3, 14, 30, 1, tzinfo=UTC)
    assert hub.book.get(ES) is None
    # Tagged by the contract id instead (as the documentation describes): still mapped.
    [es] = hub._parse("GatewayQuote", [ES, {"lastPrice": 6001.5}])
    assert es.contract_id == ES and es.symbol_id == "F.US.EP" and es.last_price == Decimal("6001.5")
    assert not hub.book.live  # never connected


def test_symbol_id_of_a_contract_id() -> None:
    assert symbol_id_of("CON.F.US.MES.U26") == "F.US.MES"
    assert symbol_id_of("CON.F.US.EP.Z25") == "F.US.EP"


async def _no_token() -> str:
    return ""


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        ({"kind": "topstepx"}, "https://rtc.topstepx.com/hubs/market"),
        (
            {"kind": "custom", "user_hub_url": "https://rtc.a.projectx.com/hubs/user"},
            "https://rtc.a.projectx.com/hubs/market",
        ),
        (
            {"kind": "custom", "user_hub_url": "https://x/hubs/user", "market_hub_url": "https://y/m"},
            "https://y/m",
        ),
        ({"kind": "custom", "user_hub_url": "https://x/other"}, ""),
    ],
)
def test_the_market_hub_address(gateway: dict[str, str], expected: str) -> None:
    settings = GatewaySettings.model_validate(
        {"api_url": "https://api.x", "username": "u", "api_key": "k", **gateway}
    )
    assert settings.resolved_market_hub_url == expected
    assert settings.market_hub is True  # on unless turned off: the risk limits price at its quotes
