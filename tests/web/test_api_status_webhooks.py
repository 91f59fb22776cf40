"""The JSON API, the status page and the webhooks page, on a whole bridge on the simulator."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest

from app.ingest.auth import load_secrets, webhook_path
from app.web.tunnel_link import local_webhook_url
from tests.helpers import SHIPPED_ALERTS, eventually
from tests.web.conftest import Web

BRACKET = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_text()
MARKET = (SHIPPED_ALERTS / "mnq-market.example.json").read_text()


@pytest.fixture
async def page(web: Web) -> AsyncIterator[Web]:
    web.env.settings.server.alerts_dir = SHIPPED_ALERTS
    assert (await web.login()).status_code == 303
    yield web


async def bracket_filled(web: Web) -> int:
    """Send the bracket example and wait for its entry fill and the position it opens."""
    alert_id: int = (await web.env.send("mnq-bracket", BRACKET)).json()["alert_id"]

    async def done() -> bool:
        return bool(web.env.journal.alert_fills(alert_id)) and any(
            p.size for p in web.env.journal.positions()
        )

    await eventually(done, timeout_s=5)
    return alert_id


async def test_api_alerts_orders_fills_positions(page: Web) -> None:
    alert_id = await bracket_filled(page)
    await page.env.send("mnq-market", MARKET, signed=False)

    # The legs turn working and the position settles on hub events that may come after the
    # fill: wait for the API to show them (a loaded machine delays them), do not assume it does.
    async def api_shows_them() -> bool:
        alerts = (await page.client.get("/api/alerts?strategy=mnq-bracket")).json()["alerts"]
        orders = (await page.client.get("/api/orders?state=working")).json()["orders"]
        fills = (await page.client.get("/api/fills")).json()["fills"]
        positions = (await page.client.get("/api/positions")).json()["positions"]

        [alert] = alerts
        assert alert["alert_id"] == alert_id and alert["status"] == "executed", alert
        assert [o["leg"] for o in alert["orders"]] == ["entry", "stop_loss", "take_profit"]
        assert {o["leg"] for o in orders} == {"stop_loss", "take_profit"}, orders
        assert all(o["alert_id"] == alert_id for o in orders)
        [fill] = fills
        assert fill["size"] == 1 and fill["side"] == "buy" and fill["contract_id"].startswith("CON.F.US.MNQ")
        [position] = positions
        assert position["side"] == "long" and position["size"] == 1, position
        assert position["average_price"] == fill["price"], (position, fill)
        return True

    await eventually(api_shows_them, timeout_s=10)


async def test_api_bad_filters_are_400_naming_the_value(page: Web) -> None:
    for path, words in [
        ("/api/alerts?status=sent", "status 'sent' is not an alert status"),
        ("/api/orders?state=open", "state 'open' is not an order state"),
        ("/api/fills?since=monday", "since 'monday' is not a date; use YYYY-MM-DD"),
        ("/api/positions?account=abc", "account 'abc' is not a whole number"),
    ]:
        response = await page.client.get(path)
        assert response.status_code == 400, path
        assert words in response.json()["error"]


async def test_status_shows_mode_session_hub_accounts_positions_and_working_orders(page: Web) -> None:
    await bracket_filled(page)

    status = (await page.client.get("/api/status")).json()
    text = (await page.client.get("/status")).text

    assert status["mode"] == "sim" and status["firm"] == "Simulator"
    assert status["login"]["logged_in"] and status["login"]["token_expires_at"].endswith("+00:00")
    assert status["hub"]["connected"] and status["hub"]["since"]
    assert status["paused"] is None
    assert status["journal"]["url"].startswith("sqlite:///")
    by_name = {a["name"]: a for a in status["accounts"]}
    auto = by_name["SIM-AUTO-OCO"]
    assert auto["followed"] and auto["can_trade"] and auto["balance"]
    assert [p["side"] for p in auto["positions"]] == ["long"]
    assert sorted(o["leg"] for o in auto["orders"]) == ["stop_loss", "take_profit"]
    assert 'id="mode-badge"' in text and ">\n    SIM\n  </span>" in text
    assert "connected since" in text and "SIM-AUTO-OCO" in text
    assert '<td class="num">1</td>' in text  # the position's size


async def test_webhooks_page_gives_each_strategy_its_url_and_message(page: Web) -> None:
    secrets = load_secrets(page.env.settings.server.secrets_file)

    text = html.unescape((await page.client.get("/webhooks")).text)

    for name in page.env.runtime.bridge.templates:
        # No tunnel: the local webhook listener's URL (with a warning that TradingView cannot reach it).
        local = local_webhook_url(page.env.settings)
        assert f'value="{local}{webhook_path(name, secrets[name])}"' in text
    message = (SHIPPED_ALERTS / "mnq-market.txt").read_text()
    assert message in text
    assert "Once per bar close" in text and 'id="no-tunnel"' in text


async def test_webhooks_page_uses_the_public_url_when_there_is_one(page: Web) -> None:
    page.env.settings.server.public_url = "https://bridge.example-tunnel.test/"
    secrets = load_secrets(page.env.settings.server.secrets_file)

    text = (await page.client.get("/webhooks")).text

    expected = "https://bridge.example-tunnel.test" + webhook_path("mnq-market", secrets["mnq-market"])
    assert f'value="{expected}"' in text
    assert 'id="no-tunnel"' not in text


async def test_send_test_alert_runs_the_whole_path_on_the_simulator(page: Web) -> None:
    token = await page.csrf(path="/webhooks")

    response = await page.client.post("/webhooks/mnq-market/test", data={"csrf_token": token, "body": MARKET})

    assert response.status_code == 200
    found = re.search(r"alert #(\d+) in the journal", response.text)
    assert found is not None, response.text
    alert_id = int(found.group(1))
    alert = page.env.journal.get_alert(alert_id)
    assert alert.status == "executed" and alert.source_ip == "127.0.0.1"
    assert len(page.env.place_requests()) == 1


async def test_send_test_alert_needs_the_csrf_token(page: Web) -> None:
    response = await page.client.post("/webhooks/mnq-market/test", data={"body": MARKET})

    assert response.status_code == 403
    assert page.env.place_requests() == []
