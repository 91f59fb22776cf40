"""The ProjectX adapter: the only package that knows the wire format (reference/projectx-api.md).

``build_gateway(settings)`` gives the engine a ``ProjectXGateway`` (app/engine/ports.py Gateway).
"""

from app.gateway.projectx import ProjectXGateway, build_gateway

__all__ = ["ProjectXGateway", "build_gateway"]
