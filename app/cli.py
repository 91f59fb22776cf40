"""The ``tvbridge`` command. Errors exit non-zero with one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.config import Settings, load_settings
from app.errors import BridgeError, ConfigError

EXIT_CONFIG = 2


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
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"tvbridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BridgeError as exc:
        print(f"tvbridge: {exc}", file=sys.stderr)
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
    p.add_argument("--port", type=int, help="listen port (default from settings: 8000)")

    p = command("sim", _sim, "run the ProjectX simulator alone (for tests and benchmarks)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--walk-interval", type=float, default=1.0, help="seconds between price steps")
    p.add_argument(
        "--rate-limit", type=int, default=200, help="requests per 60 s per token (the gateway's: 200)"
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")

    command("check", _check, "validate settings, templates and webhook secrets; list every problem")

    p = command("render", _render, "print the gateway requests an alert would make; sends nothing")
    p.add_argument("strategy")
    p.add_argument("alert_file", type=Path)

    p = command("url", _url, "print the signed webhook URL of a strategy")
    p.add_argument("strategy")
    p.add_argument("--base-url", help="public base URL (e.g. your tunnel); default the local server")

    p = command("send", _send, "post an alert file to the running bridge, as TradingView would")
    p.add_argument("alert_file", type=Path)
    p.add_argument("--strategy", required=True)
    p.add_argument("--base-url", help="the bridge's base URL (default from settings)")

    p = command("journal", _journal, "show recent alerts with their orders")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--strategy")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("db", None, "journal database commands")  # type: ignore[arg-type]
    db = p.add_subparsers(title="db commands")
    up = db.add_parser("upgrade", help="migrate the journal database to the newest schema")
    up.set_defaults(func=_db_upgrade)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if settings.gateway.kind != "sim":
        print(
            f"tvbridge: LIVE gateway {settings.gateway.firm_name}: orders are real and final",
            file=sys.stderr,
        )
    return asyncio.run(_serve_until_stopped(settings, host, port))


async def _serve_until_stopped(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from app.web.app import create_app, start_runtime, stop_runtime

    # Started here, not in uvicorn's lifespan: a refused login or a broken template is then one
    # line from main(), not a traceback from the server.
    runtime = await start_runtime(settings)
    try:
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, runtime), host=host, port=port, log_level="info")
        )
        await server.serve()
        return 0 if server.started else 1
    finally:
        await stop_runtime(runtime)


def _sim(args: argparse.Namespace) -> int:
    from app.sim.server import run_sim

    run_sim(
        args.host,
        args.port,
        seed=args.seed,
        walk_interval_s=args.walk_interval or None,
        rate_limit=args.rate_limit,
        access_log=not args.no_access_log,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.ingest.auth import load_secrets
    from app.strategies import check_templates

    settings = _settings(args)
    problems = [str(p) for p in check_templates(settings.server.templates_dir)]
    secrets = load_secrets(settings.server.secrets_file)
    names = sorted(p.stem for p in settings.server.templates_dir.glob("*.toml"))
    for name in names:
        if name not in secrets:
            problems.append(
                f"{settings.server.secrets_file}: no webhook secret for strategy '{name}' "
                "(`tvbridge serve` makes one on start)"
            )
    for problem in problems:
        print(problem)
    if any("no webhook secret" not in p for p in problems):
        print(f"tvbridge check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"tvbridge check: {len(names)} template(s) OK, gateway {settings.gateway.firm_name}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from app.web.preview import render_alert

    settings = _settings(args)
    raw = _read_file(args.alert_file)
    calls = asyncio.run(render_alert(settings, args.strategy, raw))
    print(json.dumps(calls, indent=2, default=str))
    return 0


def _url(args: argparse.Namespace) -> int:
    print(_webhook_url(_settings(args), args.strategy, args.base_url))
    return 0


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
    import httpx

    settings = _settings(args)
    raw = _read_file(args.alert_file)
    url = _webhook_url(settings, args.strategy, args.base_url)
    try:
        json.loads(raw)
        content_type = "application/json"  # what TradingView sends for valid JSON
    except ValueError:
        content_type = "text/plain; charset=utf-8"
    try:
        response = httpx.post(url, content=raw, headers={"Content-Type": content_type}, timeout=10.0)
    except httpx.HTTPError as exc:
        raise BridgeError(
            f"could not reach the bridge at {url.split('/webhook/')[0]} ({type(exc).__name__}); "
            "is `tvbridge serve` running?"
        ) from None
    try:
        shown = json.dumps(response.json(), indent=2)
    except ValueError:
        shown = response.text
    print(f"HTTP {response.status_code}\n{shown}")
    return 0 if response.status_code < 400 else 1


def _journal(args: argparse.Namespace) -> int:
    from app.journal.journal import Journal
    from app.web.journal_view import AlertDetail, alerts_json, alerts_table

    settings = _settings(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        alerts = journal.recent_alerts(limit=args.limit, strategy=args.strategy)
        details = {
            a.id: AlertDetail(
                journal.alert_orders(a.id), journal.alert_fills(a.id), journal.alert_latency(a.id)
            )
            for a in alerts
            if a.id is not None
        }
    finally:
        journal.close()
    if args.json:
        print(json.dumps(alerts_json(alerts, details), indent=2))
    else:
        print(alerts_table(alerts, details))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from app.journal.journal import Journal

    settings = _settings(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
    finally:
        journal.close()
    print("journal database is at the newest schema")
    return 0


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read alert file {path}: {exc.strerror}") from None


if __name__ == "__main__":
    raise SystemExit(main())
