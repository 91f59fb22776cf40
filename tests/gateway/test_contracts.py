"""ContractResolver: every TradingView ticker form → the gateway contract, cached."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.errors import AlertInvalidError, ContractExpiredError, GatewayUnavailable
from app.gateway.contracts import ContractResolver, contract_id_for, contract_year
from app.gateway.rest import RestClient
from app.sim import SimState, create_sim_app

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
UNLISTED = "CON.F.US.MNQ.Z29"
NOT_ACTIVE = "CON.F.US.MNQ.M26"  # listed by searchById, not yet the front month
TODAY = date(2025, 3, 3)  # the resolver's date: every Z25/H26 month above is still trading

# Contract/search "NQ", the reference's example answer verbatim (projectx-api.md §4.2).
SEARCH_NQ = [
    {"id": "CON.F.US.ENQ.H25", "name": "ENQH25", "description": "E-mini NASDAQ-100: March 2025",
     "tickSize": 0.25, "tickValue": 5, "activeContract": True},
    {"id": "CON.F.US.MNQ.H25", "name": "MNQH25", "description": "Micro E-mini Nasdaq-100: March 2025",
     "tickSize": 0.25, "tickValue": 0.5, "activeContract": True},
    {"id": "CON.F.US.NQG.G25", "name": "NQGG25", "description": "E-Mini Natural Gas: February 2025",
     "tickSize": 0.005, "tickValue": 12.5, "activeContract": True},
]  # fmt: skip
# Contract/search "ES" (§13 note 4): EP, MES, FVA, JY6, MX6 and TYA, all active; MES first.
SEARCH_ES = [
    row("CON.F.US.MES.H25", "F.US.MES"),
    row("CON.F.US.FVA.H25", "F.US.FVA", tick=0.0078125),
    row("CON.F.US.JY6.H25", "F.US.JY6", tick=0.0000005),
    row("CON.F.US.EP.H25", "F.US.EP"),
    row("CON.F.US.MX6.H25", "F.US.MX6", tick=0.00001),
    row("CON.F.US.TYA.H25", "F.US.TYA", tick=0.015625),
]
# Contract/search "CL": the micro first, and both active.
SEARCH_CL = [row("CON.F.US.MCLE.J25", "F.US.MCLE", tick=0.01), row("CON.F.US.CLE.J25", "F.US.CLE", tick=0.01)]


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
    return envelope(contract=row(contract_id, symbol_id, active=contract_id != NOT_ACTIVE))


def search(request: httpx.Request) -> httpx.Response:
    text = json.loads(request.content)["searchText"]
    answers = {"ES": SEARCH_ES, "MES": SEARCH_ES, "CL": SEARCH_CL, "MCL": SEARCH_CL}
    return envelope(contracts=answers.get(text, SEARCH_NQ))


class Clock:
    def __init__(self) -> None:
        self.now = 50.0
        self.today = TODAY

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def router() -> respx.Router:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/Auth/loginKey").mock(return_value=envelope(token="tok"))
    router.post("/api/Contract/available", name="available").mock(return_value=envelope(contracts=AVAILABLE))
    router.post("/api/Contract/searchById", name="by_id").mock(side_effect=by_id)
    router.post("/api/Contract/search", name="search").mock(side_effect=search)
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
    return ContractResolver(rest, {"6e": "F.US.EU6"}, refresh_s=3600, clock=clock, today=lambda: clock.today)


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
    contract = await resolver.resolve("MNQZ5")
    assert contract.contract_id == "CON.F.US.MNQ.Z25"


# The nearest listed month wins (behaviour changed on purpose in issue 14: "3" in 2025 was 2033).
@pytest.mark.parametrize(
    ("digits", "month", "today", "year"),
    [
        ("5", 12, date(2025, 3, 3), 2025),
        ("4", 9, date(2026, 12, 6), 2024),  # MNQU4 in 2026: September 2024, expired, not 2034
        ("3", 12, date(2025, 3, 3), 2023),
        ("6", 3, date(2029, 1, 5), 2026),
        ("1", 3, date(2026, 12, 6), 2031),  # 2021 is 5 years 9 months back, 2031 4 years 3 months on
        ("7", 3, date(2026, 12, 6), 2027),
        ("25", 9, date(2031, 6, 1), 2025),
        ("26", 12, date(2026, 12, 6), 2026),
        ("2024", 9, date(2026, 12, 6), 2024),
    ],
)
def test_contract_year_is_the_nearest_listed_month(digits: str, month: int, today: date, year: int) -> None:
    assert contract_year(digits, month, today) == year


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
    with pytest.raises(AlertInvalidError, match=rf"'MNQZ2029'.*{UNLISTED}.*active month"):
        await resolver.resolve("MNQZ2029")


async def test_root_without_an_active_contract_is_an_invalid_alert(
    resolver: ContractResolver,
) -> None:
    with pytest.raises(AlertInvalidError, match=r"'RTY1!'.*F\.US\.RTY"):
        await resolver.resolve("RTY1!")  # neither Contract/available nor the search lists RTY


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


async def test_a_month_not_yet_active_is_refused_before_any_order(resolver: ContractResolver) -> None:
    with pytest.raises(AlertInvalidError) as caught:
        await resolver.resolve("MNQM2026")
    message = str(caught.value)
    assert "MNQM2026" in message and "not the active contract" in message and "MNQ1!" in message


async def test_gateway_trouble_is_not_blamed_on_the_alert(
    resolver: ContractResolver, router: respx.Router
) -> None:
    router.routes["available"].mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(GatewayUnavailable):
        await resolver.resolve("NQ1!")


@pytest.mark.parametrize(
    ("ticker", "contract_id"),
    [
        ("ES1!", "CON.F.US.EP.H25"),  # not MES, the first hit, though every row is active
        ("ES", "CON.F.US.EP.H25"),
        ("MES", "CON.F.US.MES.H25"),
        ("NQ", "CON.F.US.ENQ.H25"),  # the reference's NQ answer: ENQ, MNQ, natural gas NQG
        ("MNQ1!", "CON.F.US.MNQ.H25"),
        ("CL1!", "CON.F.US.CLE.J25"),  # not MCLE, listed first
        ("MCL", "CON.F.US.MCLE.J25"),
    ],
)
async def test_a_root_is_chosen_by_its_product_segment_in_a_fuzzy_search(
    resolver: ContractResolver, router: respx.Router, ticker: str, contract_id: str
) -> None:
    # Practice credentials asked with live: true list nothing (§13 note 5): the search answers.
    router.routes["available"].mock(return_value=envelope(contracts=[]))
    contract = await resolver.resolve(ticker)
    assert contract.contract_id == contract_id
    root = ticker.removesuffix("1!")
    assert json.loads(router.routes["search"].calls.last.request.content) == {
        "live": False,
        "searchText": root,
    }


async def test_the_fuzzy_catalogue_is_read_by_segment_not_by_order_or_active_flag(
    resolver: ContractResolver, router: respx.Router
) -> None:
    later_first = [
        row("CON.F.US.ENQ.H26", "F.US.ENQ"),
        *SEARCH_ES,
        *SEARCH_NQ,
        row("CON.F.US.ENQ.Z25", "F.US.ENQ"),
    ]
    router.routes["available"].mock(return_value=envelope(contracts=later_first))
    assert (await resolver.resolve("ES")).contract_id == "CON.F.US.EP.H25"
    # two active months of one product: the nearest, sorted year first (§13 note 4)
    assert (await resolver.resolve("NQ1!")).contract_id == "CON.F.US.ENQ.H25"
    assert router.routes["search"].call_count == 0


@pytest.mark.parametrize("ticker", ["MNQU4", "MNQU24", "MNQU2024", "CME_MINI:mnqu4"])
async def test_an_expired_month_is_refused_naming_it_and_the_active_contract(
    resolver: ContractResolver, router: respx.Router, clock: Clock, ticker: str
) -> None:
    clock.today = date(2026, 12, 6)
    active = {**row("CON.F.US.MNQ.H27", "F.US.MNQ"), "name": "MNQH7"}
    router.routes["available"].mock(return_value=envelope(contracts=[active]))
    with pytest.raises(ContractExpiredError) as caught:
        await resolver.resolve(ticker)
    name = ticker.rsplit(":", 1)[-1].upper()
    assert str(caught.value) == (
        f"Ticker '{ticker}': {name} expired in September 2024 (last trading day 2024-09-20); "
        "the active MNQ contract is MNQH7: use MNQ1! or MNQH7"
    )
    assert isinstance(caught.value, AlertInvalidError)  # answered 422, never sent
    assert router.routes["by_id"].call_count == 0  # never read as CON.F.US.MNQ.U34


async def test_an_expired_month_without_a_listed_active_one_still_says_what_to_use(
    resolver: ContractResolver, router: respx.Router, clock: Clock
) -> None:
    clock.today = date(2026, 12, 6)
    router.routes["available"].mock(return_value=envelope(contracts=[]))
    with pytest.raises(ContractExpiredError, match=r"'CLZ5': CLZ5 expired in December 2025.*use CL1!"):
        await resolver.resolve("CLZ5")


SIM_START = datetime(2025, 11, 3, 14, 30, tzinfo=UTC)  # the sim's front months: Z25


@pytest.fixture
async def sim_resolver() -> AsyncIterator[ContractResolver]:
    state = SimState(clock=lambda: SIM_START)
    client = RestClient(
        "http://sim.test", "trader1", SecretStr("k"), transport=httpx.ASGITransport(app=create_sim_app(state))
    )
    yield ContractResolver(client, today=lambda: SIM_START.date())
    await client.aclose()


@pytest.mark.parametrize(
    ("ticker", "contract_id"),
    [
        ("ES1!", "CON.F.US.EP.Z25"),
        ("MES", "CON.F.US.MES.Z25"),
        ("NQ", "CON.F.US.ENQ.Z25"),
        ("CME_MINI:MNQ1!", "CON.F.US.MNQ.Z25"),
        ("CL1!", "CON.F.US.CLE.Z25"),
        ("MCL", "CON.F.US.MCLE.Z25"),
        ("GC", "CON.F.US.GCE.Z25"),
        ("MGC1!", "CON.F.US.GMET.Z25"),
        ("MNQZ5", "CON.F.US.MNQ.Z25"),
        ("ESZ25", "CON.F.US.EP.Z25"),
    ],
)
async def test_every_root_resolves_on_the_simulator(
    sim_resolver: ContractResolver, ticker: str, contract_id: str
) -> None:
    contract = await sim_resolver.resolve(ticker)
    assert contract.contract_id == contract_id and contract.active


async def test_an_expired_month_is_refused_on_the_simulator(sim_resolver: ContractResolver) -> None:
    with pytest.raises(ContractExpiredError) as caught:
        await sim_resolver.resolve("MNQU5")
    assert str(caught.value) == (
        "Ticker 'MNQU5': MNQU5 expired in September 2025 (last trading day 2025-09-19); "
        "the active MNQ contract is MNQZ5: use MNQ1! or MNQZ5"
    )


async def test_a_contract_about_to_roll_is_warned_of_once_a_day(
    resolver: ContractResolver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await resolver.resolve("NQ1!")
    assert resolver.roll_warnings() == []  # March 2025: December is far
    clock.today = date(2025, 12, 15)  # ENQ Z25 stops trading on Friday 2025-12-19
    with caplog.at_level(logging.WARNING, logger="app.gateway.contracts"):
        await resolver.resolve("NQ1!")
        await resolver.resolve("CME_MINI:NQ1!")
        clock.today = date(2025, 12, 16)
        await resolver.resolve("NQ")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # once a day
    assert (
        "ENQZ25 (CON.F.US.ENQ.Z25) has its last trading day in 4 trading days (Fri 2025-12-19)" in messages[0]
    )
    assert "in 3 trading days" in messages[1]
    assert resolver.roll_warnings() == [messages[1].removeprefix("contract roll: ")]
