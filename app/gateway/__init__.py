"""The ProjectX adapter: the only package that knows the wire format (reference/projectx-api.md).

The REST client (session token and its refresh, the client-side rate limit, the never-resend
rule for order-changing calls), the User Hub client (SignalR, supervised and rebuilt after
silence), TradingView ticker → contract resolution with its cache, and a dry-run gateway that
reads for real and records order-changing calls (``tvbridge render``, the page's "try it").
``build_gateway(settings)`` gives the engine a ``ProjectXGateway`` (app/engine/ports.py Gateway).
"""

from app.gateway.projectx import ProjectXGateway, build_gateway

__all__ = ["ProjectXGateway", "build_gateway"]
