"""Notifications for the trader away from the laptop, through Apprise: routing by kind and level,
deduplication, quiet hours, a bounded queue sent off the alert path with retries, every text
scrubbed. Implements app/engine/ports.py's Notifier; the engine builds the notices.

One module per job: routing.py (who gets what, pure), dedupe.py (once per window), targets.py
(the URLs: loaded, privacy form, secrets remembered), send.py (one try through Apprise),
notifier.py (queues, workers, retries, records), outcome.py (what became of each),
samples.py (``tvbridge notify --test``), check.py (``tvbridge check``'s problems).

Nothing is imported here: Apprise takes a third of a second to import, paid only by a bridge
with notification URLs (import ``app.notify.notifier`` and the others by name).
"""
