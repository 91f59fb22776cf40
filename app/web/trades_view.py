"""The trades the pages and the JSON API show: the journal's fills matched into round trips
(app/domain/trades.py), with each contract's tick size and value from the gateway's contract list.

The one place the web layer gets trades from: the journal page (alert → its trades), the trades
list and CSV, ``/api/trades``, the performance page and ``/api/performance`` all call
``load_trades``, so they show the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.models import Contract
from app.domain.trades import ContractSpec, Trade, TradeFill, match_trades

if TYPE_CHECKING:
    from app.journal import Journal
    from app.web.app import Runtime


async def load_trades(
    runtime: Runtime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    account_id: int | None = None,
    strategy: str | None = None,
) -> list[Trade]:
    """The trades (closed and open, oldest first) with a fill in [``since``, ``until``) (UTC;
    None: unbounded), of one account and one strategy (the opening alert's) when given.
    Journal reads and cached contract specs only: no gateway request per call. Raises
    JournalError.

    Matched over every fill before ``until`` (a trade opened before ``since`` is matched from
    its real entry), then kept when its life, from its first fill to its last closing fill (now
    while open), meets the range; a trade still open at ``until`` is shown open."""
    fills, recorded = await runtime.bridge.runner.run(_read, runtime.journal, until)
    specs = contract_specs(recorded, runtime.bridge.gateway.known_contracts())
    trades = match_trades(fills, specs)
    return [t for t in trades if _kept(t, since, until, account_id, strategy)]


def contract_specs(recorded: Recorded, known: Sequence[Contract]) -> dict[str, ContractSpec]:
    """contract id → ContractSpec: the gateway's cached contract list first, then the tick size
    and value the journal's order rows recorded (a contract the resolver has not read since
    the start, e.g. after a restart)."""
    specs = {cid: ContractSpec(size, value) for cid, (size, value) in recorded.items() if size > 0}
    for c in known:
        if c.tick_size > 0:
            specs[c.contract_id] = ContractSpec(c.tick_size, c.tick_value)
    return specs


Recorded = dict[str, tuple[Decimal, Decimal]]  # contract id → (tick size, tick value)


def _read(journal: Journal, until: datetime | None) -> tuple[list[TradeFill], Recorded]:
    return journal.trade_fills(until=until), journal.contract_specs()


def _kept(
    t: Trade, since: datetime | None, until: datetime | None, account_id: int | None, strategy: str | None
) -> bool:
    if account_id is not None and t.account_id != account_id:
        return False
    if strategy is not None and t.strategy != strategy:
        return False
    if until is not None and t.opened_at >= until:
        return False
    end = t.closed_at or datetime.now(UTC)
    return since is None or end >= since
