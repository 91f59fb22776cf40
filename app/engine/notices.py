"""The texts of the notices the engine raises about orders, risk, protection and its own life.

One small builder per kind returns a ``Notice`` (app/domain/notices.py): a one-line title, then a
body that names the account, the strategy, the contract, the side, size, prices (points) and
P&L (USD), and ends with what to do. Building one is cheap (no I/O): the callers hand it to
``bridge.notifier`` (app/engine/ports.py), which returns at once, so a notice never delays an
alert. Each builder gives a stable ``key``, the same for the same condition (the notifier sends a
key once per dedupe window, across restarts of the condition).

``ProtectionWatch`` remembers which positions this process reported unprotected, so that the
PROTECTED notice follows only an UNPROTECTED one (same key).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.enums import Action, Leg, Side
from app.domain.expiry import contract_words
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.domain.risk_model import signed_usd, usd
from app.engine.ports import Notifier

if TYPE_CHECKING:
    from app.domain.events import Fill
    from app.engine.flatten import FlattenReport
    from app.engine.shutdown import Held
    from app.journal.tables import LockoutRecord

log = logging.getLogger(__name__)

FLATTEN_ADVICE = "`tvbridge flatten` cancels and closes everything on the followed accounts (and pauses)"
_CONTRACT_IN_TEXT = re.compile(r"CON\.F\.[A-Z]+\.[A-Z0-9]+\.[FGHJKMNQUVXZ]\d{2}\b")
_PROTECTIVE = (Leg.STOP_LOSS, Leg.TAKE_PROFIT)


def points(price: Decimal | str) -> str:
    """A price in points with at least 2 decimals, as the platform shows it: 21500 → 21500.00,
    21500.125 as it is."""
    value = Decimal(price)
    exponent = value.as_tuple().exponent
    return f"{value:.2f}" if isinstance(exponent, int) and exponent > -2 else f"{value}"


def send(notifier: Notifier, notice: Notice) -> None:
    """Hand ``notice`` over; never raises (a notice must never break what raised it)."""
    try:
        notifier.notify(notice)
    except Exception:  # noqa: BLE001 — the port says it never raises; be sure of it
        log.exception("the notifier failed on a %s notice", notice.kind)


def _strategy_words(strategy: str) -> str:
    return f" (strategy '{strategy}')" if strategy else ""


# -- orders and alerts ---------------------------------------------------------------------------


def order_rejected(
    *,
    account: str,
    contract_id: str,
    leg: Leg,
    action: Action | None,
    side: Side | None,
    size: int | None,
    reason: str,
    order_row: int,
    strategy: str = "",
    prices: str = "",
) -> Notice:
    """The gateway rejected an order the bridge sent. Critical for an exit, a close or a stop
    loss / take profit (the position may be open or unprotected), warning for an entry."""
    contract = contract_words(contract_id)
    exit_like = leg in (*_PROTECTIVE, Leg.CLOSE) or action == Action.EXIT
    what = {
        Leg.ENTRY: "exit order" if action == Action.EXIT else "entry order",
        Leg.STOP_LOSS: "stop loss",
        Leg.TAKE_PROFIT: "take profit",
        Leg.CLOSE: "close of the position",
        Leg.CANCEL: "cancel",
        Leg.PARTIAL_CLOSE: "partial close of the position",
    }[leg]
    order = " ".join(str(part) for part in (side, size, contract) if part) or contract
    if prices:
        order += f" {prices}"
    if exit_like:
        todo = (
            f"Check the position in {contract} on {account} on the platform now: it may be open "
            f"or without its stop loss. {FLATTEN_ADVICE}."
        )
    elif leg == Leg.CANCEL:
        todo = f"The order may still be working: check {account} on the platform and cancel it there."
    else:
        todo = "Nothing was opened by this order. Fix the reason; the next alert trades again."
    return Notice(
        kind=NoticeKind.ORDER_REJECTED,
        title=f"Order rejected on {account}: {what} {order}",
        body=(
            f"The gateway rejected the {what}{_strategy_words(strategy)} on {account}: {order}. "
            f"Reason: {reason}. {todo} (journal order row {order_row}: `tvbridge journal`)"
        ),
        level=NoticeLevel.CRITICAL if exit_like else NoticeLevel.WARNING,
        key=f"order-row:{order_row}",
        account=account,
        strategy=strategy,
        contract=contract,
        data={"order_record_id": order_row, "leg": str(leg), "reason": reason},
    )


def alert_refused(
    *,
    account: str,
    strategy: str,
    contract_id: str,
    side: Side,
    size: int,
    reason: str,
    alert_id: int,
) -> Notice:
    """The risk gate refused an entry of an alert (nothing was sent). The key is the account,
    the strategy and the reason: the same refusal again (a locked account's alerts) is one
    condition while the notifier's dedupe window lasts."""
    contract = contract_words(contract_id)
    return Notice(
        kind=NoticeKind.ALERT_REFUSED,
        title=f"Alert refused by the risk gate on {account}: {side} {size} {contract}",
        body=(
            f"Alert {alert_id} of strategy '{strategy}' asked to {side} {size} {contract} on "
            f"{account}; the risk gate refused it, nothing was sent: {reason}. Exits still run. "
            "Look at the limits under [risk] in your settings, or wait for the limit to reset."
        ),
        key=f"{account}|{strategy}|{reason}",
        account=account,
        strategy=strategy,
        contract=contract,
        data={"alert_id": alert_id, "reason": reason},
    )


def fill(account: str, fill: Fill) -> Notice:
    """A fill journaled for the first time ([notify] fills = true)."""
    contract = contract_words(fill.contract_id)
    pnl = "" if fill.profit_and_loss is None else f", P&L {signed_usd(fill.profit_and_loss)} USD"
    return Notice(
        kind=NoticeKind.FILL,
        title=f"Fill on {account}: {fill.side} {fill.size} {contract} @ {points(fill.price)}",
        body=(
            f"{account}: {fill.side} {fill.size} {contract} filled at {points(fill.price)} "
            f"(broker order {fill.broker_order_id}, trade {fill.trade_id}{pnl}) at "
            f"{fill.filled_at:%H:%M:%S} UTC."
        ),
        key=f"fill:{fill.account_id}:{fill.trade_id}",
        account=account,
        contract=contract,
        at=fill.filled_at,
        data={"trade_id": fill.trade_id, "price": str(fill.price), "size": fill.size},
    )


# -- risk ----------------------------------------------------------------------------------------


def lockout(lock: LockoutRecord, until_words: str, *, flatten: bool) -> Notice:
    """This process locked an account (a risk limit reached)."""
    then = (
        "its working orders are being cancelled and its positions closed (flatten_on_lockout)"
        if flatten
        else "its positions stay open (flatten_on_lockout = false): watch them"
    )
    return Notice(
        kind=NoticeKind.LOCKOUT,
        title=f"Account {lock.account_name} locked until {until_words}",
        body=(
            f"{lock.account_name} reached a risk limit: {lock.reason}. Every entry is refused until "
            f"{until_words} (exits still run); {then}. `tvbridge unlock {lock.account_name}` lifts "
            "it early."
        ),
        key=f"lockout:{lock.account_id}:{lock.since.isoformat()}",
        account=lock.account_name,
        data={"reason": lock.reason, "until": lock.until.isoformat()},
    )


def unlock(lock: LockoutRecord, *, now: datetime) -> Notice:
    """A lockout no longer holds: it ended (``until`` passed) or was lifted early (``tvbridge
    unlock``, seen by the serve process at its next check)."""
    ended = now >= lock.until
    how = (
        f"the lockout ended at {lock.until:%Y-%m-%d %H:%M} UTC"
        if ended
        else "the lockout was lifted early (`tvbridge unlock`)"
    )
    return Notice(
        kind=NoticeKind.UNLOCK,
        title=f"Account {lock.account_name} unlocked: entries run again",
        body=(
            f"{lock.account_name}: {how}; alerts open positions again. It had been locked since "
            f"{lock.since:%Y-%m-%d %H:%M} UTC: {lock.reason}."
        ),
        key=f"lockout:{lock.account_id}:{lock.since.isoformat()}",
        account=lock.account_name,
        data={"ended": ended},
    )


def session_flatten(account: str, report: FlattenReport | None, close_words: str) -> Notice:
    """The session-close flatten of ``close_at_session_end`` on one account is done."""
    if report is None:
        did, ok = f"{account}: nothing was open", True
    else:
        did = "; ".join(a.describe() for a in report.accounts) or f"{account}: nothing was open"
        did, ok = _CONTRACT_IN_TEXT.sub(lambda m: contract_words(m[0]), did), report.ok
    todo = (
        "Entries are refused until the next trading day starts."
        if ok
        else f"NOT everything is flat: check {account} on the platform now; {FLATTEN_ADVICE}."
    )
    return Notice(
        kind=NoticeKind.SESSION_FLATTEN,
        title=f"Session close on {account}: " + ("flat" if ok else "NOT flat"),
        body=f"Session close at {close_words}: {did}. {todo}",
        level=None if ok else NoticeLevel.CRITICAL,
        key=f"session-close:{account}:{close_words}",
        account=account,
        data=report.data() if report is not None else {},
    )


# -- protection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unprotected:
    """A position the bridge found without a working stop loss: account, contract, side (of
    the entry: BUY = long) and size (contracts), what happened and what the bridge did."""

    key: str
    account: str
    contract_id: str
    side: Side | None
    size: int
    what: str
    strategy: str = ""


def unprotected(case: Unprotected, *, level: NoticeLevel | None = None) -> Notice:
    """A position without a working stop loss (critical)."""
    contract = contract_words(case.contract_id)
    held = f"{_position_side(case.side)} {case.size} {contract}".strip()
    return Notice(
        kind=NoticeKind.UNPROTECTED,
        title=f"No stop loss on {case.account}: {held}",
        body=(
            f"{case.account}{_strategy_words(case.strategy)}: {held} is not protected by a "
            f"working stop loss. {case.what}. Check the position on the platform now and set a "
            f"stop loss there if it is still open; {FLATTEN_ADVICE}."
        ),
        level=level,
        key=case.key,
        account=case.account,
        strategy=case.strategy,
        contract=contract,
    )


def protected(case: Unprotected) -> Notice:
    """The position reported unprotected has a working stop loss again, or is flat."""
    contract = contract_words(case.contract_id)
    return Notice(
        kind=NoticeKind.PROTECTED,
        title=f"Protected again on {case.account}: {contract}",
        body=f"{case.account}{_strategy_words(case.strategy)}: {case.what}.",
        key=case.key,
        account=case.account,
        strategy=case.strategy,
        contract=contract,
    )


def close_not_done(
    *,
    account: str,
    contract_id: str,
    side: Side,
    size: int,
    what: str,
    strategy: str = "",
    key: str,
) -> Notice:
    """An exit cancelled a position's stop loss and take profit, then its close did not go
    through: the position is still open (critical), ``what`` the bridge did about it. ``side``
    of the position (BUY = long), ``size`` in contracts."""
    contract = contract_words(contract_id)
    held = f"{_position_side(side)} {size} {contract}"
    return Notice(
        kind=NoticeKind.UNPROTECTED,
        title=f"Exit not done on {account}: {held} still open",
        body=(
            f"{account}{_strategy_words(strategy)}: the exit cancelled the stop loss and take "
            f"profit of {held}, then the close did not go through. {what}. Check the position on "
            f"the platform now and close it there if you still want out; {FLATTEN_ADVICE}."
        ),
        level=NoticeLevel.CRITICAL,
        key=key,
        account=account,
        strategy=strategy,
        contract=contract,
    )


def _position_side(side: Side | None) -> str:
    if side is None:
        return ""
    return "long" if side is Side.BUY else "short"


@dataclass
class ProtectionWatch:
    """The positions this process reported unprotected (by key): each is reported once, and
    its PROTECTED notice is sent once, only after its UNPROTECTED one."""

    notifier: Notifier
    alarmed: dict[str, Unprotected] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    quiet: set[str] = field(default_factory=set)  # alarmed by ``expect``: not reported yet

    def lost(self, case: Unprotected, *, level: NoticeLevel | None = None) -> None:
        """Report ``case`` unprotected (once per key)."""
        if case.key in self.ended or (case.key in self.alarmed and case.key not in self.quiet):
            return
        self.quiet.discard(case.key)
        self.alarmed[case.key] = case
        send(self.notifier, unprotected(case, level=level))

    def expect(self, case: Unprotected) -> None:
        """Note ``case`` as unprotected without a notice (its restoration is the news: legs
        placed again after a restart), so that its PROTECTED notice follows."""
        if case.key not in self.alarmed and case.key not in self.ended:
            self.alarmed[case.key] = case
            self.quiet.add(case.key)

    def forget(self, key: str) -> None:
        """The position of ``key`` will not be restored (its group failed): no PROTECTED."""
        self.alarmed.pop(key, None)
        self.quiet.discard(key)
        self.ended.add(key)

    def restored_group(self, group_id: int, what: str) -> None:
        """``restored`` for the position OCO group ``group_id`` protects (its key ends with it)."""
        for key in [k for k in self.alarmed if k.endswith(f":group-{group_id}")]:
            self.restored(key, what)

    def restored(self, key: str, what: str) -> None:
        """The position of ``key`` is protected again (or flat): PROTECTED, once, if reported."""
        case = self.alarmed.pop(key, None)
        self.quiet.discard(key)
        if case is None:
            return
        self.ended.add(key)
        done = Unprotected(key, case.account, case.contract_id, case.side, 0, what, case.strategy)
        send(self.notifier, protected(done))


# -- the bridge itself ---------------------------------------------------------------------------


def bridge_started(
    *, accounts: Sequence[str], strategies: Sequence[str], gateway: str, paused: bool
) -> Notice:
    """The bridge started and is taking alerts."""
    followed = ", ".join(accounts) or "none"
    state = (
        "PAUSED: alerts are journaled, not executed; `tvbridge resume` resumes" if paused else "taking alerts"
    )
    return Notice(
        kind=NoticeKind.BRIDGE_STARTED,
        title=f"tvbridge started ({'paused' if paused else 'taking alerts'})",
        body=(
            f"tvbridge started on {gateway}: {state}. Followed accounts: {followed}. "
            f"Strategies: {', '.join(strategies) or 'none'}."
        ),
        key=f"bridge.started:{datetime.now(UTC).isoformat(timespec='seconds')}",
        data={"accounts": list(accounts), "strategies": list(strategies), "paused": paused},
    )


def bridge_stopped(held: Sequence[Held], unread: Sequence[str], *, firm: str, flattened: bool) -> Notice:
    """The bridge stopped: what it left open, per account. Critical when positions stay open,
    unwatched; warning when only working orders do; info when nothing is open."""
    positions = [h for h in held if h.kind == "position"]
    orders = [h for h in held if h.kind == "order"]
    lines = [_held_words(h) for h in held]
    if positions:
        level = NoticeLevel.CRITICAL
        todo = (
            f"They stay at the broker, unwatched (no stop loss is restored, no OCO kept) until "
            f"tvbridge runs again: watch them on the {firm} platform or start tvbridge again."
        )
    elif orders:
        level = NoticeLevel.WARNING
        todo = f"They may fill while tvbridge is away: watch them on the {firm} platform."
    else:
        level = NoticeLevel.INFO
        todo = "Nothing is open on the followed accounts."
    head = "flattened at shutdown, then " if flattened else ""
    summary = f"{len(positions)} position(s), {len(orders)} working order(s) left open"
    body = f"tvbridge stopped ({head}{summary}). " + (
        " ".join(f"{line}." for line in lines) + " " if lines else ""
    )
    body += todo
    if unread:
        body += (
            f" (The gateway could not be read for {', '.join(unread)}: the journal's view, "
            "maybe out of date.)"
        )
    return Notice(
        kind=NoticeKind.BRIDGE_STOPPED,
        title=f"tvbridge stopped: {summary}" if held else "tvbridge stopped: nothing open",
        body=body,
        level=level,
        key=f"bridge.stopped:{datetime.now(UTC).isoformat(timespec='seconds')}",
        account=", ".join(sorted({h.account_name for h in held})),
        data={"positions": len(positions), "orders": len(orders), "unread": list(unread)},
    )


def bridge_stopped_unchecked(*, firm: str) -> Notice:
    """The bridge stopped and could not tell what it left open (critical)."""
    return Notice(
        kind=NoticeKind.BRIDGE_STOPPED,
        title="tvbridge stopped: what is left open is NOT known",
        body=(
            "tvbridge stopped, and the check of what the followed accounts still hold failed. "
            f"Positions may stay open, unwatched: look at your accounts on the {firm} platform now."
        ),
        level=NoticeLevel.CRITICAL,
        key=f"bridge.stopped:{datetime.now(UTC).isoformat(timespec='seconds')}",
    )


def _held_words(item: Held) -> str:
    contract = contract_words(item.contract_id)
    at = f" @ {points(item.price)}" if item.price is not None else ""
    if item.kind == "position":
        return f"{item.account_name}: position {item.side} {item.size} {contract}{at}"
    return f"{item.account_name}: working {item.side} {item.size} {item.order_type} {contract}{at}"


@dataclass(frozen=True)
class AccountSummary:
    """One account's trading day for the daily summary: realised P&L net of fees (USD), the
    closed trades counted (closing fills), the worst one (USD, None without a loss), per
    strategy P&L (USD) where fills map to a strategy, open positions (contracts)."""

    account: str
    pnl: Decimal
    trades: int
    worst: Decimal | None
    by_strategy: dict[str, Decimal]
    open_contracts: int


def daily_summary(day: date, close_words: str, accounts: Iterable[AccountSummary]) -> Notice:
    """P&L per account and strategy, trades, the worst loss, at the session close."""
    rows = list(accounts)
    parts = []
    for a in rows:
        text = f"{a.account}: {signed_usd(a.pnl)} USD realised, {a.trades} trade(s)"
        if a.worst is not None:
            text += f", worst {signed_usd(a.worst)} USD"
        if a.by_strategy:
            text += " (" + ", ".join(f"{s} {signed_usd(p)}" for s, p in sorted(a.by_strategy.items())) + ")"
        if a.open_contracts:
            text += f"; {a.open_contracts} contract(s) still open"
        parts.append(text)
    total = sum((a.pnl for a in rows), Decimal(0))
    return Notice(
        kind=NoticeKind.DAILY_SUMMARY,
        title=f"Day {day.isoformat()}: {signed_usd(total)} USD on {len(rows)} account(s)",
        body=(
            f"Trading day {day.isoformat()} at the session close ({close_words}), net of fees: "
            + ("; ".join(parts) if parts else "no followed account")
            + "."
        ),
        key=f"daily-summary:{day.isoformat()}",
        data={"day": day.isoformat(), "total": usd(total)},
    )


def heartbeat(*, accounts: Sequence[str], positions: int, day_pnl: Decimal | None, since: datetime) -> Notice:
    """Still running: the followed accounts, the open positions counted, the day's P&L."""
    pnl = "" if day_pnl is None else f"; realised today {signed_usd(day_pnl)} USD"
    return Notice(
        kind=NoticeKind.HEARTBEAT,
        title=f"tvbridge running: {positions} open position(s)",
        body=(
            f"tvbridge is still running (since {since:%Y-%m-%d %H:%M} UTC). Followed accounts: "
            f"{', '.join(accounts) or 'none'}; {positions} open position(s){pnl}."
        ),
        key=f"heartbeat:{datetime.now(UTC):%Y-%m-%dT%H:%M}",
    )
