"""ContractResolver: every TradingView ticker form → the gateway contract, cached."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.errors import AlertInvalidError, GatewayUnavailable
from app.gateway.contracts import ContractResolver, contract_id_for, expand_year
from app.gateway.rest import RestClient

BASE = "https://gw.test"


def row(contract_id: str, symbol_id: str, active: bool = True, tick: float = 0.25) -> dict[str, Any]:
    return {
        "id": contract_id,
        "name": contract_id.rsplit(".", 2)[-2] + contract_id[-3:],
        "description": f"{symbol_id} contract",
        "tickSize": tick,
        "tickValue": 0.5,
        "activeContract": active,
        "symbolId": symbol_id,
    }


AVAILABLE = [
    row("CON.F.US.NQG.G26", "F.US.NQG", tick=0.005),  # text search "NQ" would match this
    row("CON.F.US.ENQ.H26", "F.US.ENQ", active=False),
    row("CON.F.US.ENQ.Z25", "F.US.ENQ"),
    row("CON.F.US.MNQ.Z25", "F.US.MNQ"),
    row("CON.F.US.M2K.Z25", "F.US.M2K", tick=0.1),
    row("CON.F.US.MGC.G26", "F.US.MGC", tick=0.1),  # not GMET: the fallback symbol
]
UNLISTED = "CON.F.US.MNQ.Z19"
EXPIRED = "CON.F.US.MNQ.U24"  # listed by searchById (§4.3: expired ids still resolve), not active


def envelope(**payload: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "errorCode": 0, "errorMessage": None, **payload})


def by_id(request: httpx.Request) -> httpx.Response:
    contract_id = json.loads(request.content)["contractId"]
    if contract_id == UNLISTED:
        return httpx.Response(
            200,
            json={"success": False, "errorCode": 1, "errorMessage": None, "contract": None},
        )
    symbol_id = contract_id.removeprefix("CON.").rsplit(".", 1)[0]
    return envelope(contract=row(contract_id, symbol_id, active=contract_id != EXPIRED))


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def router() -> respx.Router:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/Auth/loginKey").mock(return_value=envelope(token="tok"))
    router.post("/api/Contract/available", name="available").mock(return_value=envelope(contracts=AVAILABLE))
    router.post("/api/Contract/searchById", name="by_id").mock(side_effect=by_id)
    return router


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def rest(router: respx.Router) -> AsyncIterator[RestClient]:
    async def no_wait(seconds: float) -> None:
        pass

    client = RestClient(
        BASE,
        "trader1",
        SecretStr("k"),
        transport=httpx.MockTransport(router.async_handler),
        sleep=no_wait,
    )
    yield client
    await client.aclose()


@pytest.fixture
def resolver(rest: RestClient, clock: Clock) -> ContractResolver:
    return ContractResolver(rest, {"6e": "F.US.EU6"}, refresh_s=3600, clock=clock)


@pytest.mark.parametrize(
    ("ticker", "contract_id", "asked"),
    [
        # continuous and bare roots: the active contract from Contract/available
        ("NQ1!", "CON.F.US.ENQ.Z25", {"live": False}),
        ("CME_MINI:NQ1!", "CON.F.US.ENQ.Z25", {"live": False}),
        ("cme_mini_dl:mnq1!", "CON.F.US.MNQ.Z25", {"live": False}),
        ("MNQ", "CON.F.US.MNQ.Z25", {"live": False}),
        (" m2k1! ", "CON.F.US.M2K.Z25", {"live": False}),
        ("COMEX:MGC1!", "CON.F.US.MGC.G26", {"live": False}),
        # dated: the id is built and checked with Contract/searchById
        ("MNQZ2025", "CON.F.US.MNQ.Z25", {"contractId": "CON.F.US.MNQ.Z25"}),
        ("CME_MINI:MNQZ2025", "CON.F.US.MNQ.Z25", {"contractId": "CON.F.US.MNQ.Z25"}),
        ("MNQZ25", "CON.F.US.MNQ.Z25", {"contractId": "CON.F.US.MNQ.Z25"}),
        ("M2KZ25", "CON.F.US.M2K.Z25", {"contractId": "CON.F.US.M2K.Z25"}),
        ("MYMH26", "CON.F.US.MYM.H26", {"contractId": "CON.F.US.MYM.H26"}),
        ("NQH2026", "CON.F.US.ENQ.H26", {"contractId": "CON.F.US.ENQ.H26"}),
        ("esu25", "CON.F.US.EP.U25", {"contractId": "CON.F.US.EP.U25"}),
        ("MGCJ25", "CON.F.US.GMET.J25", {"contractId": "CON.F.US.GMET.J25"}),
        ("6EZ25", "CON.F.US.EU6.Z25", {"contractId": "CON.F.US.EU6.Z25"}),
    ],
)
async def test_every_ticker_form_resolves(
    resolver: ContractResolver, router: respx.Router, ticker: str, contract_id: str, asked: dict[str, Any]
) -> None:
    contract = await resolver.resolve(ticker)
    assert contract.contract_id == contract_id
    assert contract.active  # only an active contract can be traded (§8.12)
    calls = list(router.calls)
    assert [json.loads(call.request.content) for call in calls[1:]] == [asked]  # after login


async def test_active_contract_carries_decimal_tick_size(resolver: ContractResolver) -> None:
    contract = await resolver.resolve("M2K1!")
    assert contract.tick_size == Decimal("0.1") and contract.tick_value == Decimal("0.5")


async def test_one_digit_year_is_the_nearest_decade(resolver: ContractResolver, router: respx.Router) -> None:
    this_year = datetime.now(UTC).year
    contract = await resolver.resolve(f"MNQZ{this_year % 10}")
    assert contract.contract_id == f"CON.F.US.MNQ.Z{this_year % 100:02d}"


@pytest.mark.parametrize(
    ("digits", "this_year", "year"),
    [("5", 2025, 2025), ("4", 2025, 2024), ("3", 2025, 2033), ("6", 2029, 2036), ("25", 2031, 2025)],
)
def test_expand_year(digits: str, this_year: int, year: int) -> None:
    assert expand_year(digits, this_year) == year


def test_contract_id_grammar() -> None:
    assert contract_id_for("F.US.ENQ", "H", 2026) == "CON.F.US.ENQ.H26"


@pytest.mark.parametrize("ticker", ["AAPL", "NASDAQ:TSLA", "ZB1!", "ZNZ25", "MNQ5Z"])
async def test_unknown_ticker_names_it_and_says_what_to_do(
    resolver: ContractResolver, router: respx.Router, ticker: str
) -> None:
    with pytest.raises(AlertInvalidError) as caught:
        await resolver.resolve(ticker)
    assert f"'{ticker}'" in str(caught.value)
    assert "[gateway.symbols]" in str(caught.value)
    assert router.routes["available"].call_count == 0


async def test_second_continuous_contract_asks_for_a_dated_ticker(
    resolver: ContractResolver,
) -> None:
    with pytest.raises(AlertInvalidError, match=r"'NQ2!'.*dated ticker"):
        await resolver.resolve("NQ2!")


async def test_unlisted_dated_contract_is_an_invalid_alert(resolver: ContractResolver) -> None:
    with pytest.raises(AlertInvalidError, match=rf"'MNQZ2019'.*{UNLISTED}.*active month"):
        await resolver.resolve("MNQZ2019")


async def test_root_without_an_active_contract_is_an_invalid_alert(
    resolver: ContractResolver,
) -> None:
    with pytest.raises(AlertInvalidError, match=r"'ES1!'.*F\.US\.EP"):
        await resolver.resolve("ES1!")


async def test_active_contracts_are_read_once_per_refresh(
    resolver: ContractResolver, router: respx.Router, clock: Clock
) -> None:
    available = router.routes["available"]
    for ticker in ("NQ1!", "MNQ1!", "CME_MINI:NQ1!", "MNQ"):
        await resolver.resolve(ticker)
    assert available.call_count == 1
    clock.now += 3599
    await resolver.resolve("NQ1!")
    assert available.call_count == 1
    clock.now += 2
    await resolver.resolve("NQ1!")
    assert available.call_count == 2
    resolver.invalidate()
    await resolver.resolve("NQ1!")
    assert available.call_count == 3


async def test_dated_contracts_are_cached_until_the_refresh(
    resolver: ContractResolver, router: respx.Router, clock: Clock
) -> None:
    await resolver.resolve("MNQZ2025")
    await resolver.resolve("MNQZ25")
    assert router.routes["by_id"].call_count == 1
    clock.now += 10 * 86400  # past the refresh: the roll may have made it inactive
    await resolver.resolve("MNQZ25")
    assert router.routes["by_id"].call_count == 2


async def test_an_expired_dated_contract_is_refused_before_any_order(resolver: ContractResolver) -> None:
    with pytest.raises(AlertInvalidError) as caught:
        await resolver.resolve("MNQU2024")
    message = str(caught.value)
    assert "MNQU2024" in message and "not the active contract" in message and "MNQ1!" in message


async def test_gateway_trouble_is_not_blamed_on_the_alert(
    resolver: ContractResolver, router: respx.Router
) -> None:
    router.routes["available"].mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(GatewayUnavailable):
        await resolver.resolve("NQ1!")
