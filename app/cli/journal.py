"""``tvbridge journal``, ``db upgrade`` and ``unlock``: commands that read or write the journal."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.cli.common import say, settings_of
from app.errors import BridgeError

if TYPE_CHECKING:
    from app.journal import Journal

UNLOCK_BY = "tvbridge unlock (cli)"


def journal(args: argparse.Namespace) -> int:
    """Show recent alerts with their orders (a table, or JSON with ``--json``)."""
    from app.journal.journal import Journal
    from app.web.journal_view import alerts_json, alerts_table
    from app.web.queries import alert_details

    settings = settings_of(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        alerts = journal.recent_alerts(limit=args.limit, strategy=args.strategy)
        details = alert_details(journal, alerts)
    finally:
        journal.close()
    if args.json:
        say(json.dumps(alerts_json(alerts, details), indent=2))
    else:
        say(alerts_table(alerts, details))
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the journal database to the newest schema."""
    from app.journal.journal import Journal

    settings = settings_of(args)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
    finally:
        journal.close()
    say("journal database is at the newest schema")
    return 0


def unlock(args: argparse.Namespace) -> int:
    """Lift an account's risk lockout early (journaled); 1 when it is not locked."""
    from app.domain.calendar import TradingCalendar
    from app.journal.journal import Journal

    settings = settings_of(args)
    calendar = TradingCalendar(settings.risk.timezone, settings.risk.day_start)
    journal = Journal(settings.journal.url)
    try:
        journal.upgrade()
        account_id, name = journaled_account(journal, args.account)
        lifted = journal.unlock_account(account_id, by=UNLOCK_BY)
    finally:
        journal.close()
    if lifted is None:
        say(f"account {name} ({account_id}) is not locked: nothing to lift", file=sys.stderr)
        return 1
    say(
        f"unlocked account {name} ({account_id}): lifted its lockout until "
        f"{calendar.describe(lifted.until)}, set by {lifted.by}: {lifted.reason}. Entries are "
        "allowed again at the next alert, unless a limit still refuses them: while the account is "
        "past its daily loss, trailing drawdown or cool-down limit, the bridge locks it again"
    )
    return 0


def journaled_account(journal: Journal, account: str) -> tuple[int, str]:
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
