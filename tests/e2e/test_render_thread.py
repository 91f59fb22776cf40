"""Where an alert's template renders: on the event loop when it is quick (the usual case, no
hop to a worker thread and back on the webhook's round trip), on a worker thread when it needs
more than the sandbox's first try, with the same result and the same bounds."""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import AlertStatus
from app.strategies.expressions import compile_value
from app.strategies.sandbox import FIRST_TRY_STEPS, NeedsThread, RenderBoundError, first_try
from tests.e2e.conftest import make_settings, running
from tests.helpers import SHIPPED_TEMPLATES

# Valid, but more lines of template code than the first try allows: 3 per character of 5,000.
LONG = "{% for c in alert.note %}{% if c == 'y' %}2{% endif %}{% endfor %}1"
NOTE = "x" * 5_000


def test_a_quick_expression_renders_within_the_first_try() -> None:
    with first_try():
        assert compile_value("quantity", "{{ alert.q | int + 1 }}").render({"q": "2"}, "s") == "3"


def test_a_long_expression_asks_for_a_thread_and_renders_there_the_same() -> None:
    value = compile_value("quantity", LONG)
    assert len(NOTE) > FIRST_TRY_STEPS
    with pytest.raises(NeedsThread), first_try():
        value.render({"note": NOTE}, "s")
    assert value.render({"note": NOTE}, "s") == "1"  # the whole budget: as before


def test_a_bound_broken_within_the_first_try_is_still_a_bound() -> None:
    with pytest.raises(RenderBoundError, match="makes 300000 items"), first_try():
        compile_value("quantity", "{{ alert.q * 300000 }}").render({"q": "x"}, "s")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__name__", repr(func)))
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)  # what app/engine/execute.py calls
    return calls


async def test_an_ordinary_alert_renders_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    async with running(make_settings(tmp_path), tmp_path) as env:
        body = json.dumps({"ticker": "MNQ1!", "action": "buy", "quantity": "1", "price": "21500"})
        response = await env.send("mnq-market", body)

        assert response.status_code == 200, response.text
        assert response.json()["status"] == AlertStatus.EXECUTED
        assert calls == []
        assert len(env.place_requests()) == 1


async def test_a_long_template_is_rendered_on_a_worker_thread_and_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    text = (SHIPPED_TEMPLATES / "mnq-market.toml").read_text()
    (tmp_path / "templates" / "long.toml").write_text(
        text.replace('quantity = "{{ alert.quantity }}"', f"quantity = {json.dumps(LONG)}")
    )
    calls = _counting(monkeypatch)
    async with running(make_settings(tmp_path), tmp_path) as env:
        body = json.dumps({"ticker": "MNQ1!", "action": "buy", "price": "21500", "note": NOTE})
        response = await env.send("long", body)

        assert response.status_code == 200, response.text
        assert response.json()["status"] == AlertStatus.EXECUTED
        assert calls == ["render"]  # the ticker is quick; the order's values are not
        [placed] = env.place_requests()
        assert placed["size"] == 1


def test_a_render_leaves_no_garbage_for_the_collector() -> None:
    """Reference cycles made per alert are freed only by the garbage collector, whose full
    collections stop the event loop for tens of ms (the webhook's p99, bench/alert_latency.py)."""
    value = compile_value("quantity", "{% if alert.q %}{{ alert.q | int + 1 }}{% endif %}")
    value.render({"q": "2"}, "s")
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            with first_try():
                assert value.render({"q": "2"}, "s") == "3"
        assert gc.collect() == 0
    finally:
        gc.enable()
