"""The strip's live stream (app/web/strip.py): the strip's HTML once at the start, then again
only when a journal commit (or the periodic refresh) changed it; a keepalive otherwise."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from app.web.feed import JournalFeed
from app.web.strip import render_strip, strip_changes


async def test_the_stream_sends_the_strip_when_a_commit_changed_it() -> None:
    journal: Any = SimpleNamespace(on_commit=None)
    feed = JournalFeed(journal, asyncio.get_running_loop())
    shown = iter(["<p>a</p>", "<p>a</p>", "<p>b &amp; c</p>"])

    async def html() -> str:
        return next(shown)

    stream = strip_changes(feed, html, refresh_s=30, min_interval_s=0)
    assert await anext(stream) == "retry: 1000\n\n"
    first = await anext(stream)
    assert first.startswith("event: strip\ndata: ")
    assert json.loads(first.split("data: ", 1)[1]) == {"html": "<p>a</p>"}

    journal.on_commit()  # the journal committed; the strip reads the same
    assert await anext(stream) == ": keepalive\n\n"
    journal.on_commit()  # … and now it changed
    changed = await anext(stream)
    assert json.loads(changed.split("data: ", 1)[1]) == {"html": "<p>b &amp; c</p>"}
    assert "\n\n" not in changed[:-2]  # one event: the HTML's own lines are inside the JSON
    await stream.aclose()
    feed.close()


def test_a_journal_that_does_not_answer_shows_the_strip_saying_so() -> None:
    html = render_strip(None)
    assert 'id="strip"' in html and "the journal did not answer" in html
