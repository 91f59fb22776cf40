"""``tvbridge pause``, ``resume``, ``flatten`` and ``set-password``: the kill switch from a shell.

Pause, resume and flatten ask the running bridge (a signed request to its /control pages); with
no bridge answering, pause and resume write the journal and flatten logs in to the gateway itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from app.cli.common import say, settings_of
from app.config import Settings
from app.errors import BridgeError, ConfigError
from app.text import printable


def set_password(args: argparse.Namespace) -> int:
    """Set the web page's password (argon2id hash in the auth file), asked twice or from stdin."""
    from getpass import getpass

    from app.web.access import set_password

    settings = settings_of(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass("New password for the web page: ")
        if getpass("The same password again: ") != password:
            raise ConfigError("the two passwords differ; nothing was changed, run the command again")
    set_password(settings.server.auth_file, password)
    say(
        f"password set in {settings.server.auth_file}; a running bridge uses it at once "
        "(pages open before need a new login)"
    )
    return 0


def pause(args: argparse.Namespace) -> int:
    """Stop executing alerts (they are still journaled, as paused)."""
    return _switch(args, pause=True)


def resume(args: argparse.Namespace) -> int:
    """Execute alerts again (those received while paused stay unexecuted)."""
    return _switch(args, pause=False)


def _switch(args: argparse.Namespace, *, pause: bool) -> int:
    from app.journal.journal import Journal
    from app.redact import url_without_password as redact
    from app.web.access import COMMAND_LINE

    settings = settings_of(args)
    base = bridge_url(settings, args.url)
    answer = control(settings, base, "pause" if pause else "resume")
    if answer is not None:
        if answer["paused"]:
            say(
                f"the bridge at {base} is paused since {answer['since']} (by {answer['by']}): alerts are "
                "journaled as paused and not executed; `tvbridge resume` executes new ones again"
            )
        else:
            say(f"the bridge at {base} is not paused: new alerts are executed")
        return 0
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        journal.set_paused(pause, by=COMMAND_LINE)
    finally:
        journal.close()
    say(
        f"no bridge answers at {base}: wrote the {'pause' if pause else 'resume'} to the journal "
        f"{redact(settings.journal.url)}; the bridge will start {'paused' if pause else 'not paused'}"
    )
    return 0


def flatten(args: argparse.Namespace) -> int:
    """Cancel every working order and close every position on the templates' accounts."""
    settings = settings_of(args)
    base = bridge_url(settings, args.url)
    plan = control(settings, base, "plan")
    if plan is None:
        if settings.gateway.kind == "sim":
            say(
                f"no bridge answers at {base}, and the simulator only lives inside `tvbridge serve`: "
                "there is nothing to flatten"
            )
            return 0
        say(f"no bridge answers at {base}: flattening directly on {settings.gateway.firm_name}")
        return asyncio.run(_flatten_without_bridge(settings, args))
    say(_plan_text(plan))
    if not _confirmed(args):
        return 1
    report = control(settings, base, "flatten", data={"pause": "0" if args.no_pause else "1"})
    if report is None:
        raise BridgeError(
            f"the bridge at {base} stopped answering before the flatten was sent; nothing was sent"
        )
    say(report["summary"])
    return 0 if report["ok"] else 1


async def _flatten_without_bridge(settings: Settings, args: argparse.Namespace) -> int:
    """Flatten with no bridge running: log in to the gateway and run the bridge's flatten on the
    accounts the templates name (nothing else of the bridge is started)."""
    from app.engine.bridge import Bridge
    from app.gateway.projectx import build_gateway
    from app.journal.journal import Journal
    from app.strategies import load_templates
    from app.web.access import COMMAND_LINE
    from app.web.control import plan_json

    journal = Journal(settings.journal.url, gateway=settings.gateway.identity)  # a live gateway here
    journal.upgrade()
    gateway = build_gateway(settings.gateway)
    bridge = Bridge(settings, gateway, journal, load_templates(settings.server.templates_dir), {})
    try:
        await gateway.start()
        say(_plan_text(plan_json(await bridge.flatten_plan())))
        if not _confirmed(args):
            return 1
        report = await bridge.flatten(by=COMMAND_LINE, pause=not args.no_pause)
        say(report.summary())
        return 0 if report.ok else 1
    finally:
        await bridge.stop()  # closes the gateway
        journal.close()


def _plan_text(plan: dict[str, Any]) -> str:
    lines = []
    for account in plan["accounts"]:
        lines.append(f"{account['account_name']} (account {account['account_id']}):")
        if account["error"]:
            lines.append(f"  {account['error']}: what it holds is not known; flatten still tries it")
        lines += [f"  cancel order {order['text']}" for order in account["orders"]]
        lines += [f"  close position {position['text']}" for position in account["positions"]]
        if not (account["error"] or account["orders"] or account["positions"]):
            lines.append("  nothing open")
    if not plan["accounts"]:
        lines.append("no account to flatten: no template names an account the gateway lists")
    return "\n".join(printable(line) for line in lines)


def _confirmed(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    try:
        answer = input("Flatten? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    say("nothing was done")
    return False


def bridge_url(settings: Settings, url: str | None) -> str:
    """The running bridge's base URL: ``url``, else the settings' host and port (a wildcard
    listen address is reached on loopback)."""
    if url:
        return url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 — a listen address, reached on loopback
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def control(
    settings: Settings, base: str, action: str, *, data: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """Send one signed kill-switch request (action pause, resume, plan or flatten); return the
    bridge's JSON answer, or None when nothing listens at ``base`` (connection refused).

    Raises BridgeError when the bridge refuses or does not answer in time (then it may or may
    not have acted), ConfigError when there is no auth file to sign with.
    """
    import httpx

    from app.web.access import CONTROL_HEADER, load_auth, sign_control

    auth_file = settings.server.auth_file
    path = "/control/flatten" if action in ("plan", "flatten") else f"/control/{action}"
    headers = {"Accept": "application/json"}
    if auth_file.exists():
        headers[CONTROL_HEADER] = sign_control(load_auth(auth_file, create=False).control_key, action)
    try:
        response = httpx.request(
            "GET" if action == "plan" else "POST",
            base + path,
            headers=headers,
            data=data,
            timeout=60.0 if action == "flatten" else 15.0,
        )
    except httpx.ConnectError:
        return None
    except httpx.HTTPError as exc:
        raise BridgeError(
            f"the bridge at {base} did not answer {path} ({type(exc).__name__}): it may or may not "
            "have acted; look at its page or `tvbridge journal`"
        ) from None
    if CONTROL_HEADER not in headers:
        raise ConfigError(
            f"something answers at {base}, but there is no auth file {auth_file} here to sign the "
            "command: run it in the bridge's directory (or set server.auth_file)"
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else response.text[:200]
        raise BridgeError(f"the bridge at {base} answered {path} with HTTP {response.status_code}: {error}")
    return answer
