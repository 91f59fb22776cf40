"""No credential of a notification URL, nor any other secret the bridge knows, in a message, a
record, a log line (Apprise's own too) or the targets shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import redact
from app.config import NotifySettings
from app.domain.notices import Notice, NoticeKind
from app.notify.notifier import AppriseNotifier
from app.notify.outcome import Status
from app.notify.targets import secret_parts
from app.web import logsafe
from tests.helpers import free_port
from tests.notify.test_notifier import Records
from tests.notify_receiver import Receiver

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
PASSWORD = "S3cretPassw0rd"
PATH_TOKEN = "hook-Tok3n9876abc"
DEAD_TOKEN = "dead-Tok3n5555xyz"
WEBHOOK_SECRET = "whsec-MNQ-0123456789"
SECRETS = (BOT_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", PASSWORD, PATH_TOKEN, DEAD_TOKEN, WEBHOOK_SECRET)


@pytest.fixture(autouse=True)
def forget() -> Iterator[None]:
    logsafe.install()  # as start_runtime and `tvbridge notify` do
    yield
    redact.remember([], scope="notify")
    redact.remember([], scope="webhook")


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} in {text!r}"


async def test_no_secret_in_messages_records_logs_or_shown_targets(
    notify_receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    redact.remember([WEBHOOK_SECRET], scope="webhook")  # the bridge remembers its webhook secrets
    good = f"json://trader:{PASSWORD}@127.0.0.1:{notify_receiver.port}/{PATH_TOKEN}"
    dead = f"json://127.0.0.1:{free_port()}/{DEAD_TOKEN}"
    settings = NotifySettings.model_validate(
        {
            "urls": [good, dead],
            "retries": 0,
            "routes": [{"urls": [f"tgram://{BOT_TOKEN}/987654321"], "kinds": ["heartbeat"], "level": "info"}],
        }
    )
    records = Records()
    notifier = AppriseNotifier(settings, record=records)
    notifier.start()
    try:
        leaky = " ".join(SECRETS)
        notifier.notify(
            Notice(NoticeKind.TOKEN_FAILING, title=f"login failing {leaky}", body=f"body {leaky}")
        )

        [message] = await notify_receiver.wait_for(1)
        await records.wait_for(Status.FAILED)
    finally:
        await notifier.stop()

    assert message.path == "/" + PATH_TOKEN  # sent to the real URL
    assert "login failing ***" in message.title
    assert_clean(message.text)
    for outcome in records.outcomes:
        assert_clean(repr(outcome))
    assert_clean(" ".join(notifier.shown))
    assert notifier.shown[2].startswith("tgram://1...w/")
    logged = [r.getMessage() for r in caplog.records]
    assert any("A Connection error occurred" in line for line in logged)  # Apprise's own line
    assert any("failed (1 tries)" in line for line in logged)  # ours, naming the target
    for line in logged:
        assert_clean(line)


@pytest.mark.parametrize(
    ("url", "secrets", "kept"),
    [
        (f"tgram://{BOT_TOKEN}/987654321", [BOT_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"], []),
        (
            "discord://112233445566778899/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            ["112233445566778899", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"],
            [],
        ),
        ("ntfys://ntfy.sh/tvbridge-x7k2", ["tvbridge-x7k2"], ["ntfy.sh"]),
        ("ntfys://tk_AbC123456@ntfy.sh/alerts", ["tk_AbC123456"], ["ntfy.sh", "alerts"]),
        ("mailtos://me:lowercasepw@gmail.com", ["lowercasepw"], ["gmail.com", "me"]),
        ("json://127.0.0.1:8080/path?token=Ab12cd34", ["Ab12cd34"], ["127.0.0.1", "8080", "path"]),
    ],
)
def test_secret_parts_of_urls(url: str, secrets: list[str], kept: list[str]) -> None:
    found = secret_parts(url)

    for secret in secrets:
        assert secret in found
    for public in kept:
        assert public not in found  # a host name, a port or a plain word would blank every log line
