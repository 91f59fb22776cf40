"""``tvbridge doctor``'s checks on respx fakes of the gateway: each failure a trader can meet is
named with what to do, and no order-changing call is ever made (the fixture asserts it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.engine.doctor import Check, DoctorReport, account_stage, run_doctor
from app.gateway.contracts import ContractResolver
from app.gateway.projectx import ProjectXGateway
from app.gateway.rest import RestClient
from app.gateway.wire_errors import MUTATING_ENDPOINTS
from app.strategies import load_templates
from tests.helpers import free_port

BASE = "https://gateway.test"
PRACTICE_NAME = "PRAC-V2-645601-47191819"
EXPRESS_NAME = "EXPRESS-V2-645601-1"
PRACTICE: dict[str, Any] = {"id": 11, "name": PRACTICE_NAME, "balance": 50000, "canTrade": True}
EXPRESS: dict[str, Any] = {"id": 12, "name": EXPRESS_NAME, "balance": 50000, "canTrade": True}
MNQ = {
    "id": "CON.F.US.MNQ.Z26",
    "name": "MNQZ6",
    "description": "Micro E-mini Nasdaq-100",
    "tickSize": 0.25,
    "tickValue": 0.5,
    "symbolId": "F.US.MNQ",
    "activeContract": True,
}
TEMPLATE = """
[alert]
time_field = "time"
[order]
accounts = {accounts}
ticker = "{{{{ alert.ticker }}}}"
action = "{{{{ alert.action }}}}"
quantity = 1
type = "market"
"""


def envelope(**payload: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "errorCode": 0, "errorMessage": None, **payload})


def row(base: dict[str, Any], **changes: object) -> dict[str, Any]:
    return {**base, "isVisible": True, "simulated": True, **changes}


@pytest.fixture
def router() -> Iterator[respx.Router]:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/Auth/loginKey", name="login").mock(return_value=envelope(token="tok"))
    router.post("/api/Account/search", name="accounts").mock(
        return_value=envelope(accounts=[row(PRACTICE), row(EXPRESS)])
    )
    router.post("/api/Contract/available", name="available").mock(return_value=envelope(contracts=[MNQ]))
    # The resolver's fallback when Contract/available lists nothing for a root (§13 note 5).
    router.post("/api/Contract/search", name="search").mock(return_value=envelope(contracts=[]))
    for endpoint in sorted(MUTATING_ENDPOINTS):
        router.post(f"/api/{endpoint}", name=endpoint).mock(return_value=envelope(orderId=1))
    yield router
    sent = [name for name in MUTATING_ENDPOINTS if router.routes[name].called]
    assert sent == [], f"doctor made order-changing calls: {sent}"


class Dated(httpx.AsyncBaseTransport):
    """The fakes' answers with an HTTP ``Date`` header ``offset`` from now (the gateway's clock)."""

    def __init__(self, router: respx.Router, offset: list[timedelta]) -> None:
        self.router = router
        self.offset = offset  # one item, changed by a test while the client is in use

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.router.async_handler(request)
        response.headers["Date"] = format_datetime(datetime.now(UTC) + self.offset[0], usegmt=True)
        return response


@pytest.fixture
def clock_offset() -> list[timedelta]:
    return [timedelta(0)]


@pytest.fixture
async def gateway(router: respx.Router, clock_offset: list[timedelta]) -> AsyncIterator[ProjectXGateway]:
    rest = RestClient(BASE, "trader1", SecretStr("k"), transport=Dated(router, clock_offset))
    yield ProjectXGateway(rest, ContractResolver(rest, today=lambda: TODAY[0]))
    await rest.aclose()


TODAY = [date(2026, 11, 2)]  # weeks before MNQ Z26's last trading day (2026-12-18); a test may move it


async def run(
    gateway: ProjectXGateway,
    tmp_path: Path,
    *,
    accounts: tuple[str, ...] = (PRACTICE_NAME,),
    ticker: str = "MNQ1!",
    **options: Any,
) -> DoctorReport:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "alerts").mkdir(exist_ok=True)
    (tmp_path / "templates" / "doc.toml").write_text(
        TEMPLATE.format(accounts=list(accounts)).replace("'", '"')
    )
    (tmp_path / "alerts" / "doc.example.json").write_text(f'{{"ticker": "{ticker}", "action": "buy"}}')
    templates = load_templates(tmp_path / "templates")
    settings: dict[str, Any] = {"rate_limit_per_minute": 180, **options}
    return await run_doctor(gateway, templates, alerts_dir=tmp_path / "alerts", **settings)


def check(report: DoctorReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def failed(report: DoctorReport) -> list[str]:
    return [c.name for c in report.checks if c.verdict == "FAIL"]


async def test_a_healthy_gateway_passes_every_check_and_reads_the_stage_from_the_names(
    gateway: ProjectXGateway, tmp_path: Path
) -> None:
    report = await run(gateway, tmp_path)

    assert [c.verdict for c in report.checks] == ["PASS"] * len(report.checks), report.checks
    assert report.exit_code == 0
    accounts = check(report, "accounts").detail
    assert "PRAC-V2-645601-47191819 (11): can trade, practice, simulated" in accounts
    assert "EXPRESS-V2-645601-1 (12): can trade, express funded, simulated" in accounts
    assert "funded accounts say simulated too" in accounts
    assert "CON.F.US.MNQ.Z26" in check(report, "ticker of doc").detail
    assert "tick size 0.25 points" in check(report, "ticker of doc").detail


def test_the_stage_is_read_from_the_account_name() -> None:
    assert account_stage("PRAC-V2-1-2") == "practice"
    assert account_stage("EXPRESS-V2-1-2") == "express funded"
    assert account_stage("50KTC-V2-1-2") == "combine"
    assert account_stage("SIM-AUTO-OCO") == "stage unknown from the name"


async def test_a_wrong_username_is_explained(
    router: respx.Router, gateway: ProjectXGateway, tmp_path: Path
) -> None:
    # §13 item 9: HTTP 200, success false, errorCode 8 (LoginErrorCode UnknownError).
    router.routes["login"].mock(
        return_value=httpx.Response(
            200, json={"token": None, "success": False, "errorCode": 8, "errorMessage": "Unknown error"}
        )
    )
    report = await run(gateway, tmp_path)

    login = check(report, "login")
    assert login.verdict == "FAIL" and report.exit_code == 1
    assert "errorCode 8" in login.todo and "wrong username" in login.todo
    assert "platform login name" in login.todo
    assert not router.routes["accounts"].called  # nothing else is asked without a session


async def test_no_accounts_fails(router: respx.Router, gateway: ProjectXGateway, tmp_path: Path) -> None:
    router.routes["accounts"].mock(return_value=envelope(accounts=[]))
    report = await run(gateway, tmp_path)

    assert "accounts" in failed(report)
    assert "active account" in check(report, "accounts").todo


async def test_a_template_account_that_cannot_trade_fails(
    router: respx.Router, gateway: ProjectXGateway, tmp_path: Path
) -> None:
    router.routes["accounts"].mock(
        return_value=envelope(accounts=[row(PRACTICE, canTrade=False), row(EXPRESS)])
    )
    report = await run(gateway, tmp_path)

    assert failed(report) == ["template accounts"]
    assert "CANNOT trade" in check(report, "accounts").detail
    assert "cannot trade (canTrade false)" in check(report, "template accounts").detail


async def test_a_template_naming_a_missing_account_fails(gateway: ProjectXGateway, tmp_path: Path) -> None:
    report = await run(gateway, tmp_path, accounts=("PRAC-TYPO",))

    assert failed(report) == ["template accounts"]
    found = check(report, "template accounts")
    assert "'PRAC-TYPO' is not one of your active accounts" in found.detail
    assert "order.accounts" in found.todo


async def test_an_unknown_ticker_fails(gateway: ProjectXGateway, tmp_path: Path) -> None:
    report = await run(gateway, tmp_path, ticker="ZZZ1!")

    assert failed(report) == ["ticker of doc"]
    assert "unknown futures root 'ZZZ'" in check(report, "ticker of doc").detail


async def test_an_ambiguous_ticker_fails(
    router: respx.Router, gateway: ProjectXGateway, tmp_path: Path
) -> None:
    second = {**MNQ, "id": "CON.F.US.MNQ.H27", "name": "MNQH7"}
    router.routes["available"].mock(return_value=envelope(contracts=[MNQ, second]))
    report = await run(gateway, tmp_path)

    assert failed(report) == ["ticker of doc"]
    ticker = check(report, "ticker of doc")
    assert ticker.todo  # what to do: a dated ticker


async def test_an_empty_contract_list_fails_and_explains_the_live_flag(
    router: respx.Router, gateway: ProjectXGateway, tmp_path: Path
) -> None:
    router.routes["available"].mock(return_value=envelope(contracts=[]))
    report = await run(gateway, tmp_path)

    available = check(report, "contracts available")
    assert available.verdict == "FAIL"
    assert "live: true" in available.todo and "empty lists, not an error" in available.todo
    assert report.exit_code == 1


async def test_a_clock_off_by_ten_seconds_warns(
    clock_offset: list[timedelta], gateway: ProjectXGateway, tmp_path: Path
) -> None:
    clock_offset[0] = timedelta(seconds=-10)  # the gateway's clock 10 s behind ours
    report = await run(gateway, tmp_path)

    clock = check(report, "clock")
    assert clock.verdict == "WARN", clock
    assert "ahead of the gateway's" in clock.detail
    assert "time sync" in clock.todo and "stale" in clock.todo
    assert report.exit_code == 0  # a warning does not fail the doctor


async def test_a_tight_rate_budget_fails(gateway: ProjectXGateway, tmp_path: Path) -> None:
    both = (PRACTICE_NAME, EXPRESS_NAME)
    report = await run(gateway, tmp_path, accounts=both, rate_limit_per_minute=4)
    assert check(report, "rate budget").verdict == "PASS"  # 2 orders per alert, 4 a minute

    report = await run(gateway, tmp_path, accounts=both, rate_limit_per_minute=1)
    budget = check(report, "rate budget")
    assert budget.verdict == "FAIL", budget
    assert "at least 2 order call(s)" in budget.detail and "fewer accounts" in budget.todo


async def test_a_hub_that_does_not_connect_fails(gateway: ProjectXGateway, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/hubs/user"  # nothing listens there
    report = await run(gateway, tmp_path, hub_url=nobody, hub_timeout_s=1.0)

    hub = check(report, "user hub")
    assert hub.verdict == "FAIL"
    assert "within 1 s" in hub.detail and "gateway.user_hub_url" in hub.todo


async def test_a_contract_about_to_roll_warns(gateway: ProjectXGateway, tmp_path: Path) -> None:
    TODAY[0] = date(2026, 12, 15)  # three trading days before MNQ Z26 stops trading
    try:
        report = await run(gateway, tmp_path)
    finally:
        TODAY[0] = date(2026, 11, 2)

    ticker = check(report, "ticker of doc")
    assert ticker.verdict == "WARN" and report.exit_code == 0
    assert "CON.F.US.MNQ.Z26" in ticker.detail and "next month" in ticker.todo
