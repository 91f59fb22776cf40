"""The kill switch: ``POST /control/pause|resume|flatten`` and the flatten confirmation page.

Two ways in. The pages post forms from a logged-in session with the CSRF token and get a 303 back
with a flash. ``tvbridge pause|resume|flatten`` sends ``X-TVBridge-Control``, a signature of the
action made with the auth file's control key, at most 30 s old and used once, and gets JSON.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.engine.flatten import FlattenPlan, describe_order, describe_position
from app.errors import BridgeError
from app.web.access import COMMAND_LINE, CONTROL_HEADER, AuthFile, ControlVerifier
from app.web.csrf import check_csrf
from app.web.login import safe_next
from app.web.render import flash, templates

if TYPE_CHECKING:
    from app.engine.bridge import Bridge

log = logging.getLogger(__name__)


class ControlPages:
    """The kill switch's routes; ``auth`` gives the control key (read again when it changes)."""

    def __init__(self, auth: AuthFile, verifier: ControlVerifier | None = None) -> None:
        self.auth = auth
        self.verifier = verifier or ControlVerifier()

    def routes(self) -> list[Route]:
        return [
            Route("/control/pause", self.pause, methods=["POST"]),
            Route("/control/resume", self.resume, methods=["POST"]),
            Route("/control/flatten", self.flatten, methods=["GET", "POST"]),
        ]

    async def pause(self, request: Request) -> Response:
        """Stop executing alerts (still journaled, status paused). JSON: ``{"paused", "since", "by"}``."""
        return await self._switch(request, "pause")

    async def resume(self, request: Request) -> Response:
        """Execute alerts again (those received while paused stay unexecuted)."""
        return await self._switch(request, "resume")

    async def flatten(self, request: Request) -> Response:
        """GET: the confirmation page (or the plan as JSON for the command line). POST: cancel every
        working order and close every position on the followed accounts, pausing first when the
        form's ``pause`` is "1" (the page's checkbox, checked by default)."""
        action = "flatten" if request.method == "POST" else "plan"
        by, refused = await self._authorize(request, action)
        if refused is not None:
            return refused
        bridge = request.app.state.bridge
        if request.method != "POST":
            return await self._plan(request, bridge, by)
        pause = (await request.form()).get("pause") in ("1", "on", "true")
        try:
            report = await bridge.flatten(by=by, pause=pause)
        except BridgeError as exc:
            return self._failed(
                request,
                by,
                f"Flatten all stopped: {exc}. Some orders or positions may be left: open Flatten all… "
                "again to see what is still open, or check on the platform",
            )
        summary = report.summary()  # the flattener logged and journaled it
        if by == COMMAND_LINE:
            return JSONResponse({**report.data(), "summary": summary})
        flash(request, summary, "ok" if report.ok else "error")
        return RedirectResponse("/", status_code=303)

    async def _switch(self, request: Request, action: str) -> Response:
        by, refused = await self._authorize(request, action)
        if refused is not None:
            return refused
        bridge = request.app.state.bridge
        try:
            await (bridge.pause(by=by) if action == "pause" else bridge.resume(by=by))
        except BridgeError as exc:
            return self._failed(request, by, f"Could not {action}: {exc}")
        state = bridge.paused
        if by == COMMAND_LINE:
            return JSONResponse(
                {
                    "paused": state is not None,
                    "since": state.since.isoformat() if state else None,
                    "by": state.by if state else None,
                }
            )
        if state is not None:
            text = "Paused: alerts are journaled as paused and not executed, now or later."
        else:
            text = "Resumed: new alerts are executed again (alerts received while paused stay unexecuted)."
        flash(request, text, "warn" if state is not None else "ok")
        return RedirectResponse(_back(request), status_code=303)

    async def _authorize(self, request: Request, action: str) -> tuple[str, Response | None]:
        """Who is asking (the ``by`` text), or the refusal: a wrong control header → 401 JSON; a form
        post without the session's CSRF token → 403 (LoginRequired already made sure of the login)."""
        header = request.headers.get(CONTROL_HEADER)
        if header is not None:
            reason = self.verifier.check(self.auth.keys().control_key, header, action)
            if reason is not None:
                log.warning("refused a %s request on /control/%s: %s", CONTROL_HEADER, action, reason)
                return COMMAND_LINE, JSONResponse({"error": f"refused: {reason}"}, status_code=401)
            return COMMAND_LINE, None
        if request.method == "POST":
            await check_csrf(request)
        address = request.client.host if request.client else "unknown"
        return f"web page {address}", None

    async def _plan(self, request: Request, bridge: Bridge, by: str) -> Response:
        error = ""
        plan = None
        try:
            plan = await bridge.flatten_plan()
        except BridgeError as exc:
            error = f"Could not read the open orders and positions from the gateway: {exc}"
        if by == COMMAND_LINE:
            if plan is None:
                return JSONResponse({"error": error}, status_code=502)
            return JSONResponse(plan_json(plan))
        ticks = await bridge.runner.run(bridge.runner.journal.tick_sizes)
        context = {"plan": plan, "error": error, "button": _button(plan) if plan else "", "ticks": ticks}
        return templates.TemplateResponse(request, "flatten.html", context, status_code=502 if error else 200)

    def _failed(self, request: Request, by: str, message: str) -> Response:
        log.error("%s (asked by %s)", message, by)
        if by == COMMAND_LINE:
            return JSONResponse({"error": message}, status_code=503)
        flash(request, message, "error")
        return RedirectResponse(_back(request), status_code=303)


def _back(request: Request) -> str:
    """The path of the page the form was on (same site only), else the journal."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    target = safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/" if target.startswith("/control/") else target


def _totals(plan: FlattenPlan) -> tuple[int, int]:
    """How many working orders and open positions the plan lists."""
    return sum(len(a.orders) for a in plan.accounts), sum(len(a.positions) for a in plan.accounts)


def _button(plan: FlattenPlan) -> str:
    """E.g. "Cancel 3 orders and close 1 position": what the confirmation's button does."""
    orders, positions = _totals(plan)
    return f"Cancel {_count(orders, 'order')} and close {_count(positions, 'position')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_json(plan: FlattenPlan) -> dict[str, Any]:
    """The plan for the command line: per account its orders and positions, each with the one-line
    ``text`` a trader reads, and the counts."""
    orders, positions = _totals(plan)
    return {
        "empty": plan.empty,
        "order_count": orders,
        "position_count": positions,
        "accounts": [
            {
                "account_id": a.account_id,
                "account_name": a.account_name,
                "error": a.error,
                "orders": [{**jsonable(o), "text": describe_order(o)} for o in a.orders],
                "positions": [{**jsonable(p), "text": describe_position(p)} for p in a.positions],
            }
            for a in plan.accounts
        ],
    }


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimals (as strings, exact), datetimes (ISO UTC) and enums as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
