"""The webhook listener (the only port a tunnel exposes): nothing but POST /webhook/... answers;
client addresses come only from the configured tunnel's header; TradingView-only allowlist;
refused requests limited per address; reachability checks; empty and huge bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from app.domain.enums import AlertStatus
from app.web.app import create_app
from app.web.webhook_app import create_webhook_app
from tests.e2e.conftest import Env, make_settings, running

TRADINGVIEW = "52.89.214.238"  # one of the four (reference/tradingview.md §1)
STRANGER = "198.51.100.9"


def market_alert(n: int = 0, action: str = "buy") -> str:
    return json.dumps(
        {
            "ticker": "MNQ1!",
            "action": action,
            "quantity": "1",
            "price": f"{21500 + n * 0.25:.2f}",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def listener(env: Env, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of the webhook listener's app, as seen from ``peer`` (the tunnel runs locally)."""
    transport = httpx.ASGITransport(app=create_webhook_app(env.runtime), client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://tvbridge.test")


async def statuses(env: Env) -> list[tuple[str, str]]:
    alerts = env.journal.find_alerts(limit=1000)
    return [(str(a.status), a.source_ip) for a in reversed(alerts)]


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Env]:
    """A bridge with server.tradingview_only on."""
    root = tmp_path / "guarded"  # beside the `env` fixture's bridge, not on its files
    root.mkdir()
    settings = make_settings(root)
    settings.server.tradingview_only = True
    async with running(settings, root) as env:
        yield env


def _page_paths(env: Env) -> list[str]:
    """Every path the pages' app serves, with its parameters filled in."""
    paths = ["/static/app.css", "/static/app.js"]
    for route in create_app(env.settings).routes:
        if isinstance(route, Route):
            paths.append(route.path.replace("{strategy}", "mnq-market").replace("{token}", "x"))
    return paths


async def test_nothing_but_the_webhook_answers_on_the_webhook_listener(env: Env) -> None:
    page_paths = [p for p in _page_paths(env) if not p.startswith("/webhook/")]
    assert {"/", "/status", "/webhooks", "/api/status", "/login", "/healthz"} <= set(page_paths)
    async with listener(env) as client:
        for path in [*page_paths, "/webhook", "/webhook/", "/webhook/mnq-market/a/b", "/webhooks/x"]:
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
                response = await client.request(method, path, content=b"{}")
                assert response.status_code == 404, (method, path, response.status_code)
                assert "set-cookie" not in response.headers
        # The webhook's own path with another method is 404 too (no 405 that confirms a route).
        signed = env.url("mnq-market")
        for method in ("GET", "PUT", "DELETE", "OPTIONS", "HEAD"):
            assert (await client.request(method, signed)).status_code == 404
        ok = await client.post(signed, content=market_alert())
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "executed"
    assert len(env.place_requests()) == 1
    assert await statuses(env) == [("executed", "127.0.0.1")]  # no 404 was journaled


async def test_cloudflared_client_address_comes_from_cf_connecting_ip_only(guarded: Env) -> None:
    async with listener(guarded) as client:
        spoofed = await client.post(
            guarded.url("mnq-market"), content=market_alert(1), headers={"X-Forwarded-For": TRADINGVIEW}
        )
        both = await client.post(
            guarded.url("mnq-market"),
            content=market_alert(2),
            headers={"CF-Connecting-IP": STRANGER, "X-Forwarded-For": TRADINGVIEW},
        )
        real = await client.post(
            guarded.url("mnq-market"), content=market_alert(3), headers={"CF-Connecting-IP": TRADINGVIEW}
        )
    async with listener(guarded, peer=STRANGER) as direct:
        # From another computer, the header is the sender's own claim: not believed.
        claimed = await direct.post(
            guarded.url("mnq-market"), content=market_alert(4), headers={"CF-Connecting-IP": TRADINGVIEW}
        )
    assert [r.status_code for r in (spoofed, both, real, claimed)] == [403, 403, 200, 403]
    assert "not one of TradingView's webhook addresses" in spoofed.json()["error"]
    assert await statuses(guarded) == [
        ("forbidden", "127.0.0.1"),
        ("forbidden", STRANGER),
        ("executed", TRADINGVIEW),
        ("forbidden", STRANGER),
    ]
    assert len(guarded.place_requests()) == 1


async def test_ngrok_client_address_is_the_last_forwarded_hop(guarded: Env) -> None:
    guarded.settings.tunnel.kind = "ngrok"
    async with listener(guarded) as client:
        # The sender wrote the first hop; ngrok appended the real one last.
        spoofed = await client.post(
            guarded.url("mnq-market"),
            content=market_alert(1),
            headers={"X-Forwarded-For": f"{TRADINGVIEW}, {STRANGER}"},
        )
        real = await client.post(
            guarded.url("mnq-market"),
            content=market_alert(2),
            headers={"X-Forwarded-For": f"{STRANGER}, {TRADINGVIEW}"},
        )
        ignored = await client.post(
            guarded.url("mnq-market"), content=market_alert(3), headers={"CF-Connecting-IP": TRADINGVIEW}
        )
    assert [r.status_code for r in (spoofed, real, ignored)] == [403, 200, 403]
    assert await statuses(guarded) == [
        ("forbidden", STRANGER),
        ("executed", TRADINGVIEW),
        ("forbidden", "127.0.0.1"),
    ]


async def test_the_allowlist_is_off_by_default_and_not_applied_to_the_pages_listener(
    env: Env, guarded: Env
) -> None:
    async with listener(env) as client:
        response = await client.post(
            env.url("mnq-market"), content=market_alert(), headers={"CF-Connecting-IP": STRANGER}
        )
    assert response.status_code == 200
    # `tvbridge send` and the page's test alert come from this computer on the pages' listener.
    local = await guarded.send("mnq-market", market_alert(5))
    assert local.status_code == 200, local.text


async def test_refused_requests_lock_the_address_out_but_never_the_right_secret(env: Env) -> None:
    wrong = f"/webhook/mnq-market/{'x' * 43}"
    async with listener(env) as client:

        async def post(path: str, address: str, n: int = 0) -> httpx.Response:
            return await client.post(path, content=market_alert(n), headers={"CF-Connecting-IP": address})

        first = [await post(wrong, STRANGER) for _ in range(10)]
        locked = [await post(wrong, STRANGER) for _ in range(5)]
        unknown = await post("/webhook/no-such-strategy", STRANGER)
        mine = await post(env.url("mnq-market"), STRANGER, 1)
        other = await post(wrong, "192.0.2.44")
    assert [r.status_code for r in first] == [401] * 10
    assert [r.status_code for r in locked] == [429] * 5
    assert unknown.status_code == 429
    assert 290 <= int(locked[0].headers["Retry-After"]) <= 300
    assert "try again in" in locked[0].json()["error"]
    assert mine.status_code == 200 and mine.json()["status"] == "executed"
    assert other.status_code == 401
    rows = await statuses(env)
    assert rows.count(("unauthorized", STRANGER)) == 10  # the locked-out ones are not journaled
    assert ("executed", STRANGER) in rows
    events = [e for e in env.journal.events() if e.kind == "webhook.lockout"]
    assert len(events) == 1 and STRANGER in events[0].message


async def test_unknown_strategies_count_toward_the_lockout_and_answer_as_a_wrong_secret(env: Env) -> None:
    """Issue 12: probing names costs the prober its address, like guessing secrets."""
    async with listener(env) as client:
        answers = [
            await client.post(
                f"/webhook/guess-{n}/{'x' * 43}",
                content=market_alert(),
                headers={"CF-Connecting-IP": STRANGER},
            )
            for n in range(11)
        ]
    assert [r.status_code for r in answers] == [401] * 10 + [429]
    assert {r.json()["status"] for r in answers[:10]} == {"unauthorized"}
    assert await statuses(env) == [("unknown_strategy", STRANGER)] * 10


async def test_scope_ids_and_ipv4_mapped_spellings_are_one_address_for_the_lockout(env: Env) -> None:
    """Issue 12: a forged header rotating ``::ffff:<address>%<n>`` is one address, locked out at
    the tenth refusal, journaled as the IPv4 address."""
    wrong = f"/webhook/mnq-market/{'x' * 43}"
    async with listener(env) as client:
        answers = [
            await client.post(
                wrong, content=market_alert(), headers={"CF-Connecting-IP": f"::ffff:{STRANGER}%{n}"}
            )
            for n in range(12)
        ]
    assert [r.status_code for r in answers] == [401] * 10 + [429] * 2
    assert await statuses(env) == [("unauthorized", STRANGER)] * 10


async def test_an_ipv4_mapped_tradingview_address_with_a_scope_id_is_tradingview(guarded: Env) -> None:
    async with listener(guarded) as client:
        mapped = await client.post(
            guarded.url("mnq-market"),
            content=market_alert(1),
            headers={"CF-Connecting-IP": f"::ffff:{TRADINGVIEW}%x"},
        )
        other = await client.post(
            guarded.url("mnq-market"),
            content=market_alert(2),
            headers={"CF-Connecting-IP": f"::ffff:{STRANGER}%x"},
        )
    assert [mapped.status_code, other.status_code] == [200, 403]
    assert await statuses(guarded) == [("executed", TRADINGVIEW), ("forbidden", STRANGER)]


async def test_a_reachability_check_is_journaled_as_a_test_and_never_executed(env: Env) -> None:
    nonce = "check-0123456789abcdef"
    await env.runtime.bridge.pause("test")
    async with listener(env) as client:
        arrived = await client.post(
            env.url("mnq-market"),
            json={"tvbridge_check": nonce},
            headers={"X-TVBridge-Check": nonce, "CF-Connecting-IP": STRANGER},
        )
        bad_nonce = await client.post(
            env.url("mnq-market"), json={"tvbridge_check": "x"}, headers={"X-TVBridge-Check": "short"}
        )
        unsigned = await client.post(
            f"/webhook/mnq-market/{'y' * 43}", json={}, headers={"X-TVBridge-Check": nonce}
        )
    assert arrived.status_code == 200
    body = arrived.json()
    assert body["status"] == "test" and body["check"] == nonce and body["client_ip"] == STRANGER
    assert bad_nonce.status_code == 400
    assert unsigned.status_code == 401
    assert env.place_requests() == []
    [test_row] = [a for a in env.journal.find_alerts(limit=10) if a.status == AlertStatus.TEST]
    assert nonce in (test_row.reason or "") and test_row.source_ip == STRANGER


async def test_empty_and_huge_bodies_are_refused_before_any_work(env: Env) -> None:
    async with listener(env) as client:
        empty = await client.post(env.url("mnq-market"), content=b"")
        blank = await client.post(env.url("mnq-market"), content=b"  \n")
        huge = await client.post(env.url("mnq-market"), content=b"{" + b" " * 70_000 + b"}")
    assert (empty.status_code, blank.status_code, huge.status_code) == (400, 400, 413)
    assert "empty body" in empty.json()["error"]
    assert env.place_requests() == []
    rows: list[Any] = env.journal.find_alerts(limit=10)
    assert sorted(str(a.status) for a in rows) == ["invalid", "invalid", "too_large"]
    assert all(a.raw_body == "" for a in rows)
