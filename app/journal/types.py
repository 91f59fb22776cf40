"""Column types that behave the same on every database: exact decimals, UTC times, enum strings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

DECIMAL_LENGTH = 40
ENUM_LENGTH = 32

E = TypeVar("E", bound=StrEnum)


class DecimalString(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string (String(40)), so "6335.250000000" comes back as is.

    SQLite has no decimal type (SQLAlchemy's Numeric warns and goes through float there), so
    prices are kept as text on every database. Floats are refused: they are not exact.
    """

    impl = String(DECIMAL_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
            raise TypeError(f"Price {value!r} must be a Decimal (or int), not {type(value).__name__}")
        number = value if isinstance(value, Decimal) else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"Price {value!r} is not a finite number")
        text = str(number)
        if len(text) > DECIMAL_LENGTH:
            raise ValueError(f"Price {text} is longer than {DECIMAL_LENGTH} characters")
        return text

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware datetime stored in UTC and always returned tz-aware UTC.

    SQLite keeps no offset, so values are converted to UTC before they are stored. A naive
    datetime is refused (ValueError): nobody can tell whether it was local time or UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"Time {value.isoformat()} has no time zone; pass a tz-aware UTC time")
        utc = value.astimezone(UTC)
        # SQLite's DATETIME storage drops the offset anyway; store it naive so the text sorts.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumString(TypeDecorator[E]):
    """A StrEnum stored as its plain value (String(32), no database enum type or CHECK)."""

    impl = String(ENUM_LENGTH)
    cache_ok = True

    def __init__(self, enum_class: type[E]) -> None:
        super().__init__()
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        # enum_class(value) refuses a value the enum does not know (ValueError).
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_class(value)

    def __repr__(self) -> str:
        return f"StrEnumString({self.enum_class.__name__})"
