"""Fuzz the webhook listener over real HTTP on 127.0.0.1: never a 5xx, never an unauthenticated order.

Starts a bridge in this process on its built-in simulator (a temp directory: journal, shipped
templates, fresh secrets), serves its webhook listener with uvicorn on a free 127.0.0.1 port,
and sends N inputs in two phases:

1. without the secret (no token, a wrong token, a guessed body secret, odd paths and methods):
   every family below; afterwards the simulator must have received no ``Order/place`` at all;
2. with the secret (the signed URL, or the secret in the body): the same hostile families.

Families: nested brackets and objects (up to 3,000 deep), huge numbers (up to 6,000 digits,
exponents of 1e±999999999), ``{{``/``{%`` floods up to 64 KiB, 64 KiB of one shape, random bytes,
TradingView-like JSON alerts with random values, random text. The address lockout is lifted
(``--keep-lockout`` keeps it) so that every input reaches parsing instead of a 429.

    python bench/fuzz_webhook.py --inputs 10000 --seed 12

Prints inputs tried, 5xx count, orders placed without authentication (both must be 0), the
status codes seen and the slowest answer. Exit status 1 when either count is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.config import load_settings  # noqa: E402
from app.ingest.auth import load_secrets, webhook_path  # noqa: E402
from app.ingest.sender import RefusalLimiter  # noqa: E402
from app.web.app import start_runtime, stop_runtime  # noqa: E402
from app.web.webhook_app import create_webhook_app  # noqa: E402

STRATEGIES = ["mnq-market", "mnq-bracket", "nq-text", "mnq-oco", "mnq-sync", "traderspost"]
MAX_BODY = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nested(rng: random.Random) -> str:
    opener = rng.choice(["[", "{", '{"a":', "[{", '{"a":[', '"', "\\", "[1,"])
    depth = rng.choice([rng.randint(1, 64), rng.randint(900, 3_000)])
    closed = rng.random() < 0.5
    return opener * depth + ("1" + "]}" * depth if closed else "")


def huge_number(rng: random.Random) -> str:
    digits = "9" * rng.choice([rng.randint(1, 60), rng.randint(4_000, 6_000)])
    number = (
        rng.choice(["", "-"]) + digits + rng.choice(["", ".5", "." + "0" * 300, "e999999999", "E-999999999"])
    )
    key = rng.choice(["quantity", "price", "time", "id", "stopLoss"])
    value = json.dumps(number) if rng.random() < 0.5 else number
    return f'{{"ticker": "MNQ1!", "action": "buy", "quantity": 1, "price": 1, "{key}": {value}}}'


def flood(rng: random.Random) -> str:
    unit = rng.choice(
        ["{{", "}}", "{{ticker", "{{ {{", "{%", "{#", "%{{", "secret=", '"secret":"', "{{close}}"]
    )
    most = MAX_BODY // len(unit)
    count = rng.choice([rng.randint(1, 100), rng.randint(most // 4, most)])
    return unit * count + rng.choice(["", "}}", '"}', " buy 1 NQ1! @ 1"])


def full_shape(rng: random.Random) -> str:
    unit = rng.choice(["[", "{", '"\\"', "1,", '"a":1,', " ", "\n", "a", "é", "{{", "'", "“"])
    return rng.choice(["", "{", "["]) + unit * (MAX_BODY // len(unit.encode()) - 1)


def alert_like(rng: random.Random) -> str:
    def value() -> object:
        return rng.choice(
            [
                rng.randint(-10, 10**6),
                rng.random() * 1e6,
                "",
                "NaN",
                None,
                [],
                {},
                "MNQ1!",
                "buy",
                "{{ticker}}",
            ]
        )

    fields = {k: value() for k in ("ticker", "action", "quantity", "price", "time") if rng.random() < 0.8}
    text = json.dumps(fields)
    return text if rng.random() < 0.8 else text.replace('"', rng.choice(["'", "“", ""]))


def random_text(rng: random.Random) -> str:
    return "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 400)))


FAMILIES = [nested, huge_number, flood, full_shape, alert_like, random_text]


def body_of(rng: random.Random) -> bytes:
    if rng.random() < 0.08:
        return rng.randbytes(rng.randint(0, 4_096))
    return rng.choice(FAMILIES)(rng).encode("utf-8", "surrogatepass")[:MAX_BODY]


def unauthenticated(rng: random.Random, secrets: dict[str, str]) -> tuple[str, str, bytes]:
    strategy = rng.choice([*STRATEGIES, "no-such-strategy", "MNQ-MARKET", "mnq-market%2f"])
    body = body_of(rng)
    how = rng.choice(["none", "wrong token", "other strategy's token", "guessed secret", "odd path"])
    path = f"/webhook/{strategy}"
    if how == "wrong token":
        path += "/" + "".join(rng.choices("ABCdef0123456789-_", k=rng.choice([1, 43, 200])))
    elif how == "other strategy's token":
        other = rng.choice(STRATEGIES)
        path = f"/webhook/{strategy}/" + webhook_path(other, secrets[other]).rsplit("/", 1)[1]
        if other == strategy:
            path = f"/webhook/{strategy}/x"
    elif how == "guessed secret":
        body = (b'{"secret": "' + rng.randbytes(8).hex().encode() + b'", ' + body)[:MAX_BODY]
    elif how == "odd path":
        path = rng.choice(["/", "/webhook", "/webhook/", "/WEBHOOK/mnq-market", "/webhook/%00", "/journal"])
    return rng.choice(["POST"] * 9 + ["GET", "PUT"]), path, body


def authenticated(rng: random.Random, secrets: dict[str, str]) -> tuple[str, str, bytes]:
    strategy = rng.choice(STRATEGIES)
    body = body_of(rng)
    if rng.random() < 0.6:
        return "POST", webhook_path(strategy, secrets[strategy]), body
    return (
        "POST",
        f"/webhook/{strategy}",
        (b'{"secret": "' + secrets[strategy].encode() + b'", ' + body)[:MAX_BODY],
    )


async def run(count: int, seed: int, concurrency: int, keep_lockout: bool) -> int:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="tvbridge-fuzz-"))
    shutil.copytree(REPO / "templates", root / "templates")
    settings = load_settings(
        None,
        journal={"url": f"sqlite:///{root / 'journal.db'}"},
        server={
            "secrets_file": root / "webhook_secrets.toml",
            "templates_dir": root / "templates",
            "auth_file": root / "tvbridge_auth.toml",
        },
        gateway={"kind": "sim", "timeout_s": 0.5},
        sim={"state_file": str(root / "sim-state.db")},
    )
    runtime = await start_runtime(settings)
    if not keep_lockout:
        runtime.bridge.intake.limiter = RefusalLimiter(10**9, 1.0)
    secrets = load_secrets(settings.server.secrets_file)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_webhook_app(runtime), host="127.0.0.1", port=port, log_level="critical")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)

    codes: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    tried = 0
    big: list[float] = []  # answer times of bodies of 60 KiB or more (ms)

    async def send(client: httpx.AsyncClient, request: tuple[str, str, bytes]) -> None:
        nonlocal tried, slowest
        method, path, body = request
        started = time.perf_counter()
        try:
            response = await client.request(method, path, content=body)
            code = response.status_code
        except httpx.HTTPError as exc:
            code = 599
            failures.append(f"{method} {path}: {exc!r}")
        took = time.perf_counter() - started
        codes[code] += 1
        tried += 1
        if code >= 500 and len(failures) < 20:
            failures.append(f"{code} {method} {path} {body[:120]!r}")
        if len(body) >= 60 * 1024:
            big.append(took * 1000)
        if took > slowest[0]:
            slowest = (took, f"{method} {path[:40]} {len(body)} bytes {body[:40]!r}")

    async def phase(make: object, n: int) -> None:
        queue = [make(rng, secrets) for _ in range(n)]  # type: ignore[operator]
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            for start in range(0, n, concurrency):
                await asyncio.gather(*(send(client, r) for r in queue[start : start + concurrency]))

    started = time.perf_counter()
    unauth_n = count * 7 // 10
    await phase(unauthenticated, unauth_n)
    orders_without_auth = len(runtime.sim.state.requests_to("Order/place"))
    await phase(authenticated, count - unauth_n)
    elapsed = time.perf_counter() - started

    server.should_exit = True
    await serving
    await stop_runtime(runtime)
    shutil.rmtree(root, ignore_errors=True)

    server_errors = sum(n for code, n in codes.items() if code >= 500)
    print(f"inputs tried: {tried} ({unauth_n} without the secret, {count - unauth_n} with it), seed {seed}")
    print(f"5xx count: {server_errors}")
    print(f"orders placed without authentication: {orders_without_auth}")
    print(f"status codes: {dict(sorted(codes.items()))}")
    print(
        f"time: {elapsed:.1f} s ({tried / elapsed:.0f} inputs/s); "
        f"slowest answer {slowest[0] * 1000:.0f} ms: {slowest[1]}"
    )
    if big:
        big.sort()
        p50, p99 = big[len(big) // 2], big[min(len(big) - 1, len(big) * 99 // 100)]
        print(
            f"bodies of 60-64 KiB: {len(big)}, answered in p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {big[-1]:.1f} ms"
        )
    for line in failures[:20]:
        print("  " + line)
    return 0 if server_errors == 0 and orders_without_auth == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep-lockout", action="store_true", help="keep the address lockout (most get 429)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.inputs, args.seed, args.concurrency, args.keep_lockout)))


if __name__ == "__main__":
    main()
