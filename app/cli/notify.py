"""``tvbridge notify --test [KIND]``: send a sample of each notice kind (or of one) to every
configured URL, now, and say which worked."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from app.cli.common import EXIT_CONFIG, say, settings_of
from app.errors import ConfigError

if TYPE_CHECKING:
    from app.domain.notices import Notice
    from app.notify.notifier import AppriseNotifier
    from app.notify.send import Tried
    from app.notify.targets import Target

HOW_TO_SET = (
    "tvbridge notify: no notification URL is set. Add them to tvbridge.toml, e.g.\n"
    "  [notify]\n"
    '  urls = ["tgram://BOT_TOKEN/CHAT_ID", "ntfys://ntfy.sh/YOUR-TOPIC"]\n'
    "or keep the tokens out of the file: TVBRIDGE_NOTIFY__URLS='[\"tgram://BOT_TOKEN/CHAT_ID\"]'.\n"
    "The README's Notifications section sets up Telegram, Discord and ntfy step by step."
)


def notify(args: argparse.Namespace) -> int:
    """Send the samples, bypassing routing, dedupe and quiet hours: one line per URL and kind;
    0 when every one worked, 1 otherwise; 2 for wrong settings or an unknown KIND."""
    from app.domain.notices import NoticeKind
    from app.notify.routing import KNOWN_KINDS
    from app.web import logsafe

    if not args.test:
        say("tvbridge notify: say what to do: --test [KIND] sends samples", file=sys.stderr)
        return EXIT_CONFIG
    if args.kind is not None and args.kind not in KNOWN_KINDS:
        raise ConfigError(f"unknown notice kind '{args.kind}'; the kinds are: {', '.join(KNOWN_KINDS)}")
    settings = settings_of(args)
    if not settings.notify.all_urls():
        say(HOW_TO_SET, file=sys.stderr)
        return 1
    logsafe.install()  # Apprise's log lines too: the URLs' tokens are scrubbed from them
    from app.notify.notifier import AppriseNotifier
    from app.notify.samples import sample, samples

    notifier = AppriseNotifier(settings.notify)  # ConfigError: a URL Apprise cannot use
    notices = [sample(NoticeKind(args.kind))] if args.kind is not None else samples()
    results = asyncio.run(_send(notifier, notices))
    width = max(len(target.shown) for _, target, _ in results)
    for notice, target, tried in results:
        outcome = "worked" if tried.ok else f"FAILED: {tried.reason}"
        say(f"{target.shown:<{width}}  {notice.kind.value:<20} {outcome}")
    failed = sum(not tried.ok for _, _, tried in results)
    if failed:
        say(f"tvbridge notify: {failed} of {len(results)} failed", file=sys.stderr)
        return 1
    say(f"tvbridge notify: {len(results)} sent to {len(notifier.targets)} URL(s); check they arrived")
    return 0


async def _send(notifier: AppriseNotifier, notices: list[Notice]) -> list[tuple[Notice, Target, Tried]]:
    notifier.start()
    try:
        return await notifier.send_now(notices)
    finally:
        await notifier.stop(drain_s=0)
