"""The notices the engine raises about orders, risk and its own life, on the simulator: each fires
once for its condition, with the account, the contract and the numbers, and nothing more comes for
the same condition after another check (the notifier is a recorder: routing and sending are
app/notify's).

Prices as in test_risk_gate.py: the walk is stilled, MNQ ticks 0.25 point at 0.50 USD, a fill
costs 0.37 USD a contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.config import Settings
from app.domain.expiry import contract_words
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.engine.notice_tasks import SUMMARY_EVENT, NoticeClock
from app.ingest.auth import ensure_secrets, load_secrets
from app.strategies import load_templates
from tests.e2e.conftest import Env, make_settings, running, stop_risk_checks
from tests.e2e.test_risk_gate import (
    ANY,
    AUTO_OCO,
    CENTRAL,
    NAME,
    at,
    caught_up,
    contract_id,
    executed,
    exit_all,
    flat,
    lockouts,
    move,
    order,
    refused,
)
from tests.fakes import RecordingNotifier
from tests.helpers import SHIPPED_ALERTS, eventually

BRACKET_ALERT = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()


async def mnq(env: Env) -> str:
    """The front MNQ contract as a trader names it (MNQH6, MNQZ6…: it depends on the date)."""
    return contract_words(await contract_id(env))


def seen(
    notifier: RecordingNotifier, kind: NoticeKind, count: int = 1
) -> Callable[[], Awaitable[list[Notice]]]:
    """For ``eventually``: the notices of ``kind`` once there are ``count`` of them."""

    async def check() -> list[Notice]:
        found = notifier.of(kind)
        assert len(found) >= count, f"{len(found)} {kind} notice(s) so far"
        return found

    return check


@asynccontextmanager
async def bridge(
    root: Path,
    notifier: RecordingNotifier,
    *,
    monitor: bool = True,
    notify: dict[str, Any] | None = None,
    **risk: Any,
) -> AsyncIterator[Env]:
    """A bridge on the simulator with ``[risk]`` = ``risk``, ``[notify]`` = ``notify``, the
    ``any`` template, notices recorded by ``notifier``; ``monitor`` False: the test checks."""
    settings = make_settings(root, risk=risk)
    settings = settings.model_copy(update={"notify": settings.notify.model_copy(update=notify or {})})
    (settings.server.templates_dir / "any.toml").write_text(ANY)
    async with running(settings, root, notifier=notifier) as env:
        env.sim.walk_ticks = 0
        if not monitor:
            await stop_risk_checks(env)
        yield env


def add_position_brackets_strategy(env: Env) -> None:
    """Add the strategy ``pb-bracket``: mnq-bracket's native bracket on SIM-POSITION-BRACKETS,
    an account with Position Brackets on, where the gateway refuses the bracketed entry."""
    templates = env.settings.server.templates_dir
    text = (templates / "mnq-bracket.toml").read_text()
    (templates / "pb-bracket.toml").write_text(
        text.replace('accounts = ["SIM-AUTO-OCO"]', 'accounts = ["SIM-POSITION-BRACKETS"]')
    )
    ensure_secrets(env.settings.server.secrets_file, ["pb-bracket"])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)


async def test_an_order_the_gateway_rejects_is_one_warning_with_the_reason(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier) as env:
        add_position_brackets_strategy(env)

        reply = (await env.send("pb-bracket", BRACKET_ALERT)).json()

        name = await mnq(env)
        [entry] = [o for o in reply["orders"] if o["leg"] == "entry"]
        assert entry["state"] == "REJECTED"
        [rejected] = notifier.of(NoticeKind.ORDER_REJECTED)
        assert rejected.severity == NoticeLevel.WARNING  # an entry: nothing was opened by it
        assert rejected.title == f"Order rejected on SIM-POSITION-BRACKETS: entry order buy 1 {name} market"
        assert (rejected.account, rejected.strategy, rejected.contract) == (
            "SIM-POSITION-BRACKETS",
            "pb-bracket",
            name,
        )
        assert "enable Auto OCO Brackets on SIM-POSITION-BRACKETS" in rejected.body
        assert "Nothing was opened by this order" in rejected.body
        # The gateway made the entry anyway: it was taken back, and the trader hears so.
        [taken_back] = notifier.of(NoticeKind.UNPROTECTED)
        assert taken_back.severity == NoticeLevel.WARNING
        assert "refused its bracket" in taken_back.body and "the rest was cancelled" in taken_back.body
        await caught_up(env)  # the order sync and the hub's reports: nothing new is raised
        assert len(notifier.of(NoticeKind.ORDER_REJECTED)) == 1
        assert len(notifier.of(NoticeKind.UNPROTECTED)) == 1


async def test_an_alert_the_risk_gate_refuses_is_one_notice_with_the_limit(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier, max_order_size=2) as env:
        reason = await refused(env, "any", await order(env, quantity=3))
        name = await mnq(env)

        [notice] = notifier.of(NoticeKind.ALERT_REFUSED)
        assert notice.title == f"Alert refused by the risk gate on {NAME}: buy 3 {name}"
        assert (notice.account, notice.strategy, notice.contract) == (NAME, "any", name)
        assert "order size 3 contracts is above max_order_size 2" in notice.body
        assert reason.endswith(notice.data["reason"])
        assert "nothing was sent" in notice.body
        # The same refusal again has the same key: one condition for the notifier's dedupe.
        await refused(env, "any", await order(env, quantity=3))
        first, second = notifier.of(NoticeKind.ALERT_REFUSED)
        assert first.dedupe_key == second.dedupe_key
        assert notifier.of(NoticeKind.ORDER_REJECTED) == []


async def test_a_lockout_is_one_critical_notice_and_its_lift_by_unlock_one_more(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier, monitor=False, daily_loss_limit=200) as env:
        monitor = env.runtime.bridge.risk_monitor
        await monitor.check()  # the lockouts as they are at start: none
        await executed(env, "any", await order(env, quantity=2))  # long 2 at 21500.00
        await move(env, "21440.00")  # -60 points × 2 × 2.00 USD = -240.00 USD open

        await monitor.check()

        [lock] = await lockouts(env)
        [notice] = notifier.of(NoticeKind.LOCKOUT)
        assert notice.severity == NoticeLevel.CRITICAL and notice.account == NAME
        assert notice.title.startswith(f"Account {NAME} locked until ")
        assert lock.reason in notice.body  # "daily loss -241.48 USD reached the limit -200.00 USD"
        assert "-200.00 USD" in notice.body and f"`tvbridge unlock {NAME}`" in notice.body
        assert "positions closed (flatten_on_lockout)" in notice.body
        await eventually(lambda: flat(env))
        await monitor.check()  # locked already: nothing new
        assert len(notifier.of(NoticeKind.LOCKOUT)) == 1
        assert notifier.of(NoticeKind.UNLOCK) == []

        # `tvbridge unlock` runs in another process: it writes the journal; the serve process
        # notices the lift at its next check.
        env.journal.unlock_account(AUTO_OCO, by="cli")
        await monitor.check()

        [unlocked] = notifier.of(NoticeKind.UNLOCK)
        assert unlocked.title == f"Account {NAME} unlocked: entries run again"
        assert "lifted early (`tvbridge unlock`)" in unlocked.body and lock.reason in unlocked.body
        await monitor.check()
        assert len(notifier.of(NoticeKind.UNLOCK)) == 1


async def test_the_session_close_flatten_is_one_notice_with_what_was_closed(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    close_utc = datetime(2026, 3, 2, 21, 10, tzinfo=UTC)  # 15:10 Central (CST)
    async with bridge(tmp_path, notifier, monitor=False, close_at_session_end=True) as env:
        monitor = env.runtime.bridge.risk_monitor
        at(close_utc - timedelta(seconds=1), env)
        await executed(env, "any", await order(env))
        await executed(env, "any", await order(env, type="limit", limit="21000.00"))
        await monitor.check()
        assert notifier.of(NoticeKind.SESSION_FLATTEN) == []  # not yet

        at(close_utc, env)
        await monitor.check()

        [notice] = notifier.of(NoticeKind.SESSION_FLATTEN)
        assert notice.title == f"Session close on {NAME}: flat"
        assert notice.body.startswith(f"Session close at 2026-03-02 15:10 Central: {NAME}: ")
        assert f"cancelled 1 working order(s) and closed {await mnq(env)}." in notice.body
        assert await flat(env)
        await monitor.check()
        assert len(notifier.of(NoticeKind.SESSION_FLATTEN)) == 1


async def test_started_then_stopped_with_a_position_open_is_critical(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier) as env:
        [started] = await eventually(seen(notifier, NoticeKind.BRIDGE_STARTED))
        assert started.severity == NoticeLevel.INFO
        assert "Followed accounts: SIM-AUTO-OCO" in started.body and "taking alerts" in started.body
        await executed(env, "mnq-market", await order(env))  # long 1 at 21500.00
        name, price = await mnq(env), env.sim.price(await contract_id(env))

    [stopped] = notifier.of(NoticeKind.BRIDGE_STOPPED)
    assert stopped.severity == NoticeLevel.CRITICAL
    assert stopped.title == "tvbridge stopped: 1 position(s), 0 working order(s) left open"
    assert f"{NAME}: position long 1 {name} @ {price:.2f}." in stopped.body
    assert "unwatched" in stopped.body
    assert len(notifier.of(NoticeKind.BRIDGE_STARTED)) == 1


async def test_stopping_flat_is_an_info_notice(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier):
        pass
    [stopped] = notifier.of(NoticeKind.BRIDGE_STOPPED)
    assert stopped.severity == NoticeLevel.INFO and stopped.title == "tvbridge stopped: nothing open"


async def test_fills_are_notified_only_when_asked(tmp_path: Path) -> None:
    quiet, loud = RecordingNotifier(), RecordingNotifier()
    async with bridge(tmp_path / "quiet", quiet) as env:
        await executed(env, "any", await order(env, quantity=2))
    assert quiet.of(NoticeKind.FILL) == []

    async with bridge(tmp_path / "loud", loud, notify={"fills": True}) as env:
        await executed(env, "any", await order(env, quantity=2))
        [fill] = await eventually(seen(loud, NoticeKind.FILL))
        price = env.sim.price(await contract_id(env))
        assert fill.title == f"Fill on {NAME}: buy 2 {await mnq(env)} @ {price:.2f}"
        await executed(env, "any", await order(env, "sell", 2))
        await eventually(seen(loud, NoticeKind.FILL, 2))
        await caught_up(env)
        await env.runtime.bridge.reconciler.settle_all_pending()  # a REST pass: fills not new
    first, second = loud.of(NoticeKind.FILL)
    assert "P&L" in second.body and "P&L" not in first.body  # the closing fill carries it
    assert len(loud.of(NoticeKind.FILL)) == 2


async def test_the_heartbeat_runs_every_few_minutes_and_stops_with_the_bridge(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier, notify={"heartbeat_min": 0.005}):  # every 0.3 s
        [beat, *_] = await eventually(seen(notifier, NoticeKind.HEARTBEAT, 2))
        assert beat.title == "tvbridge running: 0 open position(s)"
        assert f"Followed accounts: {NAME}" in beat.body and "realised today +0.00 USD" in beat.body
    stopped = len(notifier.of(NoticeKind.HEARTBEAT))
    async with bridge(tmp_path / "other", RecordingNotifier()):
        pass  # time passes (a whole start and stop): the first bridge beats no more
    assert len(notifier.of(NoticeKind.HEARTBEAT)) == stopped


async def test_the_daily_summary_is_sent_once_per_trading_day_even_across_a_restart(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier) as env:
        await executed(env, "mnq-market", await order(env, quantity=2))  # long 2 at 21500.00
        await move(env, "21510.00")
        await executed(env, "mnq-exit", exit_all())  # +40.00 USD, fees 4 × 0.37 USD
        await executed(env, "any", await order(env))  # long 1 at 21510.00, still open
        bridge_ = env.runtime.bridge
        now = datetime.now(UTC)
        close_at = CENTRAL.session_close_at(now, env.settings.risk.session_close)
        # The same trading day as the fills: the close is before the next day's start at 17:00.
        after_close = max(now, close_at + timedelta(seconds=1))
        settings: Settings = env.settings

        def clock_at(when: datetime) -> NoticeClock:
            return NoticeClock(
                settings, bridge_.runner, notifier, bridge_.followed_accounts, clock=lambda: when
            )

        before = clock_at(close_at - timedelta(minutes=1))
        assert await before.summary_due() == 60.0  # a minute to go: nothing sent
        assert notifier.of(NoticeKind.DAILY_SUMMARY) == []

        clock = clock_at(after_close)
        await clock.summary_due()
        await clock.summary_due()
        await clock_at(after_close + timedelta(minutes=5)).summary_due()  # "after a restart"

        [summary] = notifier.of(NoticeKind.DAILY_SUMMARY)
        day = CENTRAL.trading_day(after_close)
        assert summary.title == f"Day {day.isoformat()}: +38.15 USD on 1 account(s)"
        assert f"{NAME}: +38.15 USD realised, 1 trade(s)" in summary.body
        # A close (Position/closeContract) has no broker order of ours, but its fill is linked
        # to the CLOSE row the exit alert wrote just before it (issue 16): mnq-exit's, not "other".
        assert "(any -0.37, mnq-exit +39.26, mnq-market -0.74)" in summary.body
        assert "1 contract(s) still open" in summary.body
        [event] = [e for e in env.journal.events() if e.kind == SUMMARY_EVENT]
        assert event.data == {"day": day.isoformat()}


async def test_a_losing_day_names_its_worst_trade_and_its_strategy(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    async with bridge(tmp_path, notifier) as env:
        await executed(env, "any", await order(env, quantity=1))  # long 1 at 21500.00
        await move(env, "21490.00")
        await executed(env, "any", await order(env, "sell", 1))  # -20.00 USD, fees 2 × 0.37 USD
        bridge_ = env.runtime.bridge
        clock = NoticeClock(env.settings, bridge_.runner, notifier, bridge_.followed_accounts)
        [account] = await bridge_.followed_accounts()

        row = await clock._account_day(account, CENTRAL.trading_day(datetime.now(UTC)))

    assert (row.account, row.pnl, row.trades, row.worst) == (NAME, Decimal("-20.74"), 1, Decimal("-20.37"))
    assert row.by_strategy == {"any": Decimal("-20.74")} and row.open_contracts == 0
