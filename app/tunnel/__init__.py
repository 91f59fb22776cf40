"""The tunnel: starts cloudflared or ngrok pointed at the webhook listener, follows its public URL,
restarts it when it dies, and checks that a signed request arrives through it.

Imports only app.config, app.errors, app.redact, the standard library and httpx; app/web wires it
to the journal and the pages (app/web/tunnel_link.py).
"""

from app.tunnel.check import CheckResult, check_reachability, check_until_arrived
from app.tunnel.clients import TunnelMissing
from app.tunnel.supervisor import TunnelState, TunnelSupervisor

__all__ = [
    "CheckResult",
    "TunnelMissing",
    "TunnelState",
    "TunnelSupervisor",
    "check_reachability",
    "check_until_arrived",
]
