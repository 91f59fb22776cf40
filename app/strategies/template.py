"""StrategyTemplate: one loaded template, and its pure render of an alert into OrderIntents."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar

from app.config import RiskLimits
from app.domain.enums import Action, OrderType, Side
from app.domain.models import Alert, Bracket, BreakEven, Contract, LiveStops, OrderIntent, Target
from app.domain.scale_out import sized_targets
from app.domain.sizing import RiskRequest
from app.domain.staleness import field_at
from app.domain.ticks import distance_to_ticks, round_to_tick
from app.errors import TemplateError
from app.strategies import values as conv
from app.strategies.expressions import AlertView, MissingField, Value
from app.strategies.sandbox import RENDER_BUDGET_S
from app.strategies.schema import AccountSpec, AlertFormat, BracketMode, SyncMode, TemplateKind
from app.strategies.schema_scale_out import MAX_TARGETS, target_key, to_offset_ticks, to_percent

T = TypeVar("T")
_SIDES = {Action.BUY: Side.BUY, Action.SELL: Side.SELL}
_TARGET_ACTIONS = {Side.BUY: Action.BUY, Side.SELL: Action.SELL, None: Action.EXIT}
_DIRECTIONS = {1: "long", 0: "flat", -1: "short"}


@dataclass(frozen=True)
class SyncIntent(OrderIntent):
    """Position sync (``sync = "target"``): bring the account's position to ``target``.

    ``target`` is the signed position in contracts the strategy holds after the alert, × the
    account's multiplier: > 0 long, < 0 short, 0 flat. ``action``, ``side`` and ``quantity`` say
    the same in words (buy / sell / exit, |target|); it is not an order: the engine reads the
    account's real position and sends only the difference. ``bracket`` protects the entry part.
    ``alert_quantity`` and ``alert_side`` are the alert's own order (contracts × multiplier; the
    template's quantity and action), None when the template does not render them.
    """

    target: int = 0
    alert_quantity: int | None = None
    alert_side: Side | None = None


@dataclass(frozen=True)
class StrategyTemplate:
    """A strategy's template (``templates/<name>.toml``), checked and compiled at load.

    ``dedupe_window_s`` and ``max_age_s`` in seconds; ``source`` is the TOML text as loaded.
    """

    name: str
    path: Path
    description: str
    alert_format: AlertFormat
    pattern: re.Pattern[str] | None
    id_field: str | None
    dedupe_window_s: float
    secret_field: str
    time_field: str | None
    accounts: list[AccountSpec]
    source: str
    order_values: dict[str, Value] = field(default_factory=dict, repr=False, compare=False)
    bracket_values: dict[str, dict[str, Value]] = field(default_factory=dict, repr=False, compare=False)
    kind: TemplateKind = "order"
    bracket_mode: BracketMode = "native"  # "managed": the bridge places the bracket after the fill
    bracket_on_failure: Literal["close", "keep"] = "close"  # managed bracket not working in time
    oco_values: dict[str, dict[str, Value]] = field(default_factory=dict, repr=False, compare=False)
    oco_on_both_filled: Literal["flatten", "keep"] = "flatten"
    max_age_s: float = 30.0  # an entry whose alert time is older is refused as stale; 0: never
    sync: SyncMode | None = None  # "target": the alert states a position; only the difference is sent
    risk: RiskLimits | None = None  # the strategy's own limits ([risk]), on top of its accounts'

    def ticker(self, alert: Alert) -> str:
        """Return the rendered ticker, stripped (e.g. ``NQ1!``). Raises TemplateError when empty."""
        return _Rendering(self, alert).get("ticker", conv.to_ticker)

    def alert_time(self, alert: Alert) -> datetime | None:
        """Return the alert's own fire time (UTC) from ``time_field``; None when absent or unreadable."""
        if self.time_field is None:
            return None
        return conv.to_alert_time(field_at(alert.fields, self.time_field))

    def render(self, alert: Alert, contract: Contract) -> list[OrderIntent]:
        """Return one OrderIntent per account, in the template's order. Pure: no I/O.

        Quantities in whole contracts (× the account's multiplier), prices on the contract's
        tick grid, bracket distances in positive whole ticks. ``exit``/``cancel`` carry no
        side or quantity; ``reverse`` carries quantity and bracket, side None (the engine
        picks it from the position). With ``sync = "target"`` each is a SyncIntent carrying the
        target position. Raises TemplateError naming the template, the field, the value, what
        was expected and the alert id.
        """
        if self.kind == "oco":
            return self._render_oco(alert, contract)
        if self.sync is not None:
            return self._render_sync(alert, contract)
        run = _Rendering(self, alert)
        action = run.get("action", conv.to_action)
        if action == Action.EXIT:
            return self._render_exit(run, contract)
        if action in (Action.CANCEL, Action.BREAKEVEN):
            return [
                OrderIntent(account=spec.account, contract_id=contract.contract_id, action=action)
                for spec in self.accounts
            ]
        tick = contract.tick_size
        quantity, risk = self._size(run)
        order_type = run.optional("type", conv.to_order_type) or OrderType.MARKET
        limit_price = run.price("limit_price", tick) if order_type is OrderType.LIMIT else None
        stop_price = run.price("stop_price", tick) if order_type is OrderType.STOP else None
        price = run.price("price", tick, required=False)
        entry = limit_price if limit_price is not None else stop_price
        side = _SIDES.get(action)
        reference = entry if entry is not None else price
        bracket = self._bracket(run, side, reference, tick)
        trail = _trail_ticks(run, tick) if order_type is OrderType.TRAILING_STOP else None
        if trail is not None and bracket is not None:
            raise run.error(
                "type", order_type, "with no [bracket]: a trailing stop order is the protection itself"
            )
        if risk is not None and (bracket is None or bracket.stop_loss_ticks is None):
            key, amount = risk
            raise run.error(
                key, amount, "but size by risk needs a stop loss: [bracket] stop_loss rendered nothing"
            )
        return [
            OrderIntent(
                account=spec.account,
                contract_id=contract.contract_id,
                action=action,
                side=side,
                order_type=order_type,
                quantity=0 if quantity is None else run.contracts(quantity, spec),
                limit_price=limit_price,
                stop_price=stop_price,
                bracket=scale_out(run, bracket, side, reference, tick, _contracts(run, quantity, spec), spec),
                reference_price=price if price is not None else entry,
                risk=None if risk is None else _risk_request(risk, spec),
                trail_ticks=trail,
            )
            for spec in self.accounts
        ]

    def _render_exit(self, run: _Rendering, contract: Contract) -> list[OrderIntent]:
        """One exit intent per account: the whole position, or the part order.exit_quantity
        names (contracts × the account's multiplier, or a percentage; rendered empty: all)."""
        part = run.optional("exit_quantity", conv.to_exit_quantity)
        intents = []
        for spec in self.accounts:
            contracts = percent = None
            if part is not None and part[1]:
                percent = part[0]
            elif part is not None:
                contracts = run.contracts(part[0], spec, field="exit_quantity")
            intents.append(
                OrderIntent(
                    account=spec.account,
                    contract_id=contract.contract_id,
                    action=Action.EXIT,
                    exit_contracts=contracts,
                    exit_percent=percent,
                )
            )
        return intents

    def _size(self, run: _Rendering) -> tuple[Decimal | None, tuple[str, Decimal] | None]:
        """The entry's quantity, or its risk (``risk_usd`` / ``risk_percent`` and the amount):
        exactly one of them renders. Raises TemplateError."""
        if not any(key in self.order_values for key in _RISK_KEYS):
            return run.get("quantity", conv.to_quantity), None
        given = {
            key: amount
            for key, convert in (
                ("quantity", conv.to_quantity),
                ("risk_usd", conv.to_risk_usd),
                ("risk_percent", conv.to_risk_percent),
            )
            if (amount := run.optional(key, convert)) is not None
        }
        if len(given) != 1:
            shown = " and ".join(f"{key} {amount}" for key, amount in given.items()) or "nothing"
            raise run.error("quantity", shown, "expected exactly one of quantity, risk_usd or risk_percent")
        ((key, amount),) = given.items()
        return (amount, None) if key == "quantity" else (None, (key, amount))

    def _render_oco(self, alert: Alert, contract: Contract) -> list[OrderIntent]:
        """Two intents per account, ``first`` then ``second`` (a kind = "oco" template)."""
        legs = []
        for name in ("first", "second"):
            run = _Rendering(self, alert, self.oco_values.get(name, {}), prefix=f"oco.{name}.")
            action = run.get("action", conv.to_action)
            if action not in _SIDES:
                raise run.error(run.prefix + "action", action, "expected buy or sell")
            order_type = run.get("type", conv.to_order_type)
            if order_type not in (OrderType.LIMIT, OrderType.STOP):
                raise run.error(run.prefix + "type", order_type, "expected limit or stop")
            price_key = "limit_price" if order_type is OrderType.LIMIT else "stop_price"
            price = run.price(price_key, contract.tick_size)
            legs.append((run, action, order_type, price_key, price, run.get("quantity", conv.to_quantity)))
        return [
            OrderIntent(
                account=spec.account,
                contract_id=contract.contract_id,
                action=action,
                side=_SIDES[action],
                order_type=order_type,
                quantity=run.contracts(quantity, spec),
                limit_price=price if price_key == "limit_price" else None,
                stop_price=price if price_key == "stop_price" else None,
                reference_price=price,
            )
            for spec in self.accounts
            for run, action, order_type, price_key, price, quantity in legs
        ]

    def _render_sync(self, alert: Alert, contract: Contract) -> list[OrderIntent]:
        """One SyncIntent per account: the target position (signed contracts × multiplier)."""
        run = _Rendering(self, alert)
        action = run.optional("action", conv.to_action)
        if action is not None and action not in _SIDES:
            raise run.error("action", action, 'expected buy or sell with sync = "target"')
        order_type = run.optional("type", conv.to_order_type)
        if order_type not in (None, OrderType.MARKET):
            raise run.error("type", order_type, 'expected market with sync = "target"')
        quantity = run.optional("quantity", conv.to_quantity)
        key, target = self._target(run)
        side = Side.BUY if target > 0 else Side.SELL if target < 0 else None
        price = run.price("price", contract.tick_size, required=False)
        bracket = None if side is None else self._bracket(run, side, price, contract.tick_size)
        intents: list[OrderIntent] = []
        for spec in self.accounts:
            contracts = run.contracts(target, spec, field=key, convert=conv.target_contracts)
            intents.append(
                SyncIntent(
                    account=spec.account,
                    contract_id=contract.contract_id,
                    action=_TARGET_ACTIONS[side],
                    side=side,
                    quantity=abs(contracts),
                    bracket=bracket,
                    reference_price=price,
                    target=contracts,
                    alert_quantity=None if quantity is None else run.contracts(quantity, spec),
                    alert_side=_SIDES.get(action) if action is not None else None,
                )
            )
        return intents

    def _target(self, run: _Rendering) -> tuple[str, Decimal]:
        """The signed target position and the field it came from (before multipliers)."""
        if "target_signed" in self.order_values:
            return "target_signed", run.get("target_signed", conv.to_signed_size)
        direction = run.get("target_position", conv.to_market_position)
        size = run.get("target_size", conv.to_position_size)
        if direction == 0 and size != 0:
            raise run.error("target_size", size, "expected 0 when target_position is flat")
        if direction != 0 and size == 0:
            words = _DIRECTIONS[direction]
            raise run.error("target_size", size, f"expected 1 or more when target_position is {words}")
        return "target_size", direction * size

    def _bracket(
        self, run: _Rendering, side: Side | None, reference: Decimal | None, tick: Decimal
    ) -> Bracket | None:
        ticks: dict[str, int] = {}
        trailing = False
        for leg, kinds in self.bracket_values.items():
            if leg not in ("stop_loss", "take_profit"):
                continue  # targets and break_even: scale_out() below
            rendered = {kind: run.text(value) for kind, value in kinds.items()}
            chosen = {kind: raw for kind, raw in rendered.items() if raw is not None}
            if len(chosen) > 1:
                raise run.error(
                    f"bracket.{leg}",
                    " and ".join(f"{kind} {raw}" for kind, raw in chosen.items()),
                    "expected exactly one of ticks, points or price",
                )
            for kind, raw in chosen.items():
                trailing = trailing or kind.startswith("trail_")
                ticks[leg] = run.leg_ticks(leg, kinds[kind].field, kind, raw, side, reference, tick)
        if not ticks:
            return None
        return Bracket(
            stop_loss_ticks=ticks.get("stop_loss"),
            take_profit_ticks=ticks.get("take_profit"),
            trailing=trailing,
        )


_RISK_KEYS = ("risk_usd", "risk_percent")


def _risk_request(risk: tuple[str, Decimal], spec: AccountSpec) -> RiskRequest:
    key, amount = risk
    if key == "risk_usd":
        return RiskRequest(usd=amount, multiplier=spec.multiplier)
    return RiskRequest(percent=amount, multiplier=spec.multiplier)


def _contracts(run: _Rendering, quantity: Decimal | None, spec: AccountSpec) -> int | None:
    """The entry's contracts on ``spec`` (× its multiplier); None when sized by risk later."""
    return None if quantity is None else run.contracts(quantity, spec)


def scale_out(
    run: _Rendering,
    bracket: Bracket | None,
    side: Side | None,
    reference: Decimal | None,
    tick: Decimal,
    quantity: int | None,
    spec: AccountSpec,
) -> Bracket | None:
    """The bracket with its scale-out targets and break-even (``_targets``) and its stop moves
    from live quotes (``_live_stops``) for one account."""
    bracket = _targets(run, bracket, side, reference, tick, quantity, spec)
    live = _live_stops(run)
    if bracket is None or live is None:
        return bracket
    return replace(bracket, live=live)


def _trail_ticks(run: _Rendering, tick: Decimal) -> int:
    """A trailing stop order's distance (order.trail_ticks or trail_points; exactly one renders)
    in whole ticks, 1..MAX_TRAIL_TICKS. Raises TemplateError."""
    given = {
        key: raw
        for key in ("trail_ticks", "trail_points")
        if (raw := run._raw(key)) is not None  # noqa: SLF001
    }
    if len(given) != 1:
        raise run.error(
            "type", "trailing_stop", "with exactly one of order.trail_ticks or order.trail_points rendered"
        )
    ((key, raw),) = given.items()
    return run.leg_ticks("stop_loss", key, key, raw, None, None, tick)


def _live_stops(run: _Rendering) -> LiveStops | None:
    """[bracket] break_even.after_ticks and trail (schema_live_stops.py) for this alert; None when
    neither is given (or both render empty)."""
    values = run.template.bracket_values
    be, trail = values.get("live_break_even"), values.get("trail")

    def number(kinds: dict[str, Value] | None, key: str, convert: Callable[[object], int]) -> int | None:
        raw = run.text(kinds[key]) if kinds is not None and key in kinds else None
        where = "bracket.break_even" if kinds is be else "bracket.trail"
        return None if raw is None else run.convert(f"{where}.{key}", raw, convert)

    after = number(be, "after_ticks", conv.to_ticks)
    ticks = number(trail, "ticks", conv.to_ticks)
    if after is None and ticks is None:
        return None
    offset = number(be, "offset_ticks", to_offset_ticks) or 0
    if after is not None and offset >= after:
        raise run.error(
            "bracket.break_even.offset_ticks",
            offset,
            f"expected fewer ticks than after_ticks {after}: the stop loss would be moved to or "
            "past the price that moves it",
        )
    return LiveStops(
        be_after_ticks=after,
        be_offset_ticks=offset,
        trail_ticks=ticks,
        trail_activation_ticks=number(trail, "activation_ticks", to_offset_ticks) or 0,
        trail_step_ticks=number(trail, "step_ticks", conv.to_ticks) or 1,
    )


def _targets(
    run: _Rendering,
    bracket: Bracket | None,
    side: Side | None,
    reference: Decimal | None,
    tick: Decimal,
    quantity: int | None,
    spec: AccountSpec,
) -> Bracket | None:
    """The bracket with its scale-out targets and break-even for one account (``quantity``
    contracts); unchanged when the template has no targets. Sizes: ``size`` × the account's
    multiplier, or ``percent`` of the entry rounded down, the rounding remainder to the last
    target when the percentages add up to 100 (domain/scale_out.py ``sized_targets``; with size
    by risk, ``quantity`` None, the engine sizes them with the entry: app/engine/sizing.py).
    Raises TemplateError (distances not increasing, sizes above the entry)."""
    values = run.template.bracket_values
    targets: list[Target] = []
    for n in range(1, MAX_TARGETS + 1):
        kinds = values.get(target_key(n))
        if kinds is None:
            continue
        where = f"bracket.targets.{n}"
        rendered = {k: run.text(v) for k, v in kinds.items() if k not in ("size", "percent")}
        chosen = {k: raw for k, raw in rendered.items() if raw is not None}
        if len(chosen) != 1:
            raise run.error(where, chosen or "nothing", "expected exactly one of ticks, points or price")
        kind, raw = next(iter(chosen.items()))
        ticks = run.leg_ticks("take_profit", kinds[kind].field, kind, raw, side, reference, tick)
        if targets and ticks <= targets[-1].ticks:
            raise run.error(
                where, ticks, f"expected a distance beyond target {n - 1}'s {targets[-1].ticks} ticks"
            )
        if "percent" in kinds:
            percent = run.convert(f"{where}.percent", run.text(kinds["percent"]), to_percent)
            targets.append(Target(ticks, 0, percent))
        else:
            raw_size = run.convert(f"{where}.size", run.text(kinds["size"]), conv.to_quantity)
            targets.append(Target(ticks, run.contracts(raw_size, spec, field=f"{where}.size")))
    if not targets:
        return bracket
    if quantity is not None:  # else sized by risk: the engine sizes them with the entry
        targets = list(sized_targets(targets, quantity))
    if quantity is not None and sum(t.size for t in targets) > quantity:
        sizes = " + ".join(str(t.size) for t in targets)
        raise run.error(
            "bracket.targets", sizes, f"expected the target sizes to add up to at most the entry's {quantity}"
        )
    break_even = None
    if (be := values.get("break_even")) is not None and "after_target" in be:
        after = run.text(be["after_target"])
        if after is not None:  # an expression that renders empty: no break-even for this alert
            number = run.convert("bracket.break_even.after_target", after, conv.to_ticks)
            if number > len(targets):
                raise run.error("bracket.break_even.after_target", number, f"expected 1 to {len(targets)}")
            offset_raw = run.text(be["offset_ticks"]) if "offset_ticks" in be else None
            offset = (
                0
                if offset_raw is None
                else run.convert("bracket.break_even.offset_ticks", offset_raw, to_offset_ticks)
            )
            if offset >= targets[number - 1].ticks:
                raise run.error(
                    "bracket.break_even.offset_ticks",
                    offset,
                    f"expected fewer ticks than target {number}'s {targets[number - 1].ticks}: the "
                    "stop loss would be moved to or past the price that filled the target",
                )
            break_even = BreakEven(number, offset)
    base = bracket or Bracket()
    return Bracket(base.stop_loss_ticks, None, tuple(targets), break_even)


# The name the engine and the pages annotate with (``template: Template``): one class, two
# spellings, so "StrategyTemplate" and "Template" never drift apart.
Template = StrategyTemplate


class _Rendering:
    """One render of one alert: renders values lazily and words every TemplateError."""

    def __init__(
        self,
        template: StrategyTemplate,
        alert: Alert,
        values: dict[str, Value] | None = None,
        *,
        prefix: str = "",
    ) -> None:
        self.template = template
        self.alert = alert
        self.values = template.order_values if values is None else values
        self.prefix = prefix  # the values' place in the file, e.g. "oco.first."
        self.suffix = f" (alert {alert.alert_id})" if alert.alert_id is not None else ""
        # One time budget for all of this alert's values (app/strategies/sandbox.py).
        self.deadline = time.thread_time() + RENDER_BUDGET_S

    def text(self, value: Value) -> object | None:
        """Render one value; None when it renders empty (not set)."""
        try:
            return value.render(self.alert.fields, self.template.name, deadline=self.deadline)
        except MissingField as exc:
            if not isinstance(exc.obj, AlertView):
                raise self._broken(value.field, exc) from None
            fields = ", ".join(exc.available) or "none"
            raise TemplateError(
                f"Template '{self.template.name}': field '{value.field}' uses {exc.path}, which "
                f"this alert does not have (fields: {fields}){self.suffix}."
            ) from None
        except Exception as exc:  # the expression is user code: any failure is its fault
            raise self._broken(value.field, exc) from None

    def get(self, key: str, convert: Callable[[object], T]) -> T:
        """Render and convert a required order value (unset converts '', so it fails)."""
        raw = self._raw(key)
        return self.convert(key, "" if raw is None else raw, convert)

    def optional(self, key: str, convert: Callable[[object], T]) -> T | None:
        """Render and convert an optional order value; None when unset or rendered empty."""
        raw = self._raw(key)
        return None if raw is None else self.convert(key, raw, convert)

    def price(self, key: str, tick: Decimal, *, required: bool = True) -> Decimal | None:
        """Render a price and round it to the tick grid (points)."""
        price = self.get(key, conv.to_price) if required else self.optional(key, conv.to_price)
        return None if price is None else round_to_tick(price, tick)

    def convert(self, field: str, raw: object, convert: Callable[[object], T]) -> T:
        try:
            return convert(raw)
        except ValueError as exc:
            raise self.error(self.prefix + field, raw, str(exc)) from None

    def contracts(
        self,
        quantity: Decimal,
        spec: AccountSpec,
        *,
        field: str = "quantity",
        convert: Callable[[Decimal, Decimal], int] = conv.times_multiplier,
    ) -> int:
        """quantity × the account's multiplier, in whole contracts (≥ 1 unless ``convert`` allows 0)."""
        try:
            return convert(quantity, spec.multiplier)
        except ValueError as exc:
            where = f" on account {spec.account!r}" if spec.multiplier != 1 else ""
            raise self.error(self.prefix + field, quantity, f"{exc}{where}") from None

    def leg_ticks(
        self,
        leg: str,
        field: str,
        kind: str,
        raw: object,
        side: Side | None,
        reference: Decimal | None,
        tick: Decimal,
    ) -> int:
        """Convert one bracket leg (ticks, points or price; a stop loss's trail_ticks or
        trail_points, at most MAX_TRAIL_TICKS) to positive whole ticks."""
        if kind in ("ticks", "trail_ticks"):
            return self.convert(field, raw, conv.to_trail_ticks if kind == "trail_ticks" else conv.to_ticks)
        if kind in ("points", "trail_points"):
            ticks = distance_to_ticks(self.convert(field, raw, conv.to_points), tick)
            if ticks < 1:
                raise self.error(field, raw, f"expected at least one tick ({tick} points)")
            if kind == "trail_points":
                try:
                    conv.check_trail_ticks(ticks)
                except ValueError as exc:
                    raise self.error(field, raw, f"{exc} of {tick} points") from None
            return ticks
        price = round_to_tick(self.convert(field, raw, conv.to_price), tick)
        if side is None:
            raise self.error(
                field, raw, "expected ticks or points with action reverse (the side is not known yet)"
            )
        if reference is None:
            raise self.error(
                field,
                raw,
                "expected order.price to be set: on a market entry a bracket price is measured "
                'from it (e.g. price = "{{ alert.close }}")',
            )
        above = (leg == "take_profit") == (side is Side.BUY)
        if (price > reference) != above or price == reference:
            where = "above" if above else "below"
            words = leg.replace("_", " ")
            raise self.error(
                field, price, f"expected a {words} {where} the entry price {reference} for a {side}"
            )
        return int(abs(reference - price) / tick)

    def _raw(self, key: str) -> object | None:
        value = self.values.get(key)
        return None if value is None else self.text(value)

    def error(self, field: str, value: object, expectation: str) -> TemplateError:
        shown = str(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return TemplateError(
            f"Template '{self.template.name}': field '{field}' is '{shown}', {expectation}{self.suffix}."
        )

    def _broken(self, field: str, exc: Exception) -> TemplateError:
        return TemplateError(
            f"Template '{self.template.name}': field '{field}' could not be rendered: {exc}"
            f"{self.suffix}; fix its expression in {self.template.path}."
        )
