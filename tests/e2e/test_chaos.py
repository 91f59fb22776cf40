"""A trader's bad day, bounded and on 127.0.0.1: ``tvbridge serve`` killed with ``kill -9`` during
a burst of distinct alerts, beside a standalone simulator that survives it, and every alert
without a 2xx sent again as TradingView does (tradingview.md §1).

Every alert must end with exactly one order on the simulator (0 lost, 0 doubled), every alert row
in a final status with its settled_at, and no order row left SUBMITTING or UNKNOWN. The run is
bounded: TVBRIDGE_CHAOS_ALERTS alerts (default 150) at 20 a second, TVBRIDGE_CHAOS_KILLS kills
(default 2) at moments drawn from TVBRIDGE_CHAOS_SEED (printed, so a failure can be replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from app.domain.enums import AlertStatus, OrderState
from app.ingest.auth import load_secrets, webhook_path
from app.journal import Journal
from tests.helpers import SHIPPED_TEMPLATES, eventually, free_port, journal_url, start_serve, start_sim

ALERTS = int(os.environ.get("TVBRIDGE_CHAOS_ALERTS", "150"))
KILLS = int(os.environ.get("TVBRIDGE_CHAOS_KILLS", "2"))
RATE_PER_S = 20.0
# ProjectX answers an order in tens of milliseconds from a laptop: alerts then queue behind their
# strategy's lock, and a kill falls between an order's arrival and its answer.
LATENCY_MS = os.environ.get("TVBRIDGE_CHAOS_LATENCY_MS", "60")
TRADINGVIEW_TIMEOUT_S = 3.0  # TradingView gives up on a webhook after 3 s
BASE_PRICE = Decimal("20000")
STEP = Decimal("0.25")
TAG = re.compile(r"^tvb-[a-z0-9]+-(?P<alert_id>\d+)-\d+$")  # app/domain/ids.py: an entry's tag


def body(n: int) -> bytes:
    """Alert ``n``: buy and sell in turn (the position stays small), a price of its own."""
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": "buy" if n % 2 else "sell",
            "quantity": "1",
            "price": str(BASE_PRICE + n * STEP),
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()


def number_of(raw_body: str) -> int:
    return int((Decimal(json.loads(raw_body)["price"]) - BASE_PRICE) / STEP)


@dataclass
class Run:
    """What the trader's side saw: each alert's last answer, and what was sent how often."""

    answers: dict[int, int | str] = field(default_factory=dict)  # n -> HTTP status or error name
    sent: Counter[int] = field(default_factory=Counter)
    bodies: dict[int, bytes] = field(default_factory=dict)  # TradingView re-sends the same bytes

    def delivered(self, n: int) -> bool:
        answer = self.answers.get(n)
        return isinstance(answer, int) and 200 <= answer < 300


class Bridge:
    """One ``tvbridge serve`` after another in the same folder, on the same ports and journal."""

    def __init__(self, workdir: Path, env: dict[str, str], log: Path) -> None:
        self.workdir, self.env, self.log = workdir, env, log
        self.process: subprocess.Popen[Any] | None = None
        self.ready_s: list[float] = []  # start to /readyz 200, each start

    def start(self) -> None:
        started = time.monotonic()
        with self.log.open("a") as output:
            output.write(f"\n===== start at {datetime.now(UTC).isoformat()} =====\n")
            output.flush()
            self.process = start_serve(self.workdir, self.env, output)
        self.ready_s.append(time.monotonic() - started)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def sim_orders(port: int) -> list[dict[str, Any]]:
    """Every order the simulator holds for trader1's accounts (Order/search, the last day)."""
    api = f"http://127.0.0.1:{port}/api"
    with httpx.Client(timeout=10) as client:
        token = client.post(f"{api}/Auth/loginKey", json={"userName": "trader1", "apiKey": "chaos"}).json()[
            "token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        accounts = client.post(
            f"{api}/Account/search", json={"onlyActiveAccounts": False}, headers=headers
        ).json()["accounts"]
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        orders: list[dict[str, Any]] = []
        for account in accounts:
            answer = client.post(
                f"{api}/Order/search",
                json={"accountId": account["id"], "startTimestamp": since},
                headers=headers,
            ).json()
            orders += answer["orders"]
        return orders


def bridge_env(root: Path, sim_port: int) -> dict[str, str]:
    """The environment of a bridge process on the simulator at ``sim_port`` (rate limits out of
    the way, its own journal under ``root``, free ports)."""
    return {
        "TVBRIDGE_GATEWAY__KIND": "custom",
        "TVBRIDGE_GATEWAY__API_URL": f"http://127.0.0.1:{sim_port}",
        "TVBRIDGE_GATEWAY__USER_HUB_URL": f"ws://127.0.0.1:{sim_port}/hubs/user",
        "TVBRIDGE_GATEWAY__USERNAME": "trader1",
        "TVBRIDGE_GATEWAY__API_KEY": "chaos-test-key",
        "TVBRIDGE_GATEWAY__RATE_LIMIT_PER_MINUTE": "1000000",
        "TVBRIDGE_JOURNAL__URL": journal_url(root),
        "TVBRIDGE_SERVER__PORT": str(free_port()),
        "TVBRIDGE_SERVER__WEBHOOK_PORT": str(free_port()),
    }


async def test_kill_9_during_a_burst_loses_no_alert_and_doubles_no_order(tmp_path: Path) -> None:
    seed = int(os.environ.get("TVBRIDGE_CHAOS_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    burst_s = ALERTS / RATE_PER_S
    kill_at = sorted(rng.uniform(0.8, max(1.0, burst_s - 0.5)) for _ in range(KILLS))
    print(f"chaos: seed {seed}, {ALERTS} alerts over {burst_s:.1f} s, kill -9 at {kill_at}")

    (tmp_path / "templates").mkdir()
    template = (SHIPPED_TEMPLATES / "mnq-market.toml").read_text()
    # Re-sends carry the first delivery's time: no alert may go stale while the bridge is down.
    (tmp_path / "templates" / "mnq-market.toml").write_text(
        template.replace('time_field = "time"', 'time_field = "time"\nmax_age_s = 0')
    )
    sim_port = free_port()
    sim, _ = start_sim(tmp_path, "--rate-limit", "1000000", "--latency-ms", LATENCY_MS, port=sim_port)
    env = bridge_env(tmp_path, sim_port)
    bridge = Bridge(tmp_path, env, tmp_path / "serve.log")
    run = Run()
    try:
        await asyncio.to_thread(bridge.start)
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-market"]
        hook = f"http://127.0.0.1:{env['TVBRIDGE_SERVER__WEBHOOK_PORT']}{webhook_path('mnq-market', secret)}"

        async with httpx.AsyncClient(timeout=TRADINGVIEW_TIMEOUT_S) as client:

            async def deliver(n: int) -> None:
                run.sent[n] += 1
                try:
                    answer = await client.post(hook, content=run.bodies[n])
                    run.answers[n] = answer.status_code
                except httpx.HTTPError as exc:
                    run.answers[n] = type(exc).__name__

            async def burst() -> None:
                started = time.monotonic()
                sending = []
                for n in range(ALERTS):
                    await asyncio.sleep(max(0.0, started + n / RATE_PER_S - time.monotonic()))
                    run.bodies[n] = body(n)
                    sending.append(asyncio.create_task(deliver(n)))
                await asyncio.gather(*sending)

            async def chaos() -> None:
                started = time.monotonic()
                for moment in kill_at:
                    await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
                    bridge.kill()
                    await asyncio.to_thread(bridge.start)

            await asyncio.gather(burst(), chaos())
            first_pass = sum(run.delivered(n) for n in range(ALERTS))
            # TradingView sends again what got no 2xx (a 503, a timeout, a refused connection).
            for _ in range(10):
                missing = [n for n in range(ALERTS) if not run.delivered(n)]
                if not missing:
                    break
                await asyncio.gather(*(deliver(n) for n in missing))
                if any(not run.delivered(n) for n in missing):
                    await asyncio.sleep(1.0)
        undelivered = [(n, run.answers[n]) for n in range(ALERTS) if not run.delivered(n)]
        assert not undelivered, f"alerts never answered 2xx after 10 re-sends: {undelivered[:10]}"

        journal = Journal(env["TVBRIDGE_JOURNAL__URL"])
        try:

            def unsettled() -> tuple[list[Any], list[Any], list[Any]]:
                alerts = journal.recent_alerts(limit=10 * ALERTS, strategy="mnq-market")
                open_alerts = [
                    (a.id, str(a.status))
                    for a in alerts
                    if a.status in (AlertStatus.RECEIVED, AlertStatus.UNKNOWN)
                    or (a.settled_at is None and a.status != AlertStatus.DUPLICATE)  # answered at intake
                ]
                open_orders = journal.orders_in_states([OrderState.SUBMITTING, OrderState.UNKNOWN])
                return alerts, open_alerts, [(o.id, str(o.state)) for o in open_orders]

            async def settled() -> bool:
                _, open_alerts, open_orders = unsettled()
                return not open_alerts and not open_orders

            with contextlib.suppress(AssertionError):
                await eventually(settled, timeout_s=60, interval_s=0.5)
            alerts, open_alerts, open_orders = unsettled()
            number = {a.id: number_of(a.raw_body) for a in alerts}
            orders = sim_orders(sim_port)
            per_alert: Counter[int] = Counter()
            for order in orders:
                tag = TAG.match(order.get("customTag") or "")
                assert tag is not None, f"an order the bridge did not tag as an entry: {order}"
                per_alert[number[int(tag["alert_id"])]] += 1
            lost = [n for n in range(ALERTS) if per_alert[n] == 0]
            doubled = [n for n in range(ALERTS) if per_alert[n] > 1]
            statuses = Counter(str(a.status) for a in alerts)
            ready = [round(s, 2) for s in bridge.ready_s]
            print(
                f"chaos: {len(bridge.ready_s)} starts, ready after {ready} s; "
                f"{first_pass}/{ALERTS} answered 2xx at first, {sum(run.sent.values())} deliveries; "
                f"{len(orders)} orders on the simulator; {len(lost)} lost, {len(doubled)} doubled; "
                f"journal statuses {dict(statuses)}; {len(open_alerts)} alerts and "
                f"{len(open_orders)} order rows not settled"
            )
            assert (lost, doubled) == ([], []), f"seed {seed}: lost {lost}, doubled {doubled}"
            assert len(orders) == ALERTS
            assert not open_alerts, f"seed {seed}: alerts not in a final status: {open_alerts[:10]}"
            assert not open_orders, f"seed {seed}: order rows left open: {open_orders[:10]}"
        finally:
            journal.close()
    finally:
        bridge.stop()
        sim.terminate()
        sim.wait(timeout=10)
        if os.environ.get("TVBRIDGE_CHAOS_KEEP"):
            shutil.copy(tmp_path / "serve.log", os.environ["TVBRIDGE_CHAOS_KEEP"])


# -- a scale-out group under kill -9 ------------------------------------------------------------
# Bounded: SCALE_GROUPS entries of 3 (mnq-scale-out: targets at 20/40/80 ticks, stop loss 40 ticks,
# break-even + 1 tick after target 1), each walked through TP1, TP2 and then back through its stop,
# with SCALE_KILLS kill -9 at steps drawn from the seed, each a random moment after the step.
SCALE_GROUPS = int(os.environ.get("TVBRIDGE_CHAOS_SCALE_GROUPS", "2"))
SCALE_KILLS = int(os.environ.get("TVBRIDGE_CHAOS_SCALE_KILLS", "3"))
SCALE_BASE = Decimal("21500")
# the price after each step, in ticks from the entry's fill, and the position left then
SCALE_STEPS = [(None, 3), (20, 2), (40, 1), (-20, 0)]


class SimView:
    """trader1's view of the standalone simulator over REST (one token)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(timeout=10)
        token = self.client.post(
            f"{self.base}/api/Auth/loginKey", json={"userName": "trader1", "apiKey": "chaos"}
        ).json()["token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        accounts = self.post("Account/search", {"onlyActiveAccounts": False})["accounts"]
        self.account_id = next(a["id"] for a in accounts if a["name"] == "SIM-AUTO-OCO")

    def post(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.post(f"{self.base}/api/{route}", json=payload).json()
        return answer

    def position(self) -> int:
        """Signed contracts held on SIM-AUTO-OCO (> 0 long; positionType 1 long, 2 short)."""
        held = self.post("Position/searchOpen", {"accountId": self.account_id})["positions"]
        return sum(p["size"] if p["type"] == 1 else -p["size"] for p in held)

    def working(self) -> list[dict[str, Any]]:
        return list(self.post("Order/searchOpen", {"accountId": self.account_id})["orders"])

    def orders(self) -> list[dict[str, Any]]:
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        return list(
            self.post("Order/search", {"accountId": self.account_id, "startTimestamp": since})["orders"]
        )

    def set_price(self, contract_id: str, price: Decimal) -> None:
        moved = self.client.post(
            f"{self.base}/_faults/price", json={"contractId": contract_id, "price": str(price)}
        )
        assert moved.status_code == 200, moved.text

    def close(self) -> None:
        self.client.close()


def protected(view: SimView, held: int) -> bool:
    """The invariants once the bridge settled: the position is ``held`` long; while it is open,
    exactly one working stop loss of the open size and targets adding up to at most it; flat, no
    working order. An AssertionError names what is wrong (``eventually`` waits on it)."""
    assert view.position() == held, (view.position(), held)
    working = view.working()
    stops = [o for o in working if o["type"] == 4]  # OrderType stop (projectx-api.md §4)
    limits = [o for o in working if o["type"] == 1]
    if held == 0:
        assert working == [], working
        return True
    assert [o["size"] for o in stops] == [held], stops  # one stop, never larger than the position
    assert sum(o["size"] for o in limits) <= held, limits
    return True


async def test_kill_9_during_scale_out_groups_keeps_each_protected_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("TVBRIDGE_CHAOS_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    moments = SCALE_GROUPS * len(SCALE_STEPS)
    kills = dict.fromkeys(rng.sample(range(moments), min(SCALE_KILLS, moments)), 0.0)
    for step in kills:
        kills[step] = rng.uniform(0.0, 0.4)
    print(f"chaos scale-out: seed {seed}, {SCALE_GROUPS} groups, kill -9 after steps {sorted(kills.items())}")

    (tmp_path / "templates").mkdir()
    template = (SHIPPED_TEMPLATES / "mnq-scale-out.toml").read_text()
    (tmp_path / "templates" / "mnq-scale-out.toml").write_text(
        template.replace('time_field = "time"', 'time_field = "time"\nmax_age_s = 0')
    )
    sim_port = free_port()
    # the price walk held still (a step a day): only the test moves the market
    sim, _ = start_sim(
        tmp_path, "--faults", "--rate-limit", "1000000", "--walk-interval", "86400", port=sim_port
    )
    env = bridge_env(tmp_path, sim_port)
    bridge = Bridge(tmp_path, env, tmp_path / "serve.log")
    view = SimView(sim_port)
    contract_id: str | None = None
    try:
        await asyncio.to_thread(bridge.start)
        secret = load_secrets(tmp_path / "webhook_secrets.toml")["mnq-scale-out"]
        hook = (
            f"http://127.0.0.1:{env['TVBRIDGE_SERVER__WEBHOOK_PORT']}{webhook_path('mnq-scale-out', secret)}"
        )

        async with httpx.AsyncClient(timeout=TRADINGVIEW_TIMEOUT_S) as client:

            async def deliver(raw: bytes) -> None:
                """Send until a 2xx, as TradingView re-sends (the bridge may be down meanwhile)."""
                for _ in range(20):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.post(hook, content=raw)).is_success:
                            return
                    await asyncio.sleep(0.5)
                raise AssertionError(f"alert never answered 2xx: {raw!r}")

            async def kill_soon(delay_s: float) -> None:
                await asyncio.sleep(delay_s)
                bridge.kill()
                await asyncio.to_thread(bridge.start)

            for group in range(SCALE_GROUPS):
                fill = SCALE_BASE
                for n, (ticks, held) in enumerate(SCALE_STEPS):
                    moment = group * len(SCALE_STEPS) + n
                    killing = asyncio.create_task(kill_soon(kills[moment])) if moment in kills else None
                    if ticks is None:  # the entry: buy 3 at market
                        if contract_id is not None:
                            view.set_price(contract_id, SCALE_BASE)
                        raw = json.dumps(
                            {
                                "id": f"chaos-scale-{group}",
                                "ticker": "MNQ1!",
                                "action": "buy",
                                "quantity": "3",
                                "price": str(SCALE_BASE),
                                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            }
                        ).encode()
                        await deliver(raw)
                    else:
                        assert contract_id is not None
                        view.set_price(contract_id, fill + ticks * STEP)
                    if killing is not None:
                        await killing

                    async def settled(held: int = held) -> bool:
                        return protected(view, held)

                    await eventually(settled, timeout_s=30, interval_s=0.2)
                    if ticks is None:
                        entry = max(
                            (o for o in view.orders() if TAG.match(o.get("customTag") or "")),
                            key=lambda o: o["id"],
                        )
                        contract_id = entry["contractId"]
                        fill = Decimal(str(entry["filledPrice"]))
                    elif ticks == 20:  # TP1 filled: the stop loss at break-even + 1 tick
                        [stop] = [o for o in view.working() if o["type"] == 4]
                        assert Decimal(str(stop["stopPrice"])) == fill + STEP, stop

        orders = view.orders()
        tags = Counter(o.get("customTag") for o in orders)
        doubled = [t for t, count in tags.items() if count > 1]
        entries = [o for o in orders if TAG.match(o.get("customTag") or "")]
        print(
            f"chaos scale-out: {len(bridge.ready_s)} starts, {len(orders)} orders on the simulator, "
            f"{len(entries)} entries, doubled tags {doubled}"
        )
        assert doubled == [], f"seed {seed}: orders sent twice: {doubled}"
        assert len(entries) == SCALE_GROUPS, f"seed {seed}: {len(entries)} entries for {SCALE_GROUPS} alerts"
        assert view.position() == 0 and view.working() == []
        journal = Journal(env["TVBRIDGE_JOURNAL__URL"])
        try:

            async def all_settled() -> bool:
                open_rows = journal.orders_in_states([OrderState.SUBMITTING, OrderState.UNKNOWN])
                assert open_rows == [], open_rows
                alerts = journal.recent_alerts(limit=50, strategy="mnq-scale-out")
                assert all(a.settled_at is not None for a in alerts if a.status != AlertStatus.DUPLICATE)
                return True

            await eventually(all_settled, timeout_s=20, interval_s=0.5)
        finally:
            journal.close()
    finally:
        view.close()
        bridge.stop()
        sim.terminate()
        sim.wait(timeout=10)
        if os.environ.get("TVBRIDGE_CHAOS_KEEP"):
            shutil.copy(tmp_path / "serve.log", os.environ["TVBRIDGE_CHAOS_KEEP"])
