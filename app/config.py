"""Settings: ``tvbridge.toml`` (path by ``--config``) and ``TVBRIDGE_*`` environment variables.

Environment wins over the file; ``__`` nests, e.g. ``TVBRIDGE_GATEWAY__API_KEY``. Credentials are
SecretStr and never printed. Only app/cli/ and app/web/app.py load settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app.errors import ConfigError
from app.toml_lines import key_lines

TOPSTEPX_API_URL = "https://api.topstepx.com"
TOPSTEPX_USER_HUB_URL = "https://rtc.topstepx.com/hubs/user"
TOPSTEPX_MARKET_HUB_URL = "https://rtc.topstepx.com/hubs/market"
DEFAULT_CONFIG = Path("tvbridge.toml")
# A ProjectX User Hub sends a Ping after 15 s without sending anything (signalr.md §1.5), so a
# healthy idle hub may be silent that long: a silence timeout below twice it rebuilds healthy hubs.
HUB_PING_INTERVAL_S = 15.0
HUB_SILENCE_FLOOR_S = 2 * HUB_PING_INTERVAL_S


class GatewaySettings(BaseModel):
    """``[gateway]``: which ProjectX gateway, and how to talk to it."""

    kind: Literal["sim", "topstepx", "custom"] = Field(
        "sim", description='"sim" (the built-in simulator), "topstepx", or "custom" (another ProjectX firm)'
    )
    api_url: str = Field(
        "", description="custom only: the firm's REST address, e.g. https://api.alphaticks.projectx.com"
    )
    user_hub_url: str = Field(
        "", description="custom only: its User Hub, e.g. https://rtc.alphaticks.projectx.com/hubs/user"
    )
    firm: str = Field(
        "", description="the firm's name on the pages; empty: from kind (Simulator, TopstepX, ProjectX)"
    )
    username: str = Field("", description="your platform login name (topstepx and custom)")
    api_key: SecretStr = Field(
        SecretStr(""), description="your ProjectX API key; prefer the environment: TVBRIDGE_GATEWAY__API_KEY"
    )
    timeout_s: float = Field(10.0, gt=0, le=60, description="seconds one REST request may take (at most 60)")
    rate_limit_per_minute: int = Field(
        180, gt=0, description="REST requests per 60 s the bridge sends at most (the gateway allows 200)"
    )
    token_refresh_margin_s: int = Field(
        1800, ge=60, description="seconds before the session token expires that it is refreshed (≥ 60)"
    )
    contract_refresh_s: int = Field(
        3600,
        ge=60,
        description="seconds a resolved ticker → contract is trusted before it is looked up again (≥ 60)",
    )
    # Rebuild the User Hub after this much silence: at least HUB_SILENCE_FLOOR_S (30 s) on a real
    # gateway; the built-in simulator pings at half this, so shorter values work there (tests).
    hub_silence_timeout_s: float = Field(
        45.0, ge=1, description="seconds of User Hub silence before it is rebuilt (≥ 30 on a real gateway)"
    )
    hub_token_check_s: float = Field(
        60.0, gt=0, description="seconds between the User Hub's looks for a refreshed session token"
    )
    # The risk limits' prices: without it open P&L moves only with the last one-minute bar, read
    # every 15 s (app/engine/risk_monitor.py), and a fast market passes a limit by that much.
    market_hub: bool = Field(
        True,
        description="live quotes (Market Hub) for open positions and working orders: risk on the live price",
    )
    market_hub_traded: bool = Field(
        False,
        description="Market Hub: also quote every contract the templates trade (fixed tickers, and those "
        "alerts resolved), not only what is held",
    )
    market_hub_url: str = Field(
        "",
        description="custom only: its Market Hub; empty: user_hub_url with /hubs/market for /hubs/user",
    )
    symbols: dict[str, str] = Field(
        default_factory=dict,
        description='TradingView root → ProjectX symbol for roots not built in, e.g. { NQ = "F.US.ENQ" }',
    )

    @model_validator(mode="after")
    def _credentials(self) -> GatewaySettings:
        loopback = urlsplit(self.api_url).hostname in ("127.0.0.1", "localhost", "::1")
        if self.rate_limit_per_minute > 200 and not (self.kind == "sim" or loopback):
            raise ValueError(
                f"gateway.rate_limit_per_minute {self.rate_limit_per_minute} is above the gateway's "
                "limit of 200 requests / 60 s, which answers 429 past it; use 200 or less"
            )
        if self.kind != "sim" and self.hub_silence_timeout_s < HUB_SILENCE_FLOOR_S:
            raise ValueError(
                f"gateway.hub_silence_timeout_s {self.hub_silence_timeout_s:g} is below "
                f"{HUB_SILENCE_FLOOR_S:g} s, twice the User Hub's {HUB_PING_INTERVAL_S:g} s ping "
                "interval: a healthy idle hub would be rebuilt again and again; use 30 or more "
                "(default 45)"
            )
        if self.kind == "custom" and not (self.api_url and self.user_hub_url):
            raise ValueError(
                "kind 'custom' needs gateway.api_url and gateway.user_hub_url "
                "(your firm's https://api.<firm>.projectx.com and https://rtc.<firm>.projectx.com/hubs/user)"
            )
        if self.kind != "sim":
            if not self.username:
                raise ValueError(f"kind '{self.kind}' needs gateway.username (your platform login name)")
            if not self.api_key.get_secret_value():
                raise ValueError(
                    f"kind '{self.kind}' needs gateway.api_key (set TVBRIDGE_GATEWAY__API_KEY "
                    "or api_key in tvbridge.toml)"
                )
        return self

    @property
    def resolved_api_url(self) -> str:
        """The REST base URL (no trailing slash); empty for the in-process simulator."""
        if self.kind == "topstepx":
            return TOPSTEPX_API_URL
        return self.api_url.rstrip("/")

    @property
    def resolved_user_hub_url(self) -> str:
        return TOPSTEPX_USER_HUB_URL if self.kind == "topstepx" else self.user_hub_url

    @property
    def resolved_market_hub_url(self) -> str:
        """The Market Hub's address (projectx-api.md §2): TopstepX's, the one set, or the User
        Hub's with /hubs/market for /hubs/user."""
        if self.kind == "topstepx":
            return TOPSTEPX_MARKET_HUB_URL
        if self.market_hub_url:
            return self.market_hub_url
        base = self.user_hub_url.rstrip("/")
        return base.removesuffix("/hubs/user") + "/hubs/market" if base.endswith("/hubs/user") else ""

    @property
    def identity(self) -> str:
        """Which gateway this is, for the journal's rows: ``topstepx``, ``custom:<api url>`` or
        ``sim`` (the bridge adds the in-process simulator's own tag: ``sim:<tag>``)."""
        if self.kind == "custom":
            return f"custom:{self.resolved_api_url}"
        return self.kind

    @property
    def firm_name(self) -> str:
        if self.firm:
            return self.firm
        return {"sim": "Simulator", "topstepx": "TopstepX"}.get(self.kind, "ProjectX")


class JournalSettings(BaseModel):
    """``[journal]``: where the order journal lives (any SQLAlchemy URL)."""

    url: str = Field(
        "sqlite:///tvbridge.db",
        description="any SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user@host/db",
    )


class ServerSettings(BaseModel):
    """``[server]``: the web server and the files it reads."""

    host: str = Field("127.0.0.1", description="the pages' address (0.0.0.0 to reach them from the LAN)")
    port: int = Field(8000, ge=1, le=65535, description="the pages' and JSON API's port")
    secrets_file: Path = Field(
        Path("webhook_secrets.toml"),
        description="strategy → webhook secret (made for new strategies; git-ignored)",
    )
    templates_dir: Path = Field(Path("templates"), description="the strategy templates: <strategy>.toml")
    alerts_dir: Path = Field(
        Path("alerts"), description='example alert messages, offered by the page\'s "try it"'
    )
    settle_timeout_s: float = Field(
        2.0,
        gt=0,
        le=2.8,
        description=(
            "seconds after a webhook arrives that it is answered: its result, else 202 while it "
            "runs on (at most 2.8: TradingView gives up at 3)"
        ),
    )
    max_body_bytes: int = Field(
        65536, ge=1024, le=1 << 20, description="bytes of a webhook body, at most (1,024 to 1,048,576)"
    )
    # The web page's password hash and signing keys (made at the first start; git-ignored).
    auth_file: Path = Field(
        Path("tvbridge_auth.toml"),
        description="the pages' password hash and signing keys (made at the first start; git-ignored)",
    )
    session_max_age_s: int = Field(
        43200, ge=300, le=30 * 86400, description="seconds a login to the pages lasts (12 h; 300 to 30 days)"
    )
    # The address TradingView reaches the bridge at (a tunnel); the webhooks page shows URLs on it.
    # A quick tunnel's URL, read from the tunnel client, takes its place while the tunnel runs.
    public_url: str | None = Field(
        None,
        description=(
            "the address TradingView reaches (a tunnel), for the webhook URLs; a quick tunnel's "
            'URL stands in while it runs; e.g. "https://bridge.example.com"'
        ),
    )
    # More Host names the pages answer besides 127.0.0.1, localhost, [::1], server.host and
    # public_url's host (e.g. this computer's LAN name when host = 0.0.0.0); any other is a 400.
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="more Host names the pages answer (e.g. this computer's LAN name); others get 400",
    )
    # The webhook listener: the only port a tunnel points at; it answers POST /webhook/... only.
    webhook_host: str = Field(
        "127.0.0.1", description="the webhook listener's address (the only one a tunnel points at)"
    )
    webhook_port: int = Field(
        8001, ge=1, le=65535, description="the webhook listener's port (not the pages' port)"
    )
    # Accept webhooks on the webhook listener only from TradingView's four addresses
    # (tradingview.md §1); off by default, since a changed address list would silently drop alerts.
    tradingview_only: bool = Field(
        False, description="accept webhooks only from TradingView's four addresses"
    )
    # Refused requests (bad secret, unknown strategy, empty or huge body, not allowed) per client
    # address within 60 s before that address is locked out for auth_lockout_s (answered 429).
    auth_failures_per_minute: int = Field(
        10,
        ge=1,
        le=10000,
        description="refused requests per client address within 60 s before it is locked out",
    )
    auth_lockout_s: float = Field(
        300.0, ge=1, le=86400, description="seconds a locked-out address is answered 429"
    )
    keep_awake: bool = Field(
        True,
        description="keep this computer from sleeping while `tvbridge serve` runs (a sleeping "
        "computer misses alerts and leaves positions unwatched); the screen may still turn off",
    )

    @model_validator(mode="after")
    def _ports(self) -> ServerSettings:
        if self.webhook_port == self.port and self.webhook_host == self.host:
            raise ValueError(
                f"server.webhook_port {self.webhook_port} is the pages' port too; the webhook needs "
                "its own port (default 8001) so that a tunnel exposes nothing else"
            )
        return self


class EngineSettings(BaseModel):
    """``[engine]``: how UNKNOWN outcomes are chased (never by resending)."""

    reconcile_delay_s: float = Field(
        2.0,
        ge=0,
        description="seconds before asking the gateway again about an order whose outcome is UNKNOWN",
    )
    reconcile_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description="searches for an UNKNOWN order before it is NOT_PLACED (never resent; 1 to 20)",
    )
    # Protection the bridge places (managed brackets) or expects (native children) must be seen
    # working this many seconds after the entry fills, else the template's on_failure applies.
    verify_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description=(
            "seconds after an entry fills within which its protection must be seen working (at most 60)"
        ),
    )
    # On Ctrl-C / SIGTERM with open positions or working orders: "warn" leaves them at the broker
    # (logged and shown on the page at the next start); "flatten" closes them before stopping.
    on_shutdown: Literal["warn", "flatten"] = Field(
        "warn",
        description=('Ctrl-C / SIGTERM with open positions: "warn" leaves them, "flatten" closes them first'),
    )
    shutdown_flatten_timeout_s: float = Field(
        30.0, gt=0, le=300, description="seconds the flatten at shutdown may take (at most 300)"
    )
    # Positions open while the User Hub or the gateway has been unreachable this long: alarm.
    unreachable_alarm_s: float = Field(
        60.0,
        ge=5,
        le=3600,
        description=(
            "seconds the User Hub or the gateway may be unreachable with positions open before the alarm"
        ),
    )


class TunnelSettings(BaseModel):
    """``[tunnel]``: the tunnel client ``tvbridge tunnel`` / ``serve --tunnel`` starts.

    ``cloudflared``: a quick tunnel (no account; a new URL at every start). ``cloudflared-named``:
    a named tunnel (stable URL): ``name`` (or ``token``) and ``server.public_url`` = its hostname.
    ``ngrok``: ngrok's agent (``server.public_url`` = a reserved domain for a stable URL).
    The kind also says which header carries the client address: ``CF-Connecting-IP`` for
    cloudflared, the last ``X-Forwarded-For`` hop for ngrok (trusted only from 127.0.0.1).
    """

    kind: Literal["cloudflared", "cloudflared-named", "ngrok"] = Field(
        "cloudflared", description='"cloudflared" (quick tunnel), "cloudflared-named" (stable URL) or "ngrok"'
    )
    name: str = Field(
        "", description="cloudflared-named: the tunnel's name or UUID (cloudflared tunnel create NAME)"
    )
    token: SecretStr = Field(
        SecretStr(""),
        description=(
            "cloudflared-named: a dashboard tunnel's token instead of name; prefer TVBRIDGE_TUNNEL__TOKEN"
        ),
    )
    command: str = Field(
        "", description="the tunnel client's executable; empty: cloudflared / ngrok found on PATH"
    )
    start_timeout_s: float = Field(
        30.0, gt=0, le=600, description="seconds to wait for the tunnel's public URL"
    )
    restart_delay_s: float = Field(
        2.0, gt=0, le=600, description="seconds before restarting a dead tunnel client the first time"
    )
    restart_max_delay_s: float = Field(
        60.0, gt=0, le=3600, description="seconds: the wait between restarts doubles up to this"
    )
    check: bool = Field(
        True, description="after each new public URL, check that a signed test request arrives through it"
    )
    check_timeout_s: float = Field(
        60.0,
        gt=0,
        le=600,
        description="seconds that check may take (quick tunnels take a while to be reachable)",
    )

    @model_validator(mode="after")
    def _named(self) -> TunnelSettings:
        if self.kind == "cloudflared-named" and not (self.name or self.token.get_secret_value()):
            raise ValueError(
                "kind 'cloudflared-named' needs tunnel.name (from `cloudflared tunnel create NAME`) "
                "or tunnel.token (from the Cloudflare dashboard), and server.public_url = its hostname"
            )
        return self


_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"
# CME micro contracts, counted as a tenth of their mini for max_contracts_total, by TradingView
# root and by ProjectX symbol where it differs (MGC trades as GMET, MCL as MCLE: §8.11).
MICRO_WEIGHTS = {
    "MNQ": 0.1,
    "MES": 0.1,
    "MYM": 0.1,
    "M2K": 0.1,
    "MGC": 0.1,
    "GMET": 0.1,
    "MCL": 0.1,
    "MCLE": 0.1,
}


DEFAULT_MAX_ORDER_SIZE = 10  # contracts: [risk] max_order_size when the settings do not say


class RiskLimits(BaseModel):
    """Limits the risk gate applies to entries (exits and flattening are never refused).

    Every limit is off (None / empty) unless set, except ``[risk] max_order_size`` (10 contracts
    by default: see RiskSettings). Sizes in contracts; ``max_contracts_total`` in
    weighted contracts (``[risk] contract_weights``: by default a micro counts 0.1 of its mini);
    money in USD, positive numbers (``daily_loss_limit = 500`` stops at a day's P&L of -500);
    times of day "HH:MM" in ``[risk] timezone`` (the exchange's, US/Central for CME).
    """

    model_config = {"extra": "forbid"}

    max_contracts_per_contract: int | None = Field(
        None, ge=1, description="contracts open in one contract, at most; e.g. 2"
    )
    max_contracts_total: float | None = Field(
        None,
        gt=0,
        description="contracts open in all contracts, at most, weighted by contract_weights; e.g. 3",
    )
    max_order_size: int | None = Field(
        None,
        ge=1,
        description=(
            "contracts in one entry order, at most, for this account or strategy; unset: [risk] "
            "max_order_size (10 by default)"
        ),
    )
    trading_windows: list[str] = Field(
        default_factory=list, description='entries only within these, e.g. ["08:30-15:00"]; empty: any time'
    )
    holidays: list[date] = Field(
        default_factory=list, description="trading days with no entries, e.g. [2026-12-24]"
    )
    daily_loss_limit: Decimal | None = Field(
        None, gt=0, description="USD: a day's realised + open P&L of -500 stops entries; e.g. 500"
    )
    daily_profit_target: Decimal | None = Field(
        None,
        gt=0,
        description="USD: a day's P&L (realised + open) this high locks the account for the day; e.g. 1000",
    )
    max_trailing_drawdown: Decimal | None = Field(
        None, gt=0, description="USD below the balance's high-water mark stops entries; e.g. 2000"
    )
    max_entries_per_day: int | None = Field(
        None, ge=1, description="entries per trading day, at most; e.g. 10"
    )
    max_trades_per_minute: int | None = Field(
        None, ge=1, description="entries in any 60 seconds, at most; e.g. 3"
    )
    max_trades_per_hour: int | None = Field(
        None, ge=1, description="entries in any 60 minutes, at most; e.g. 20"
    )
    cooldown_after_losses: int | None = Field(
        None, ge=1, description="losing trades in a row that start a cooldown; e.g. 3"
    )
    cooldown_minutes: float = Field(
        30.0, gt=0, le=24 * 60, description="minutes of that cooldown (at most 1,440)"
    )
    require_stop_loss: bool = Field(False, description="refuse an entry that carries no stop loss")
    lockout_until: str = Field(
        "next_day", description='a lockout lasts until "next_day" or "HH:MM" (the next such time)'
    )
    flatten_on_lockout: bool = Field(
        True, description="on lockout, cancel working orders and close positions"
    )
    close_at_session_end: bool = Field(
        False, description="cancel and close at session_close; no entries until the next day"
    )
    session_close: str = Field(
        "15:10", description='"HH:MM": Topstep\'s positions must be flat by 15:10 Central'
    )

    @model_validator(mode="after")
    def _times(self) -> RiskLimits:
        for window in self.trading_windows:
            if not re.fullmatch(f"{_CLOCK}-{_CLOCK}", window):
                raise ValueError(f"trading window '{window}' must be HH:MM-HH:MM, e.g. 08:30-15:00")
        if self.lockout_until != "next_day" and not re.fullmatch(_CLOCK, self.lockout_until):
            raise ValueError(f"lockout_until '{self.lockout_until}' must be next_day or HH:MM")
        if not re.fullmatch(_CLOCK, self.session_close):
            raise ValueError(f"session_close '{self.session_close}' must be HH:MM, e.g. 15:10")
        return self


class RiskSettings(RiskLimits):
    """``[risk]``: limits for every followed account; ``[risk.accounts."NAME"]`` overrides them
    key by key for one account (by name or id)."""

    # A ceiling on one entry order, on by default so that a mistyped or forged quantity (100000)
    # never reaches the gateway with every other limit off; set it higher on purpose.
    max_order_size: int = Field(
        DEFAULT_MAX_ORDER_SIZE,
        ge=1,
        description=(
            "contracts in one entry order, at most (default 10, on even with every other limit off; "
            "set it higher on purpose)"
        ),
    )
    timezone: str = Field("America/Chicago", description="the exchange's time zone (CME: US Central)")
    day_start: str = Field("17:00", description='"HH:MM": a trading day starts at 17:00 the evening before')
    contract_weights: dict[str, float] = Field(
        default_factory=lambda: dict(MICRO_WEIGHTS),
        description=(
            "how much one contract counts in max_contracts_total, by TradingView root or ProjectX"
            " symbol: MNQ, MES, MYM, M2K, MGC (GMET), MCL (MCLE) 0.1 each; a root not listed "
            "counts 1. A [risk.contract_weights] table replaces the whole list"
        ),
    )
    naked_position_grace_s: float | None = Field(
        None,
        gt=0,
        description=(
            "seconds a position may stay open with no working stop loss on its account and contract "
            "before naked_position_action; e.g. 30 (off unless set)"
        ),
    )
    naked_position_action: Literal["close", "alarm"] = Field(
        "close",
        description='"close": close the naked position and cancel its orders; "alarm": only tell the trader',
    )
    accounts: dict[str, RiskLimits] = Field(
        default_factory=dict,
        description=(
            'per-account overrides, key by key, by account name or id: [risk.accounts."SIM-AUTO-'
            'OCO"] max_order_size = 2'
        ),
    )

    @model_validator(mode="after")
    def _zone(self) -> RiskSettings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone '{self.timezone}' is not a known time zone (e.g. America/Chicago)"
            ) from None
        if not re.fullmatch(_CLOCK, self.day_start):
            raise ValueError(f"day_start '{self.day_start}' must be HH:MM, e.g. 17:00")
        return self

    def for_account(self, name: str, account_id: int) -> RiskLimits:
        """The limits of one account: ``accounts`` entry (by name, else id) over the defaults."""
        override = self.accounts.get(name) or self.accounts.get(str(account_id))
        base = {k: getattr(self, k) for k in RiskLimits.model_fields}
        if override is not None:
            base.update({k: getattr(override, k) for k in override.model_fields_set})
        return RiskLimits(**base)


NOTIFY_LEVELS = ("critical", "warning", "info")


class NotifyRoute(BaseModel):
    """``[[notify.routes]]``: more targets for some notices, e.g. critical ones to a phone."""

    model_config = {"extra": "forbid"}

    urls: list[SecretStr] = Field(
        default_factory=list, description="Apprise URLs of this route (never shown, never logged)"
    )
    kinds: list[str] = Field(
        default_factory=list,
        description='notice kinds this route takes, e.g. ["position.unprotected"]; empty: all',
    )
    level: Literal["critical", "warning", "info"] = Field(
        "critical", description="the lowest level this route takes"
    )


class NotifySettings(BaseModel):
    """``[notify]``: notifications for the trader away from the laptop, through Apprise.

    ``urls`` get every notice at or above ``level`` (and the kinds asked for by ``fills``,
    ``daily_summary``, ``heartbeat_min``), except the kinds in ``off``; each ``routes`` entry
    adds targets for some kinds and levels. During ``quiet_hours`` (this computer's local time)
    only critical notices are sent. A condition is sent once per ``dedupe_s``. URLs carry
    tokens: set them in ``TVBRIDGE_NOTIFY__URLS='["tgram://…"]'`` to keep them out of the file;
    they are never logged, journaled or shown (the pages show Apprise's privacy form).
    """

    model_config = {"extra": "forbid"}

    urls: list[SecretStr] = Field(
        default_factory=list,
        description='Apprise URLs, e.g. ["tgram://BOTTOKEN/CHATID", "ntfy://ntfy.sh/TOPIC"]; empty: none',
    )
    level: Literal["critical", "warning", "info"] = Field(
        "warning", description='the lowest level sent to urls: "critical", "warning" or "info"'
    )
    off: list[str] = Field(
        default_factory=list, description='notice kinds never sent, e.g. ["roll.approaching"]'
    )
    routes: list[NotifyRoute] = Field(
        default_factory=list,
        description='more targets by kind and level: [[notify.routes]] urls = [...], level = "critical"',
    )
    fills: bool = Field(False, description="send every fill (account, side, size, contract, price)")
    daily_summary: bool = Field(
        False,
        description="a summary at [risk] session_close: P&L per account and strategy, trades, worst loss",
    )
    heartbeat_min: float = Field(
        0.0,
        ge=0,
        le=7 * 24 * 60,
        description='minutes between "still running" notices, so silence is noticed; 0: none',
    )
    quiet_hours: str = Field(
        "",
        description='"HH:MM-HH:MM" (this computer\'s clock): only critical notices then; empty: none',
    )
    dedupe_s: float = Field(
        600.0, ge=0, le=24 * 3600, description="seconds within which the same condition is sent once"
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="seconds one send to one URL may take")
    retries: int = Field(3, ge=0, le=10, description="more tries of a failed send, with a growing wait")
    queue_size: int = Field(
        200, ge=1, le=10_000, description="notices waiting to be sent, at most; more are dropped and counted"
    )

    @model_validator(mode="after")
    def _check(self) -> NotifySettings:
        # Kind names are checked against app/domain/notices.py's NoticeKind by app/notify/
        # (config sits below the domain in the layers).
        if self.quiet_hours and not re.fullmatch(f"{_CLOCK}-{_CLOCK}", self.quiet_hours):
            raise ValueError(f"quiet_hours '{self.quiet_hours}' must be HH:MM-HH:MM, e.g. 22:00-07:00")
        return self

    def all_urls(self) -> list[str]:
        """Every URL configured (urls and the routes'), in order, once each."""
        found = [url.get_secret_value() for url in self.urls]
        found += [url.get_secret_value() for route in self.routes for url in route.urls]
        return list(dict.fromkeys(url for url in found if url))


SIM_STATE_IN_MEMORY = ":memory:"


class SimSettings(BaseModel):
    """``[sim]``: the built-in ProjectX simulator."""

    seed: int = Field(7, description="the in-process simulator's random seed (its market)")
    walk_interval_s: float = Field(
        1.0, ge=0, description="seconds between the in-process simulator's price steps; 0: still"
    )
    # Where the in-process simulator keeps its orders, positions, balances and ids across restarts.
    # Empty: next to a SQLite journal (tvbridge.db → tvbridge.sim.db), else ./tvbridge.sim.db;
    # ":memory:" keeps nothing (every start is a new simulator).
    state_file: str = Field(
        "", description="the in-process simulator's state file; empty = beside the journal"
    )


class Settings(BaseSettings):
    """All settings. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="TVBRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings, description="which ProjectX gateway, and how to talk to it"
    )
    journal: JournalSettings = Field(
        default_factory=JournalSettings, description="where the order journal lives"
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings,
        description="the web server, the webhook listener and the files they read",
    )
    engine: EngineSettings = Field(
        default_factory=EngineSettings,
        description="how UNKNOWN outcomes are chased (never by resending), protection and shutdown",
    )
    tunnel: TunnelSettings = Field(
        default_factory=TunnelSettings,
        description="the tunnel client `tvbridge tunnel` / `serve --tunnel` starts",
    )
    risk: RiskSettings = Field(
        default_factory=RiskSettings,
        description="limits on entries for every followed account (exits are never refused)",
    )
    sim: SimSettings = Field(default_factory=SimSettings, description="the built-in ProjectX simulator")
    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="notifications for the trader away from the laptop (Telegram, Discord, ntfy …)",
    )

    def sim_state_path(self) -> Path | None:
        """The in-process simulator's state file (``[sim] state_file``), or None to keep nothing."""
        chosen = self.sim.state_file.strip()
        if chosen == SIM_STATE_IN_MEMORY:
            return None
        if chosen:
            return Path(chosen)
        url = self.journal.url
        if url.startswith("sqlite:///"):
            database = url.removeprefix("sqlite:///").split("?", 1)[0]
            if database and database != SIM_STATE_IN_MEMORY:
                journal = Path(database)
                return journal.with_name(f"{journal.stem}.sim.db")
            return None  # an in-memory journal: an in-memory simulator beside it
        return Path("tvbridge.sim.db")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (default ``./tvbridge.toml`` when present) and the environment.

    Raises ConfigError with one line naming the key when a setting is wrong.
    """
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None:
        if not path.exists():
            raise ConfigError(f"Config file {path} does not exist; create it or drop --config")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None


def _one_line(exc: ValidationError, path: Path | None) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "settings"
    where = f" ({path} or TVBRIDGE_* environment)" if path else " (TVBRIDGE_* environment)"
    given = err.get("input")
    secret = "api_key" in key or "token" in key
    shown = "" if isinstance(given, dict) or secret else f" = {given!r}"
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"Setting '{key}'{shown}: {msg}{where}{more}"


def settings_problems(path: Path | None = None, **overrides: Any) -> list[str]:
    """Every problem of the settings :func:`load_settings` would load, one line each, for
    ``tvbridge check``; empty when they load.

    Each line starts with where the value came from: ``tvbridge.toml:12:`` (the file and the
    line of the key, or of its section when a rule spans keys), or ``TVBRIDGE_SERVER__PORT:`` (the
    environment, which wins over the file). API keys and tokens are never echoed.
    """
    first = ""
    try:
        load_settings(path, **overrides)
    except ConfigError as exc:
        first = str(exc)
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    lines: dict[tuple[str, ...], int] = {}
    problems: list[str] = []
    if path is not None and path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"at line (\d+)", str(exc))
            return [f"{path}:{found.group(1) if found else 1}: not valid TOML: {exc}"]
        lines = key_lines(text)
        problems = _unknown_keys(data, path, lines)
    if not first:
        return problems

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        _FileSettings(**overrides)
    except ValidationError as exc:
        return [_located(error, path, lines) for error in exc.errors()] + problems
    return [first, *problems]  # not a validation error (cannot happen today): load_settings' line


def _unknown_keys(data: dict[str, Any], path: Path, lines: dict[tuple[str, ...], int]) -> list[str]:
    """Keys of a known section that are no setting (a typo): the section ignores them, so the
    value the trader meant is silently not used. (An unknown section is a validation error.)"""
    problems = []
    for section, field in Settings.model_fields.items():
        model, values = field.annotation, data.get(section)
        if not isinstance(values, dict) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key in values:
            if key not in model.model_fields:
                line = lines.get((section, key), lines.get((section,), 1))
                problems.append(
                    f"{path}:{line}: Setting '{section}.{key}': not a setting of [{section}], so it "
                    "is ignored; check the spelling (every key: docs/settings.md)"
                )
    return problems


def _located(error: Any, path: Path | None, lines: dict[tuple[str, ...], int]) -> str:
    loc = tuple(str(p) for p in error["loc"])
    key = ".".join(loc) or "settings"
    msg = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    secret = "api_key" in key or "token" in key
    shown = "" if isinstance(given, dict) or secret else f" = {given!r}"
    target = loc
    if len(loc) == 1:  # a rule over a section's keys: point at the key its message names first
        keys = {path[1] for path in lines if len(path) == 2 and path[0] == loc[0]}
        named = [
            (m.start(), m.group(1)) for m in re.finditer(r"\b([a-z][a-z_]*)\b", msg) if m.group(1) in keys
        ]
        if named:
            target = (loc[0], min(named)[1])
            key = ".".join(target)
    env = _env_name(target)
    if env is not None:
        where = env
    else:
        line = next((lines[target[:n]] for n in range(len(target), 0, -1) if target[:n] in lines), None)
        where = f"{path}:{line}" if path is not None and line is not None else "settings"
    return f"{where}: Setting '{key}'{shown}: {msg}"


def _env_name(loc: tuple[str, ...]) -> str | None:
    """The ``TVBRIDGE_*`` variable that set the key at ``loc`` (or its section), if one did."""
    for n in range(len(loc), 0, -1):
        name = "TVBRIDGE_" + "__".join(loc[:n]).upper()
        for var in os.environ:
            if var.upper() == name:
                return var
    return None
