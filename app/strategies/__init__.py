"""Strategy templates: ``templates/<strategy>.toml`` → checked at start, rendered per alert.

The strategy's name is the file stem (``^[a-z0-9][a-z0-9_-]{0,63}$``). The format::

    description = "MNQ market entry with a native 40-tick stop loss / 80-tick take profit bracket"

    [alert]                      # how the webhook body is read (all optional)
    format = "json"              # "json" (default) or "text"
    pattern = '(?P<action>buy|sell) …'  # text only, required there: Python regex, named groups
    id_field = "id"              # alert field that identifies an alert (dedupe key); else body hash
    dedupe_window_s = 60         # seconds (default 60)
    secret_field = "secret"      # body field with the webhook secret (default "secret")
    time_field = "time"          # alert field with its fire time ({{timenow}}, not {{time}},
                                 # the bar's open): ISO-8601 Z or epoch ms; a dotted
                                 # path ("metadata.timestamp") reads a nested object
    max_age_s = 30               # seconds (default 30; 0 = never stale): with time_field, an
                                 # entry (buy, sell, OCO pair, reverse's new entry) whose alert
                                 # is older when it starts executing is refused as stale and
                                 # journaled; exit and cancel run whatever their age

    [order]
    accounts = ["SIM-AUTO-OCO", { account = "SIM-POSITION-BRACKETS", multiplier = 2 }]
    ticker = "{{ alert.ticker }}"      # or a fixed contract, e.g. "MNQZ2025"
    action = "{{ alert.action }}"      # buy | sell | exit | reverse | cancel (long, short, close, flat)
    quantity = "{{ alert.quantity }}"  # contracts (a literal 1 is fine); × each account's multiplier
    type = "market"                    # market | limit | stop
    limit_price = "{{ alert.price }}"  # limit entries
    stop_price = "{{ alert.trigger }}" # stop entries
    price = "{{ alert.close }}"        # optional reference price: slippage, and bracket prices
                                       # on a market entry

    [bracket]                          # optional stop loss / take profit around the entry
    mode = "native"                    # "native" (default, needs an Auto OCO account) or
                                       # "managed": placed by the bridge after each fill
    on_failure = "close"               # managed: pair not working within 5 s → "close" | "keep"
    stop_loss = { ticks = 40 }         # or { points = "10" } or { price = "{{ alert.stopLoss }}" }
    take_profit = { ticks = 80 }

Position sync: with ``sync = "target"`` in ``[order]`` the alert states the position the
strategy holds after it, and the bridge sends only the difference from the account's real
position in the contract (so a reversal alert carrying twice the size, a missed alert or a
manual trade cannot leave the wrong position)::

    [order]
    sync = "target"
    target_position = "{{ alert.market_position }}"     # long | flat | short
    target_size = "{{ alert.market_position_size }}"    # absolute contracts (0 when flat)
    # or: target_signed = "{{ alert.position_size }}"   # signed: > 0 long, < 0 short, 0 flat
    action = "{{ alert.action }}"      # optional: the strategy's own order (buy/sell) ...
    quantity = "{{ alert.quantity }}"  # ... and its contracts; a move they do not explain is
                                       # journaled as "sync.mismatch" with both sides

Exactly one target form; the target is × each account's multiplier (whole contracts). Orders
are market orders (no type other than market, no limit_price / stop_price); a [bracket]
protects the entry part only (growing, or entering after a close); reducing is a plain market
order, closing and crossing zero close the position first (app/engine/execute.py).

An OCO template says ``kind = "oco"`` at the top; its ``[order]`` holds only accounts and
ticker, and ``[oco]`` the pair (no ``[bracket]``)::

    kind = "oco"
    [oco]
    first = { action = "buy", type = "stop", stop_price = "{{ alert.high }}", quantity = 1 }
    second = { action = "sell", type = "stop", stop_price = "{{ alert.low }}", quantity = 1 }
    on_both_filled = "flatten"         # both filled in a race: take back the later one's
                                       # contracts ("flatten", default) or only journal ("keep")

When one leg fills the other is cancelled; a partial fill shrinks the other by the filled size.

Every value is a literal or a Jinja2 expression over ``alert`` (the body's fields) and
``strategy`` (the name), run in a sandbox with strict undefined values: a field the alert lacks
is a TemplateError, never a blank. An optional value that renders empty is "not set", so
``{% if alert.stopLoss %}{{ alert.stopLoss }}{% endif %}`` works; JSON null renders empty. The
filter ``decimal`` reads a number or numeric string for arithmetic
(``{{ alert.price | decimal * 2 }}``). A bracket leg has one of ticks, points or price; it may
list several only when all are expressions, and then exactly one must render.

Loading (``load_templates``) lists every problem of every file as ``file:line: message`` and
stops the start with ConfigError; ``check_templates`` returns them for ``tvbridge check``.
Editing (``store``): ``check_template_text`` checks one text the same way; ``save_template``
writes it atomically, keeping the replaced version under ``.previous/``.
Rendering (``StrategyTemplate.render``) is pure: Alert + Contract → one OrderIntent per account
(two for ``kind = "oco"``: first, then second, per account; a SyncIntent with ``sync``).
Test alerts (``refresh_alert_time``): ``tvbridge send`` and the webhooks page set a JSON body's
``time_field`` to the moment they send it, as TradingView fills ``{{timenow}}`` when it fires.
"""

from app.strategies.alert_time import example_time_warnings, refresh_alert_time, stale_check_warnings
from app.strategies.loader import check_templates, load_template, load_templates
from app.strategies.schema import AccountSpec, Problem
from app.strategies.store import (
    Saved,
    TemplateInvalid,
    check_template_text,
    new_template_text,
    previous_versions,
    save_template,
)
from app.strategies.template import StrategyTemplate, SyncIntent, Template

__all__ = [
    "AccountSpec",
    "Problem",
    "Saved",
    "StrategyTemplate",
    "SyncIntent",
    "Template",
    "TemplateInvalid",
    "check_template_text",
    "check_templates",
    "example_time_warnings",
    "load_template",
    "load_templates",
    "new_template_text",
    "previous_versions",
    "refresh_alert_time",
    "save_template",
    "stale_check_warnings",
]
