"""The notices about the bridge's connections, token, rolls and refused deliveries, with a clock
the test moves: each is handed to the notifier once per condition, with the "back" notice once
when it clears, and says what is down since when, which accounts, and what to do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.enums import AlertStatus, Side
from app.domain.events import PositionEvent
from app.domain.models import Account
from app.domain.notices import NoticeKind, NoticeLevel
from app.engine.refusal_digest import LOCKED_OUT, RefusalDigest
from app.engine.roll_watch import RollWatch, check_fixed_tickers
from app.engine.runner import JournalRunner
from app.engine.watchdog import TOKEN_GRACE_S, Watchdog
from app.journal import Journal
from app.strategies.loader import load_templates
from tests.engine.test_watchdog import FakeHub
from tests.fakes import FakeGateway, RecordingNotifier

AUTO = 70000001
MNQ = "CON.F.US.MNQ.H26"  # last trading day: Friday 2026-03-20
T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)
FIXED_TEMPLATE = """
[alert]
format = "json"

[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "MNQH2026"
action = "{{ alert.action }}"
quantity = 1
type = "market"
"""


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def watchdog_on(
    journal: Journal,
    clock: Clock,
    notifier: RecordingNotifier,
    hub: FakeHub | None,
    gateway: FakeGateway,
    **kw: Any,
) -> Watchdog:
    journal.set_account(Account(AUTO, "SIM-AUTO-OCO", Decimal(50000), True))
    return Watchdog(
        JournalRunner(journal), gateway, hub, lambda: {AUTO}, alarm_s=60, clock=clock, notifier=notifier, **kw
    )


def hold(journal: Journal, contract_id: str = MNQ) -> None:
    journal.set_position(PositionEvent(AUTO, contract_id, Side.BUY, 1, Decimal("21500.25")))


async def test_a_hub_lost_for_alarm_s_is_notified_once_then_back_once(journal: Journal) -> None:
    clock, notifier, hub = Clock(), RecordingNotifier(), FakeHub()
    watchdog = watchdog_on(journal, clock, notifier, hub, FakeGateway())
    hold(journal)
    await watchdog.check()  # connected: seen now
    hub.connected = False
    clock.advance(59)
    await watchdog.check()
    assert notifier.notices == []  # not yet alarm_s

    for _ in range(5):  # it lasts: still one notice
        clock.advance(30)
        await watchdog.check()

    [lost] = notifier.of(NoticeKind.HUB_LOST)
    assert lost.severity is NoticeLevel.CRITICAL and lost.key == "hub"
    assert lost.title == "User Hub lost since 14:00 UTC: 1 open position unwatched"
    assert "Since 2026-03-02 14:00:00 UTC" in lost.body
    assert "Accounts affected: SIM-AUTO-OCO." in lost.body
    assert "position long 1 CON.F.US.MNQ.H26 @ 21500.25 on SIM-AUTO-OCO" in lost.body
    assert "What to do: check this computer's internet connection" in lost.body
    assert notifier.of(NoticeKind.HUB_BACK) == []

    hub.connected = True
    clock.advance(10)
    await watchdog.check()
    await watchdog.check()

    [back] = notifier.of(NoticeKind.HUB_BACK)
    assert back.title == "User Hub back after 3.6 min" and back.key == "hub"
    assert "back at 2026-03-02 14:03:39 UTC" in back.body and "SIM-AUTO-OCO" in back.body
    assert [n.kind for n in notifier.notices] == [NoticeKind.HUB_LOST, NoticeKind.HUB_BACK]


async def test_a_hub_lost_with_nothing_open_is_a_warning_that_says_the_polling_follows(
    journal: Journal,
) -> None:
    clock, notifier, hub = Clock(), RecordingNotifier(), FakeHub(connected=False)
    watchdog = watchdog_on(journal, clock, notifier, hub, FakeGateway(), polled=lambda: True)
    clock.advance(60)
    await watchdog.check()

    [lost] = notifier.of(NoticeKind.HUB_LOST)
    assert lost.severity is NoticeLevel.WARNING
    assert "Nothing is open on the followed accounts" in lost.body
    assert "follows the accounts by REST polling" in lost.body
    assert watchdog.alarm is None  # the page's alarm still needs an open position


async def test_a_gateway_not_answering_is_notified_once_and_back_once(journal: Journal) -> None:
    clock, notifier = Clock(), RecordingNotifier()
    gateway = FakeGateway(failing_since=T0 + timedelta(seconds=5))
    watchdog = watchdog_on(journal, clock, notifier, None, gateway)
    clock.advance(64)
    await watchdog.check()
    assert notifier.notices == []
    clock.advance(1)
    await watchdog.check()
    clock.advance(5)
    await watchdog.check()

    [lost] = notifier.of(NoticeKind.GATEWAY_LOST)
    assert lost.severity is NoticeLevel.CRITICAL
    assert lost.title == "Gateway lost since 14:00 UTC"
    assert "the ProjectX gateway does not answer" in lost.body and "cannot be sent" in lost.body

    gateway.failing_since = None
    await watchdog.check()
    await watchdog.check()
    assert [n.kind for n in notifier.notices] == [NoticeKind.GATEWAY_LOST, NoticeKind.GATEWAY_BACK]


async def test_a_token_not_renewed_after_it_fell_due_is_notified_once(journal: Journal) -> None:
    clock, notifier = Clock(), RecordingNotifier()
    expires = T0 + timedelta(hours=1)
    gateway = FakeGateway(token_expires_at=expires)
    watchdog = watchdog_on(journal, clock, notifier, FakeHub(), gateway, token_margin_s=1800)
    await watchdog.check()
    clock.advance(1800 + TOKEN_GRACE_S - 1)  # due at 14:30; the renewal may take a hub check
    await watchdog.check()
    assert notifier.notices == []

    clock.advance(1)
    await watchdog.check()
    clock.advance(600)
    await watchdog.check()

    [failing] = notifier.of(NoticeKind.TOKEN_FAILING)
    assert failing.severity is NoticeLevel.CRITICAL
    assert "expires at 2026-03-02 15:00:00 UTC" in failing.title
    assert "could not renew its ProjectX session token" in failing.body
    assert "check the API key" in failing.body and "SIM-AUTO-OCO" in failing.body

    gateway.token_expires_at = clock.now + timedelta(hours=24)  # renewed at last
    clock.advance(3600)
    await watchdog.check()
    assert len(notifier.notices) == 1


async def test_a_token_renewed_in_time_or_a_gateway_down_gives_no_token_notice(journal: Journal) -> None:
    clock, notifier = Clock(), RecordingNotifier()
    gateway = FakeGateway(token_expires_at=T0 + timedelta(seconds=600))  # due at once (margin 1800)
    watchdog = watchdog_on(journal, clock, notifier, None, gateway)
    await watchdog.check()
    clock.advance(30)
    gateway.token_expires_at = clock.now + timedelta(seconds=600)  # renewed: a fresh expiry
    await watchdog.check()
    clock.advance(TOKEN_GRACE_S - 1)
    await watchdog.check()
    assert notifier.notices == []

    gateway.failing_since = clock.now  # the network is down: that is the gateway's notice
    clock.advance(120)
    await watchdog.check()
    assert notifier.of(NoticeKind.TOKEN_FAILING) == []


async def test_a_held_contract_near_its_roll_is_notified_once_a_day(journal: Journal) -> None:
    clock, notifier = Clock(datetime(2026, 3, 16, 15, 0, tzinfo=UTC)), RecordingNotifier()
    watchdog = watchdog_on(journal, clock, notifier, None, FakeGateway())
    hold(journal)
    await watchdog.check()
    clock.advance(3600)
    await watchdog.check()

    [roll] = notifier.of(NoticeKind.ROLL_APPROACHING)
    assert roll.title == "MNQH6 has its last trading day in 4 trading days; use MNQM6"
    assert "(Fri 2026-03-20)" in roll.body
    assert "position long 1 CON.F.US.MNQ.H26" in roll.body
    assert "the next contract is MNQM6" in roll.body
    assert roll.key == "roll:CON.F.US.MNQ.H26:2026-03-16" and roll.contract == "MNQH6"

    clock.advance(24 * 3600)  # the next trading day: once more
    await watchdog.check()
    assert len(notifier.of(NoticeKind.ROLL_APPROACHING)) == 2


def test_roll_watch_skips_far_contracts_and_warns_once_for_an_expired_one() -> None:
    notifier = RecordingNotifier()
    rolls = RollWatch(notifier, today=lambda: date(2026, 3, 2))
    rolls.check(["CON.F.US.MNQ.H26", "CON.F.US.MNQ.M26", "not-a-contract"])
    assert notifier.notices == []

    rolls = RollWatch(notifier, today=lambda: date(2025, 12, 22))
    rolls.check(["CON.F.US.ENQ.Z25", "CON.F.US.ENQ.Z25"])
    [expired] = notifier.notices
    assert expired.title == "NQZ5 stopped trading on Fri 2025-12-19; use NQH6"


def test_a_burst_of_refusals_makes_one_summary_with_counts_and_no_secret() -> None:
    clock = Clock()
    digest = RefusalDigest(clock)
    digest.refused(AlertStatus.INVALID, strategy="mnq-market", address="52.89.214.238")
    clock.advance(601)  # alone in its window: a mistyped alert is not worth a notice
    for _ in range(4):
        digest.refused(AlertStatus.UNAUTHORIZED, strategy="mnq-market", address="198.51.100.9")
        clock.advance(115)
    assert digest.take() == []  # 4 within 10 min: still nothing

    digest.refused(AlertStatus.INVALID, strategy="mnq-market", address="52.89.214.238")
    [summary] = digest.take()
    assert summary.kind is NoticeKind.DELIVERIES_REFUSED
    assert summary.title == (
        "5 refused webhook deliveries in the last 8 min: 4 bad token, 1 invalid body; from 2 addresses"
    )
    assert "198.51.100.9 ×4" in summary.body and "Strategies: 5 mnq-market." in summary.body

    for _ in range(30):  # the run goes on: no second notice within 10 minutes
        clock.advance(5)
        digest.refused(LOCKED_OUT, strategy=None, address="198.51.100.9")
    assert digest.take() == []

    clock.advance(600)
    digest.locked_out()
    digest.refused(AlertStatus.UNKNOWN_STRATEGY, strategy=None, address="203.0.113.50")
    [later] = digest.take()  # the next window's first refusal: every refusal since the first summary
    assert later.title == (
        "31 refused webhook deliveries in the last 13 min: 30 locked out, 1 bad token; from 2 addresses"
    )
    assert "1 address locked out meanwhile" in later.body
    assert later.key != summary.key  # a new summary, not a duplicate of the first
    for _ in range(5):
        digest.refused(AlertStatus.UNKNOWN_STRATEGY, strategy=None, address="203.0.113.50")
    assert digest.take() == []


async def test_a_fixed_ticker_near_its_roll_is_notified_at_start(tmp_path: Path) -> None:
    (tmp_path / "fixed.toml").write_text(FIXED_TEMPLATE, encoding="utf-8")
    notifier = RecordingNotifier()
    rolls = RollWatch(notifier, today=lambda: date(2026, 3, 19))
    await check_fixed_tickers(FakeGateway(), load_templates(tmp_path).values(), rolls)

    [roll] = notifier.of(NoticeKind.ROLL_APPROACHING)  # FakeGateway resolves every ticker to MNQH6
    assert roll.title == "MNQH6 has its last trading day in 1 trading day; use MNQM6"
    assert "No position is open in it" in roll.body and "change dated tickers in templates" in roll.body
