"""The order journal: the only package that touches the database (DESIGN.md § Layout).

Every alert, every order (written before it is sent), every hub event and fill, OCO groups,
pause, tunnel and lockout state, and the bridge's events, committed before anything acts on
them; the queries behind the pages and the risk gate's numbers. Any SQLAlchemy URL (SQLite in
WAL mode, PostgreSQL); the schema is made by Alembic migrations (app/journal/migrations/, run from code).
"""

from app.journal.journal import AlertEntry, Journal
from app.journal.tables import (
    AlertRecord,
    EventRecord,
    MetaRecord,
    NotificationRecord,
    OrderRecord,
    OrderStatusRecord,
)

__all__ = [
    "AlertEntry",
    "AlertRecord",
    "EventRecord",
    "Journal",
    "MetaRecord",
    "NotificationRecord",
    "OrderRecord",
    "OrderStatusRecord",
]
