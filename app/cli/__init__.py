"""The ``tvbridge`` command. Errors exit non-zero with one clear line, never a traceback.

``main(argv)`` parses the command line (the parser below is the list of commands) and runs one
command; each command group lives in its own module:

- ``home``: init, and the working folder every command runs in
- ``run``: serve, sim (run a server until stopped)
- ``alerts``: check, render, url, send (templates, secrets, test alerts)
- ``tunnel``: tunnel, tunnel --check
- ``journal``: journal, db upgrade, unlock
- ``control``: pause, resume, flatten, set-password (the kill switch from a shell)
- ``doctor``: doctor (the read-only pre-flight against the gateway)
- ``notify``: notify --test (a sample of each notification to the configured URLs)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app import __version__
from app.cli import alerts, control, doctor, home, journal, notify, run, tunnel
from app.cli.common import EXIT_CONFIG, say
from app.cli.console import utf8_output
from app.cli.journal import UNLOCK_BY
from app.errors import BridgeError, ConfigError

__all__ = ["EXIT_CONFIG", "UNLOCK_BY", "main"]

Handler = Callable[[argparse.Namespace], int | None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tvbridge`` command; return its exit code (0 done, 1 failed, 2 settings wrong)."""
    utf8_output()  # before --help prints: "→" must not crash on a Windows code page
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    # Our own INFO lines (orders, reconciles) are worth reading; libraries' INFO is noise.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(logging.INFO)  # every module logs as its own name (app.*)
    try:
        if args.func is not home.init:  # init makes a folder: it is not run inside one
            folder = home.enter(args)
            if args.func is run.serve:
                home.note(folder)
        return int(args.func(args) or 0)
    except ConfigError as exc:
        say(f"tvbridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BridgeError as exc:
        say(f"tvbridge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvbridge", description="TradingView alert webhooks → ProjectX Gateway orders."
    )
    parser.add_argument("--version", action="version", version=f"tvbridge {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file; its folder is the working folder (default: $TVBRIDGE_HOME, else the "
        "current folder, and its tvbridge.toml if present)",
    )
    sub = parser.add_subparsers(title="commands")

    def command(name: str, func: Handler | None, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("serve", run.serve, "run the bridge (on the built-in simulator when no gateway is set)")
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

    p = command("sim", run.sim, "run the ProjectX simulator alone (for tests and benchmarks)")
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
    p.add_argument(
        "--extra-accounts",
        type=int,
        default=0,
        help="practice accounts SIM-EXTRA-1… beside the two built in (benches of one alert to many accounts)",
    )

    p = command("init", home.init, "make a working folder: tvbridge.toml, templates/, alerts/, secrets")
    p.add_argument(
        "dir", nargs="?", type=Path, default=Path("."), help="the folder (default: the current one)"
    )

    command("check", alerts.check, "validate settings, templates and webhook secrets; list every problem")

    command(
        "doctor",
        doctor.doctor,
        "check the gateway before the first order (login, accounts, contracts, hub, clock); sends no order",
    )

    p = command("render", alerts.render, "print the gateway requests an alert would make; sends nothing")
    p.add_argument("strategy")
    p.add_argument("alert_file", type=Path)

    p = command("url", alerts.url, "print the signed webhook URL of a strategy")
    p.add_argument("strategy")
    p.add_argument(
        "--base-url",
        help="public base URL; default the tunnel's (or server.public_url), else the local webhook listener",
    )

    p = command(
        "tunnel",
        tunnel.tunnel,
        "run the tunnel client ([tunnel] kind) to the webhook listener and print the URLs",
    )
    p.add_argument(
        "--check", action="store_true", help="send one signed test request through the public URL and exit"
    )
    p.add_argument("--strategy", help="the strategy whose URL the check uses (default the first)")
    p.add_argument("--url", help="the public base URL to check (default the running tunnel's)")

    p = command("send", alerts.send, "post an alert file to the running bridge, as TradingView would")
    p.add_argument("alert_file", type=Path)
    p.add_argument("--strategy", required=True)
    p.add_argument("--base-url", help="the bridge's base URL (default from settings)")

    p = command("journal", journal.journal, "show recent alerts with their orders")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--strategy")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command(
        "set-password", control.set_password, "set the web page's password (stored as an argon2id hash)"
    )
    p.add_argument("--stdin", action="store_true", help="read the password from one line of standard input")

    p = command("pause", control.pause, "stop executing alerts (they are still journaled, as paused)")
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p = command(
        "resume", control.resume, "execute alerts again (those received while paused stay unexecuted)"
    )
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p = command(
        "flatten",
        control.flatten,
        "cancel every working order and close every position on the templates' accounts",
    )
    p.add_argument("--url", help="the bridge's base URL (default from settings)")
    p.add_argument("--yes", action="store_true", help="do not ask before flattening")
    p.add_argument("--no-pause", action="store_true", help="do not pause the bridge first")

    p = command(
        "unlock",
        journal.unlock,
        "lift a risk lockout early (journaled): entries on ACCOUNT are allowed again; a running "
        "bridge reads lockouts from the journal at every entry, so it needs no restart or signal",
    )
    p.add_argument("account", metavar="ACCOUNT", help="the account's name (any case) or id")

    p = command(
        "notify",
        notify.notify,
        "send a sample notification of each kind (or of KIND) to the [notify] URLs and say which worked",
    )
    p.add_argument("--test", action="store_true", help="send the samples (bypassing routing and quiet hours)")
    p.add_argument("kind", nargs="?", metavar="KIND", help="one notice kind, e.g. position.unprotected")

    p = command("db", None, "journal database commands")
    db = p.add_subparsers(title="db commands")
    up = db.add_parser("upgrade", help="migrate the journal database to the newest schema")
    up.set_defaults(func=journal.db_upgrade)
    return parser
