"""A sample of every notice kind, for ``tvbridge notify --test``: as the real ones read (the
account, strategy, contract, numbers and what to do), marked as a test in the title."""

from __future__ import annotations

from app.domain.notices import Notice, NoticeKind

ACCOUNT = "50KTC-V2-0000 (sample)"
STRATEGY = "mnq-trend"
CONTRACT = "MNQZ6"
PREFIX = "[test] "

# kind → (title, body). Numbers: sizes in contracts, prices in points, P&L in USD, times UTC.
_TEXTS: dict[NoticeKind, tuple[str, str]] = {
    NoticeKind.ORDER_REJECTED: (
        f"Order rejected on {ACCOUNT}: buy 2 {CONTRACT}",
        f"Strategy {STRATEGY}: the gateway rejected the entry (buy 2 {CONTRACT} limit 21450.25, alert #1842) "
        "with 'Insufficient buying power'. Nothing was opened. Check the account's balance and the "
        "template's size, then re-send the alert if you still want the trade.",
    ),
    NoticeKind.ALERT_REFUSED: (
        f"Alert refused on {ACCOUNT}: daily loss limit",
        f"Strategy {STRATEGY}: the entry buy 1 {CONTRACT} (alert #1843) was refused by the risk gate: "
        "day P&L -1012.50 USD is past the daily loss limit of 1000 USD. Exits still run. Nothing to do "
        "unless the limit is wrong ([risk] in tvbridge.toml).",
    ),
    NoticeKind.DELIVERIES_REFUSED: (
        "Webhook deliveries refused: 12 in 5 minutes",
        f"12 posts to /webhook/{STRATEGY} were refused since 14:30 UTC (9 without a valid secret, 3 "
        "not an alert). If they are yours, paste the alert message again from `tvbridge url "
        f"{STRATEGY}`; if not, someone has the URL: run `tvbridge url {STRATEGY}` after changing the secret.",
    ),
    NoticeKind.FILL: (
        f"Filled on {ACCOUNT}: buy 2 {CONTRACT} @ 21450.25",
        f"Strategy {STRATEGY}: entry filled, 2 contracts {CONTRACT} at 21450.25 (alert #1842) at "
        "14:31:07 UTC. Stop loss working at 21430.25, take profit at 21490.25.",
    ),
    NoticeKind.LOCKOUT: (
        f"{ACCOUNT} locked: daily loss limit reached",
        f"Day P&L -1012.50 USD passed the daily loss limit of 1000 USD at 15:02 UTC (strategy {STRATEGY}, "
        f"last trade {CONTRACT}). Every entry is refused until 23:00 UTC; exits still run. Working "
        f"orders cancelled, positions closed. `tvbridge unlock {ACCOUNT}` lifts it early.",
    ),
    NoticeKind.UNLOCK: (
        f"{ACCOUNT} unlocked",
        f"The lockout (daily loss limit) was lifted by cli at 16:10 UTC: entries on {ACCOUNT} are "
        "allowed again. Nothing to do.",
    ),
    NoticeKind.SESSION_FLATTEN: (
        f"Session close: {ACCOUNT} flattened",
        f"At the session close (20:55 UTC) 1 working order was cancelled and 1 position closed: sell 2 "
        f"{CONTRACT} at market, filled 21460.00 (+20.00 USD). The account is flat; no entries until "
        "the next trading day.",
    ),
    NoticeKind.UNPROTECTED: (
        f"UNPROTECTED: {ACCOUNT} long 2 {CONTRACT} without a stop loss",
        f"Strategy {STRATEGY}: the position long 2 {CONTRACT} (entry 21450.25) has had no working stop "
        "loss for 5 s: placing it was rejected ('Price is outside the allowed range'). Place a stop or "
        "close the position now on the broker's platform.",
    ),
    NoticeKind.PROTECTED: (
        f"Protected again: {ACCOUNT} long 2 {CONTRACT}",
        f"Strategy {STRATEGY}: a stop loss at 21430.25 is working for long 2 {CONTRACT} again (it was "
        "missing for 12 s). Nothing to do.",
    ),
    NoticeKind.GATEWAY_LOST: (
        "Gateway unreachable for 60 s",
        "The ProjectX gateway has not answered since 14:30:05 UTC (connection refused). Alerts cannot "
        "be executed and the bridge cannot see your positions: check them on the broker's platform "
        "(open: long 2 MNQZ6 on 50KTC-V2-0000).",
    ),
    NoticeKind.GATEWAY_BACK: (
        "Gateway back",
        "The ProjectX gateway answers again since 14:32:40 UTC (down 2 min 35 s). Orders and positions "
        "were reconciled. Nothing to do.",
    ),
    NoticeKind.HUB_LOST: (
        "User Hub lost for 60 s",
        "The User Hub (live orders, fills, positions) has been disconnected since 14:30:05 UTC; the "
        "bridge follows the accounts by REST polling meanwhile. Check the connection if it lasts.",
    ),
    NoticeKind.HUB_BACK: (
        "User Hub back",
        "The User Hub is connected again since 14:31:20 UTC (down 1 min 15 s); nothing was missed "
        "(reconciled over REST). Nothing to do.",
    ),
    NoticeKind.TOKEN_FAILING: (
        "Gateway login failing",
        "Refreshing the session token failed 3 times since 14:00 UTC ('Invalid API key'); the token "
        "expires at 16:00 UTC, then no order can be sent. Check [gateway] username and api_key.",
    ),
    NoticeKind.TUNNEL_URL_CHANGED: (
        "Tunnel URL changed: update your TradingView alerts",
        "The tunnel's public URL changed to https://new-name.trycloudflare.com (was "
        "https://old-name.trycloudflare.com): every alert posting to the old URL is lost. Paste the "
        f"new URL from `tvbridge url {STRATEGY}` into each alert.",
    ),
    NoticeKind.TUNNEL_UNREACHABLE: (
        "Webhook URL unreachable from the internet",
        "The reachability check of https://name.trycloudflare.com failed twice since 14:30 UTC "
        "(timed out): TradingView's alerts may not arrive. Restart `tvbridge serve --tunnel`.",
    ),
    NoticeKind.ROLL_APPROACHING: (
        f"Contract roll: {CONTRACT} expires in 5 days",
        f"Strategy {STRATEGY} trades {CONTRACT}, which expires on 2026-12-18; volume moves to MNQH7. "
        "Update the TradingView chart and the template's contract before then.",
    ),
    NoticeKind.BRIDGE_STARTED: (
        "tvbridge started",
        "tvbridge started at 13:00 UTC on the built-in simulator: 3 strategies, 1 account followed, "
        "nothing open. Nothing to do.",
    ),
    NoticeKind.BRIDGE_STOPPED: (
        "tvbridge stopped with a position open",
        f"tvbridge stopped at 21:05 UTC and left open: long 2 {CONTRACT} on {ACCOUNT} with its stop "
        "loss working at 21430.25. Alerts are not executed until it runs again: close the position "
        "on the broker's platform or start tvbridge.",
    ),
    NoticeKind.DAILY_SUMMARY: (
        "Day summary 2026-12-07: +240.00 USD",
        f"{ACCOUNT}: +240.00 USD over 6 trades ({STRATEGY}: +240.00 USD, 4 won, 2 lost); worst loss "
        f"-80.00 USD on {CONTRACT}. No lockout. Nothing to do.",
    ),
    NoticeKind.HEARTBEAT: (
        "tvbridge running",
        "tvbridge is running since 13:00 UTC: hub connected, 1 account followed, 4 alerts today, "
        "nothing open. The next heartbeat follows in 60 minutes; if it does not, check the laptop.",
    ),
    NoticeKind.TEST: (
        "tvbridge test notification",
        "This is a test from `tvbridge notify --test`: notifications reach you here. Nothing to do.",
    ),
}


def sample(kind: NoticeKind) -> Notice:
    """A sample notice of ``kind`` (title marked "[test]"), at its kind's default level."""
    title, body = _TEXTS[kind]
    return Notice(
        kind=kind,
        title=PREFIX + title,
        body=body,
        key="sample",
        account=ACCOUNT,
        strategy=STRATEGY,
        contract=CONTRACT,
    )


def samples() -> list[Notice]:
    """A sample of every kind, in NoticeKind's order."""
    return [sample(kind) for kind in NoticeKind]
