"""Wire-format helpers: timestamps, JSON numbers and route names as ProjectX prints them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def format_timestamp(moment: datetime) -> str:
    """Render a UTC time as ``2025-07-18T21:00:01.268009+00:00`` (projectx-api.md §1.2).

    The fraction is always printed (6 digits), unlike ``isoformat()`` at a whole second.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 time (``Z`` or an offset; naive means UTC) into an aware UTC datetime.

    Raises ValueError when the text is not a timestamp.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def normalize_path(path: str) -> str:
    """Reduce a route to its lower-case ``controller/action`` form.

    ``/api/Order/place``, ``Order/place`` and ``order/PLACE`` all become ``order/place``,
    because the gateway's routes are case-insensitive (§1.2).
    """
    key = path.strip("/").lower()
    return key.removeprefix("api/")


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # Prices and money go out as plain JSON numbers, like the live REST (§1.2).
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dump_json(content: Any) -> bytes:
    """Encode a response body; Decimal becomes a JSON number."""
    return json.dumps(content, default=_json_default, separators=(",", ":")).encode()


def load_json(raw: bytes) -> Any:
    """Decode a request body, keeping non-integral numbers exact as Decimal.

    Raises ValueError on malformed JSON.
    """
    return json.loads(raw, parse_float=Decimal)


def without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    """Drop null fields, as the live User Hub does (§7.3)."""
    return {key: value for key, value in data.items() if value is not None}
