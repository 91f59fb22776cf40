"""The webhooks page: per strategy, the URL and the message to paste into TradingView, the
alert settings that matter, and a "send test alert" button. The test alert's time field (the
template's ``time_field``) is set to the moment it is sent, as TradingView fills ``{{timenow}}``.

The URLs use the public base URL (the tunnel's while it is up, else ``server.public_url``), else
the local webhook listener; the tunnel's state and a changed-URL warning are shown above them.

The test alert runs the whole path — through the webhook route itself, URL token and all — when
the gateway is the simulator. With a live gateway it is a dry run that stops before the gateway
(app/web/preview.py): nothing is sent and nothing is journaled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from app.domain.enums import AlertStatus
from app.errors import AlertInvalidError
from app.ingest.auth import webhook_path
from app.ingest.parse import tradingview_content_type
from app.strategies import refresh_alert_time
from app.web.csrf import csrf_protected
from app.web.preview import dry_run
from app.web.render import templates
from app.web.tunnel_link import base_url_of, local_webhook_url, tunnel_status

TEST_TIMEOUT_S = 10.0


async def webhooks_page(request: Request) -> Response:
    """GET /webhooks: one card per strategy."""
    return _render(request)


@csrf_protected
async def send_test_alert(request: Request) -> Response:
    """POST /webhooks/{strategy}/test (form field ``body``): send it as TradingView would."""
    bridge = request.app.state.runtime.bridge
    name = request.path_params["strategy"]
    template = bridge.templates.get(name)
    if template is None:
        return _render(request, status_code=404, error=f"there is no strategy '{name}'")
    # Sent as TradingView would send it now: the template's time field is set to this moment,
    # as {{timenow}} is when an alert fires, so a saved example is not refused as stale.
    raw = refresh_alert_time(str((await request.form()).get("body", "")).encode("utf-8"), template)
    body = raw.decode("utf-8")
    if bridge.settings.gateway.kind == "sim":
        result = await _post_webhook(request, name, raw)
    else:
        try:
            status, reason, calls = await dry_run(bridge, template, raw)
        except AlertInvalidError as exc:  # the webhook's 422
            status, reason, calls = AlertStatus.INVALID, str(exc), []
        result = {"dry_run": True, "status": str(status), "reason": reason, "calls": calls}
    return _render(request, tested=name, result=result, bodies={name: body})


async def _post_webhook(request: Request, name: str, raw: bytes) -> dict[str, Any]:
    """POST ``raw`` to this app's own webhook route with the strategy's signed URL."""
    bridge = request.app.state.runtime.bridge
    path = webhook_path(name, bridge.secrets[name])
    transport = httpx.ASGITransport(app=request.app, client=("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url="http://tvbridge.local") as client:
        response = await client.post(
            path, content=raw, headers={"Content-Type": tradingview_content_type(raw)}, timeout=TEST_TIMEOUT_S
        )
    try:
        reply = response.json()
    except ValueError:
        reply = {"text": response.text}
    return {"dry_run": False, "http_status": response.status_code, "reply": reply}


def _render(request: Request, *, status_code: int = 200, **extra: Any) -> Response:
    runtime = request.app.state.runtime
    bridge = runtime.bridge
    settings = bridge.settings
    tunnel = tunnel_status(runtime)
    public = base_url_of(settings, tunnel) or ""
    local = local_webhook_url(settings)
    alerts_dir = settings.server.alerts_dir
    strategies = []
    for name in sorted(bridge.templates):
        secret = bridge.secrets.get(name)
        path = webhook_path(name, secret) if secret else None
        strategies.append(
            {
                "name": name,
                "description": bridge.templates[name].description,
                "url": (public or local) + path if path else None,
                "local_url": local + path if path else None,
                "message": _read(alerts_dir / f"{name}.txt"),
                "example": extra.get("bodies", {}).get(name) or _read(_example(alerts_dir, name)),
            }
        )
    context = {
        "strategies": strategies,
        "public_url": public,
        "local_url": local,
        "tunnel": tunnel,
        "live": settings.gateway.kind != "sim",
        "result": extra.get("result"),
        "tested": extra.get("tested"),
        "error": extra.get("error"),
        "pretty": lambda value: json.dumps(value, indent=2, ensure_ascii=False),
    }
    return templates.TemplateResponse(request, "webhooks.html", context, status_code=status_code)


def _example(directory: Path, name: str) -> Path | None:
    found = sorted(directory.glob(f"{name}.example.*")) if directory.is_dir() else []
    return found[0] if found else None


def _read(path: Path | None) -> str:
    if path is None or not path.is_file():
        return ""
    return path.read_text(encoding="utf-8")
