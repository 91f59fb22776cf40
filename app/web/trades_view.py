"""The trades the pages and the JSON API show: the journal's fills matched into round trips
(app/domain/trades.py), with each contract's tick size and value from the gateway's contract list.

The one place the web layer gets trades from: the journal page (alert → its trades), the trades
list and CSV, ``/api/trades``, the performance page and ``/api/performance`` all call
``load_trades``, so they show the same numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.domain.trades import Trade

if TYPE_CHECKING:
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
    JournalError."""
    raise NotImplementedError("issue 16: trades helper")
