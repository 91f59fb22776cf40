"""Restarting ``tvbridge serve`` on the simulator (the README's first step) keeps the simulator's
orders, positions, fills and ids, so the journal stays consistent with it; and a journal used
with one gateway, then another, keeps their rows apart (ids restart per gateway)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from app.domain.enums import Leg, OrderState
from app.ingest.auth import load_secrets, webhook_path
from app.journal.journal import Journal
from app.sim import AUTO_OCO_ACCOUNT_ID, SimState
from tests.helpers import SHIPPED_TEMPLATES, eventually, free_port, start_serve, start_sim

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class Served:
    """One ``tvbridge serve`` subprocess in ``workdir``; restart it with stop() then start()."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {"TVBRIDGE_SERVER__PORT": str(self.port), **(env or {})}
        self.process: subprocess.Popen[Any] | None = None
        self.log = workdir / "serve.log"

    def start(self) -> None:
        with self.log.open("a") as output:  # the process has its own copy of the file
            self.process = start_serve(self.workdir, self.env, output)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=30) in (0, 130)

    def send(self, strategy: str, **fields: str) -> dict[str, Any]:
        """Post an alert as TradingView would, fired now; return the bridge's answer."""
        secret = load_secrets(self.workdir / "webhook_secrets.toml")[strategy]
        body = {"ticker": "MNQ1!", "quantity": "1", "price": "21500.25", **fields}
        body["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        url = f"http://127.0.0.1:{self.port}{webhook_path(strategy, secret)}"
        answer = httpx.post(url, json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        reply: dict[str, Any] = answer.json()
        assert reply["status"] == "executed", reply
        return reply


def workdir_with_templates(path: Path) -> Path:
    shutil.copytree(SHIPPED_TEMPLATES, path / "templates")
    return path


def gateways(workdir: Path) -> list[str]:
    """The gateway identities the journal's order rows carry, in the order first seen."""
    engine = create_engine(f"sqlite:///{workdir / 'tvbridge.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT gateway FROM order_record GROUP BY gateway ORDER BY min(id)")).all()
    engine.dispose()
    return [row[0] for row in rows]


def journal_of(workdir: Path, gateway: str) -> Journal:
    return Journal(f"sqlite:///{workdir / 'tvbridge.db'}", gateway=gateway)


def net_position(journal: Journal) -> int:
    rows = [p for p in journal.positions(AUTO_OCO_ACCOUNT_ID) if p.size]
    return sum(p.size if p.side == "buy" else -p.size for p in rows)


def fills(journal: Journal) -> list[Any]:
    """The journal's fills of the gateway it was opened with (the pages list every gateway's)."""
    every = journal.find_fills(account_id=AUTO_OCO_ACCOUNT_ID, limit=1000)
    return [fill for fill in every if fill.gateway == journal.gateway]


def fill_count(journal: Journal) -> int:
    return len(fills(journal))


async def test_a_restarted_serve_on_the_simulator_keeps_positions_orders_fills_and_pnl(
    tmp_path: Path,
) -> None:
    workdir = workdir_with_templates(tmp_path)
    served = Served(workdir)
    served.start()
    bracket = served.send("mnq-bracket", id="restart-1", action="buy")  # entry + stop loss + take profit
    served.send("mnq-market", action="buy")
    [gateway] = gateways(workdir)
    assert gateway.startswith("sim:")
    journal = journal_of(workdir, gateway)

    async def bracket_working() -> bool:
        states = [o.state for o in journal.alert_orders(bracket["alert_id"])]
        assert states == [OrderState.FILLED, OrderState.WORKING, OrderState.WORKING], states
        assert fill_count(journal) == 2 and net_position(journal) == 2
        return True

    await eventually(bracket_working, timeout_s=15)
    trade_ids = {f.trade_id for f in fills(journal)}
    served.stop()

    served.start()  # the same simulator again: same orders, positions, ids going on
    assert gateways(workdir) == [gateway]
    served.send("mnq-market", action="sell")

    async def sold() -> bool:
        assert fill_count(journal) == 3 and net_position(journal) == 1
        return True

    await eventually(sold, timeout_s=15)
    legs = journal.alert_orders(bracket["alert_id"])
    assert [o.state for o in legs] == [OrderState.FILLED, OrderState.WORKING, OrderState.WORKING]
    served.stop()

    # The simulator's own books, read from its state file beside the journal, agree.
    state = SimState(state_path=workdir / "tvbridge.sim.db")
    try:
        assert f"sim:{state.instance}" == gateway
        trades = [t for t in state.trades if t.account_id == AUTO_OCO_ACCOUNT_ID]
        assert {f.trade_id for f in fills(journal)} == {t.id for t in trades}
        assert trade_ids < {t.id for t in trades}  # the new fill got a new trade id
        [position] = state.open_positions(AUTO_OCO_ACCOUNT_ID)
        assert position.net == net_position(journal) == 1
        working = {o.id for o in state.open_orders(AUTO_OCO_ACCOUNT_ID)}
        journaled = {
            o.broker_order_id
            for o in legs
            if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and o.state == OrderState.WORKING
        }
        assert working == journaled and len(working) == 2
        realised = sum(((t.profit_and_loss or Decimal(0)) - t.fees for t in trades), Decimal(0))
        assert journal.risk_numbers(AUTO_OCO_ACCOUNT_ID, LONG_AGO).realised_pnl == realised
        assert state.accounts[AUTO_OCO_ACCOUNT_ID].balance == Decimal(50000) + realised
    finally:
        state.close()
        journal.close()


async def test_a_journal_used_with_the_simulator_then_another_gateway_keeps_them_apart(
    tmp_path: Path,
) -> None:
    workdir = workdir_with_templates(tmp_path)
    in_process = Served(workdir)
    in_process.start()
    in_process.send("mnq-market", action="buy")
    [sim_gateway] = gateways(workdir)
    sim_journal = journal_of(workdir, sim_gateway)

    async def bought() -> bool:
        assert fill_count(sim_journal) == 1 and net_position(sim_journal) == 1
        return True

    await eventually(bought, timeout_s=15)
    in_process.stop()

    # A standalone simulator with a new state: the same account ids, and its first trade id is
    # the in-process simulator's first one too.
    standalone, url = start_sim(workdir, "--state", ":memory:", "--walk-interval", "0")
    custom = Served(
        workdir,
        {
            "TVBRIDGE_GATEWAY__KIND": "custom",
            "TVBRIDGE_GATEWAY__API_URL": url,
            "TVBRIDGE_GATEWAY__USER_HUB_URL": url.replace("http", "ws") + "/hubs/user",
            "TVBRIDGE_GATEWAY__USERNAME": "trader1",
            "TVBRIDGE_GATEWAY__API_KEY": "key-for-this-test",
        },
    )
    try:
        custom.start()
        custom.send("mnq-market", action="sell")
        assert gateways(workdir) == [sim_gateway, f"custom:{url}"]
        custom_journal = journal_of(workdir, f"custom:{url}")

        async def sold() -> bool:
            assert fill_count(custom_journal) == 1 and net_position(custom_journal) == -1
            return True

        await eventually(sold, timeout_s=15)
        custom.stop()
    finally:
        standalone.terminate()
        standalone.wait(timeout=10)

    [sim_fill] = fills(sim_journal)
    [custom_fill] = fills(custom_journal)
    assert custom_fill.trade_id == sim_fill.trade_id  # the same id, kept as two fills
    assert net_position(sim_journal) == 1 and net_position(custom_journal) == -1
    assert custom_journal.orders_in_states([OrderState.FILLED]) != sim_journal.orders_in_states(
        [OrderState.FILLED]
    )
    for journal in (sim_journal, custom_journal):
        [account] = [a for a in journal.account_states() if a.account_id == AUTO_OCO_ACCOUNT_ID]
        assert account.balance < Decimal(50000)
        journal.close()
