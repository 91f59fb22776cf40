"""The bridge: one object that receives webhook deliveries and runs them to the gateway.

It answers within TradingView's 3 s: DONE with the orders when they settle within
``settle_timeout_s`` (2 s after the delivery came in), else WORKING with the alert id while the
work goes on. The answer is NOTHING_DONE (which the web layer answers with a 5xx, and TradingView
re-sends on a 5xx, tradingview.md §1) only when the journal failed and nothing was sent: the
alert could not be journaled, or its first order row could not (every send is written ahead, so
no order row means no order); once anything was sent, never. The HTTP status of each Answer is
chosen in one place: app/web/webhook.py.

The Bridge orchestrates; its parts do the work: the alerts run and resumed (alert_tasks.py), the
followed accounts (followed.py), the hub's events, the order sync and the periodic reconcile
(upkeep.py), the recovery after a restart (recovery.py), pause and flatten (kill_switch.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app import redact
from app.config import Settings
from app.domain.enums import AlertStatus, OrderState
from app.domain.events import Fill, GatewayEvent
from app.domain.models import Account
from app.engine import notices
from app.engine.account_guard import AccountGuard
from app.engine.accounts import AccountDirectory
from app.engine.alert_tasks import UNSETTLED_GRACE, AlertTasks
from app.engine.events import EventApplier
from app.engine.execute import Executor, Settlement
from app.engine.flatten import Flattener, FlattenPlan, FlattenReport
from app.engine.follow import Follower, HubView
from app.engine.followed import FollowedAccounts
from app.engine.intake import Delivery, Intake, Refusal
from app.engine.kill_switch import KillSwitch
from app.engine.live_risk import LiveRisk
from app.engine.live_stops import LiveStops
from app.engine.notice_tasks import NoticeClock
from app.engine.outcomes import Answer
from app.engine.ports import Gateway, Notifier, NullNotifier
from app.engine.protection import Protection
from app.engine.reconcile import Reconciler
from app.engine.recovery import Recovery
from app.engine.risk_gate import RiskGate
from app.engine.risk_monitor import RiskMonitor
from app.engine.roll_watch import RollWatch, check_fixed_tickers
from app.engine.runner import JournalRunner
from app.engine.shutdown import SHUTDOWN_EVENT, Held, wind_down
from app.engine.stray_legs import StraySweeper
from app.engine.sync import OrderSync
from app.engine.upkeep import EVENT_BATCH_S, RECONCILE_INTERVAL_S, SYNC_DELAY_S, Upkeep
from app.errors import JournalError
from app.ingest.auth import url_token
from app.ingest.sender import RefusalLimiter
from app.strategies import StrategyTemplate

if TYPE_CHECKING:
    from app.domain.records import PauseState
    from app.journal import EventRecord, Journal, OrderRecord

__all__ = [
    "EVENT_BATCH_S",
    "RECONCILE_INTERVAL_S",
    "SYNC_DELAY_S",
    "UNSETTLED_GRACE",
    "Bridge",
    "Reply",
    "answer_of",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """The webhook's answer: how the delivery ended (app/web/webhook.py maps it to HTTP) and
    the JSON body."""

    answer: Answer
    body: dict[str, Any]


def answer_of(settlement: Settlement) -> Answer:
    """How a settled alert ends its delivery: INVALID when its body, ticker or template could not
    make orders, NOTHING_DONE when the journal failed before anything was sent, else DONE."""
    if settlement.nothing_done:
        return Answer.NOTHING_DONE
    return Answer.INVALID if settlement.status == AlertStatus.INVALID else Answer.DONE


class Bridge:
    """Receive deliveries, execute them, keep the journal in line with the gateway."""

    def __init__(
        self,
        settings: Settings,
        gateway: Gateway,
        journal: Journal,
        templates: Mapping[str, StrategyTemplate],
        secrets: Mapping[str, str],
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        # Where notices for the trader go (app/notify/ when [notify] urls are set).
        self.notifier: Notifier = notifier if notifier is not None else NullNotifier()
        # Contracts near their roll, notified once a day (the watchdog checks the held ones).
        self.rolls = RollWatch(self.notifier)
        self.gateway = gateway
        self.templates = dict(templates)
        self._secrets: dict[str, str] = {}
        self.secrets = dict(secrets)
        redact.remember([settings.gateway.api_key.get_secret_value()], scope="gateway")
        self.runner = JournalRunner(journal)
        self.accounts = AccountDirectory(gateway)
        # One applier for the hub's events, reconciliation and the after-burst sync, so what one
        # of them applied, the others see (newest state per order, each fill once).
        # The FILL notice is not even built unless [notify] fills asks for it (the hub path).
        on_fill = self._fill_notice if settings.notify.fills else None
        self.events = EventApplier(self.runner, on_fill=on_fill)
        self.reconciler = Reconciler(
            gateway,
            self.runner,
            attempts=settings.engine.reconcile_attempts,
            delay_s=settings.engine.reconcile_delay_s,
            applier=self.events,
        )
        self.sync = OrderSync(gateway, self.runner, self.events)
        # Bracket legs left working where an account went flat (closeContract leaves them, §13.1).
        self.sweeper = StraySweeper(gateway, self.runner, self.accounts, self.reconciler, spawn=self._spawn)
        self.events.on_position = self.sweeper.on_position
        # OCO pairs and managed brackets; its background checks run in self._tasks (stopped with us).
        self.protection = Protection(
            gateway,
            self.runner,
            self.accounts,
            self.reconciler,
            self.events,
            verify_s=settings.engine.verify_s,
            spawn=self._spawn,
            notifier=self.notifier,
        )
        # The accounts the templates trade on (those the followers, the monitor and flatten act on).
        self.following = FollowedAccounts(lambda: self.templates, self.accounts, self.runner)
        self.flattener = Flattener(
            gateway, self.runner, self.accounts, reconciler=self.reconciler, notifier=self.notifier
        )
        # The risk gate checks every entry; the monitor locks accounts and closes the session.
        self.gate = RiskGate(settings.risk, self.runner)
        self.risk_monitor = RiskMonitor(
            self.gate,
            self.followed_accounts,
            self.flatten_accounts,
            last_price=self._last_price,
            notifier=self.notifier,
        )
        # Whatever appears on a locked account, positions without a stop loss, canTrade.
        self.guard = AccountGuard(
            self.gate, gateway, self.accounts, self.flatten_accounts, self.notifier, spawn=self._spawn
        )
        self.risk_monitor.guard = self.guard.check
        # The accounts a quote (serve's Market Hub, when on) or a fill concerns, checked at once.
        self.live_risk = LiveRisk(self.risk_monitor)
        # Managed stop losses moved from the same quotes (break-even after X ticks, trail).
        self.live_stops = LiveStops(self.protection, self.gate.live_prices)
        self.live_risk.quote_listeners.append(self.live_stops.on_quote)
        # The hub's events, the order sync after alerts, the periodic reconcile pass.
        self.upkeep = Upkeep(
            gateway,
            self.events,
            self.protection,
            self.risk_monitor,
            self.sync,
            self.reconciler,
            resume_unsettled=lambda: self.alerts.resume_unsettled(),
            spawn=self._spawn,
            guard=self.guard.on_events,
            journaled=self.live_risk.on_events,
        )
        # The catch-up after every hub (re)connect, and REST polling while the hub is away.
        self.follower = Follower(
            self.reconciler,
            self.runner,
            self.followed_account_ids,
            self.upkeep.after_events,
            rate_limit_per_minute=settings.gateway.rate_limit_per_minute,
            silence_timeout_s=settings.gateway.hub_silence_timeout_s,
        )
        # Pause, resume, flatten: the pause as the journal holds it, one flatten at a time.
        self.kill_switch = KillSwitch(self.runner, self.flattener, self.followed_account_ids)
        self.intake = Intake(
            self.runner,
            lambda: self.templates,
            lambda: self.secrets,
            max_body_bytes=settings.server.max_body_bytes,
            paused=lambda: self.kill_switch.paused,
            tradingview_only=settings.server.tradingview_only,
            limiter=RefusalLimiter(settings.server.auth_failures_per_minute, settings.server.auth_lockout_s),
        )
        self._tasks: set[asyncio.Task[object]] = set()
        # Unfinished orders of a previous run, settled per account after the listener opens.
        self.recovery = Recovery(self.reconciler, self.runner, lambda: self.protection.resume())
        # The alerts executed or resumed in this process, each a task behind its strategy's lock.
        self.alerts = AlertTasks(
            self.runner,
            self.recovery,
            lambda: self.templates,
            lambda: self.kill_switch.paused,
            self.upkeep.sync_soon,
        )
        self._reconcile_loop: asyncio.Task[None] | None = None
        self.last_shutdown: EventRecord | None = None  # the previous run's "bridge.shutdown" event

    async def start(self) -> None:
        """Log in and start; what a previous run left unfinished is recovered in the background.

        Returns once logged in, so the listener opens at once: the order rows left SUBMITTING
        or UNKNOWN are settled by tag account by account meanwhile (app/engine/recovery.py; a
        new alert waits only for its own accounts), then OCO pairs and managed brackets resume,
        and every alert left unsettled (RECEIVED, UNKNOWN) is resumed in arrival order behind
        its strategy's lock (so an alert arriving now runs after them). Raises
        GatewayAuthError when the credentials are refused, JournalError.
        """
        paused = await self.kill_switch.load()
        self.last_shutdown = await self.runner.run(self.runner.journal.latest_event, SHUTDOWN_EVENT)
        if paused is not None:
            log.warning(
                "paused since %s by %s: alerts are journaled, not executed; `tvbridge resume` resumes",
                paused.since.isoformat(timespec="seconds"),
                paused.by,
            )
        await self.gateway.start()
        instance = await self.runner.run(lambda: self.runner.journal.instance)
        self.alerts.executor = Executor(
            self.gateway,
            self.runner,
            self.accounts,
            self.reconciler,
            instance=instance,
            gate=self.gate,
            ready=self.recovery.ready,
            notifier=self.notifier,
            group_locks=self.protection.ctx.locks,
        )
        await self.follower.load()  # where the first catch-up starts (the hub's last good moment)
        journal = self.runner.journal
        rows = await self.runner.run(journal.orders_in_states, [OrderState.SUBMITTING, OrderState.UNKNOWN])
        unsettled = await self.runner.run(journal.unsettled_alerts)
        # The accounts of an alert a crash left unsettled recover too (their protection resumed
        # before the alert's run resumes): an exit that died between cancelling a position's legs
        # and closing it finds the stop loss protection restored, never races it.
        earlier = [a.id for a in unsettled if a.id is not None]
        held = await self.runner.run(journal.orders_of_alerts, earlier) if earlier else []
        by_account = self.recovery.plan(rows, also={r.account_id for r in held})
        if rows or unsettled:
            log.warning(
                "recovering after a restart: %d order(s) left SUBMITTING or UNKNOWN on %d account(s), "
                "%d alert(s) not settled; alerts on other accounts run at once",
                len(rows),
                len(by_account),
                len(unsettled),
            )
        # Created before the listener opens: each takes its strategy's lock ahead of new alerts.
        for record in unsettled:
            assert record.id is not None  # a journaled row
            self.alerts.track(record.id, self.alerts.resume(record))
        self._spawn(self._recover(by_account))
        self._spawn(
            check_fixed_tickers(self.gateway, list(self.templates.values()), RollWatch(self.notifier))
        )
        self._reconcile_loop = asyncio.create_task(self.upkeep.reconcile_forever())
        self.risk_monitor.start()
        self.live_risk.start()
        self.live_stops.start()
        self._spawn(self.upkeep.apply_events_forever())
        self._start_notices()

    def _start_notices(self) -> None:
        """BRIDGE_STARTED, and the notices on a clock ([notify] daily_summary, heartbeat_min),
        run as background tasks that stop with the bridge."""
        notify = self.settings.notify
        clock = NoticeClock(self.settings, self.runner, self.notifier, self.followed_accounts)
        if notify.daily_summary:
            self._spawn(clock.daily_summary_forever())
        if notify.heartbeat_min > 0:
            self._spawn(clock.heartbeat_forever())
        self._spawn(self._started_notice())

    async def _started_notice(self) -> None:
        """BRIDGE_STARTED with the followed accounts (read in the background: the listener
        opens at once)."""
        try:
            accounts = [a.name for a in await self.followed_accounts()]
        except Exception:  # noqa: BLE001 — the notice goes out without the names
            log.warning("the started notice lists no account: the accounts could not be read")
            accounts = []
        notice = notices.bridge_started(
            accounts=accounts,
            strategies=sorted(self.templates),
            gateway=f"{self.settings.gateway.firm_name} ({self.settings.gateway.kind})",
            paused=self.kill_switch.paused is not None,
        )
        notices.send(self.notifier, notice)

    def _fill_notice(self, fill: Fill) -> None:
        """FILL for a fill journaled for the first time (only with [notify] fills = true)."""
        notices.send(self.notifier, notices.fill(self.accounts.name_of(fill.account_id), fill))

    @property
    def _executor(self) -> Executor | None:
        """The executor of alerts, made once logged in (None before start)."""
        return self.alerts.executor

    async def _recover(self, by_account: dict[int, list[OrderRecord]]) -> None:
        """Settle the previous run's unfinished orders per account (then protection resumes),
        then journal the balances. Never raises."""
        await self.recovery.run(by_account)
        await self.following.record_balances()

    def follow_hub(self, hub: Callable[[], HubView]) -> None:
        """Follow the User Hub's state (``hub()`` returns its HubState): poll the followed accounts
        over REST while it is away (app/engine/follow.py)."""
        self.follower.watch(hub)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Let alerts in flight finish (up to ``grace_s``), then close the gateway and journal."""
        await self.follower.stop()
        await self.risk_monitor.stop()
        await self.live_risk.stop()
        await self.live_stops.stop()
        if self._reconcile_loop:
            self._reconcile_loop.cancel()
        await self.finish_alerts(grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gateway.close()
        self.runner.shutdown()

    async def finish_alerts(self, grace_s: float) -> None:
        """Wait (up to ``grace_s``) for the alerts being executed to settle."""
        await self.alerts.finish(grace_s)

    @property
    def secrets(self) -> dict[str, str]:
        """Strategy → webhook secret, as the secrets file holds them."""
        return self._secrets

    @secrets.setter
    def secrets(self, secrets: Mapping[str, str]) -> None:
        """Use these secrets; each, and its URL token, is scrubbed from every text from now on."""
        self._secrets = dict(secrets)
        tokens = [url_token(name, secret) for name, secret in self._secrets.items()]
        redact.remember([*self._secrets.values(), *tokens], scope="webhook")

    # -- shutdown ------------------------------------------------------------------------------

    async def wind_down(self, *, grace_s: float = 10.0) -> list[Held]:
        """Before the hub, the gateway and the journal close: let alerts in flight finish (up to
        ``grace_s``), then report (and with engine.on_shutdown = "flatten", close) what the
        followed accounts still hold: app/engine/shutdown.py. Never raises."""
        return await wind_down(self, grace_s=grace_s)

    async def handle(self, delivery: Delivery) -> Reply:
        """Run one webhook delivery; never raises. The reply holds no secret or URL token
        (a refusal's reason may quote the body that carried one)."""
        reply = await self._handle(delivery)
        # A run of refusals is summed up for the trader (app/engine/refusal_digest.py).
        for notice in self.intake.refusals.take():
            self.notifier.notify(notice)
        return Reply(reply.answer, redact.scrub_data(reply.body))

    async def _handle(self, delivery: Delivery) -> Reply:
        started = asyncio.get_running_loop().time()
        try:
            received = await self.intake.receive(delivery)
        except JournalError as exc:
            log.error("journal failed, alert refused (nothing was done): %s", exc)
            return Reply(
                Answer.NOTHING_DONE,
                {"status": "error", "error": f"journal unavailable, nothing was done: {exc}"},
            )
        if isinstance(received, Refusal):
            if received.duplicate_of is not None:
                return await self._duplicate(received, received.duplicate_of)
            return Reply(received.answer, received.body)
        alert, template = received
        assert alert.alert_id is not None
        task = self.alerts.track(alert.alert_id, self.alerts.execute(alert, template))
        # The answer is due settle_timeout_s after the delivery came in, however long the
        # journal took to take the alert (up to runner.LOCK_WAIT_S when another program locks it).
        left = self.settings.server.settle_timeout_s - (asyncio.get_running_loop().time() - started)
        done, _ = await asyncio.wait({task}, timeout=max(left, 0.0))
        if task in done:
            settlement = task.result()
            return Reply(answer_of(settlement), settlement.body())
        return Reply(
            Answer.WORKING,
            {
                "alert_id": alert.alert_id,
                "status": str(AlertStatus.RECEIVED),
                "reason": "still working on it; `tvbridge journal` shows the outcome",
                "orders": [],
            },
        )

    async def _duplicate(self, refusal: Refusal, original_id: int) -> Reply:
        """A copy of an alert that did (or may have) sent orders: nothing is executed; the answer
        carries the original's status, waiting (up to settle_timeout_s) while it still runs."""
        body = dict(refusal.body)
        status = await self.alerts.status_of(original_id, wait_s=self.settings.server.settle_timeout_s)
        body["original_status"] = status
        if status in (str(AlertStatus.RECEIVED), str(AlertStatus.UNKNOWN)):
            body["reason"] = f"{body['reason']}; alert {original_id} is still being executed"
        return Reply(refusal.answer, body)

    # -- kill switch (app/engine/kill_switch.py) -------------------------------------------------

    @property
    def paused(self) -> PauseState | None:
        """Since when (UTC) and by whom alerts are held, or None while they are executed."""
        return self.kill_switch.paused

    async def pause(self, by: str) -> PauseState:
        """Hold every new alert (journaled PAUSED, never executed); idempotent. Raises JournalError."""
        return await self.kill_switch.pause(by)

    async def resume(self, by: str) -> None:
        """Execute new alerts again (not those received while paused). Raises JournalError."""
        await self.kill_switch.resume(by)

    async def flatten_plan(self) -> FlattenPlan:
        """What flatten would cancel and close on the followed accounts (reads only)."""
        return await self.kill_switch.flatten_plan()

    async def flatten(self, *, by: str, pause: bool = True) -> FlattenReport:
        """Pause (unless ``pause`` is False), then cancel every working order and close every
        position on the followed accounts; gateway errors are in the report. Raises JournalError."""
        return await self.kill_switch.flatten(by=by, pause=pause)

    async def flatten_accounts(self, account_ids: list[int], by: str) -> FlattenReport | None:
        """Flatten these accounts without pausing (a lockout, the session close); None when they
        hold nothing."""
        return await self.kill_switch.flatten_accounts(account_ids, by)

    # -- the hub and the followed accounts -------------------------------------------------------

    async def on_gateway_event(self, event: GatewayEvent) -> None:
        """A User Hub event, queued for the journal; after a GatewayLogout, log in again
        (app/engine/upkeep.py). Never raises."""
        await self.upkeep.on_gateway_event(event)

    async def on_hub_connected(self, previous_good_at: datetime | None = None) -> None:
        """After every (re)connect: nothing is replayed (projectx-api.md §7.3), so catch the journal
        up over REST for each followed account from the moment the hub was last known good
        (``previous_good_at``, UTC; None on the first connection: the journal's follow mark), see
        app/engine/follow.py; then let OCO pairs and managed brackets act on what happened while
        the hub was away (a leg that filled meanwhile). Never raises."""
        await self.follower.on_hub_connected(previous_good_at)
        await self.protection.resume()

    async def followed_account_ids(self) -> list[int]:
        """The ids of the accounts the templates trade on (those that exist on the gateway); when
        the gateway cannot list the accounts, those followed before are still followed."""
        return await self.following.ids()

    async def followed_accounts(self) -> list[Account]:
        """The followed accounts, resolved (the directory's cache: no request most of the time)."""
        return await self.following.accounts()

    @property
    def followed(self) -> frozenset[int]:
        """The followed account ids as last resolved (asks nothing of the gateway)."""
        return self.following.known

    async def _last_price(self, contract_id: str) -> Decimal | None:
        """The gateway's latest traded price of a contract (points), for the risk monitor; None
        when the gateway has no recent bar (History/retrieveBars)."""
        return await self.gateway.last_price(contract_id)

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
