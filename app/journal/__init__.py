"""The order journal: the only package that touches the database (DESIGN.md § Layout)."""

from app.journal.journal import AlertEntry, Journal
from app.journal.tables import (
    AlertRecord,
    EventRecord,
    MetaRecord,
    OrderRecord,
    OrderStatusRecord,
)

__all__ = [
    "AlertEntry",
    "AlertRecord",
    "EventRecord",
    "Journal",
    "MetaRecord",
    "OrderRecord",
    "OrderStatusRecord",
]
