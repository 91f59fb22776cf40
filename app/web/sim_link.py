"""The one place the product starts the built-in simulator (``gateway = "sim"``).

The simulator stands beside the product (DESIGN.md § Layout): nothing else in app/ outside
app/cli.py imports it, and this module only when the trader chose it, so a live bridge never
loads it. Everything here imports ``app.sim`` lazily, inside the function that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from app.config import Settings
from app.errors import ConfigError

if TYPE_CHECKING:
    from app.sim.server import SimServer


def open_sim(settings: Settings) -> SimServer | None:
    """The in-process simulator (not yet serving) on its state file, or None for a live gateway.

    Raises ConfigError when another simulator holds the state file."""
    if settings.gateway.kind != "sim":
        return None
    from app.sim.server import SimServer
    from app.sim.store import StateFileError

    try:
        return SimServer(
            seed=settings.sim.seed,
            walk_interval_s=settings.sim.walk_interval_s or None,
            state_path=settings.sim_state_path(),
        )
    except StateFileError as exc:
        raise ConfigError(f"{exc}; or set [sim] state_file") from None


def pace_hub(sim: SimServer, silence_timeout_s: float) -> None:
    """Make the simulator's hub ping at half ``silence_timeout_s`` at most (ProjectX's every 15 s),
    so the shorter timeouts allowed on the simulator never rebuild a healthy hub."""
    from app.sim.hub import hub_faults
    from app.sim.market_hub import market_hub_faults

    for faults in (hub_faults(sim.state), market_hub_faults(sim.state)):
        faults.ping_interval_s = min(faults.ping_interval_s, silence_timeout_s / 2)


def sim_transport() -> tuple[httpx.AsyncBaseTransport, str]:
    """A fresh, stateless simulator served in-process over ASGI, and its base URL: for reads a
    command makes without a running bridge (``tvbridge render``)."""
    from app.sim.rest import create_sim_app

    return httpx.ASGITransport(app=create_sim_app()), "http://sim.local"
