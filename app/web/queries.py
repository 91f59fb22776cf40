"""What the journal page, its CSV export and the JSON API ask the journal: one set of queries.

Filters come from the query string (``?strategy=&account=&status=&since=&until=``); dates are the
trader's local calendar days (the machine's time zone), turned into UTC bounds here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from app.domain.enums import AlertStatus
from app.errors import BridgeError
from app.journal.journal import LatencyChain
from app.web.journal_view import AlertDetail

if TYPE_CHECKING:
    from app.journal import AlertRecord, Journal, OrderRecord
    from app.journal.tables import FillRecord

PAGE_SIZE = 100
MAX_LIMIT = 1000
# Ids and accounts in a query string: whole numbers up to 2**53 - 1 (every journal and ProjectX
# id is far below); larger ones answer 400, never reach the database.
MAX_QUERY_INT = 2**53 - 1
MIN_YEAR, MAX_YEAR = 1970, 9998  # dates a filter may name (the day after must still be a date)
MAX_IDS = 200  # /journal/rows?ids=…


class FilterError(BridgeError):
    """A query-string value the journal cannot filter by (answered with 400 and the value)."""


@dataclass(frozen=True)
class AlertFilter:
    """The journal page's filters. ``since``/``until`` are local calendar days (inclusive)."""

    strategy: str | None = None
    account_id: int | None = None
    statuses: tuple[AlertStatus, ...] = ()
    since: date | None = None
    until: date | None = None
    before_id: int | None = None
    limit: int = PAGE_SIZE

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AlertFilter:
        """Read the filters from a query string (``status`` may list several, comma-separated).
        Raises FilterError naming the bad value."""
        statuses = []
        for value in query.get("status", "").split(","):
            if not value:
                continue
            try:
                statuses.append(AlertStatus(value))
            except ValueError:
                known = ", ".join(s.value for s in AlertStatus)
                raise FilterError(
                    f"status '{shown(value)}' is not an alert status; use one of {known}"
                ) from None
        return cls(
            strategy=query.get("strategy") or None,
            account_id=query_int(query, "account"),
            statuses=tuple(statuses),
            since=_date(query, "since"),
            until=_date(query, "until"),
            before_id=query_int(query, "before"),
            limit=min(query_int(query, "limit") or PAGE_SIZE, MAX_LIMIT),
        )

    def journal_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Journal.find_alerts``."""
        return {
            "strategy": self.strategy,
            "account_id": self.account_id,
            "statuses": list(self.statuses) or None,
            "since": _local_midnight_utc(self.since) if self.since else None,
            "until": _local_midnight_utc(self.until + timedelta(days=1)) if self.until else None,
            "before_id": self.before_id,
            "limit": self.limit,
        }

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string (paging dropped unless given in ``changes``)."""
        values = {
            "strategy": self.strategy,
            "account": self.account_id,
            "status": ",".join(s.value for s in self.statuses),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    @property
    def active(self) -> bool:
        return any((self.strategy, self.account_id, self.statuses, self.since, self.until))


@dataclass
class AlertPage:
    """Alerts newest first with their details, and the id to continue from (older alerts)."""

    alerts: list[AlertRecord]
    details: dict[int | None, AlertDetail]
    older_than: int | None = None
    tick_sizes: dict[str, Decimal] = field(default_factory=dict)


def alert_details(journal: Journal, alerts: Sequence[AlertRecord]) -> dict[int | None, AlertDetail]:
    """Orders, fills and latency chain of each alert, in two queries whatever the count."""
    ids = [a.id for a in alerts if a.id is not None]
    orders: dict[int | None, list[OrderRecord]] = {i: [] for i in ids}
    for order in journal.orders_of_alerts(ids):
        orders[order.alert_id].append(order)
    fills: dict[int | None, list[FillRecord]] = {i: [] for i in ids}
    alert_of_order = {o.id: o.alert_id for rows in orders.values() for o in rows}
    for fill in journal.fills_of_alerts(ids):
        fills[alert_of_order[fill.order_record_id]].append(fill)
    return {a.id: AlertDetail(orders[a.id], fills[a.id], LatencyChain.of(a, orders[a.id])) for a in alerts}


def find_alert_page(journal: Journal, flt: AlertFilter) -> AlertPage:
    """One page of alerts matching ``flt`` with their details (runs in the journal runner)."""
    alerts = journal.find_alerts(**flt.journal_kwargs())
    details = alert_details(journal, alerts)
    older = alerts[-1].id if len(alerts) == flt.limit else None
    return AlertPage(alerts, details, older, _tick_sizes(details))


def _tick_sizes(details: Mapping[int | None, AlertDetail]) -> dict[str, Decimal]:
    """contract id → tick size, from the order rows shown (prices on the page use it)."""
    return {o.contract_id: o.tick_size for d in details.values() for o in d.orders if o.tick_size is not None}


def alerts_by_id(journal: Journal, ids: Sequence[int], flt: AlertFilter) -> AlertPage:
    """The alerts among ``ids`` that pass ``flt`` (for the live feed), newest first."""
    kwargs = {**flt.journal_kwargs(), "before_id": None, "alert_ids": set(ids), "limit": len(ids)}
    alerts = journal.find_alerts(**kwargs)
    details = alert_details(journal, alerts)
    return AlertPage(alerts, details, None, _tick_sizes(details))


def query_int(query: Mapping[str, str], name: str) -> int | None:
    """A whole number from 0 to MAX_QUERY_INT from the query string, None when absent.
    Raises FilterError (a sign, a fraction, other digits than 0-9, or too large)."""
    value = query.get(name, "").strip()
    return parse_whole(name, value) if value else None


def parse_whole(name: str, value: str) -> int:
    """``value`` as a whole number from 0 to MAX_QUERY_INT. Raises FilterError naming ``name``."""
    if not (value.isascii() and value.isdigit()):
        raise FilterError(f"{name} '{shown(value)}' is not a whole number")
    if len(value) > len(str(MAX_QUERY_INT)) or int(value) > MAX_QUERY_INT:
        raise FilterError(f"{name} '{shown(value)}' is too large: at most {MAX_QUERY_INT}")
    return int(value)


def shown(value: str) -> str:
    """A query value quoted back in an error, cut to 40 characters (escaped where it is shown)."""
    return value if len(value) <= 40 else value[:40] + "…"


def _date(query: Mapping[str, str], name: str) -> date | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} '{shown(value)}' is not a date; use YYYY-MM-DD") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise FilterError(
            f"{name} '{shown(value)}' is out of range: use a year from {MIN_YEAR} to {MAX_YEAR}"
        )
    return day


def query_day_start(query: Mapping[str, str], name: str) -> datetime | None:
    """The start (UTC) of the local calendar day a query value names. Raises FilterError."""
    day = _date(query, name)
    return _local_midnight_utc(day) if day else None


def _local_midnight_utc(day: date) -> datetime:
    """The start of a local calendar day, in UTC."""
    return datetime.combine(day, time()).astimezone().astimezone(UTC)
