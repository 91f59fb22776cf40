"""The templates page: list the strategies, edit a template's TOML, save it live, and try it.

A save is checked like a start (every problem as ``<name>.toml:LINE: message``, nothing written
when one is found), written atomically with the replaced version kept under ``.previous/``, and
live at once: the bridge's next alert of that strategy uses it. "Try it" runs an alert body through
the text in the editor (saved or not) with the real Executor on a DryRunGateway: it shows the
exact gateway request bodies, or the exact error, and sends and journals nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.domain.enums import AlertStatus
from app.errors import BridgeError
from app.ingest.auth import ensure_secrets, load_secrets
from app.strategies import (
    Problem,
    StrategyTemplate,
    TemplateInvalid,
    check_template_text,
    new_template_text,
    previous_versions,
    save_template,
)
from app.strategies.loader import STRATEGY_NAME, name_rule
from app.web.csrf import csrf_protected
from app.web.preview import dry_run
from app.web.queries import FilterError, parse_whole, shown
from app.web.render import flash, templates

ALERT_FILE = "alerts/"  # body_from=alerts/<file in server.alerts_dir>
JOURNAL_ALERT = "alert:"  # body_from=alert:<alert id>
RECENT_ALERTS = 20


def routes() -> list[Route]:
    """The page's routes, for create_app."""
    return [
        Route("/templates", list_templates, methods=["GET"]),
        Route("/templates", create_template, methods=["POST"]),
        Route("/templates/{name}", edit_template, methods=["GET"]),
        Route("/templates/{name}", save_template_text, methods=["POST"]),
        Route("/templates/{name}/try", try_template, methods=["POST"]),
    ]


@dataclass
class TryResult:
    """What "try it" found: the calls that would be sent (endpoint, pretty JSON body), or why not."""

    status: str = ""
    reason: str | None = None
    calls: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class Typed:
    """The editor form: the template's text, the try panel's body and where it was picked from."""

    text: str
    body: str = ""
    body_from: str = ""
    pick: bool = False


@dataclass
class BodyChoice:
    """An alert body the try panel offers: ``key`` is its body_from value."""

    key: str
    label: str
    group: str


async def list_templates(request: Request) -> Response:
    """GET /templates: every live strategy, and the new-strategy form."""
    return _list_page(request)


@csrf_protected
async def create_template(request: Request) -> Response:
    """POST /templates (name, from): a new strategy from an existing template's text, live at once
    with its webhook secret made; 303 to its editor. 422 with the reason when refused."""
    form = await request.form()
    name, source = str(form.get("name", "")).strip(), str(form.get("from", ""))
    directory = _folder(request)
    try:
        saved = save_template(directory, name, new_template_text(directory, name, source))
    except TemplateInvalid as exc:
        return _list_page(request, problems=exc.problems, typed=name, source=source, status_code=422)
    except OSError as exc:
        problem = Problem(f"{name}.toml", 0, f"cannot be written in {directory}: {exc}")
        return _list_page(request, problems=[problem], typed=name, source=source, status_code=500)
    note = await _make_live(request, saved.template)
    flash(request, f"Strategy '{name}' made from '{source}' and live now. {note}".strip(), "ok")
    return RedirectResponse(f"/templates/{name}", status_code=303)


async def edit_template(request: Request) -> Response:
    """GET /templates/{name}: the editor with the file's text, or a kept version
    (``?previous=<file>``); ``?body_from=`` fills the try panel's body."""
    name = request.path_params["name"]
    if (missing := _unknown(request, name)) is not None:
        return missing
    typed = Typed(_disk_text(request, name), body_from=request.query_params.get("body_from", ""))
    previous = request.query_params.get("previous")
    notice = None
    if previous:
        kept = {path.name: path for path in previous_versions(_folder(request), name)}
        if previous not in kept:
            return _list_page(
                request,
                problems=[Problem(f"{name}.toml", 0, f"no kept version '{previous}'; pick one below")],
                status_code=404,
            )
        typed.text = kept[previous].read_text(encoding="utf-8")
        notice = f"Loaded the kept version {previous}: save to make it the live template again."
    result = None
    if typed.body_from:
        typed.body, error = await _body(request, name, typed.body_from)
        result = TryResult(error=error) if error else None
    return await _editor(request, name, typed, result=result, notice=notice)


@csrf_protected
async def save_template_text(request: Request) -> Response:
    """POST /templates/{name} (text): check, write atomically keeping the previous version, make
    live; 303 back. 422 with every problem, nothing written, when the text is invalid."""
    name = request.path_params["name"]
    if (missing := _unknown(request, name)) is not None:
        return missing
    typed = await _typed(request)
    try:
        saved = save_template(_folder(request), name, typed.text)
    except TemplateInvalid as exc:
        return await _editor(request, name, typed, problems=exc.problems, status_code=422)
    except OSError as exc:
        problem = Problem(f"{name}.toml", 0, f"cannot be written: {exc}; nothing was changed")
        return await _editor(request, name, typed, problems=[problem], status_code=500)
    note = await _make_live(request, saved.template)
    if saved.previous is None:
        message = f"{name}.toml is unchanged; it is the live template."
    else:
        kept = saved.previous.relative_to(_folder(request))
        message = f"{name}.toml saved; live now; previous version kept as {kept}."
    flash(request, f"{message} {note}".strip(), "ok")
    return RedirectResponse(f"/templates/{name}", status_code=303)


@csrf_protected
async def try_template(request: Request) -> Response:
    """POST /templates/{name}/try (text, body, body_from): the gateway requests the editor's text
    would make for that body; nothing is sent or journaled. ``pick`` only fills the body box
    (so does an empty body with a pick, before it runs)."""
    name = request.path_params["name"]
    if (missing := _unknown(request, name)) is not None:
        return missing
    typed = await _typed(request)
    if typed.pick or (not typed.body and typed.body_from):
        if not typed.body_from:
            result = TryResult(error="Pick an alert body from the list first.")
            return await _editor(request, name, typed, result=result)
        typed.body, error = await _body(request, name, typed.body_from)
        if error or typed.pick:
            return await _editor(request, name, typed, result=TryResult(error=error) if error else None)
    template, problems = check_template_text(name, typed.text, directory=_folder(request))
    if template is None:
        result = TryResult(error="The template in the editor has problems (listed above); fix them first.")
        return await _editor(request, name, typed, problems=problems, result=result, status_code=422)
    result = await _preview(request, template, typed.body)
    return await _editor(request, name, typed, result=result)


async def _preview(request: Request, template: StrategyTemplate, body: str) -> TryResult:
    bridge = request.app.state.runtime.bridge
    raw = body.encode("utf-8")
    limit = bridge.settings.server.max_body_bytes
    if len(raw) > limit:
        return TryResult(
            error=f"the body is {len(raw)} bytes, over the {limit}-byte limit: the webhook "
            "answers 413 and does nothing"
        )
    try:
        status, reason, calls = await dry_run(bridge, template, raw)
    except BridgeError as exc:  # AlertInvalidError: the same 422 message the webhook gives
        return TryResult(error=str(exc))
    shown = [
        {"endpoint": call["endpoint"], "body": json.dumps(call["body"], indent=2, ensure_ascii=False)}
        for call in calls
    ]
    return TryResult(status=str(status), reason=reason, calls=shown)


async def _make_live(request: Request, template: StrategyTemplate) -> str:
    """Put ``template`` in the bridge, make its webhook secret when it has none, follow its
    accounts on the User Hub. Return what the trader should know ("" when nothing)."""
    runtime = request.app.state.runtime
    bridge = runtime.bridge
    bridge.templates[template.name] = template
    note = ""
    if template.name not in bridge.secrets:
        secrets_file = bridge.settings.server.secrets_file
        try:
            ensure_secrets(secrets_file, [template.name])
            bridge.secrets = load_secrets(secrets_file)
            note = f"Its webhook secret is made: copy its URL from /webhooks#{template.name}."
        except BridgeError as exc:
            note = f"No webhook secret could be made, so its alerts are refused (401): {exc}"
    if runtime.hub is not None:
        await runtime.hub.set_accounts(await bridge.followed_account_ids())
    return note


async def _typed(request: Request) -> Typed:
    """What the posted editor form holds, with the browser's CRLF line ends made LF."""
    form = await request.form()
    return Typed(
        text=str(form.get("text", "")).replace("\r\n", "\n"),
        body=str(form.get("body", "")).replace("\r\n", "\n"),
        body_from=str(form.get("body_from", "")),
        pick="pick" in form,
    )


def _folder(request: Request) -> Path:
    return Path(request.app.state.runtime.bridge.settings.server.templates_dir)


def _unknown(request: Request, name: str) -> Response | None:
    """A 404 page naming ``name`` when it is not a strategy (live or on disk); None when it is."""
    if not STRATEGY_NAME.match(name):
        message = name_rule(name)
    elif name in request.app.state.runtime.bridge.templates or (_folder(request) / f"{name}.toml").is_file():
        return None
    else:
        message = f"there is no strategy '{name}' (no {name}.toml); pick one below or make a new one"
    return _list_page(request, problems=[Problem(name, 0, message)], status_code=404)


def _disk_text(request: Request, name: str) -> str:
    """The template file's text; the live template's when the file is gone."""
    try:
        return (_folder(request) / f"{name}.toml").read_text(encoding="utf-8")
    except OSError:
        return str(request.app.state.runtime.bridge.templates[name].source)


def _list_page(
    request: Request,
    *,
    problems: list[Problem] | None = None,
    typed: str = "",
    source: str = "",
    status_code: int = 200,
) -> Response:
    live = request.app.state.runtime.bridge.templates
    rows = [_row(live[name]) for name in sorted(live)]
    context = {"rows": rows, "problems": problems or [], "typed": typed, "source": source or "mnq-market"}
    return templates.TemplateResponse(request, "templates.html", context, status_code=status_code)


def _row(template: StrategyTemplate) -> dict[str, Any]:
    try:
        modified: datetime | None = datetime.fromtimestamp(template.path.stat().st_mtime, UTC)
    except OSError:
        modified = None
    accounts = [
        f"{spec.account} ×{spec.multiplier}" if spec.multiplier != 1 else str(spec.account)
        for spec in template.accounts
    ]
    return {
        "name": template.name,
        "description": template.description,
        "kind": template.kind,
        "bracket": template.bracket_mode if template.bracket_values else "",
        "accounts": accounts,
        "modified": modified,
    }


async def _editor(
    request: Request,
    name: str,
    typed: Typed,
    *,
    problems: list[Problem] | None = None,
    result: TryResult | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime = request.app.state.runtime
    folder = _folder(request)
    live = runtime.bridge.templates.get(name)
    kept = [
        {"file": path.name, "at": datetime.fromtimestamp(path.stat().st_mtime, UTC)}
        for path in previous_versions(folder, name)
    ]
    context = {
        "name": name,
        "text": typed.text,
        "problems": problems or [],
        "is_live": live is not None,
        "differs": live is not None and live.source != _disk_text(request, name),
        "kept": kept,
        "choice_groups": _grouped(await _body_choices(request, name)),
        "body": typed.body,
        "body_from": typed.body_from,
        "result": result,
        "notice": notice,
        "executed": str(AlertStatus.EXECUTED),
    }
    return templates.TemplateResponse(request, "template_edit.html", context, status_code=status_code)


def _alert_files(request: Request, name: str) -> list[str]:
    """The example bodies (``*.example.*``) and messages (``*.txt``) in server.alerts_dir, this
    strategy's first."""
    folder = Path(request.app.state.runtime.bridge.settings.server.alerts_dir)
    if not folder.is_dir():
        return []
    files = [
        p.name for p in folder.iterdir() if p.is_file() and (".example." in p.name or p.suffix == ".txt")
    ]
    return sorted(files, key=lambda file: (not file.startswith(f"{name}."), file))


async def _body_choices(request: Request, name: str) -> list[BodyChoice]:
    runtime = request.app.state.runtime
    choices = [
        BodyChoice(
            f"{ALERT_FILE}{file}",
            file,
            "This strategy's alert files" if file.startswith(f"{name}.") else "Other alert files",
        )
        for file in _alert_files(request, name)
    ]
    journal = runtime.journal
    recent = await runtime.bridge.runner.run(journal.recent_alerts, strategy=name, limit=RECENT_ALERTS)
    group = f"Last {RECENT_ALERTS} journaled alerts"
    for alert in recent:
        if alert.raw_body:  # unauthenticated deliveries keep no body
            at = alert.received_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            label = f"alert {alert.id} · {at} · {alert.status}"
            choices.append(BodyChoice(f"{JOURNAL_ALERT}{alert.id}", label, group))
    return choices


def _grouped(choices: list[BodyChoice]) -> list[tuple[str, list[BodyChoice]]]:
    """The choices by group, groups in the order they first appear."""
    groups: dict[str, list[BodyChoice]] = {}
    for choice in choices:
        groups.setdefault(choice.group, []).append(choice)
    return list(groups.items())


async def _body(request: Request, name: str, body_from: str) -> tuple[str, str | None]:
    """The body ``body_from`` names, or ("", why not)."""
    runtime = request.app.state.runtime
    if body_from.startswith(ALERT_FILE):
        file = body_from.removeprefix(ALERT_FILE)
        if file in _alert_files(request, name):  # only files listed: no path escapes the folder
            folder = Path(runtime.bridge.settings.server.alerts_dir)
            try:
                return (folder / file).read_text(encoding="utf-8"), None
            except (OSError, UnicodeDecodeError) as exc:
                return "", f"cannot read {folder / file}: {exc}"
    elif body_from.startswith(JOURNAL_ALERT):
        try:
            alert_id = parse_whole("the alert id", body_from.removeprefix(JOURNAL_ALERT))
        except FilterError as exc:
            return "", str(exc)
        alert = await runtime.bridge.runner.run(runtime.journal.get_alert, alert_id)
        if alert is not None:
            return alert.raw_body, None
        return "", f"there is no journaled alert {alert_id}"
    return "", f"no alert body '{shown(body_from)}': pick one from the list"
