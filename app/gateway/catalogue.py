"""The gateway's contract catalogue as it is, for the pre-flight (``tvbridge doctor``).

Read-only: ``Contract/available`` (reference/projectx-api.md §4.4) with ``live: false``. With
practice credentials ``live: true`` answers empty lists, not an error (§13 item 5), so the bridge
always sends ``false``; an empty catalogue here means no ticker can resolve.
"""

from __future__ import annotations

from app.domain.models import Contract
from app.gateway.rest import RestClient
from app.gateway.wire import to_contract

AVAILABLE = "Contract/available"


async def available_contracts(rest: RestClient) -> list[Contract]:
    """The contracts ``Contract/available`` lists (``live: false``). Raises GatewayError."""
    envelope = await rest.call(AVAILABLE, {"live": False}, mutating=False)
    return [to_contract(row) for row in envelope.get("contracts") or [] if isinstance(row, dict)]
