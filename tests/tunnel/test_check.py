"""The reachability check: through a fake tunnel to a served bridge (journaled as a test, never an
order), and what each kind of answer tells the trader."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from app.tunnel import TunnelSupervisor, check_reachability, check_until_arrived
from tests.helpers import free_port
from tests.tunnel.conftest import Served, serve_bridge, tunnel_settings, until


async def through_tunnel(served: Served, kind: str = "cloudflared") -> tuple[TunnelSupervisor, str]:
    """Start the fake ``kind`` client in front of the served webhook listener; return it and its URL."""
    tunnel = TunnelSupervisor(tunnel_settings(kind), served.webhook_url)
    await tunnel.start()
    await until(lambda: tunnel.state.status == "up")
    return tunnel, tunnel.state.public_url or ""


async def test_a_check_through_the_tunnel_arrives_and_is_journaled_as_a_test(served: Served) -> None:
    tunnel, public = await through_tunnel(served)
    try:
        result = await check_reachability(served.signed_url(public), timeout_s=5, nonce="n" * 20)
    finally:
        await tunnel.stop()

    assert result.arrived and result.status_code == 200
    assert result.client_ip == "203.0.113.7"  # from CF-Connecting-IP, as the edge sets it
    assert result.alert_id is not None
    assert f"journaled as test alert #{result.alert_id}, no order" in result.message
    alert = served.env.journal.get_alert(result.alert_id)
    assert alert.status == "test" and alert.source_ip == "203.0.113.7"
    assert served.env.place_requests() == []


async def test_a_check_through_ngrok_sees_the_forwarded_address(served: Served) -> None:
    served.env.settings.tunnel.kind = "ngrok"  # the bridge then reads X-Forwarded-For's last hop
    tunnel, public = await through_tunnel(served, "ngrok")
    try:
        result = await check_reachability(served.signed_url(public), timeout_s=5)
    finally:
        await tunnel.stop()

    assert result.arrived and result.client_ip == "203.0.113.7"


async def test_the_tradingview_allowlist_refuses_the_check_and_it_still_counts_as_reachable(
    tmp_path: Path,
) -> None:
    async with serve_bridge(tmp_path, tradingview_only=True) as served:
        tunnel, public = await through_tunnel(served)
        try:
            result = await check_reachability(served.signed_url(public), timeout_s=5)
        finally:
            await tunnel.stop()

    assert result.arrived and result.status_code == 403
    assert "refused by the TradingView-only allowlist (server.tradingview_only)" in result.message
    assert served.env.place_requests() == []


async def test_a_wrong_token_arrives_but_is_refused(served: Served) -> None:
    tunnel, public = await through_tunnel(served)
    try:
        result = await check_reachability(f"{public}/webhook/mnq-market/Zm9yZ2Vk-wrong", timeout_s=5)
    finally:
        await tunnel.stop()

    assert result.arrived and result.status_code == 401
    assert "does not know the strategy's secret" in result.message
    assert "Zm9yZ2Vk-wrong" not in result.message


async def test_nothing_behind_the_tunnel_does_not_arrive() -> None:
    tunnel = TunnelSupervisor(tunnel_settings(), f"http://127.0.0.1:{free_port()}")
    await tunnel.start()
    try:
        await until(lambda: tunnel.state.status == "up")
        public = tunnel.state.public_url
        result = await check_reachability(f"{public}/webhook/mnq-market/token", timeout_s=5)
    finally:
        await tunnel.stop()

    assert not result.arrived and result.status_code == 502
    assert "could not reach the bridge: is `tvbridge serve` running" in result.message
    assert "/token" not in result.message


async def test_nothing_listening_at_all_does_not_arrive_and_does_not_raise() -> None:
    result = await check_reachability(f"http://127.0.0.1:{free_port()}/webhook/x/token", timeout_s=2)

    assert not result.arrived and result.status_code is None
    assert "could not connect to http://127.0.0.1:" in result.message


@respx.mock
@pytest.mark.parametrize(
    ("answer", "arrived", "words"),
    [
        (
            httpx.Response(404, json={"status": "invalid", "error": "no strategy 'x'"}),
            True,
            "no strategy 'x'",
        ),
        (httpx.Response(429, json={"status": "refused", "error": "too many"}), True, "locked out"),
        (httpx.Response(200, json={"status": "executed", "orders": []}), True, "instead of a check"),
        (httpx.Response(530, text="<html>error code: 1033</html>"), False, "HTTP 530 (text/plain)"),
        (
            httpx.Response(404, text="<html>ERR_NGROK_3200 tunnel not found</html>"),
            False,
            "not the bridge's answer",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            False,
            "no answer from https://gone.trycloudflare.com within 1 s",
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            False,
            "gone.trycloudflare.com does not resolve",
        ),
    ],
)
async def test_what_each_answer_tells_the_trader(answer: object, arrived: bool, words: str) -> None:
    url = "https://gone.trycloudflare.com/webhook/x/secret-token"
    if isinstance(answer, Exception):
        respx.post(url).mock(side_effect=answer)
    else:
        assert isinstance(answer, httpx.Response)
        respx.post(url).mock(return_value=answer)

    result = await check_reachability(url, timeout_s=1)

    assert result.arrived is arrived
    assert words in result.message
    assert "secret-token" not in result.message


@respx.mock
async def test_the_request_is_signed_with_the_nonce_in_header_and_body() -> None:
    url = "https://x.trycloudflare.com/webhook/mnq/token"
    route = respx.post(url).mock(
        return_value=httpx.Response(
            200, json={"alert_id": 7, "status": "test", "check": "A" * 24, "orders": []}
        )
    )

    result = await check_reachability(url, timeout_s=1, nonce="A" * 24)

    sent = route.calls.last.request
    assert sent.headers["X-TVBridge-Check"] == "A" * 24
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.content == b'{"tvbridge_check": "' + b"A" * 24 + b'"}'
    assert result.arrived and result.alert_id == 7


@respx.mock
async def test_the_first_check_after_a_new_url_retries_until_it_arrives() -> None:
    url = "https://new.trycloudflare.com/webhook/mnq/token"

    answers = iter([httpx.Response(530, text="error code: 1033")] * 2)

    def answer(request: httpx.Request) -> httpx.Response:
        refused = next(answers, None)
        if refused is not None:
            return refused
        nonce = request.headers["X-TVBridge-Check"]
        return httpx.Response(200, json={"alert_id": 1, "status": "test", "check": nonce, "orders": []})

    route = respx.post(url).mock(side_effect=answer)

    result = await check_until_arrived(url, deadline_s=5, interval_s=0.01)

    assert result.arrived and len(route.calls) == 3


@respx.mock
async def test_the_retrying_check_gives_up_at_its_deadline() -> None:
    url = "https://never.trycloudflare.com/webhook/mnq/token"
    respx.post(url).mock(return_value=httpx.Response(502, text="Bad gateway"))

    result = await check_until_arrived(url, deadline_s=0.2, interval_s=0.05)

    assert not result.arrived and result.status_code == 502
