"""The kill switch's pause: journaled, idempotent, and an alert received while paused is journaled
PAUSED and never reaches the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.config import load_settings
from app.domain.enums import AlertStatus
from app.engine.bridge import Bridge
from app.engine.intake import Delivery, Intake, Refusal
from app.engine.outcomes import Answer
from app.engine.runner import JournalRunner
from app.errors import JournalError
from app.ingest.auth import url_token
from app.journal import Journal
from app.journal.journal import PauseState
from app.strategies import load_templates
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES

TEMPLATES = load_templates(SHIPPED_TEMPLATES)
SECRETS = {name: f"secret-of-{name}" for name in TEMPLATES}
BRACKET = (SHIPPED_ALERTS / "mnq-bracket.example.json").read_bytes()
PAUSE = PauseState(datetime(2026, 3, 2, 14, 3, 7, tzinfo=UTC), "web page 127.0.0.1")


def delivery(raw: bytes = BRACKET, *, strategy: str = "mnq-bracket", signed: bool = True) -> Delivery:
    token = url_token(strategy, SECRETS[strategy]) if signed else None
    return Delivery(strategy, raw, url_token=token, source_ip="203.0.113.7", content_type="text/plain")


class Switch:
    """The bridge's in-memory pause state, as the Intake sees it."""

    state: PauseState | None = None


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def intake(journal: Journal, switch: Switch) -> Intake:
    return Intake(
        JournalRunner(journal),
        lambda: TEMPLATES,
        lambda: SECRETS,
        max_body_bytes=65536,
        paused=lambda: switch.state,
    )


def events(journal: Journal, kind: str) -> list[Any]:
    return [e for e in journal.events() if e.kind == kind]


def test_pause_and_resume_are_journaled_once_each_and_idempotent(journal: Journal) -> None:
    assert journal.pause_state() is None

    first = journal.set_paused(True, by="web page 127.0.0.1")
    again = journal.set_paused(True, by="cli")

    assert first is not None and again == first  # the second pause keeps the first one's time
    assert first.by == "web page 127.0.0.1" and first.since.tzinfo is not None
    assert journal.pause_state() == first
    [paused] = events(journal, "kill.pause")
    assert paused.level == "warning" and "web page 127.0.0.1" in paused.message

    assert journal.set_paused(False, by="cli") is None
    assert journal.set_paused(False, by="cli") is None
    assert journal.pause_state() is None
    [resumed] = events(journal, "kill.resume")
    assert resumed.level == "warning"
    assert "Resumed by cli" in resumed.message and "web page 127.0.0.1" in resumed.message


def test_the_pause_state_survives_reopening_the_journal(journal: Journal) -> None:
    state = journal.set_paused(True, by="cli")
    url = journal._engine.url.render_as_string(hide_password=False)
    journal.close()

    reopened = Journal(url)
    assert reopened.pause_state() == state
    reopened.close()


async def test_an_alert_received_while_paused_is_journaled_paused_with_the_reason(
    journal: Journal, intake: Intake, switch: Switch
) -> None:
    switch.state = PAUSE

    received = await intake.receive(delivery())

    assert isinstance(received, Refusal) and received.answer == Answer.DONE
    body = received.body
    assert body["status"] == "paused" and body["orders"] == []
    row = journal.get_alert(body["alert_id"])
    assert row is not None and row.status == AlertStatus.PAUSED and row.reason == body["reason"]
    assert row.reason is not None
    assert "paused since 2026-03-02 14:03:07 UTC (by web page 127.0.0.1)" in row.reason
    assert "will not be executed later" in row.reason and "tvbridge resume" in row.reason
    assert row.raw_body and "secret-of" not in row.raw_body


async def test_after_resume_the_same_alert_runs_since_a_paused_alert_is_no_original(
    journal: Journal, intake: Intake, switch: Switch
) -> None:
    switch.state = PAUSE
    held = await intake.receive(delivery())
    switch.state = None

    received = await intake.receive(delivery())  # TradingView's next alert with the same id

    assert not isinstance(received, Refusal), received
    alert, template = received
    assert template.name == "mnq-bracket"
    assert isinstance(held, Refusal) and alert.alert_id != held.body["alert_id"]
    assert journal.get_alert(alert.alert_id or 0).status == AlertStatus.RECEIVED  # type: ignore[union-attr]


async def test_while_paused_a_duplicate_stays_duplicate_and_bad_alerts_keep_their_status(
    journal: Journal, intake: Intake, switch: Switch
) -> None:
    original = await intake.receive(delivery())
    assert not isinstance(original, Refusal)
    switch.state = PAUSE

    duplicate = await intake.receive(delivery())
    unsigned = await intake.receive(delivery(signed=False))
    invalid = await intake.receive(delivery(b"{not json"))

    assert isinstance(duplicate, Refusal) and duplicate.body["status"] == "duplicate"
    assert duplicate.body["duplicate_of"] == original[0].alert_id
    row = journal.get_alert(duplicate.body["alert_id"])
    assert row is not None and row.status == AlertStatus.DUPLICATE and "paused" not in (row.reason or "")
    assert isinstance(unsigned, Refusal) and (unsigned.answer, unsigned.body["status"]) == (
        Answer.UNAUTHORIZED,
        "unauthorized",
    )
    assert isinstance(invalid, Refusal) and (invalid.answer, invalid.body["status"]) == (
        Answer.INVALID,
        "invalid",
    )


class NoGateway:
    """A gateway that must not be asked anything."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"the gateway was asked {name} while paused")


def bridge_on(journal: Journal, gateway: Any) -> Bridge:
    settings = load_settings(None, journal={"url": "sqlite://"})
    return Bridge(settings, gateway, journal, TEMPLATES, SECRETS)


async def test_the_paused_bridge_answers_paused_without_asking_the_gateway(journal: Journal) -> None:
    gateway = NoGateway()
    bridge = bridge_on(journal, gateway)
    assert bridge.paused is None

    state = await bridge.pause("web page 127.0.0.1")
    reply = await bridge.handle(delivery())

    assert bridge.paused == state == journal.pause_state()
    assert (reply.answer, reply.body["status"]) == (Answer.DONE, "paused")
    assert gateway.calls == []
    await bridge.resume("cli")
    assert bridge.paused is None and journal.pause_state() is None
    bridge.runner.shutdown()


async def test_the_bridge_changes_its_pause_only_once_the_journal_took_it(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = bridge_on(journal, NoGateway())

    def broken(*args: Any, **kwargs: Any) -> None:
        raise JournalError("Journal sqlite:// could not pause: disk I/O error")

    monkeypatch.setattr(journal, "set_paused", broken)
    with pytest.raises(JournalError):
        await bridge.pause("cli")
    assert bridge.paused is None  # a restart would not be paused either

    monkeypatch.undo()
    await bridge.pause("cli")
    monkeypatch.setattr(journal, "set_paused", broken)
    with pytest.raises(JournalError):
        await bridge.resume("cli")
    assert bridge.paused is not None  # still held, as the journal says
    bridge.runner.shutdown()
