"""The notification tests' fixtures: a local JSON target (tests/notify_receiver.py)."""

from tests.notify_receiver import notify_receiver

__all__ = ["notify_receiver"]
