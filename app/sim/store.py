"""The simulator's state file: orders, trades, positions, accounts, prices and id counters in SQLite.

Why SQLite rather than one JSON file rewritten atomically: a state change writes only the rows it
touched (an order place writes a few rows, not the whole history, which grows by every trade), in
one transaction that a crash either keeps or drops whole. WAL with ``synchronous=NORMAL``: a commit
is in the operating system's hands before the call returns, so it survives ``kill -9`` of the
process (what a crash test does); only a power cut can lose the last commits, as with any broker's
in-flight messages. The file is opened with an exclusive lock, so two simulators never share one.

Each record is one row of JSON keyed by its id; the simulator's own dataclasses are the schema.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sim.models import (
    BracketMode,
    OrderStatus,
    OrderType,
    Side,
    SimAccount,
    SimOrder,
    SimPosition,
    SimTrade,
)

MEMORY = ":memory:"  # a state path meaning "keep nothing"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_account (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_order (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_trade (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_position (
    account_id INTEGER NOT NULL, contract_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (account_id, contract_id)
);
"""


class StateFileError(Exception):
    """The state file cannot be opened (in use by another simulator, unreadable, not ours).

    Not a BridgeError: the simulator stands beside the product and imports nothing of it."""


@dataclass
class Snapshot:
    """What a state file holds; ``meta`` has the id counters (``next_*_id``) and ``prices``."""

    accounts: list[SimAccount] = field(default_factory=list)
    orders: list[SimOrder] = field(default_factory=list)
    trades: list[SimTrade] = field(default_factory=list)
    positions: list[SimPosition] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Changes:
    """The rows one state change touched (what ``SimStore.save`` writes in one transaction)."""

    accounts: dict[int, SimAccount] = field(default_factory=dict)
    orders: dict[int, SimOrder] = field(default_factory=dict)
    trades: list[SimTrade] = field(default_factory=list)
    positions: dict[tuple[int, str], SimPosition | None] = field(default_factory=dict)  # None: flat
    meta: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.orders or self.trades or self.positions or self.meta)


class SimStore:
    """One state file, open for this process only (exclusive lock until ``close``)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) ``path``. Raises StateFileError when another process holds it."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=0.5, check_same_thread=False)
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            # A write takes the exclusive lock now, held until close (locking_mode above).
            self._db.execute("INSERT OR REPLACE INTO sim_meta VALUES ('format', '1')")
        except sqlite3.Error as exc:
            raise StateFileError(
                f"simulator state file {path}: {exc} (is another simulator using it? give each its own file)"
            ) from exc

    def load(self) -> Snapshot | None:
        """Everything stored, or None for a new file."""
        meta = {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM sim_meta")}
        if "next_order_id" not in meta:
            return None

        def rows(table: str) -> list[dict[str, Any]]:
            return [json.loads(body) for (body,) in self._db.execute(f"SELECT body FROM {table} ORDER BY 1")]  # noqa: S608 (our table names)

        return Snapshot(
            accounts=[_account(row) for row in rows("sim_account")],
            orders=[_order(row) for row in rows("sim_order")],
            trades=[_trade(row) for row in rows("sim_trade")],
            positions=[_position(row) for row in rows("sim_position")],
            meta=meta,
        )

    def save(self, changes: Changes) -> None:
        """Write ``changes`` in one transaction (all or nothing). Raises sqlite3.Error."""
        db = self._db
        db.execute("BEGIN")
        try:
            _upsert(db, "sim_account", [(a.id, _dump(a)) for a in changes.accounts.values()])
            _upsert(db, "sim_order", [(o.id, _dump(o)) for o in changes.orders.values()])
            _upsert(db, "sim_trade", [(t.id, _dump(t)) for t in changes.trades])
            for (account_id, contract_id), position in changes.positions.items():
                if position is None:
                    db.execute(
                        "DELETE FROM sim_position WHERE account_id = ? AND contract_id = ?",
                        (account_id, contract_id),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO sim_position VALUES (?, ?, ?)",
                        (account_id, contract_id, _dump(position)),
                    )
            if changes.meta:
                db.executemany(
                    "INSERT OR REPLACE INTO sim_meta VALUES (?, ?)",
                    [(key, json.dumps(value, default=str)) for key, value in changes.meta.items()],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Release the file (and its lock)."""
        self._db.close()


def remove_state_file(path: Path) -> None:
    """Delete a state file and its WAL companions (``tvbridge sim --fresh``)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _upsert(db: sqlite3.Connection, table: str, rows: list[tuple[int, str]]) -> None:
    if rows:
        db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", list(rows))  # noqa: S608 (ours)


def _plain(value: Any) -> Any:
    """JSON for what json does not know; IntEnum and StrEnum are already int and str."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r}")


def _dump(record: SimAccount | SimOrder | SimTrade | SimPosition) -> str:
    return json.dumps(vars(record), default=_plain)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _account(row: dict[str, Any]) -> SimAccount:
    return SimAccount(
        **{**row, "balance": Decimal(row["balance"]), "bracket_mode": BracketMode(row["bracket_mode"])}
    )


def _order(row: dict[str, Any]) -> SimOrder:
    return SimOrder(
        **{
            **row,
            "created_at": datetime.fromisoformat(row["created_at"]),
            "updated_at": datetime.fromisoformat(row["updated_at"]),
            "status": OrderStatus(row["status"]),
            "type": OrderType(row["type"]),
            "side": Side(row["side"]),
            "limit_price": _decimal(row["limit_price"]),
            "stop_price": _decimal(row["stop_price"]),
            "filled_price": _decimal(row["filled_price"]),
            "trail_distance": _decimal(row.get("trail_distance")),
        }
    )


def _trade(row: dict[str, Any]) -> SimTrade:
    return SimTrade(
        **{
            **row,
            "created_at": datetime.fromisoformat(row["created_at"]),
            "price": Decimal(row["price"]),
            "profit_and_loss": _decimal(row["profit_and_loss"]),
            "fees": Decimal(row["fees"]),
            "side": Side(row["side"]),
        }
    )


def _position(row: dict[str, Any]) -> SimPosition:
    return SimPosition(
        **{
            **row,
            "created_at": datetime.fromisoformat(row["created_at"]),
            "average_price": Decimal(row["average_price"]),
        }
    )
