"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can execute alerts now).

Ready means: the gateway session token is valid, the journal accepts a write (not full, not
read-only, not locked by another program: checked at most once a second, and any write that
failed since says so at once), and the followed accounts are followed: by the User Hub, or while
it is away by REST polling (app/engine/follow.py). 200 when ready, 503 with the reasons otherwise.
Ready with the hub away is *degraded*: still 200 (alerts run, fills and protection keep working,
seconds slower), with ``"status": "degraded"`` and the hub's check not ok; the page's unreachable
alarm says the same while positions are open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from app import __version__

if TYPE_CHECKING:
    from app.engine.ports import Gateway
    from app.gateway.hub import HubState
    from app.web.app import Runtime

STARTED_AT = datetime.now(UTC)


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving."""
    now = datetime.now(UTC)
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "started_at": STARTED_AT.isoformat(),
            "uptime_s": round((now - STARTED_AT).total_seconds(), 1),
        }
    )


async def readyz(request: Request) -> JSONResponse:
    """Whether alerts can be executed now, with the details of each check."""
    runtime: Runtime = request.app.state.runtime
    checks = {
        "gateway": _gateway(runtime.bridge.gateway),
        "journal": await _journal(runtime),
    }
    hub = runtime.hub
    degraded = False
    if hub is not None:
        checks["hub"] = hub_json(hub.state)
        checks["following"] = runtime.bridge.follower.following().data()
        degraded = not checks["hub"]["ok"]
    ready = all(check["ok"] for name, check in checks.items() if name != "hub")
    status = "not ready" if not ready else "degraded" if degraded else "ready"
    body = {"ready": ready, "status": status, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _gateway(gateway: Gateway) -> dict[str, Any]:
    expires = gateway.token_expires_at
    ok = expires is not None and expires > datetime.now(UTC)
    return {
        "ok": ok,
        "token_expires_at": expires.isoformat() if expires else None,
        **({} if ok else {"error": "no valid session token: the bridge is not logged in"}),
    }


def hub_json(state: HubState) -> dict[str, Any]:
    """The User Hub connection (UserHub.state) as JSON: times ISO 8601 UTC."""
    return {
        "ok": bool(state.connected),
        "connected": bool(state.connected),
        "since": _iso(state.since),
        "last_event_at": _iso(state.last_event_at),
        "reconnects": state.reconnects,
        "last_error": state.last_error,
    }


async def _journal(runtime: Runtime) -> dict[str, Any]:
    # A committed write check at most once a second, never waiting for a lock; a real write
    # that failed since then counts too (app/engine/runner.py, JournalRunner.writable).
    error = await runtime.bridge.runner.writable()
    return {"ok": True} if error is None else {"ok": False, "error": error}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
