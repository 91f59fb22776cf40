"""One alert to 1 account against one alert to 5 accounts, on a gateway that takes 50 ms per call.

Starts the simulator (``tvbridge sim --latency-ms 50 --extra-accounts 3``: every REST answer
held 50 ms after the call, five practice accounts) and the bridge (``tvbridge serve`` on it as a
"custom" gateway, in a temp directory) with two market-order templates: ``fan-1`` sends to
SIM-AUTO-OCO, ``fan-5`` to it and four more accounts. Then it posts N alerts to each, one at a
time, alternating (buy, sell, … so no position grows), and prints the p50 of the webhook round
trip (the answer comes when every order's answer is journaled) and the ratio 5 / 1.

    python bench/fanout.py --alerts 30

Goal (issue 17): 5 accounts ≤ 1.3 × 1 account. Sent one account after another, each account
adds a gateway round trip (about 5×). Everything stays on 127.0.0.1; the bridge's client-side
rate limit is raised (as bench/alert_latency.py does) so that it does not pace the measure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_latency import bridge_settings, free_port, pct, start, start_sim, wait_ready  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef"
ACCOUNTS = ["SIM-AUTO-OCO", "SIM-POSITION-BRACKETS", "SIM-EXTRA-1", "SIM-EXTRA-2", "SIM-EXTRA-3"]


def template(accounts: list[str]) -> str:
    """The shipped mnq-market template (a plain market order), sent to ``accounts``."""
    shipped = (REPO / "templates" / "mnq-market.toml").read_text()
    names = ", ".join(f'"{a}"' for a in accounts)
    return shipped.replace('accounts = ["SIM-AUTO-OCO"]', f"accounts = [{names}]")


def alert_body(n: int) -> bytes:
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": "buy" if n % 2 else "sell",
            "quantity": "1",
            "price": f"{21500 + n * 0.25:.2f}",  # distinct: no alert is a duplicate
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=30, help="measured alerts per target (default 30)")
    parser.add_argument("--warmup", type=int, default=4, help="unmeasured alerts per target first")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per gateway call (default 50)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tvbridge-fanout-"))
    (work / "templates").mkdir()
    (work / "templates" / "fan-1.toml").write_text(template(ACCOUNTS[:1]))
    (work / "templates" / "fan-5.toml").write_text(template(ACCOUNTS))
    (work / "webhook_secrets.toml").write_text(f'fan-1 = "{SECRET}"\nfan-5 = "{SECRET}"\n')
    sim_port, bridge_port, webhook_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    (work / "tvbridge.toml").write_text(bridge_settings(sim_port, bridge_port, webhook_port))
    python = sys.executable
    processes = []
    results: dict[str, list[float]] = {"fan-1": [], "fan-5": []}
    failures: dict[str, list[str]] = {"fan-1": [], "fan-5": []}
    try:
        sim = start_sim(
            work,
            sim_port,
            "--state",
            ":memory:",
            "--latency-ms",
            str(args.latency_ms),
            "--extra-accounts",
            str(len(ACCOUNTS) - 2),
        )
        processes.append(sim)
        wait_ready(f"{sim_url}/api/Status/ping", sim, work / "sim.log")
        bridge = start([python, "-m", "app.cli", "serve"], work, work / "bridge.log")
        processes.append(bridge)
        wait_ready(f"http://127.0.0.1:{bridge_port}/healthz", bridge, work / "bridge.log")

        sys.path.insert(0, str(REPO))
        from app.ingest.auth import webhook_path

        urls = {name: f"http://127.0.0.1:{webhook_port}{webhook_path(name, SECRET)}" for name in results}
        with httpx.Client(timeout=10) as client:
            sent = 0
            for k in range(args.warmup + args.alerts):
                for name, url in urls.items():
                    sent += 1
                    started = time.perf_counter()
                    response = client.post(
                        url, content=alert_body(sent), headers={"Content-Type": "application/json"}
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    status = response.json().get("status")
                    if response.status_code != 200 or status != "executed":
                        failures[name].append(f"{response.status_code} {status}")
                    elif k >= args.warmup:
                        results[name].append(elapsed)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)

    print(f"gateway latency {args.latency_ms:g} ms per call; {args.alerts} alerts per target, alternating")
    print(f"{'target':<8} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8} {'errors':>7}")
    for name, values in results.items():
        if values:
            print(
                f"{name:<8} {pct(values, 0.50):8.1f} {pct(values, 0.90):8.1f} "
                f"{statistics.fmean(values):8.1f} {len(failures[name]):7d}"
            )
    if results["fan-1"] and results["fan-5"]:
        ratio = pct(results["fan-5"], 0.50) / pct(results["fan-1"], 0.50)
        print(f"ratio 5 accounts / 1 account: p50 {ratio:.2f}x (goal ≤ 1.3x)")
    for name, errors in failures.items():
        if errors:
            print(f"{name} errors (first 5): {errors[:5]}")
    print(f"logs and journal: {work}")


if __name__ == "__main__":
    main()
