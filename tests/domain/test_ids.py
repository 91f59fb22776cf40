"""Order tags: a stop loss placed again after a refused close (``-RSL``) is the bridge's own."""

from __future__ import annotations

from app.domain import ids


def test_a_reprotect_tag_is_ours_and_keeps_its_alert() -> None:
    tag = ids.reprotect_tag(ids.client_order_id("abc123", 42, 0))
    assert tag == "tvb-abc123-42-0-RSL"
    assert ids.is_ours(tag, "abc123")
    assert not ids.is_ours(tag, "other1")
