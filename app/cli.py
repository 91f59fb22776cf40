"""The ``tvbridge`` command. Errors exit non-zero with one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app import __version__
from app.config import Settings, load_settings
from app.errors import BridgeError, ConfigError
from app.text import printable

EXIT_CONFIG = 2
UNLOCK_BY = "tvbridge unlock (cli)"


def _say(text: str, *, file: TextIO | None = None) -> None:
    """Print one message. Control characters become visible escapes (app/text.py): journaled
    text (strategy names, reasons, account names) may come from strangers, and must never act on
    the terminal; the message's own line breaks are kept."""
    print(printable(text, keep="\n"), file=file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tvbridge`` command; return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    # Our own INFO lines (orders, reconciles) are worth reading; libraries' INFO is noise.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tvbridge").setLevel(logging.INFO)
    logging.getLogger("app").setLevel(logging.INFO)  # modules that log under their own name
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        _say(f"tvbridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BridgeError as exc:
        _say(f"tvbridge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvbridge", description="TradingView alert webhooks → ProjectX Gateway orders."
    )
    parser.add_argument("--version", action="version", version=f"tvbridge {__version__}")
    parser.add_argument(
        "--config", type=Path, default=None, help="settings file (default ./tvbridge.toml if present)"
    )
    sub = parser.add_subparsers(title="commands")

    def command(name: str, func: Callable[[argparse.Namespace], int | None], help: str) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("serve", _serve, "run the bridge (on the built-in simulator when no gateway is set)")
    p.add_argument("--host", help="listen address (default from settings: 127.0.0.1)")
    p.add_argument("--port", type=int, help="the pages' port (default from settings: 8000)")
    p.add_argument(
        "--webhook-port", type=int, help="the webhook listener's port, for the tunnel (default 8001)"
    )
    p.add_argument(
        "--tunnel",
        action="store_true",
        help="also run the tunnel client ([tunnel] kind) pointed at the webhook listener",
    )

    p = command("sim", _sim, "run the ProjectX simulator alone (for tests and benchmarks)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--walk-interval", type=float, default=1.0, help="seconds between price steps")
    p.add_argument(
        "--rate-limit", type=int, default=200, help="requests per 60 s per token (the gateway's: 200)"
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    p.add_argument(
        "--state",
        default="tvbridge-sim.db",
        help="file keeping orders, positions, balances and ids across restarts "
        "(default ./tvbridge-sim.db; ':memory:' keeps nothing)",
    )
    p.add_argument("--fresh", action="store_true", help="delete the state file first: start a new simulator")
    p.add_argument(
        "--faults",
        action="store_true",
        help="serve the fault control endpoint at /_faults (loopback hosts only; see README)",
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="hold every REST answer this long after performing the call (a distant gateway)",
    )

    command("check", _check, "validate settings, templates and webhook secrets; list every problem")

    p = command("render", _render, "print the gateway requests an alert would make; sends nothing")
    p.add_argument("strategy")
    p.add_argument("alert_file", type=Path)

    p = command("url", _url, "print the signed webhook URL of a strategy")
    p.add_argument("strategy")
    p.add_argument(
        "--base-url",
        help="public base URL; default the tunnel's (or server.public_url), else the local webhook listener",
    )

    p = command(
        "tunnel", _tunnel, "run the tunnel client ([tunnel] kind) to the webhook listener and print the URLs"
    )
    p.add_argument(
        "--check", action="store_true", help="send one signed test request through the public URL and exit"
    )
    p.add_argument("--strategy", help="the strategy whose URL the check uses (default the first)")
    p.add_argument("--url", help="the public base URL to check (default the running tunnel's)")

    p = command("send", _send, "post an alert file to the running bridge, as TradingView would")
    p.add_argument("alert_file", type=Path)
    p.add_argument("--strategy", required=True)
    p.add_argument("--base-url", help="the bridge's base URL (default from settings)")

    p = command("journal", _journal, "show recent alerts with their orders")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--strategy")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("set-password", _set_password, "set the web page's password (stored as an argon2id hash)")
    p.add_argument("--stdin", action="store_true", help="read the password from one line of standard input")

    p = command("pause", _pause, "stop executing alerts (they are still journaled, as paused)")
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p = command("resume", _resume, "execute alerts again (those received while paused stay unexecuted)")
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p = command(
        "flatten", _flatten, "cancel every working order and close every position on the templates' accounts"
    )
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p.add_argument("--yes", action="store_true", help="do not ask before flattening")
    p.add_argument("--no-pause", action="store_true", help="do not pause the bridge first")

    p = command(
        "unlock",
        _unlock,
        "lift a risk lockout early (journaled): entries on ACCOUNT are allowed again; a running "
        "bridge reads lockouts from the journal at every entry, so it needs no restart or signal",
    )
    p.add_argument("account", metavar="ACCOUNT", help="the account's name (any case) or id")

    p = command("db", None, "journal database commands")  # type: ignore[arg-type]
    db = p.add_subparsers(title="db commands")
    up = db.add_parser("upgrade", help="migrate the journal database to the newest schema")
    up.set_defaults(func=_db_upgrade)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _serve(args: argparse.Namespace) -> int:
    from app.web.serve import serve

    settings = _settings(args)
    if settings.gateway.kind != "sim":
        _say(
            f"tvbridge: LIVE gateway {settings.gateway.firm_name}: orders are real and final",
            file=sys.stderr,
        )
    # Started here, not in uvicorn's lifespan: a refused login or a broken template is then one
    # line from main(), not a traceback from the server.
    return asyncio.run(
        serve(
            settings,
            host=args.host or settings.server.host,
            port=args.port or settings.server.port,
            webhook_host=settings.server.webhook_host,
            webhook_port=args.webhook_port or settings.server.webhook_port,
            tunnel=getattr(args, "tunnel", False),
        )
    )


def _sim(args: argparse.Namespace) -> int:
    from app.sim.server import is_loopback, run_sim
    from app.sim.store import MEMORY, StateFileError

    if args.faults and not is_loopback(args.host):
        raise ConfigError(
            f"--faults is refused on --host {args.host}: the fault endpoint lets anyone who reaches "
            "it break the simulator; use a loopback address (127.0.0.1)"
        )
    try:
        run_sim(
            args.host,
            args.port,
            seed=args.seed,
            walk_interval_s=args.walk_interval or None,
            rate_limit=args.rate_limit,
            access_log=not args.no_access_log,
            state_path=None if args.state == MEMORY else Path(args.state),
            fresh=args.fresh,
            fault_control=args.faults,
            latency_s=max(0.0, args.latency_ms) / 1000,
        )
    except StateFileError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.ingest.auth import load_secrets
    from app.strategies import check_templates, load_templates, stale_check_warnings

    settings = _settings(args)
    problems = [str(p) for p in check_templates(settings.server.templates_dir)]
    # Warnings do not fail the check: the template works, but its stale check is off.
    try:
        loaded = load_templates(settings.server.templates_dir)
    except ConfigError:
        loaded = {}  # listed as problems above; warnings wait until the templates load
    for template in loaded.values():
        message = _read_text(settings.server.alerts_dir / f"{template.name}.txt")
        for warning in stale_check_warnings(template, message):
            _say(f"warning: {warning}")
    secrets = load_secrets(settings.server.secrets_file)
    names = sorted(p.stem for p in settings.server.templates_dir.glob("*.toml"))
    for name in names:
        if name not in secrets:
            problems.append(
                f"{settings.server.secrets_file}: no webhook secret for strategy '{name}' "
                "(`tvbridge serve` makes one on start)"
            )
    for problem in problems:
        _say(problem)
    if any("no webhook secret" not in p for p in problems):
        _say(f"tvbridge check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    _say(f"tvbridge check: {len(names)} template(s) OK, gateway {settings.gateway.firm_name}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from app.web.preview import render_alert

    settings = _settings(args)
    raw = _read_file(args.alert_file)
    calls = asyncio.run(render_alert(settings, args.strategy, raw))
    _say(json.dumps(calls, indent=2, default=str))
    return 0


def _url(args: argparse.Namespace) -> int:
    from app.web.tunnel_link import local_webhook_url, public_base_url

    settings = _settings(args)
    base = args.base_url or public_base_url(settings, None) or local_webhook_url(settings)
    _say(_webhook_url(settings, args.strategy, base))
    return 0


def _tunnel(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.check:
        return asyncio.run(_tunnel_check(settings, args.strategy, args.url))
    return asyncio.run(_tunnel_until_stopped(settings))


async def _tunnel_until_stopped(settings: Settings) -> int:
    """Run the tunnel client until Ctrl-C (or SIGTERM / SIGHUP: the client must not outlive us)."""
    import signal

    from app.web.tunnel_link import start_tunnel

    supervisor = await start_tunnel(settings, None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # Windows: Ctrl-C and closing the console reach the client too
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
    _say("the tunnel runs until Ctrl-C; `tvbridge serve` must run too (its webhook listener answers)")
    try:
        await stop.wait()
    finally:
        await supervisor.stop()
    return 0


async def _tunnel_check(settings: Settings, strategy: str | None, base_url: str | None) -> int:
    from app.ingest.auth import load_secrets
    from app.tunnel import check_reachability
    from app.tunnel.check import ATTEMPT_TIMEOUT_S
    from app.web.tunnel_link import public_base_url

    base = base_url or public_base_url(settings, None)
    if not base:
        raise ConfigError(
            "no public URL to check: no tunnel is up (start `tvbridge tunnel` or `tvbridge serve "
            "--tunnel`) and server.public_url is not set; or pass --url https://your.public.address"
        )
    if strategy is None:
        names = sorted(load_secrets(settings.server.secrets_file))
        if not names:
            raise ConfigError(
                f"no webhook secret in {settings.server.secrets_file} to sign the check with: "
                "run `tvbridge serve` once to make them"
            )
        strategy = names[0]
    url = _webhook_url(settings, strategy, base)
    _say(f"checking {base.rstrip('/')} with strategy '{strategy}'...")
    timeout_s = min(settings.tunnel.check_timeout_s, ATTEMPT_TIMEOUT_S)
    result = await check_reachability(url, timeout_s=timeout_s)
    seen = f"HTTP {result.status_code}" if result.status_code is not None else "no HTTP answer"
    verdict = "ARRIVED" if result.arrived else "NOT ARRIVED"
    _say(f"{verdict} ({seen}, {result.elapsed_ms} ms): {result.message}")
    if result.client_ip:
        _say(f"the bridge saw the request come from {result.client_ip}")
    return 0 if result.arrived else 1


def _webhook_url(settings: Settings, strategy: str, base_url: str | None) -> str:
    from app.ingest.auth import load_secrets, webhook_path

    secret = load_secrets(settings.server.secrets_file).get(strategy)
    if secret is None:
        raise ConfigError(
            f"no webhook secret for strategy '{strategy}' in {settings.server.secrets_file}: "
            f"check the name (templates/{strategy}.toml) or run `tvbridge serve` once to make one"
        )
    base = (base_url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/")
    return base + webhook_path(strategy, secret)


def _send(args: argparse.Namespace) -> int:
    """Post an alert file as TradingView would: its time field set to now, as {{timenow}} is.

    When the body is JSON with the strategy template's ``time_field``, that value becomes the
    current UTC time (``2026-03-02T14:30:05Z``, or epoch ms when it was ms), so a saved example
    is not refused as stale; the rest of the file is sent as it is.
    """
    import httpx

    from app.ingest.parse import tradingview_content_type
    from app.strategies import load_template, refresh_alert_time

    settings = _settings(args)
    read = _read_file(args.alert_file)
    template = load_template(settings.server.templates_dir, args.strategy)
    raw = refresh_alert_time(read, template)
    if raw != read and template is not None:
        _say(
            f"tvbridge send: {template.time_field} set to now, as TradingView's {{{{timenow}}}}",
            file=sys.stderr,
        )
    url = _webhook_url(settings, args.strategy, args.base_url)
    try:
        response = httpx.post(
            url, content=raw, headers={"Content-Type": tradingview_content_type(raw)}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise BridgeError(
            f"could not reach the bridge at {url.split('/webhook/')[0]} ({type(exc).__name__}); "
            "is `tvbridge serve` running?"
        ) from None
    try:
        shown = json.dumps(response.json(), indent=2)
    except ValueError:
        shown = response.text
    _say(f"HTTP {response.status_code}\n{shown}")
    return 0 if response.status_code < 400 else 1


def _journal(args: argparse.Namespace) -> int:
    from app.journal.journal import Journal
    from app.web.journal_view import alerts_json, alerts_table
    from app.web.queries import alert_details

    settings = _settings(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        alerts = journal.recent_alerts(limit=args.limit, strategy=args.strategy)
        details = alert_details(journal, alerts)
    finally:
        journal.close()
    if args.json:
        _say(json.dumps(alerts_json(alerts, details), indent=2))
    else:
        _say(alerts_table(alerts, details))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from app.journal.journal import Journal

    settings = _settings(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
    finally:
        journal.close()
    _say("journal database is at the newest schema")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    from getpass import getpass

    from app.web.access import set_password

    settings = _settings(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass("New password for the web page: ")
        if getpass("The same password again: ") != password:
            raise ConfigError("the two passwords differ; nothing was changed, run the command again")
    set_password(settings.server.auth_file, password)
    _say(
        f"password set in {settings.server.auth_file}; a running bridge uses it at once "
        "(pages open before need a new login)"
    )
    return 0


def _pause(args: argparse.Namespace) -> int:
    return _switch(args, pause=True)


def _resume(args: argparse.Namespace) -> int:
    return _switch(args, pause=False)


def _switch(args: argparse.Namespace, *, pause: bool) -> int:
    from app.journal.journal import Journal
    from app.redact import url_without_password as redact
    from app.web.access import COMMAND_LINE

    settings = _settings(args)
    base = _bridge_url(settings, args.url)
    answer = _control(settings, base, "pause" if pause else "resume")
    if answer is not None:
        if answer["paused"]:
            _say(
                f"the bridge at {base} is paused since {answer['since']} (by {answer['by']}): alerts are "
                "journaled as paused and not executed; `tvbridge resume` executes new ones again"
            )
        else:
            _say(f"the bridge at {base} is not paused: new alerts are executed")
        return 0
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        journal.set_paused(pause, by=COMMAND_LINE)
    finally:
        journal.close()
    _say(
        f"no bridge answers at {base}: wrote the {'pause' if pause else 'resume'} to the journal "
        f"{redact(settings.journal.url)}; the bridge will start {'paused' if pause else 'not paused'}"
    )
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from app.domain.calendar import TradingCalendar
    from app.journal.journal import Journal

    settings = _settings(args)
    calendar = TradingCalendar(settings.risk.timezone, settings.risk.day_start)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        account_id, name = _journaled_account(journal, args.account)
        lifted = journal.unlock_account(account_id, by=UNLOCK_BY)
    finally:
        journal.close()
    if lifted is None:
        _say(f"account {name} ({account_id}) is not locked: nothing to lift", file=sys.stderr)
        return 1
    _say(
        f"unlocked account {name} ({account_id}): lifted its lockout until "
        f"{calendar.describe(lifted.until)}, set by {lifted.by}: {lifted.reason}. Entries are "
        "allowed again at the next alert, unless a limit still refuses them: while the account is "
        "past its daily loss, trailing drawdown or cool-down limit, the bridge locks it again"
    )
    return 0


def _journaled_account(journal: Any, account: str) -> tuple[int, str]:
    """The id and name of the account named ``account`` (a name, any case, or an id) in the
    journal's account states and active lockouts. Raises BridgeError (not locked) naming the
    accounts it knows: every locked account has its lockout row, with its name."""
    known = {s.account_id: s.name for s in journal.account_states()}
    for lock in journal.active_lockouts(datetime.now(UTC)):
        known.setdefault(lock.account_id, lock.account_name)
    for match in (
        lambda i, n: n == account,
        lambda i, n: n.casefold() == account.casefold(),
        lambda i, n: str(i) == account.strip(),
    ):
        found = [(i, n) for i, n in known.items() if match(i, n)]
        if len(found) == 1:
            return found[0]
    names = ", ".join(f"{n} ({i})" for i, n in sorted(known.items())) or "none yet"
    raise BridgeError(
        f"account '{account}' is not locked: no lockout names it (accounts the journal knows: "
        f"{names}); give the name or id the lockout shows on the status page"
    )


def _flatten(args: argparse.Namespace) -> int:
    settings = _settings(args)
    base = _bridge_url(settings, args.url)
    plan = _control(settings, base, "plan")
    if plan is None:
        if settings.gateway.kind == "sim":
            _say(
                f"no bridge answers at {base}, and the simulator only lives inside `tvbridge serve`: "
                "there is nothing to flatten"
            )
            return 0
        _say(f"no bridge answers at {base}: flattening directly on {settings.gateway.firm_name}")
        return asyncio.run(_flatten_without_bridge(settings, args))
    _say(_plan_text(plan))
    if not _confirmed(args):
        return 1
    report = _control(settings, base, "flatten", data={"pause": "0" if args.no_pause else "1"})
    if report is None:
        raise BridgeError(
            f"the bridge at {base} stopped answering before the flatten was sent; nothing was sent"
        )
    _say(report["summary"])
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
        _say(_plan_text(plan_json(await bridge.flatten_plan())))
        if not _confirmed(args):
            return 1
        report = await bridge.flatten(by=COMMAND_LINE, pause=not args.no_pause)
        _say(report.summary())
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
    _say("nothing was done")
    return False


def _bridge_url(settings: Settings, url: str | None) -> str:
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


def _control(
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


def _read_text(path: Path) -> str | None:
    """The text of ``path``, or None when it cannot be read (missing, not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read alert file {path}: {exc.strerror}") from None


if __name__ == "__main__":
    raise SystemExit(main())
