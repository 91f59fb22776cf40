"""The same condition is sent once per window."""

from __future__ import annotations

from app.notify.dedupe import Dedupe


def test_a_key_is_sent_once_per_window_and_again_after_it() -> None:
    dedupe = Dedupe(600)

    assert dedupe.first("hub.lost|", 0)
    assert not dedupe.first("hub.lost|", 599)
    assert dedupe.first("gateway.lost|", 1)  # another key
    assert dedupe.first("hub.lost|", 600)
    assert dedupe.dropped == 1


def test_a_zero_window_sends_everything() -> None:
    dedupe = Dedupe(0)

    assert dedupe.first("k", 0) and dedupe.first("k", 0)
    assert dedupe.dropped == 0


def test_old_keys_are_forgotten() -> None:
    dedupe = Dedupe(10)
    for n in range(100):
        dedupe.first(f"k{n}", n)

    assert len(dedupe._seen) <= 11


def test_only_the_first_repeat_in_a_window_is_to_be_journaled() -> None:
    dedupe = Dedupe(window_s=60)
    assert dedupe.first("lock", 0)
    assert not dedupe.first("lock", 1) and dedupe.first_repeat("lock")
    assert not dedupe.first("lock", 2) and not dedupe.first_repeat("lock")
    assert dedupe.first("lock", 61)  # a new window
    assert not dedupe.first("lock", 62) and dedupe.first_repeat("lock")
