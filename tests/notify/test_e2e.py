"""A whole bridge on the simulator with ``[notify] urls = ["json://127.0.0.1:PORT/"]``: notices
handed to the bridge's notifier arrive once, are journaled and shown on the Status page and
/api/status without a secret, and a hung target never holds up an alert's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.domain.notices import Notice, NoticeKind
from app.errors import ConfigError
from app.notify.notifier import AppriseNotifier
from app.web.access import set_password
from app.web.app import create_app, start_runtime
from tests.e2e.conftest import make_settings, running
from tests.helpers import SHIPPED_ALERTS, eventually, free_port
from tests.notify_receiver import Receiver, with_notify
from tests.web.conftest import CLIENT_ADDRESS, FAST_HASHER, PASSWORD

MARKET = (SHIPPED_ALERTS / "mnq-market.example.json").read_text()
PASSWORD_IN_URL = "S3cretPassw0rd"


def notify_settings(root: Path, urls: list[str], **notify: Any) -> Settings:
    return with_notify(make_settings(root), *urls, **notify)


def sample(kind: NoticeKind = NoticeKind.UNPROTECTED, key: str = "50KTC-V2-1234|MNQZ6") -> Notice:
    return Notice(
        kind=kind,
        title="UNPROTECTED: 50KTC-V2-1234 long 2 MNQZ6 without a stop loss",
        body="Strategy mnq-trend: no working stop loss for 5 s. Place a stop or close the position now.",
        key=key,
    )


async def test_a_notice_arrives_once_is_journaled_and_shown(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    url = f"json://trader:{PASSWORD_IN_URL}@127.0.0.1:{notify_receiver.port}/"
    dead = f"json://127.0.0.1:{free_port()}/"
    settings = notify_settings(tmp_path, [url, dead], retries=0)
    settings.server.auth_file = tmp_path / "tvbridge_auth.toml"
    set_password(settings.server.auth_file, PASSWORD, hasher=FAST_HASHER)
    async with running(settings, tmp_path) as env:
        notifier = env.runtime.bridge.notifier
        assert isinstance(notifier, AppriseNotifier) and env.runtime.notifier is notifier

        notifier.notify(sample())
        notifier.notify(sample())  # the same condition again: dropped, journaled once
        notifier.notify(sample())  # and again: only counted

        await notify_receiver.wait_for(1)

        async def journaled() -> list[Any]:
            rows = env.journal.recent_notifications(10)
            assert {r.status for r in rows} >= {"sent", "failed", "duplicate"}, rows
            return list(rows)

        rows = await eventually(journaled)
        app = create_app(settings)
        app.state.runtime, app.state.bridge = env.runtime, env.runtime.bridge
        transport = httpx.ASGITransport(app=app, client=(CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            token = (await client.get("/login")).text.split('name="csrf_token" value="')[1].split('"')[0]
            await client.post("/login", data={"csrf_token": token, "password": PASSWORD})
            status = (await client.get("/api/status")).json()["notifications"]
            page = (await client.get("/status")).text

    assert len(notify_receiver.received()) == 1
    sent = next(r for r in rows if r.status == "sent")
    assert sent.kind == "position.unprotected" and sent.target.startswith("json://trader:****@127.0.0.1")
    failed = next(r for r in rows if r.status == "failed")
    assert failed.target == dead and "Connection error" in failed.detail
    assert status["counts"]["sent"] == 1 and status["counts"]["failed"] == 1
    assert status["counts"]["duplicate"] == 2
    assert [r.status for r in rows].count("duplicate") == 1
    assert status["targets"] == [sent.target, dead]
    assert [r["status"] for r in status["recent"]][:3].count("failed") == 1
    assert 'id="notifications"' in page and "1 sent" in page and "1 failed" in page
    assert failed.detail in page  # the failure's reason is on the page
    assert PASSWORD_IN_URL not in page and PASSWORD_IN_URL not in str(status)


async def test_an_alert_is_answered_while_a_send_to_a_hung_target_is_outstanding(
    tmp_path: Path, notify_receiver: Receiver
) -> None:
    notify_receiver.set_mode("hang")
    settings = notify_settings(tmp_path, [notify_receiver.url], timeout_s=60, queue_size=2)
    async with running(settings, tmp_path) as env:
        notifier = env.runtime.bridge.notifier
        for n in range(5):  # two queued (the worker takes one when the loop is free), three dropped
            notifier.notify(sample(key=str(n)))
        await notify_receiver.wait_for_attempts(1)

        response = await env.send("mnq-market", MARKET)

        assert response.status_code == 200 and response.json()["status"] == "executed", response.text
        assert notify_receiver.hanging == 1  # the hung send is still outstanding
        assert env.runtime.notifier is not None and env.runtime.notifier.stats()["queue_full"] == 3
        notify_receiver.set_mode("ok")  # let it go, so the bridge stops at once
        await notify_receiver.wait_for(1)


async def test_without_urls_the_bridge_keeps_the_null_notifier(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as env:
        assert env.runtime.notifier is None
        env.runtime.bridge.notifier.notify(sample())  # dropped, never raises


async def test_a_wrong_kind_name_stops_the_start_with_one_clear_error(tmp_path: Path) -> None:
    settings = notify_settings(tmp_path, [], off=["fills"])  # no URL: still checked

    with pytest.raises(ConfigError, match=r"\[notify\] off: unknown notice kind 'fills'; the kinds are: "):
        await start_runtime(settings)
