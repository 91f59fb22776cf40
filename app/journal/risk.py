"""The risk gate's numbers: realised P&L, entries counted, the losing streak, the last prices.

Read before every entry: each number is one query on an index (fills by account and time,
a skip scan for the newest fill per contract).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, case, func
from sqlalchemy import select as core_select

from app.domain.enums import Leg, OrderState
from app.domain.records import RiskNumbers
from app.journal.common import ALERT, FILL, ORDER, as_utc

log = logging.getLogger(__name__)

_ACCOUNT_FILLS = (
    FILL.c.gateway == bindparam("of_gateway"),
    FILL.c.account_id == bindparam("account"),
    FILL.c.voided.is_(False),
)
_FILL_MONEY = core_select(FILL.c.profit_and_loss, FILL.c.fees, FILL.c.commissions).where(
    *_ACCOUNT_FILLS, FILL.c.filled_at >= bindparam("since")
)
# Newest first, read a page at a time: the streak usually ends within a few trades.
_CLOSING_FILLS = (
    core_select(
        FILL.c.broker_order_id,
        FILL.c.profit_and_loss,
        FILL.c.fees,
        FILL.c.commissions,
        FILL.c.filled_at,
    )
    .where(*_ACCOUNT_FILLS, FILL.c.profit_and_loss.is_not(None))
    .order_by(FILL.c.filled_at.desc(), FILL.c.id.desc())
    .execution_options(yield_per=50)
)
# An OCO pair (two entry rows in one group) is one entry: count groups, else rows.
_ENTRY_KEY = func.coalesce(ORDER.c.oco_group_id, -ORDER.c.id)
_NOT_SENT = (OrderState.REJECTED, OrderState.NOT_PLACED)
_ENTRIES = (
    core_select(
        func.count(func.distinct(_ENTRY_KEY)),
        func.count(func.distinct(case((ALERT.c.strategy == bindparam("strategy"), _ENTRY_KEY)))),
    )
    .select_from(ORDER.join(ALERT, ORDER.c.alert_id == ALERT.c.id))
    .where(
        ORDER.c.gateway == bindparam("of_gateway"),
        ORDER.c.account_id == bindparam("account"),
        ORDER.c.leg == Leg.ENTRY,
        ORDER.c.state.not_in(_NOT_SENT),
        ALERT.c.received_at >= bindparam("since"),
    )
)


def _newest_fills(*, of_account: bool) -> Select[Any]:
    """Per contract (of one account, or of all), its newest live fill: contract_id, price,
    filled_at. A skip scan: each step is one index look-up, however many fills there are."""

    def mine(fill: Any) -> list[Any]:
        gateway = fill.c.gateway == bindparam("of_gateway")
        return [gateway, fill.c.account_id == bindparam("account")] if of_account else [gateway]

    first = core_select(func.min(FILL.c.contract_id).label("contract_id")).where(*mine(FILL))
    contracts = first.cte("contracts", recursive=True)
    following = core_select(func.min(FILL.c.contract_id)).where(
        *mine(FILL), FILL.c.contract_id > contracts.c.contract_id
    )
    walk = contracts.union_all(
        core_select(following.scalar_subquery()).where(contracts.c.contract_id.is_not(None))
    )
    newer = FILL.alias("newer")
    newest = (
        core_select(newer.c.id)
        .where(*mine(newer), newer.c.contract_id == walk.c.contract_id, newer.c.voided.is_(False))
        .order_by(newer.c.filled_at.desc(), newer.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return core_select(FILL.c.contract_id, FILL.c.price, FILL.c.filled_at).join_from(
        walk, FILL, FILL.c.id == newest
    )


_ACCOUNT_FILL_PRICES = _newest_fills(of_account=True)
_FILL_PRICES = _newest_fills(of_account=False)
_REFERENCE_PRICES = core_select(ORDER.c.contract_id, ORDER.c.reference_price, ORDER.c.created_at).where(
    ORDER.c.id.in_(
        core_select(func.max(ORDER.c.id))
        .where(ORDER.c.gateway == bindparam("of_gateway"), ORDER.c.reference_price.is_not(None))
        .group_by(ORDER.c.contract_id)
    )
)
_NEWEST_TICKED = (
    core_select(func.max(ORDER.c.id))
    .where(ORDER.c.tick_size.is_not(None), ORDER.c.tick_value.is_not(None))
    .group_by(ORDER.c.contract_id)
)
_CONTRACT_TICKS = core_select(ORDER.c.contract_id, ORDER.c.tick_size, ORDER.c.tick_value).where(
    ORDER.c.id.in_(_NEWEST_TICKED)
)


def risk_numbers(
    conn: Connection, gateway: str, account_id: int, since: datetime, strategy: str | None
) -> RiskNumbers:
    """Journal.risk_numbers' work, in the caller's transaction."""
    params = {"account": account_id, "since": since, "strategy": strategy, "of_gateway": gateway}
    money = conn.execute(_FILL_MONEY, params).all()
    entries, strategy_entries = conn.execute(_ENTRIES, params).one()
    with conn.execute(_CLOSING_FILLS, params) as closing_fills:
        streak, last_loss_at = _losing_streak(closing_fills)
    prices = {row.contract_id: row.price for row in conn.execute(_ACCOUNT_FILL_PRICES, params)}
    return RiskNumbers(
        realised_pnl=sum((_net(*row) for row in money), Decimal(0)),
        entries=entries,
        strategy_entries=strategy_entries if strategy is not None else 0,
        losing_streak=streak,
        last_loss_at=last_loss_at,
        last_fill_prices=prices,
    )


def latest_prices(conn: Connection, gateway: str) -> dict[str, tuple[Decimal, datetime]]:
    """Journal.latest_prices' work, in the caller's transaction."""
    fills = conn.execute(_FILL_PRICES, {"of_gateway": gateway}).all()
    references = conn.execute(_REFERENCE_PRICES, {"of_gateway": gateway}).all()
    # A fill wins a tie: it is a trade, the reference only what the chart said.
    seen = [(as_utc(at), 1, contract, price) for contract, price, at in fills]
    seen += [(as_utc(at), 0, contract, price) for contract, price, at in references]
    return {contract: (price, at) for at, _, contract, price in sorted(seen, key=lambda s: s[:2])}


def contract_ticks(conn: Connection) -> dict[str, tuple[Decimal, Decimal]]:
    """contract id → (tick size, tick value) from the newest order row that recorded both."""
    return {contract: (size, value) for contract, size, value in conn.execute(_CONTRACT_TICKS)}


def _net(pnl: Decimal | None, fees: Decimal | None, commissions: Decimal | None) -> Decimal:
    """A fill's realised P&L less its costs (USD); None counts 0 (an opening fill has no P&L)."""
    return (pnl or Decimal(0)) - (fees or Decimal(0)) - (commissions or Decimal(0))


def _losing_streak(closing_fills: Iterable[Row[*tuple[Any, ...]]]) -> tuple[int, datetime | None]:
    """How many trades in a row, newest first, lost money, and the newest fill among them.

    ``closing_fills`` newest first; consecutive fills of one order are one trade. A trade that
    nets exactly 0 ends the streak like a win.
    """
    streak, last_loss_at = 0, None
    for _, fills in groupby(closing_fills, key=lambda f: f.broker_order_id):
        trade = list(fills)
        if sum((_net(f.profit_and_loss, f.fees, f.commissions) for f in trade), Decimal(0)) >= 0:
            break
        streak += 1
        last_loss_at = last_loss_at or as_utc(trade[0].filled_at)
    return streak, last_loss_at
