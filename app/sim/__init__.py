"""The ProjectX Gateway simulator: REST API, fault injection and a seeded market.

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
