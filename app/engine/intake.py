"""From raw webhook bytes to a journaled Alert: sender checks, authentication, parsing, dedupe, pause.

Every refusal is journaled with its reason and the source address, never with a secret, until the
address has been refused ``auth_failures_per_minute`` times in 60 s: then it is locked out and
its refused requests are answered LOCKED_OUT without a journal row (one event says so), while a request
that proves the strategy's secret still goes through (app/ingest/sender.py says why). The alert
row is committed before anything is sent to the gateway (write-ahead, DESIGN.md). While the kill
switch is on, an alert that would have been executed is journaled PAUSED instead, in the same
insert as its dedupe check, and never executed, not even after the resume. A reachability check
(``X-TVBridge-Check``, from ``tvbridge tunnel --check``) that authenticates is journaled TEST and
never executed.

Over 400 lines on purpose: it is one pipeline whose order of steps is the security story (sender
screen and lock-out, then the secret, then the body, nothing journaled with a secret), read top
to bottom in ``Intake.receive``; the functions after the class are its steps (only ``restore``
is used elsewhere: the resume after a restart reads a journaled body the same way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from app import redact
from app.domain.enums import AlertStatus
from app.domain.kinds import EventKind, EventLevel
from app.domain.models import Alert
from app.engine.outcomes import Answer
from app.engine.refusal_digest import LOCKED_OUT, RefusalDigest
from app.engine.runner import JournalRunner
from app.errors import AlertAuthError, AlertInvalidError
from app.failpoints import failpoint
from app.ingest.auth import authenticate
from app.ingest.parse import find_body_secret, parse_body, stored_body
from app.ingest.sender import RefusalLimiter, is_tradingview
from app.strategies import StrategyTemplate

if TYPE_CHECKING:
    from app.domain.records import PauseState
    from app.journal import AlertEntry, AlertRecord

log = logging.getLogger(__name__)

CHECK_HEADER = "X-TVBridge-Check"
_CHECK_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Refusal:
    """A webhook answered without executing anything: how it ended and the JSON body."""

    answer: Answer
    body: dict[str, Any]
    duplicate_of: int | None = None  # a duplicate: the alert it is a copy of


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received.

    ``source_ip``: the client address (behind a tunnel, from the tunnel's header: app/web/client.py).
    ``screened``: it came in on the webhook listener, where ``server.tradingview_only`` applies
    (the pages' listener only serves this computer). ``check``: the X-TVBridge-Check header.
    """

    strategy: str
    raw: bytes
    url_token: str | None = None
    source_ip: str = ""
    content_type: str = ""
    too_large: bool = False
    screened: bool = False
    check: str | None = None


class Intake:
    """Authenticate, parse and journal webhook deliveries."""

    def __init__(
        self,
        runner: JournalRunner,
        templates: Callable[[], Mapping[str, StrategyTemplate]],
        secrets: Callable[[], Mapping[str, str]],
        *,
        max_body_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        paused: Callable[[], PauseState | None] = lambda: None,
        tradingview_only: bool = False,
        limiter: RefusalLimiter | None = None,
    ) -> None:
        self._runner = runner
        self._journal = runner.journal
        self._templates = templates
        self._secrets = secrets
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self._paused = paused  # held in memory by the bridge: the hot path never reads it
        self._tradingview_only = tradingview_only
        self.limiter = limiter or RefusalLimiter(10, 300.0)
        self._decoy_secret = token_urlsafe(32)  # what an unknown strategy is checked against
        # Refusals counted for the trader's summary notice (app/engine/refusal_digest.py).
        self.refusals = RefusalDigest(clock)

    async def receive(self, delivery: Delivery) -> tuple[Alert, StrategyTemplate] | Refusal:
        """Return the journaled Alert and its template, or the Refusal to answer with.

        While paused, an alert that authenticated, parsed and is not a duplicate is journaled
        PAUSED and answered DONE ``{"alert_id", "status": "paused", "reason", "orders": []}``.
        Raises JournalError when the journal cannot be written (the caller answers NOTHING_DONE).
        """
        received_at = self._clock()
        template = self._templates().get(delivery.strategy)
        secret = self._secrets().get(delivery.strategy)
        refused = self._screen(delivery)
        if refused is None:
            # An unknown strategy is checked against a secret nobody has, so that its answer is
            # the wrong secret's, word for word: names cannot be listed by probing.
            try:
                authenticate(
                    delivery.strategy,
                    secret if template is not None else self._decoy_secret,
                    body_secret=None
                    if delivery.url_token
                    else find_body_secret(delivery.raw, template.secret_field if template else "secret"),
                    url_token=delivery.url_token,
                )
            except AlertAuthError as exc:
                refused = (AlertStatus.UNAUTHORIZED, Answer.UNAUTHORIZED, str(exc))
            except Exception as exc:  # a body nothing anticipated: refused, counted, never a crash
                refused = (AlertStatus.INVALID, Answer.UNREADABLE, _unreadable(delivery, exc))
            if template is None:
                reason = (
                    f"unknown strategy '{delivery.strategy}': there is no templates/"
                    f"{delivery.strategy}.toml; check the webhook URL in the TradingView alert "
                    "(answered as a wrong secret, so that names cannot be listed)"
                )
                answer = refused[2] if refused is not None else "wrong secret"
                return await self._refuse(
                    delivery,
                    received_at,
                    AlertStatus.UNKNOWN_STRATEGY,
                    Answer.UNAUTHORIZED,
                    reason,
                    told=answer,
                )
        if refused is not None:
            return await self._refuse(delivery, received_at, *refused)
        if delivery.check is not None:
            return await self._check(delivery, received_at)
        assert template is not None  # _screen refused an unknown strategy
        if not delivery.raw.strip():
            reason = (
                "empty body: the alert's Message was empty when TradingView sent it (an empty "
                "Message box, or a placeholder such as {{strategy.order.alert_message}} with no "
                f"value); paste the message from alerts/{delivery.strategy}.txt"
            )
            return await self._refuse(
                delivery, received_at, AlertStatus.INVALID, Answer.UNREADABLE, reason, authenticated=True
            )

        try:
            alert, key, alert_time = _read(delivery, template, secret, received_at)
        except AlertInvalidError as exc:
            body = _scrub(delivery.raw.decode("utf-8", "replace"), secret)
            return await self._refuse(
                delivery,
                received_at,
                AlertStatus.INVALID,
                Answer.INVALID,
                str(exc),
                body=body,
                authenticated=True,
            )
        paused = self._paused()
        held = None if paused is None else paused_reason(paused)
        entry = await self._record(
            delivery,
            received_at,
            raw_body=alert.raw_body,
            dedupe_key=key,
            dedupe_window_s=template.dedupe_window_s,
            alert_time=alert_time,
            status=AlertStatus.RECEIVED if held is None else AlertStatus.PAUSED,
            reason=held,
        )
        if entry.duplicate_of is not None:
            return Refusal(
                Answer.DONE,
                {
                    "alert_id": entry.alert_id,
                    "status": str(AlertStatus.DUPLICATE),
                    "duplicate_of": entry.duplicate_of,
                    "reason": f"same alert as {entry.duplicate_of} within "
                    f"{template.dedupe_window_s:g} s; no order sent",
                    "orders": [],
                },
                duplicate_of=entry.duplicate_of,
            )
        if held is not None:
            return Refusal(
                Answer.DONE,
                {
                    "alert_id": entry.alert_id,
                    "status": str(AlertStatus.PAUSED),
                    "reason": held,
                    "orders": [],
                },
            )
        failpoint("alert.journaled")
        return dataclasses.replace(alert, alert_id=entry.alert_id), template

    def _screen(self, delivery: Delivery) -> tuple[AlertStatus, Answer, str] | None:
        """The refusal due before authentication (status, answer, reason), or None. It
        does not depend on whether the strategy exists (the answer must not tell)."""
        if delivery.too_large or len(delivery.raw) > self._max_body_bytes:
            reason = (
                f"body larger than {self._max_body_bytes} bytes; TradingView messages are short, "
                "check the alert's Message box"
            )
            return AlertStatus.TOO_LARGE, Answer.TOO_LARGE, reason
        if delivery.screened and self._tradingview_only and not is_tradingview(delivery.source_ip):
            reason = (
                f"address {delivery.source_ip or '(none)'} is not one of TradingView's webhook "
                "addresses and server.tradingview_only is on; if TradingView changed its addresses, "
                "turn tradingview_only off until the bridge is updated"
            )
            return AlertStatus.FORBIDDEN, Answer.FORBIDDEN, reason
        return None

    async def _refuse(
        self,
        delivery: Delivery,
        received_at: datetime,
        status: AlertStatus,
        answer: Answer,
        reason: str,
        *,
        body: str = "",
        authenticated: bool = False,
        told: str | None = None,
    ) -> Refusal:
        """Journal the refusal. One before authentication counts against its address, and is
        answered LOCKED_OUT unjournaled while the address is locked out. ``told``: the sender is
        told this instead, as a wrong secret (status unauthorized); the journal keeps the real one."""
        address = delivery.source_ip
        known = delivery.strategy if delivery.strategy in self._templates() else None
        locked_for = None if authenticated else self.limiter.locked_for(address)
        if locked_for is not None:
            self.refusals.refused(LOCKED_OUT, strategy=known, address=address)
            return _locked_out(address, locked_for)
        # Bodies of unauthenticated requests are not stored: they are not the trader's.
        entry = await self._record(delivery, received_at, raw_body=body, status=status, reason=reason)
        if not authenticated and self.limiter.refuse(address):
            self.refusals.locked_out()
            await self._lock_out(address)
        self.refusals.refused(status, strategy=known, address=address)
        shown = (status, reason) if told is None else (AlertStatus.UNAUTHORIZED, told)
        return Refusal(
            answer,
            {"alert_id": entry.alert_id, "status": str(shown[0]), "error": shown[1], "orders": []},
        )

    async def _lock_out(self, address: str) -> None:
        limiter = self.limiter
        message = (
            f"address {address or '(none)'} locked out for {limiter.lockout_s:g} s after "
            f"{limiter.max_refusals} refused webhook requests within {limiter.window_s:g} s: its "
            "refused requests now get 429 and are not journaled one by one; a request with the "
            "right secret still goes through"
        )
        log.warning(message)
        await self._runner.run(
            self._journal.add_event,
            EventKind.WEBHOOK_LOCKOUT,
            message,
            level=EventLevel.WARNING,
            data={"address": address, "lockout_s": limiter.lockout_s},
        )

    async def _check(self, delivery: Delivery, received_at: datetime) -> Refusal:
        """Journal an authenticated reachability check as TEST and echo its nonce; no order."""
        nonce = delivery.check or ""
        if not _CHECK_NONCE.match(nonce):
            reason = (
                f"the {CHECK_HEADER} header must be 16 to 64 letters, digits, '-' or '_'; "
                "send checks with `tvbridge tunnel --check`"
            )
            return await self._refuse(
                delivery, received_at, AlertStatus.INVALID, Answer.UNREADABLE, reason, authenticated=True
            )
        where = delivery.source_ip or "(unknown address)"
        reason = f"reachability check {nonce} from {where}: arrived; nothing executed"
        entry = await self._record(delivery, received_at, raw_body="", status=AlertStatus.TEST, reason=reason)
        return Refusal(
            Answer.DONE,
            {
                "alert_id": entry.alert_id,
                "status": str(AlertStatus.TEST),
                "check": nonce,
                "client_ip": delivery.source_ip,
                "orders": [],
            },
        )

    async def _record(
        self,
        delivery: Delivery,
        received_at: datetime,
        *,
        raw_body: str,
        status: AlertStatus = AlertStatus.RECEIVED,
        reason: str | None = None,
        dedupe_key: str | None = None,
        dedupe_window_s: float = 0.0,
        alert_time: datetime | None = None,
    ) -> AlertEntry:
        """Journal the delivery (where it came from, when, how it was sent) with its row."""
        return await self._runner.run(
            self._journal.record_alert,
            strategy=delivery.strategy,
            raw_body=raw_body,
            received_at=received_at,
            source_ip=delivery.source_ip,
            content_type=delivery.content_type,
            dedupe_key=dedupe_key,
            dedupe_window_s=dedupe_window_s,
            alert_time=alert_time,
            status=status,
            reason=reason,
        )


def _read(
    delivery: Delivery, template: StrategyTemplate, secret: str | None, received_at: datetime
) -> tuple[Alert, str, datetime | None]:
    """The authenticated delivery's Alert (secret removed), dedupe key and alert time.

    Raises AlertInvalidError (answered INVALID) for a body that cannot be read, including one
    that makes a reader fail in a way nobody anticipated: nothing is journaled yet, so it is
    refused, never a crash.
    """
    try:
        fields = parse_body(delivery.raw, fmt=template.alert_format, pattern=template.pattern)
        body = _scrub(stored_body(delivery.raw, fields, template.secret_field), secret)
        fields.pop(template.secret_field, None)
        alert = Alert(
            strategy=delivery.strategy,
            raw_body=body,
            fields=fields,
            received_at=received_at,
            source_ip=delivery.source_ip,
            content_type=delivery.content_type,
        )
        return alert, dedupe_key(template, fields, body), template.alert_time(alert)
    except AlertInvalidError:
        raise
    except Exception as exc:
        raise AlertInvalidError(_unreadable(delivery, exc)) from None


def _unreadable(delivery: Delivery, exc: BaseException) -> str:
    """The reason for a body a reader failed on unexpectedly; logged once, without a traceback
    (an attacker can send thousands) and without the body (it may hold a secret)."""
    log.warning(
        "webhook body for %r from %s could not be read: %s",
        delivery.strategy[:64],
        delivery.source_ip or "(none)",
        type(exc).__name__,
    )
    return (
        f"the body could not be read ({type(exc).__name__}); send the alert's message as a flat "
        "JSON object or the text its template expects"
    )


def restore(record: AlertRecord, template: StrategyTemplate) -> Alert:
    """The Alert of a journaled alert row (to resume it after a restart), its fields parsed
    again from the stored body (which holds no secret). Raises AlertInvalidError."""
    fields = parse_body(record.raw_body.encode(), fmt=template.alert_format, pattern=template.pattern)
    fields.pop(template.secret_field, None)
    return Alert(
        strategy=record.strategy,
        raw_body=record.raw_body,
        fields=fields,
        received_at=record.received_at,
        alert_id=record.id,
        source_ip=record.source_ip,
        content_type=record.content_type,
    )


def paused_reason(state: PauseState) -> str:
    """Why an alert was not executed while the bridge is paused, in the trader's words."""
    since = state.since.astimezone(UTC)
    shown = (
        f"{since:%H:%M:%S} UTC"
        if since.date() == datetime.now(UTC).date()
        else f"{since:%Y-%m-%d %H:%M:%S} UTC"
    )
    return (
        f"the bridge is paused since {shown} (by {state.by}): not executed, and it will not be "
        "executed later; resume on the page or with `tvbridge resume`"
    )


def _locked_out(address: str, locked_for: float) -> Refusal:
    seconds = max(1, round(locked_for))
    return Refusal(
        Answer.LOCKED_OUT,
        {
            "status": "locked_out",
            "error": f"too many refused requests from {address or '(none)'}; try again in {seconds} s",
            "retry_after_s": seconds,
            "orders": [],
        },
    )


def dedupe_key(template: StrategyTemplate, fields: Mapping[str, object], body: str) -> str:
    """What makes two deliveries "the same alert" (with the same strategy, within the template's
    ``dedupe_window_s``): the alert's own id when the template names one (``id_field``) and the
    body has it (``id:<value>``); else a hash of the body in a canonical form, so that a copy
    that differs only in layout is the same alert: a JSON body is its fields (the webhook secret
    removed) serialised with sorted keys and no whitespace, numbers and strings as sent (key
    order, spaces and line breaks do not count; ``1.5`` and ``1.50`` do); a text body is the
    stored text (the secret replaced by ``***``) with leading and trailing whitespace removed
    and every run of whitespace read as one space. ``fields`` are the parsed fields without the
    secret; ``body`` is the text as journaled.
    """
    if template.id_field and fields.get(template.id_field) not in (None, ""):
        # A NUL byte is kept out of the journal's text columns (PostgreSQL refuses it).
        return f"id:{fields[template.id_field]}".replace("\x00", "\\x00")
    if template.alert_format == "json":
        canonical = json.dumps(
            dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        return "json-sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return "text-sha256:" + hashlib.sha256(" ".join(body.split()).encode()).hexdigest()


def _scrub(text: str, secret: str | None) -> str:
    """Remove the strategy's secret (and every remembered credential: app/redact.py) from text
    bound for the journal; the dedupe key is made from what this returns."""
    return redact.scrub(text.replace(secret, redact.MASK) if secret else text)
