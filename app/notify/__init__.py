"""Notifications for the trader away from the laptop, through Apprise: routing by kind and level,
deduplication, quiet hours, a bounded queue sent off the alert path with retries, every text
scrubbed. Implements app/engine/ports.py's Notifier; the engine builds the notices."""
