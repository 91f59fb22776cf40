"""The ProjectX Gateway simulator: REST API, User Hub, fault injection and a seeded market.

``tvbridge sim`` serves it standalone, and the bridge embeds it for ``[gateway] kind = "sim"``:
the REST endpoints and the SignalR User Hub as reference/projectx-api.md and signalr.md describe
them (the gateway's own rejection messages, Auto OCO and position-bracket accounts), fault
switches (``/_faults`` routes, ``SimState`` in tests), the rate limit, and an optional SQLite
state file that keeps orders, positions, balances and ids across restarts.
It speaks only the wire format of reference/projectx-api.md and imports nothing else from app/.
"""

from app.sim.exchange import (
    AUTO_OCO_ACCOUNT_ID,
    POSITION_BRACKETS_ACCOUNT_ID,
)
from app.sim.faults import FaultKind, Faults, RateLimit
from app.sim.models import BracketMode, OrderStatus
from app.sim.rest import create_sim_app
from app.sim.server import SimServer, run_sim
from app.sim.state import RecordedRequest, SimState
from app.sim.tokens import read_claims

__all__ = [
    "AUTO_OCO_ACCOUNT_ID",
    "POSITION_BRACKETS_ACCOUNT_ID",
    "BracketMode",
    "FaultKind",
    "Faults",
    "OrderStatus",
    "RateLimit",
    "RecordedRequest",
    "SimServer",
    "SimState",
    "create_sim_app",
    "read_claims",
    "run_sim",
]
