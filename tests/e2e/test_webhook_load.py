"""A bounded load test on 127.0.0.1: many alerts at once through the real webhook listener.

Every valid alert is journaled once with exactly one order; no order is duplicated; no answer is
a 5xx; bad secrets are refused (then locked out) without an order. The count is bounded (default
1,000 alerts, 50 at a time; TVBRIDGE_LOAD_ALERTS changes it) and the whole run takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

from app.domain.enums import AlertStatus
from app.web.webhook_app import create_webhook_app
from tests.e2e.conftest import make_settings, running
from tests.helpers import eventually, free_port

ALERTS = int(os.environ.get("TVBRIDGE_LOAD_ALERTS", "1000"))
CONCURRENCY = 50
BAD_EVERY = 10  # 10 % carry a wrong URL token


def body(n: int) -> bytes:
    # Buy and sell in turn (the position stays small); a distinct price makes each alert distinct.
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": "buy" if n % 2 else "sell",
            "quantity": "1",
            "price": f"{20000 + n * 0.25:.2f}",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()


async def test_a_thousand_alerts_fifty_at_a_time(tmp_path: Path) -> None:
    # The simulator and the client-side limit at 200 requests a minute would make this a
    # five-minute test of the rate limiter; this one is about the webhook path.
    settings = make_settings(tmp_path, rate_limit_per_minute=1_000_000)
    async with running(settings, tmp_path) as env:
        env.sim.rate_limit.limit = 1_000_000
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_webhook_app(env.runtime),
                host="127.0.0.1",
                port=port,
                lifespan="off",
                log_level="warning",
                proxy_headers=False,
            )
        )
        serving = asyncio.create_task(server.serve())

        async def started() -> bool:
            return server.started

        await eventually(started, timeout_s=10)
        signed = f"http://127.0.0.1:{port}{env.url('mnq-market')}"
        forged = f"http://127.0.0.1:{port}/webhook/mnq-market/{'f' * 43}"
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        try:
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:

                async def post(n: int) -> tuple[int, bool, httpx.Response]:
                    bad = n % BAD_EVERY == 0
                    async with gate:
                        response = await client.post(forged if bad else signed, content=body(n))
                    return n, bad, response

                results = await asyncio.gather(*(post(n) for n in range(ALERTS)))
        finally:
            server.should_exit = True
            await serving

        codes = Counter(r.status_code for _, _, r in results)
        assert all(code < 500 for code in codes), codes
        good = [r for _, bad, r in results if not bad]
        bad = [r for _, bad_one, r in results if bad_one]
        assert {r.status_code for r in good} <= {200, 202}, Counter(r.status_code for r in good)
        # All the forged ones come from 127.0.0.1: ten are journaled, then the address is locked
        # out, while the good ones from the same address keep going through.
        assert Counter(r.status_code for r in bad) == {401: 10, 429: len(bad) - 10}
        alert_ids = [r.json()["alert_id"] for r in good]
        assert len(set(alert_ids)) == len(good)

        journal = env.journal

        async def settled() -> bool:
            rows = journal.find_alerts(statuses=[AlertStatus.RECEIVED], limit=5)
            return not rows

        await eventually(settled, timeout_s=60)
        executed = journal.find_alerts(statuses=[AlertStatus.EXECUTED], limit=ALERTS * 2)
        assert sorted(a.id for a in executed) == sorted(alert_ids)
        unauthorized = journal.find_alerts(statuses=[AlertStatus.UNAUTHORIZED], limit=ALERTS)
        assert len(unauthorized) == 10
        places = env.place_requests()
        tags = [p["customTag"] for p in places]
        assert len(places) == len(good) and len(set(tags)) == len(tags)
        for alert_id in alert_ids[:: max(1, len(alert_ids) // 50)]:  # a sample: one order each
            assert len(env.orders(alert_id)) == 1
