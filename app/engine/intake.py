"""From raw webhook bytes to a journaled Alert: strategy, authentication, parsing, dedupe, pause.

Every refusal is journaled with its reason and the source address, never with a secret. The
alert row is committed before anything is sent to the gateway (write-ahead, DESIGN.md). While
the kill switch is on, an alert that would have been executed is journaled PAUSED instead, in
the same insert as its dedupe check, and never executed, not even after the resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.enums import AlertStatus
from app.domain.models import Alert
from app.engine.runner import JournalRunner
from app.errors import AlertAuthError, AlertInvalidError
from app.ingest.auth import authenticate
from app.ingest.parse import find_body_secret, parse_body, stored_body
from app.journal.journal import PauseState


@dataclass(frozen=True)
class Refusal:
    """A webhook answered without executing anything: HTTP status and JSON body."""

    http_status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received."""

    strategy: str
    raw: bytes
    url_token: str | None = None
    source_ip: str = ""
    content_type: str = ""
    too_large: bool = False


class Intake:
    """Authenticate, parse and journal webhook deliveries."""

    def __init__(
        self,
        runner: JournalRunner,
        templates: Callable[[], Mapping[str, Any]],
        secrets: Callable[[], Mapping[str, str]],
        *,
        max_body_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        paused: Callable[[], PauseState | None] = lambda: None,
    ) -> None:
        self._runner = runner
        self._journal = runner.journal
        self._templates = templates
        self._secrets = secrets
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self._paused = paused  # held in memory by the bridge: the hot path never reads it

    async def receive(self, delivery: Delivery) -> tuple[Alert, Any] | Refusal:
        """Return the journaled Alert and its template, or the Refusal to answer with.

        While paused, an alert that authenticated, parsed and is not a duplicate is journaled
        PAUSED and answered 200 ``{"alert_id", "status": "paused", "reason", "orders": []}``.
        Raises JournalError when the journal cannot be written (the caller answers 503).
        """
        received_at = self._clock()
        template = self._templates().get(delivery.strategy)
        if delivery.too_large or len(delivery.raw) > self._max_body_bytes:
            reason = (
                f"body larger than {self._max_body_bytes} bytes; TradingView messages are short, "
                "check the alert's Message box"
            )
            return await self._refuse(delivery, received_at, AlertStatus.TOO_LARGE, 413, reason)
        if template is None:
            reason = (
                f"unknown strategy '{delivery.strategy}': there is no templates/"
                f"{delivery.strategy}.toml; check the webhook URL in the TradingView alert"
            )
            return await self._refuse(delivery, received_at, AlertStatus.UNKNOWN_STRATEGY, 404, reason)
        secret = self._secrets().get(delivery.strategy)
        try:
            authenticate(
                delivery.strategy,
                secret,
                body_secret=None
                if delivery.url_token
                else find_body_secret(delivery.raw, template.secret_field),
                url_token=delivery.url_token,
            )
        except AlertAuthError as exc:
            return await self._refuse(delivery, received_at, AlertStatus.UNAUTHORIZED, 401, str(exc))

        try:
            fields = parse_body(delivery.raw, fmt=template.alert_format, pattern=template.pattern)
        except AlertInvalidError as exc:
            body = _scrub(delivery.raw.decode("utf-8", "replace"), secret)
            return await self._refuse(
                delivery, received_at, AlertStatus.INVALID, exc.http_status, str(exc), body=body
            )
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
        paused = self._paused()
        held = {} if paused is None else {"status": AlertStatus.PAUSED, "reason": paused_reason(paused)}
        entry = await self._record(
            delivery,
            received_at,
            raw_body=body,
            dedupe_key=_dedupe_key(template, fields, delivery.raw),
            dedupe_window_s=template.dedupe_window_s,
            alert_time=template.alert_time(alert),
            **held,
        )
        if entry.duplicate_of is not None:
            return Refusal(
                200,
                {
                    "alert_id": entry.alert_id,
                    "status": str(AlertStatus.DUPLICATE),
                    "duplicate_of": entry.duplicate_of,
                    "reason": f"same alert as {entry.duplicate_of} within "
                    f"{template.dedupe_window_s:g} s; no order sent",
                    "orders": [],
                },
            )
        if held:
            return Refusal(
                200,
                {
                    "alert_id": entry.alert_id,
                    "status": str(AlertStatus.PAUSED),
                    "reason": held["reason"],
                    "orders": [],
                },
            )
        return dataclasses.replace(alert, alert_id=entry.alert_id), template

    async def _refuse(
        self,
        delivery: Delivery,
        received_at: datetime,
        status: AlertStatus,
        http_status: int,
        reason: str,
        *,
        body: str = "",
    ) -> Refusal:
        # Bodies of unauthenticated requests are not stored: they are not the trader's.
        entry = await self._record(delivery, received_at, raw_body=body, status=status, reason=reason)
        return Refusal(
            http_status,
            {"alert_id": entry.alert_id, "status": str(status), "error": reason, "orders": []},
        )

    async def _record(self, delivery: Delivery, received_at: datetime, **row: Any) -> Any:
        """Journal the delivery (where it came from, when, how it was sent) with ``row``."""
        return await self._runner.run(
            self._journal.record_alert,
            strategy=delivery.strategy,
            received_at=received_at,
            source_ip=delivery.source_ip,
            content_type=delivery.content_type,
            **row,
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


def _dedupe_key(template: Any, fields: Mapping[str, Any], raw: bytes) -> str:
    """The alert's own id when the template names one, else a hash of the body."""
    if template.id_field and fields.get(template.id_field) not in (None, ""):
        return f"id:{fields[template.id_field]}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _scrub(text: str, secret: str | None) -> str:
    """Remove the strategy's secret wherever it appears in text bound for the journal."""
    return text.replace(secret, "***") if secret else text
