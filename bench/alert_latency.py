"""Webhook round trip of the bridge against a bare forwarder, on the simulator, on 127.0.0.1.

Starts three processes: the simulator (``tvbridge sim``, rate limit raised), the bridge
(``tvbridge serve`` on the simulator as a "custom" gateway, in a temp directory, with its journal,
templates and signed URL; alerts go to its webhook listener, as through a tunnel) and the bare
forwarder (bench/forwarder.py: one httpx call per alert, no auth, no journal). Then it sends N
market-order alerts at a fixed rate to each, alternating in rounds so both see the same machine,
and prints p50/p99 of the round trip and their ratio.

    python bench/alert_latency.py --alerts 500 --rate 50

``--notify dead`` or ``--notify hang`` configures a notification target that refuses or never
answers (issue 15: a failing target must not slow alerts).

Goal (issue 2): bridge p50 ≤ 1.5 × forwarder p50 and p99 ≤ 2 × forwarder p99 at 50 alerts/s.
Every request stays on 127.0.0.1, and the run is bounded by --alerts and --rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def start_sim(work: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``tvbridge sim`` on 127.0.0.1:``port`` in ``work`` (its client rate limit raised so it never
    paces a bench, no access log), logging to work/sim.log; ``extra``: more sim options."""
    args = ["--port", str(port), "--rate-limit", "100000000", "--no-access-log", *extra]
    return start([sys.executable, "-m", "app.cli", "sim", *args], work, work / "sim.log")


def bridge_settings(sim_port: int, bridge_port: int, webhook_port: int, gateway: str = "") -> str:
    """tvbridge.toml for ``tvbridge serve`` on the simulator at 127.0.0.1:``sim_port`` as a
    "custom" gateway, its rate limit raised so that it never paces a bench; ``gateway``: more
    ``[gateway]`` lines. Append further tables to it."""
    return (
        "[gateway]\n"
        'kind = "custom"\n'
        f'api_url = "http://127.0.0.1:{sim_port}"\n'
        f'user_hub_url = "ws://127.0.0.1:{sim_port}/hubs/user"\n'
        'username = "bench"\napi_key = "bench"\n'
        "rate_limit_per_minute = 1000000\n"
        f"{gateway}"
        f"[server]\nport = {bridge_port}\nwebhook_port = {webhook_port}\n"
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, *, method: str = "GET") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} died at start:\n{log.read_text()[-2000:]}")
        try:
            httpx.request(method, url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start in 60 s:\n{log.read_text()[-2000:]}")


def alert_body(n: int) -> bytes:
    # A distinct price per alert: the bridge must not drop any as a duplicate.
    price = 21500 + n * 0.25
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # {{timenow}}: checked for staleness
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": "buy" if n % 2 else "sell",
            "quantity": "1",
            "price": f"{price:.2f}",
            "time": now,
        }
    ).encode()


async def send_at_rate(
    url: str, count: int, rate: float, first: int, timeline: list[tuple[int, float, float]] | None = None
) -> tuple[list[float], list[str]]:
    """POST ``count`` alerts at ``rate`` per second (open loop); return latencies (ms) and errors.

    ``timeline`` gets (alert number, sent at: Unix time, latency in ms) for each answered alert."""
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one(n: int) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(
                    url, content=alert_body(n), headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                return
            latencies.append((time.perf_counter() - started) * 1000)
            if timeline is not None:
                timeline.append((n, time.time() - latencies[-1] / 1000, latencies[-1]))
            status = response.json().get("status")
            if response.status_code != 200 or status not in ("executed", "forwarded"):
                errors.append(f"{response.status_code} {status}")

        tasks = []
        t0 = time.perf_counter()
        for i in range(count):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first + i)))
        await asyncio.gather(*tasks)
    return latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def notify_settings(port: int) -> str:
    """``[notify]`` sending every notice to json://127.0.0.1:PORT/ (a target that fails)."""
    return (
        f'[notify]\nurls = ["json://127.0.0.1:{port}/"]\nlevel = "info"\nfills = true\n'
        "dedupe_s = 0\ntimeout_s = 10\n"
    )


def hanging_server() -> socket.socket:
    """A listener on 127.0.0.1 that accepts connections and never answers (a hung target)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(100)
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=500, help="alerts per target (default 500)")
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second (default 50)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured alerts per target first")
    parser.add_argument(
        "--timeline",
        type=Path,
        help="write each measured alert as CSV: target, alert number, sent at (Unix s), latency (ms)",
    )
    parser.add_argument(
        "--notify",
        choices=["dead", "hang"],
        help="configure a notification target that fails: 'dead' refuses connections, 'hang' accepts "
        "and never answers; every notice is sent to it (level info, fills on, no dedupe)",
    )
    args = parser.parse_args()
    hung = hanging_server() if args.notify == "hang" else None

    work = Path(tempfile.mkdtemp(prefix="tvbridge-bench-"))
    shutil.copytree(REPO / "templates", work / "templates")
    (work / "webhook_secrets.toml").write_text(f'mnq-market = "{SECRET}"\n')
    sim_port, bridge_port, forwarder_port = free_port(), free_port(), free_port()
    webhook_port = free_port()  # the webhook listener: what TradingView reaches through a tunnel
    sim_url = f"http://127.0.0.1:{sim_port}"
    (work / "tvbridge.toml").write_text(
        bridge_settings(sim_port, bridge_port, webhook_port)
        + (notify_settings(hung.getsockname()[1] if hung else free_port()) if args.notify else "")
    )
    python = sys.executable
    processes = []
    try:
        sim = start_sim(work, sim_port)
        processes.append(sim)
        wait_ready(f"{sim_url}/api/Status/ping", sim, work / "sim.log")
        bridge = start([python, "-m", "app.cli", "serve"], work, work / "bridge.log")
        forwarder = start(
            [
                python,
                str(REPO / "bench" / "forwarder.py"),
                "--sim-url",
                sim_url,
                "--port",
                str(forwarder_port),
            ],
            work,
            work / "forwarder.log",
        )
        processes += [bridge, forwarder]
        wait_ready(f"http://127.0.0.1:{bridge_port}/healthz", bridge, work / "bridge.log")
        wait_ready(f"http://127.0.0.1:{forwarder_port}/", forwarder, work / "forwarder.log")

        sys.path.insert(0, str(REPO))
        from app.ingest.auth import webhook_path

        targets = {
            "bridge": f"http://127.0.0.1:{webhook_port}{webhook_path('mnq-market', SECRET)}",
            "forwarder": f"http://127.0.0.1:{forwarder_port}/forward",
        }
        results: dict[str, list[float]] = {name: [] for name in targets}
        failures: dict[str, list[str]] = {name: [] for name in targets}
        timelines: dict[str, list[tuple[int, float, float]]] = {name: [] for name in targets}
        sent = 0
        for url in targets.values():  # warm-up: connections, caches, login, contracts
            asyncio.run(send_at_rate(url, args.warmup, args.rate, sent))
            sent += args.warmup
        per_round = max(1, args.alerts // args.rounds)
        for _ in range(args.rounds):
            for name, url in targets.items():
                latencies, errors = asyncio.run(
                    send_at_rate(url, per_round, args.rate, sent, timelines[name])
                )
                sent += per_round
                results[name] += latencies
                failures[name] += errors
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    if args.timeline is not None:
        rows = [f"{name},{n},{at:.6f},{ms:.3f}" for name, line in timelines.items() for n, at, ms in line]
        args.timeline.write_text("target,alert,sent_at,ms\n" + "\n".join(rows) + "\n")
    print(f"alerts per target: {len(results['bridge'])} at {args.rate:g}/s, {args.rounds} alternating rounds")
    print(f"{'target':<10} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'errors':>7}")
    for name in targets:
        values = results[name]
        print(
            f"{name:<10} {pct(values, 0.50):8.2f} {pct(values, 0.99):8.2f} "
            f"{statistics.fmean(values):8.2f} {len(failures[name]):7d}"
        )
    p50 = pct(results["bridge"], 0.50) / pct(results["forwarder"], 0.50)
    p99 = pct(results["bridge"], 0.99) / pct(results["forwarder"], 0.99)
    print(f"ratio bridge/forwarder: p50 {p50:.2f}x (goal ≤ 1.5x), p99 {p99:.2f}x (goal ≤ 2x)")
    for name, errors in failures.items():
        if errors:
            print(f"{name} errors (first 5): {errors[:5]}")
    if args.notify:
        print(f"notifications: every notice to a {args.notify} json:// target")
    print(f"logs and journal: {work}")


if __name__ == "__main__":
    main()
