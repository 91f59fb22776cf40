"""Every real TradingView message of tests/corpus/, rendered with realistic values,
through the webhook against the simulator: the expected order(s) or the expected 4xx and message.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.corpus import corpus_names, render_corpus
from tests.e2e.conftest import Env, make_settings, running

CORPUS_TEMPLATES = Path(__file__).parent / "corpus_templates"
C18_SECRET = "your_webhook_secret_here"  # the value the published message carries

# name → (strategy, HTTP status, alert status, [(side, size, contract root, type)] or message part)
EXPECTED: dict[str, tuple[str, int, str, object]] = {
    "C01": ("mnq-market", 422, "invalid", "alert.ticker"),
    "C02": ("c-price-text", 200, "executed", [(0, 1, "ENQ", 2)]),
    "C03": ("nq-text", 422, "invalid", "does not match"),
    "C04": ("c-rsi", 200, "executed", [(0, 1, "MNQ", 2)]),
    "C05": ("c-rsi", 200, "executed", [(1, 1, "MNQ", 2)]),
    "C07": ("nq-text", 200, "executed", [(0, 2, "ENQ", 1)]),
    "C08": ("mnq-market", 400, "invalid", "empty body"),
    "C10": ("traderspost", 200, "executed", [(0, 2, "ENQ", 2)]),
    "C11": ("traderspost", 200, "noop", "no open position"),
    "C12": ("traderspost", 422, "invalid", "MNQU2025"),
    "C13": ("traderspost", 422, "invalid", "NQH2022"),
    "C15": ("mnq-market", 200, "executed", [(0, 2, "ENQ", 2)]),
    "C16": ("c-jadnq", 200, "executed", [(0, 1, "ENQ", 2)]),
    "C18": ("c-signal", 422, "invalid", "MESU4"),
    "C20": ("c-pipe", 200, "executed", [(0, 1, "ENQ", 2)]),
    "C23": ("mnq-market", 422, "invalid", "line 2: typographic quote \u201c"),
    "C25": ("mnq-market", 422, "invalid", "unsubstituted placeholder {{strategy.order_id}}"),
    "C26": ("mnq-market", 422, "invalid", "alert.ticker"),
    "C30": ("mnq-market", 422, "invalid", "single quotes"),
}


def test_every_corpus_message_has_an_expectation() -> None:
    assert sorted(EXPECTED) == corpus_names()


@pytest.fixture
async def corpus_env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path)
    for template in CORPUS_TEMPLATES.glob("*.toml"):
        shutil.copy(template, settings.server.templates_dir)
    async with running(settings, tmp_path) as env:
        path = settings.server.secrets_file
        text = path.read_text().replace(
            next(line for line in path.read_text().splitlines() if line.startswith("c-signal")),
            f'c-signal = "{C18_SECRET}"',
        )
        path.write_text(text)
        from app.ingest.auth import load_secrets

        env.runtime.bridge.secrets = load_secrets(path)
        yield env


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_corpus_message_through_the_webhook(corpus_env: Env, name: str) -> None:
    strategy, http_status, status, expected = EXPECTED[name]
    body = render_corpus(name)

    response = await corpus_env.send(strategy, body, signed=name != "C18")

    assert response.status_code == http_status, response.text
    reply = response.json()
    assert reply["status"] == status
    alert = corpus_env.journal.get_alert(reply["alert_id"])
    assert str(alert.status) == status
    if isinstance(expected, str):
        message = reply.get("error") or reply.get("reason")
        assert expected in message, message
        assert expected in alert.reason
        if http_status >= 400:
            assert corpus_env.place_requests() == []
        return
    bodies = corpus_env.place_requests()
    got = [(b["side"], b["size"], b["contractId"].split(".")[3], b["type"]) for b in bodies]
    assert got == expected
    for b in bodies:
        assert b["isAutomated"] is True and b["customTag"].startswith("tvb-")
        if b["type"] == 1:  # the limit price of C07 is the alert's price, on the tick grid
            assert Decimal(str(b["limitPrice"])) == Decimal("21500.25")


async def test_corpus_exit_after_entry_closes_the_position(corpus_env: Env) -> None:
    entry = await corpus_env.send("traderspost", render_corpus("C10"))
    assert entry.json()["status"] == "executed"

    response = await corpus_env.send("traderspost", render_corpus("C11"))

    reply = response.json()
    assert reply["status"] == "executed", response.text
    assert reply["orders"][0]["leg"] == "close" and reply["orders"][0]["state"] == "DONE"


async def test_corpus_body_secret_wrong_is_401(corpus_env: Env) -> None:
    body = render_corpus("C18").replace(C18_SECRET.encode(), b"someone-elses-secret")

    response = await corpus_env.send("c-signal", body, signed=False)

    assert response.status_code == 401
    assert corpus_env.place_requests() == []
