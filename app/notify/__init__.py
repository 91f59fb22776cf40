"""Notifications for the trader away from the laptop, through Apprise: routing by kind and level,
deduplication, quiet hours, a bounded queue sent off the alert path with retries, every text
scrubbed. Implements app/engine/ports.py's Notifier; the engine builds the notices.

One module per job: routing.py (who gets what, pure), dedupe.py (once per window), targets.py
(the URLs: loaded, privacy form, secrets remembered), send.py (one try through Apprise),
notifier.py (queues, workers, retries, records), outcome.py (what became of each),
samples.py (``tvbridge notify --test``), check.py (``tvbridge check``'s problems).
"""

from app.notify.check import notify_problems
from app.notify.notifier import AppriseNotifier
from app.notify.outcome import Outcome, Record, Status
from app.notify.routing import KNOWN_KINDS

__all__ = ["KNOWN_KINDS", "AppriseNotifier", "Outcome", "Record", "Status", "notify_problems"]
