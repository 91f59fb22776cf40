"""The bridge: one object that receives webhook deliveries and runs them to the gateway.

It answers within TradingView's 3 s: DONE with the orders when they settle within
``settle_timeout_s`` (2 s after the delivery came in), else WORKING with the alert id while the
work goes on. The answer is NOTHING_DONE (which the web layer answers with a 5xx, and TradingView
re-sends on a 5xx, tradingview.md §1) only when the journal failed and nothing was sent: the
alert could not be journaled, or its first order row could not (every send is written ahead, so
no order row means no order); once anything was sent, never. The HTTP status of each Answer is
chosen in one place: app/web/webhook.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app import redact
from app.config import Settings
from app.domain.enums import AlertStatus, OrderState
from app.domain.events import GatewayEvent, LogoutEvent
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Account, Alert
from app.engine.accounts import AccountDirectory
from app.engine.events import EventApplier
from app.engine.execute import Executor, Settlement
from app.engine.flatten import Flattener, FlattenPlan, FlattenReport
from app.engine.follow import Follower, HubView
from app.engine.intake import Delivery, Intake, Refusal, restore
from app.engine.outcomes import Answer
from app.engine.ports import Gateway
from app.engine.protection import Protection
from app.engine.reconcile import Reconciler
from app.engine.recovery import Recovery
from app.engine.risk_gate import RiskGate, RiskMonitor
from app.engine.runner import JournalRunner
from app.engine.shutdown import SHUTDOWN_EVENT, Held, wind_down
from app.engine.sync import OrderSync
from app.errors import AlertInvalidError, GatewayError, JournalError, TemplateError
from app.ingest.auth import url_token
from app.ingest.sender import RefusalLimiter
from app.strategies import StrategyTemplate

if TYPE_CHECKING:
    from app.domain.records import PauseState
    from app.journal import AlertRecord, EventRecord, Journal, OrderRecord

log = logging.getLogger(__name__)

# How long after settling an alert the journal asks the gateway for its orders' states.
SYNC_DELAY_S = 0.3
RECONCILE_INTERVAL_S = 30.0
# The periodic pass resumes an unsettled alert only when it was received at least this long ago
# and nothing in this process runs it (an alert just journaled is about to be run by its webhook).
UNSETTLED_GRACE = timedelta(seconds=30)
# Hub events arriving this soon after the first one of a burst are journaled with it.
EVENT_BATCH_S = 0.005


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
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.templates = dict(templates)
        self._secrets: dict[str, str] = {}
        self.secrets = dict(secrets)
        redact.remember([settings.gateway.api_key.get_secret_value()], scope="gateway")
        self.runner = JournalRunner(journal)
        self.accounts = AccountDirectory(gateway)
        # One applier for the hub's events, reconciliation and the after-burst sync, so what one
        # of them applied, the others see (newest state per order, each fill once).
        self.events = EventApplier(self.runner)
        self.reconciler = Reconciler(
            gateway,
            self.runner,
            attempts=settings.engine.reconcile_attempts,
            delay_s=settings.engine.reconcile_delay_s,
            applier=self.events,
        )
        self.sync = OrderSync(gateway, self.runner, self.events)
        # OCO pairs and managed brackets; its background checks run in self._tasks (stopped with us).
        self.protection = Protection(
            gateway,
            self.runner,
            self.accounts,
            self.reconciler,
            self.events,
            verify_s=settings.engine.verify_s,
            spawn=self._spawn,
        )
        # The catch-up after every hub (re)connect, and REST polling while the hub is away.
        self.follower = Follower(
            self.reconciler,
            self.runner,
            self.followed_account_ids,
            self._after_events,
            rate_limit_per_minute=settings.gateway.rate_limit_per_minute,
            silence_timeout_s=settings.gateway.hub_silence_timeout_s,
        )
        self.flattener = Flattener(gateway, self.runner, self.accounts, reconciler=self.reconciler)
        # The risk gate checks every entry; the monitor locks accounts and closes the session.
        self.gate = RiskGate(settings.risk, self.runner)
        self.risk_monitor = RiskMonitor(
            self.gate,
            self.followed_accounts,
            self.flatten_accounts,
            last_price=self._last_price,
        )
        self._paused: PauseState | None = None  # the kill switch, as the journal held it at start
        self._flattening = asyncio.Lock()  # a second click waits, then finds nothing left to do
        self.intake = Intake(
            self.runner,
            lambda: self.templates,
            lambda: self.secrets,
            max_body_bytes=settings.server.max_body_bytes,
            paused=lambda: self._paused,
            tradingview_only=settings.server.tradingview_only,
            limiter=RefusalLimiter(settings.server.auth_failures_per_minute, settings.server.auth_lockout_s),
        )
        self._executor: Executor | None = None
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[object]] = set()
        self._executions: set[asyncio.Task[Settlement]] = set()
        # The alerts being executed or resumed in this process, by id: a re-send of one of them
        # is answered with its outcome, and the periodic pass leaves them alone.
        self._running: dict[int, asyncio.Task[Settlement]] = {}
        # Unfinished orders of a previous run, settled per account after the listener opens.
        self.recovery = Recovery(self.reconciler, self.runner, lambda: self.protection.resume())
        self._reconcile_loop: asyncio.Task[None] | None = None
        self._to_sync: set[int] = set()
        self._events: asyncio.Queue[GatewayEvent] = asyncio.Queue()
        self._followed: set[int] = set()  # as last resolved, for when the gateway cannot say
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
        self._paused = await self.runner.run(self.runner.journal.pause_state)
        self.last_shutdown = await self.runner.run(self.runner.journal.latest_event, SHUTDOWN_EVENT)
        if self._paused is not None:
            log.warning(
                "paused since %s by %s: alerts are journaled, not executed; `tvbridge resume` resumes",
                self._paused.since.isoformat(timespec="seconds"),
                self._paused.by,
            )
        await self.gateway.start()
        instance = await self.runner.run(lambda: self.runner.journal.instance)
        self._executor = Executor(
            self.gateway,
            self.runner,
            self.accounts,
            self.reconciler,
            instance=instance,
            gate=self.gate,
            ready=self.recovery.ready,
        )
        await self.follower.load()  # where the first catch-up starts (the hub's last good moment)
        journal = self.runner.journal
        rows = await self.runner.run(journal.orders_in_states, [OrderState.SUBMITTING, OrderState.UNKNOWN])
        unsettled = await self.runner.run(journal.unsettled_alerts)
        by_account = self.recovery.plan(rows)
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
            self._track(record.id, self._resume(record))
        self._spawn(self._recover(by_account))
        self._reconcile_loop = asyncio.create_task(self._reconcile_forever())
        self.risk_monitor.start()
        self._spawn(self._apply_events_forever())

    def follow_hub(self, hub: Callable[[], HubView]) -> None:
        """Follow the User Hub's state (``hub()`` returns its HubState): poll the followed accounts
        over REST while it is away (app/engine/follow.py)."""
        self.follower.watch(hub)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Let alerts in flight finish (up to ``grace_s``), then close the gateway and journal."""
        await self.follower.stop()
        await self.risk_monitor.stop()
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
        if self._executions:
            await asyncio.wait(self._executions, timeout=grace_s)

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
        task = self._track(alert.alert_id, self._execute(alert, template))
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

    def _track(self, alert_id: int, coro: Coroutine[object, object, Settlement]) -> asyncio.Task[Settlement]:
        """Run one alert's execution (or resumption) as a task known by its alert id."""
        task: asyncio.Task[Settlement] = asyncio.create_task(coro)
        self._executions.add(task)
        self._running[alert_id] = task
        task.add_done_callback(self._executions.discard)
        task.add_done_callback(lambda _: self._running.pop(alert_id, None))
        return task

    async def _duplicate(self, refusal: Refusal, original_id: int) -> Reply:
        """A copy of an alert that did (or may have) sent orders: nothing is executed; the answer
        carries the original's status, waiting (up to settle_timeout_s) while it still runs."""
        body = dict(refusal.body)
        task = self._running.get(original_id)
        status: str | None = None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self.settings.server.settle_timeout_s)
            finished = task in done and not task.cancelled() and task.exception() is None
            status = str(task.result().status) if finished else str(AlertStatus.RECEIVED)
        else:
            try:
                original = await self.runner.run(self.runner.journal.get_alert, original_id)
            except JournalError:
                original = None
            status = str(original.status) if original is not None else None
        body["original_status"] = status
        if status in (str(AlertStatus.RECEIVED), str(AlertStatus.UNKNOWN)):
            body["reason"] = f"{body['reason']}; alert {original_id} is still being executed"
        return Reply(refusal.answer, body)

    # -- recovery after a restart ---------------------------------------------------------------

    async def _recover(self, by_account: dict[int, list[OrderRecord]]) -> None:
        """Settle the previous run's unfinished orders per account (then protection resumes),
        then journal the balances. Never raises."""
        await self.recovery.run(by_account)
        await self._record_balances()

    async def _resume(self, record: AlertRecord) -> Settlement:
        """Bring one alert a previous run left unsettled to a final status; never raises.

        RECEIVED: executed again behind its strategy's lock once its accounts are recovered
        (Executor.execute, ``resumed``: nothing sent twice). UNKNOWN: its run had ended; its
        status is worked out again from its rows once they are settled."""
        assert record.id is not None
        if record.status == AlertStatus.UNKNOWN:
            return await self.recovery.settle_from_rows(record)
        try:
            async with self._locks[record.strategy]:
                return await self._resume_received(record)
        except Exception as exc:  # noqa: BLE001 — keep the others going; the alert says why
            log.exception("resuming alert %s failed", record.id)
            reason = f"resuming after a restart failed ({type(exc).__name__}: {exc})"
            await self._journal_failure(record.id, reason)
            return Settlement(record.id, AlertStatus.FAILED, [], reason)

    async def _resume_received(self, record: AlertRecord) -> Settlement:
        assert self._executor is not None
        template = self.templates.get(record.strategy)
        why_not = None
        if template is None:
            why_not = f"its template '{record.strategy}' is no longer loaded"
        elif self._paused is not None:
            why_not = "the bridge is paused"
        if why_not is not None or template is None:
            return await self.recovery.settle_from_rows(record, not_resumed=why_not)
        assert template is not None  # else why_not says so
        try:
            alert = restore(record, template)
        except AlertInvalidError as exc:
            return await self.recovery.settle_from_rows(
                record, not_resumed=f"its body cannot be read again: {exc}"
            )
        message = (
            f"resuming alert {record.id} ({record.strategy}) left {record.status} by a restart: "
            "orders that reached the gateway are found by their tags, never sent twice"
        )
        log.warning(message)
        await self.runner.run(
            self.runner.journal.add_event,
            EventKind.ALERT_RESUMED,
            message,
            level=EventLevel.WARNING,
            alert_id=record.id,
        )
        settlement = await self._executor.execute(alert, template, resumed=True)
        if settlement.orders:
            self._sync_soon(settlement.alert_id)
        return settlement

    async def _resume_unsettled(self) -> None:
        """The periodic pass: alerts unsettled that nothing in this process is working on (an
        alert journaled just now is left to its own run)."""
        now = datetime.now(UTC)
        for record in await self.runner.run(self.runner.journal.unsettled_alerts):
            if record.id is None or record.id in self._running or now - record.received_at < UNSETTLED_GRACE:
                continue
            self._track(record.id, self._resume(record))

    # -- kill switch ---------------------------------------------------------------------------

    @property
    def paused(self) -> PauseState | None:
        """Since when (UTC) and by whom alerts are held, or None while they are executed."""
        return self._paused

    async def pause(self, by: str) -> PauseState:
        """Hold every new alert (journaled PAUSED, never executed); idempotent: a second pause
        keeps the first one's time. The journal first, so a restart stays paused. Raises
        JournalError (then nothing changed)."""
        state = await self.runner.run(self.runner.journal.set_paused, True, by=by)
        assert state is not None
        self._paused = state
        return state

    async def resume(self, by: str) -> None:
        """Execute new alerts again (those received while paused are not). Raises JournalError
        (then the bridge stays paused)."""
        await self.runner.run(self.runner.journal.set_paused, False, by=by)
        self._paused = None

    async def flatten_plan(self) -> FlattenPlan:
        """What flatten would cancel and close on the followed accounts (reads only)."""
        return await self.flattener.plan(await self.followed_account_ids())

    async def flatten(self, *, by: str, pause: bool = True) -> FlattenReport:
        """Pause first (unless ``pause`` is False), so no alert re-opens a position meanwhile,
        then cancel every working order and close every position on the followed accounts.

        Runs at once, not behind the strategies' locks: a stuck alert must not delay it (only
        behind a flatten already running). Gateway errors are in the report; raises JournalError.
        """
        if pause:
            await self.pause(by)
        async with self._flattening:
            return await self.flattener.flatten(await self.followed_account_ids(), by=by)

    async def _execute(self, alert: Alert, template: StrategyTemplate) -> Settlement:
        assert self._executor is not None and alert.alert_id is not None
        try:
            # Alerts of one strategy run in arrival order: an exit never overtakes its entry.
            async with self._locks[alert.strategy]:
                settlement = await self._executor.execute(alert, template)
        except JournalError as exc:
            if not await self._nothing_sent(alert.alert_id):
                return await self._failed(alert.alert_id, exc)
            # No order row, so nothing reached the gateway (every send is written ahead):
            # NOTHING_DONE, and TradingView's re-send runs it once the journal can write again.
            reason = f"journal unavailable, nothing was done: {exc}"
            log.error("alert %s: %s", alert.alert_id, reason)
            await self._journal_failure(alert.alert_id, reason)
            return Settlement(alert.alert_id, AlertStatus.FAILED, [], reason, nothing_done=True)
        except Exception as exc:  # noqa: BLE001 — the alert is journaled: answer, never 5xx
            return await self._failed(alert.alert_id, exc)
        if settlement.orders:
            self._sync_soon(alert.alert_id)
        return settlement

    async def _nothing_sent(self, alert_id: int) -> bool:
        """Whether alert ``alert_id`` has no order row (a read: it works while writes fail)."""
        try:
            return not await self.runner.run(self.runner.journal.alert_orders, alert_id)
        except JournalError:
            return False  # cannot tell: answer as for any failure once journaled

    async def _failed(self, alert_id: int, exc: Exception) -> Settlement:
        log.error("alert %s failed unexpectedly", alert_id, exc_info=exc)
        reason = (
            f"internal error while executing ({type(exc).__name__}: {exc}); rows left open are reconciled"
        )
        await self._journal_failure(alert_id, reason)
        return Settlement(alert_id, AlertStatus.FAILED, [], reason)

    async def _journal_failure(self, alert_id: int, reason: str) -> None:
        journal = self.runner.journal
        try:
            await self.runner.run(journal.settle_alert, alert_id, AlertStatus.FAILED, reason=reason)
            await self.runner.run(
                journal.add_event, EventKind.ALERT_FAILED, reason, level=EventLevel.ERROR, alert_id=alert_id
            )
        except JournalError:
            log.exception("could not journal the failure of alert %s", alert_id)

    async def on_gateway_event(self, event: GatewayEvent) -> None:
        """A User Hub event: queued for the journal, which applies queued events in batches.
        GatewayLogout: log in again, so the hub can reconnect with the new token (it rebuilds
        when the token changes). Never raises."""
        if isinstance(event, LogoutEvent):
            try:
                await self.gateway.start()
            except GatewayError as exc:
                log.error("logging in again after GatewayLogout failed: %s", exc)
        self._events.put_nowait(event)

    async def _apply_events_forever(self) -> None:
        """Journal hub events in batches: what arrives within EVENT_BATCH_S of the first event of a
        burst goes in one transaction (an order brings several events at once)."""
        while True:
            batch = [await self._events.get()]
            await asyncio.sleep(EVENT_BATCH_S)
            while not self._events.empty():
                batch.append(self._events.get_nowait())
            await self.events.apply_many(batch)
            await self._after_events(batch)

    async def _after_events(self, batch: list[GatewayEvent]) -> None:
        """What reacts to events once they are journaled (each event, in arrival order)."""
        for event in batch:
            await self.protection.on_event(event)  # never raises
        self.risk_monitor.poke()  # fills move the day's P&L: check the limits now

    async def on_hub_connected(self, previous_good_at: datetime | None = None) -> None:
        """After every (re)connect: nothing is replayed (projectx-api.md §7.3), so catch the journal
        up over REST for each followed account from the moment the hub was last known good
        (``previous_good_at``, UTC; None on the first connection: the journal's follow mark), see
        app/engine/follow.py; then let OCO pairs and managed brackets act on what happened while
        the hub was away (a leg that filled meanwhile). Never raises."""
        await self.follower.on_hub_connected(previous_good_at)
        await self.protection.resume()

    async def followed_account_ids(self) -> list[int]:
        """The ids of the accounts the templates trade on (those that exist on the gateway).

        When the gateway cannot list the accounts, those followed before are still followed.
        """
        found: set[int] = set()
        unanswered = False
        for template in self.templates.values():
            for spec in template.accounts:
                try:
                    found.add((await self.accounts.resolve(spec.account, template=template.name)).account_id)
                except TemplateError as exc:
                    log.warning("not following an account: %s", exc)
                except GatewayError as exc:
                    log.warning("could not look up an account, still following those known: %s", exc)
                    unanswered = True
        if unanswered:
            found |= self._followed
        self._followed = found
        return sorted(found)

    async def _last_price(self, contract_id: str) -> Decimal | None:
        """The gateway's latest traded price of a contract (points), for the risk monitor; None
        from a gateway that cannot say (the simulator and ProjectX can: History/retrieveBars)."""
        read = getattr(self.gateway, "last_price", None)
        return None if read is None else await read(contract_id)

    async def _record_balances(self) -> None:
        """Journal the followed accounts' balances as the gateway has them at start, so that the
        trailing drawdown's high-water mark starts from the balance before the first fill."""
        try:
            accounts = await self.followed_accounts()
        except GatewayError as exc:
            log.warning("could not read the accounts' balances at start: %s", exc)
            return
        for account in accounts:
            await self.runner.run(self.runner.journal.set_account, account)

    async def followed_accounts(self) -> list[Account]:
        """The followed accounts, resolved (the directory's cache: no request most of the time)."""
        ids = set(await self.followed_account_ids())
        return [a for a in await self.accounts.all() if a.account_id in ids]

    async def flatten_accounts(self, account_ids: list[int], by: str) -> FlattenReport | None:
        """Cancel the working orders and close the positions of these accounts, without pausing
        the bridge (a lockout or the session close: the other accounts keep trading); None when
        they hold nothing (nothing is journaled then). Behind a flatten already running."""
        async with self._flattening:
            plan = await self.flattener.plan(account_ids)
            if plan.empty:
                return None
            report = await self.flattener.flatten(account_ids, by=by)
        log.warning("%s: %s", by, report.summary())
        return report

    @property
    def followed(self) -> frozenset[int]:
        """The followed account ids as last resolved (asks nothing of the gateway)."""
        return frozenset(self._followed)

    def _sync_soon(self, alert_id: int) -> None:
        """Ask the gateway for this alert's orders shortly; alerts settled meanwhile share the
        same Order/search (one per account), so a burst of alerts costs one read, not one each."""
        if not self._to_sync:
            self._spawn(self._sync_batch())
        self._to_sync.add(alert_id)

    async def _sync_batch(self) -> None:
        await asyncio.sleep(SYNC_DELAY_S)
        alert_ids, self._to_sync = sorted(self._to_sync), set()
        try:
            await self.sync.sync_alerts(alert_ids)
        except Exception:  # noqa: BLE001 — a failed sync leaves rows as they are; never fatal
            log.exception("order sync of alerts %s failed", alert_ids)

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            try:
                await self.reconciler.settle_all_pending()
                await self._resume_unsettled()
            except Exception:  # noqa: BLE001 — keep the loop alive; it is a safety net
                log.exception("periodic reconcile failed")

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
