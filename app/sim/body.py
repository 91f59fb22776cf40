"""Reading a request body the way ASP.NET Core binds it (projectx-api.md §1.2).

Property names match case-insensitively, unknown properties are ignored, numbers may arrive as
numeric strings (System.Text.Json web defaults), and a wrong type or a missing required field
raises BadRequest, which the REST layer answers with an HTTP 400 ProblemDetails body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from app.sim.wire import parse_timestamp

T = TypeVar("T")


class BadRequest(Exception):
    """A body the gateway's model binding refuses: ``errors`` maps field → messages.

    Not a BridgeError: the simulator stands beside the product and imports nothing of it."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError(f"{type(value).__name__} is not an integer")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a number") from exc
    raise ValueError(f"{type(value).__name__} is not a number")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} is not a string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{type(value).__name__} is not a boolean")
    return value


def _timestamp(value: Any) -> datetime:
    return parse_timestamp(_text(value))


class Body:
    """A JSON object body with case-insensitive, typed access by the documented camelCase name."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self._values = {str(key).lower(): value for key, value in data.items()}
        self._prefix = prefix

    def missing(self, names: Iterable[str]) -> dict[str, list[str]]:
        """ProblemDetails errors for every required field that is absent or null."""
        return {
            self._prefix + name: [f"The {self._prefix}{name} field is required."]
            for name in names
            if self._values.get(name.lower()) is None
        }

    def integer(self, name: str) -> int | None:
        return self._read(name, _integer, "a whole number (Int32/Int64)")

    def decimal(self, name: str) -> Decimal | None:
        return self._read(name, _decimal, "a number (Decimal)")

    def text(self, name: str) -> str | None:
        return self._read(name, _text, "a string")

    def boolean(self, name: str) -> bool | None:
        return self._read(name, _boolean, "true or false")

    def timestamp(self, name: str) -> datetime | None:
        return self._read(name, _timestamp, "an ISO-8601 date-time")

    def need_integer(self, name: str) -> int:
        return self._need(name, self.integer(name))

    def need_text(self, name: str) -> str:
        return self._need(name, self.text(name))

    def need_timestamp(self, name: str) -> datetime:
        return self._need(name, self.timestamp(name))

    def integers(self, name: str) -> list[int] | None:
        """A JSON array of whole numbers (a filter's statuses), or None when absent or null."""
        value = self._values.get(name.lower())
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(name, "an array of whole numbers")
        try:
            return [_integer(item) for item in value]
        except ValueError:
            raise self._bad(name, "an array of whole numbers") from None

    def child(self, name: str) -> Body | None:
        """A nested object (a bracket), or None when absent or null."""
        value = self._values.get(name.lower())
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(name, "a JSON object")
        return Body(value, prefix=f"{self._prefix}{name}.")

    def _read(self, name: str, convert: Callable[[Any], T], expected: str) -> T | None:
        value = self._values.get(name.lower())
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError:
            raise self._bad(name, expected) from None

    def _need(self, name: str, value: T | None) -> T:
        if value is None:
            raise BadRequest(self.missing([name]))
        return value

    def _bad(self, name: str, expected: str) -> BadRequest:
        field = self._prefix + name
        value = self._values.get(name.lower())
        return BadRequest({field: [f"The JSON value {value!r} of {field} is not {expected}."]})
