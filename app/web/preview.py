"""Preview an alert: the exact gateway requests it would make, with nothing sent or journaled.

This is the dry-run seam, kept apart from the bridge that trades: the alert runs through the real
Executor against a DryRunGateway (reads are real, order-changing calls are recorded) and a
scratch journal (the order rows it writes are thrown away), so the preview cannot drift from what
execution does. On the running bridge (the pages) it reads through the bridge's own gateway and
account directory; ``tvbridge render`` (no bridge running) builds a gateway of its own, on the
simulator when ``gateway = "sim"`` (app/web/sim_link.py starts it: this module never imports it).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from app.config import Settings
from app.domain.enums import AlertStatus, Leg, Side
from app.domain.kinds import OcoKind, OcoState
from app.domain.models import Alert
from app.domain.scale_out import read_live, read_plan
from app.engine.accounts import AccountDirectory
from app.engine.execute import Executor, Settlement
from app.engine.managed_brackets import leg_request
from app.engine.reconcile import Reconciler
from app.engine.runner import JournalRunner
from app.engine.sizing import LimitsOf
from app.errors import ConfigError, TemplateError
from app.gateway.dryrun import DryRunGateway
from app.gateway.projectx import build_gateway
from app.ingest.parse import parse_body
from app.journal import Journal
from app.strategies import StrategyTemplate, load_templates, refresh_alert_time
from app.web.sim_link import sim_transport
from app.web.stop_moves import Entry, after_target_words, live_words

if TYPE_CHECKING:
    from app.domain.records import OrderRow
    from app.engine.bridge import Bridge
    from app.gateway.projectx import ProjectXGateway

Calls = list[dict[str, Any]]  # DryRunGateway.calls: {"endpoint": "Order/place", "body": {…}}


async def preview_alert(
    template: StrategyTemplate,
    raw: bytes,
    gateway: DryRunGateway,
    *,
    instance: str,
    accounts: AccountDirectory | None = None,
    limits: LimitsOf | None = None,
    notes: bool = False,
) -> tuple[AlertStatus, str | None, Calls]:
    """Run ``raw`` through ``template`` on a dry-run gateway; return status, reason and calls.
    ``accounts``: the running bridge's directory (reads only), else one over ``gateway``;
    ``limits``: an account's risk limits (size by risk caps at their max_order_size);
    ``notes``: also what a scale-out places after the fill, in words (endpoint None: the CLI's).
    """
    settlement, calls = await preview_settlement(
        template, raw, gateway, instance=instance, accounts=accounts, limits=limits, notes=notes
    )
    return settlement.status, settlement.reason, calls


async def preview_settlement(
    template: StrategyTemplate,
    raw: bytes,
    gateway: DryRunGateway,
    *,
    instance: str,
    accounts: AccountDirectory | None = None,
    limits: LimitsOf | None = None,
    notes: bool = False,
) -> tuple[Settlement, Calls]:
    """preview_alert's run, whole: the Settlement (with its size-by-risk lines) and the calls.

    Previewed as if it fired now (its time field set to now, as TradingView's {{timenow}}), so
    a saved example shows its orders instead of a stale refusal.
    Raises AlertInvalidError when the body cannot be parsed (the same 422 the webhook gives).
    """
    raw = refresh_alert_time(raw, template)
    fields = parse_body(raw, fmt=template.alert_format, pattern=template.pattern)
    fields.pop(template.secret_field, None)
    with tempfile.TemporaryDirectory(prefix="tvbridge-preview-") as scratch:
        journal = Journal(f"sqlite:///{Path(scratch) / 'preview.db'}")
        runner = JournalRunner(journal)
        try:
            journal.upgrade()
            received_at = datetime.now(UTC)
            entry = journal.record_alert(strategy=template.name, raw_body="", received_at=received_at)
            alert = Alert(template.name, "", fields, received_at, alert_id=entry.alert_id)
            executor = Executor(
                gateway,
                runner,
                accounts or AccountDirectory(gateway),
                Reconciler(gateway, runner, attempts=1, delay_s=0.0),
                instance=instance,
                limits=limits,
            )
            settlement = await executor.execute(alert, template)
            after = _after_fill(journal, gateway)
            if notes:
                after += scale_out_notes(journal) + live_stop_notes(journal)
        finally:
            runner.shutdown()
            journal.close()
    return settlement, gateway.calls + after


def _after_fill(journal: Journal, gateway: DryRunGateway) -> Calls:
    """The Order/place bodies of the managed brackets' legs the bridge sends once each entry
    fills, shown as if it filled at its limit/stop price, else the alert's reference price
    (the real legs use the real fill price: ``when`` says so). A trailing stop loss's
    ``trailPrice`` is measured from that price too (app/engine/trailing.py)."""
    calls: Calls = []
    for group in journal.oco_groups(OcoState.WORKING):
        if group.kind != OcoKind.MANAGED_BRACKET or group.id is None:
            continue
        entry = next((r for r in journal.oco_group_orders(group.id) if r.leg == Leg.ENTRY), None)
        if entry is None or entry.size is None:
            continue
        fill = entry.limit_price or entry.stop_price or entry.reference_price
        if fill is None:
            note = "the legs are placed at the entry's fill price; give order.price to see them here"
            calls.append({"endpoint": None, "body": None, "note": note})
            continue
        for leg, ticks in (
            (Leg.STOP_LOSS, entry.stop_loss_ticks),
            (Leg.TAKE_PROFIT, entry.take_profit_ticks),
        ):
            if ticks:
                request = leg_request(entry, group.policy, fill, leg, ticks, entry.size, 1)
                when = f"after entry {entry.client_order_id} fills (shown filled at {fill})"
                calls.append(
                    {"endpoint": "Order/place", "when": when, "body": gateway.place_order_body(request)}
                )
    return calls


async def render_alert(settings: Settings, strategy: str, raw: bytes) -> Calls:
    """``tvbridge render``: the requests an alert body would make. Raises the exact error."""
    templates = load_templates(settings.server.templates_dir)
    template = templates.get(strategy)
    if template is None:
        raise ConfigError(
            f"unknown strategy '{strategy}': no {settings.server.templates_dir / (strategy + '.toml')}"
        )
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        instance = journal.instance
    finally:
        journal.close()
    transport, base_url = sim_transport() if settings.gateway.kind == "sim" else (None, None)
    gateway = DryRunGateway(build_gateway(settings.gateway, base_url=base_url, transport=transport))
    await gateway.start()
    risk = settings.risk
    try:
        settlement, calls = await preview_settlement(
            template,
            raw,
            gateway,
            instance=instance,
            limits=lambda account: risk.for_account(account.name, account.account_id),
            notes=True,
        )
    finally:
        await gateway.close()
    status, reason = settlement.status, settlement.reason
    if status == AlertStatus.INVALID:
        raise TemplateError(reason or "the template cannot render this alert")
    if not calls:
        calls = [{"endpoint": None, "body": None, "note": reason or "nothing to send"}]
    # Size by risk shows its computation first, per account (the balance is the gateway's: the
    # simulator's, or the live account's when logged in).
    sizing: Calls = [{"endpoint": None, "body": None, "note": line} for line in settlement.sizing]
    return sizing + calls


def scale_out_notes(journal: Journal) -> Calls:
    """What a scale-out group places after its entry fills, in words (``tvbridge render``): the
    plan its group holds (app/domain/scale_out.py); nothing is sent before the fill."""
    notes: Calls = []
    for group in journal.oco_groups(OcoState.WORKING):
        plan = read_plan(group.note) if group.kind == OcoKind.SCALE_OUT else None
        if plan is None or group.id is None:
            continue
        targets, be = plan
        entry = next((r for r in journal.oco_group_orders(group.id) if r.leg == Leg.ENTRY), None)
        stop = entry.stop_loss_ticks if entry is not None else None
        words = ", ".join(f"target {n} {t.ticks} ticks × {t.size}" for n, t in enumerate(targets, start=1))
        note = f"after the entry fills: stop loss {stop} ticks × what is left, {words}"
        if be is not None:
            known = shown(entry) if entry is not None else None
            note += "; " + after_target_words(known, be.after_target, be.offset_ticks)
        notes.append({"endpoint": None, "body": None, "note": note})
    return notes


def live_stop_notes(journal: Journal) -> Calls:
    """The stop moves from live quotes a managed bracket or scale-out group makes after its
    entry fills (break-even after X ticks in favour, the trail: app/engine/live_stops.py), in
    words with the prices they imply from the price the entry is shown filled at."""
    notes: Calls = []
    for group in journal.oco_groups(OcoState.WORKING):
        plan = read_live(group.note)
        if plan is None or group.id is None:
            continue
        entry = next((r for r in journal.oco_group_orders(group.id) if r.leg == Leg.ENTRY), None)
        if entry is None or entry.side is None:
            continue
        notes += [{"endpoint": None, "body": None, "note": n} for n in live_words(shown(entry), plan)]
    return notes


def shown(entry: OrderRow) -> Entry:
    """The entry as the render shows it: filled at its limit/stop price, else the reference price
    (no price when its side is not journaled: a price on the wrong side would mislead)."""
    if entry.side is None:
        return Entry(Side.BUY, None, entry.tick_size, entry.tick_value)
    fill = entry.limit_price or entry.stop_price or entry.reference_price
    return Entry(Side(entry.side), fill, entry.tick_size, entry.tick_value)


async def dry_run(
    bridge: Bridge, template: StrategyTemplate, raw: bytes
) -> tuple[AlertStatus, str | None, Calls]:
    """Preview ``raw`` on the running bridge's gateway (reads real, order-changing calls recorded).

    Never starts or closes the wrapper: closing it would close the bridge's live gateway.
    Raises AlertInvalidError (the webhook's exact 422 message) when the body cannot be parsed.
    """
    instance = await bridge.runner.run(lambda: bridge.runner.journal.instance)
    # DryRunGateway uses only the Gateway Protocol's members; app/gateway cannot name the
    # engine's Protocol (layers), so it is typed with the concrete class.
    gateway = DryRunGateway(cast("ProjectXGateway", bridge.gateway))
    return await preview_alert(
        template, raw, gateway, instance=instance, accounts=bridge.accounts, limits=bridge.gate.limits
    )
