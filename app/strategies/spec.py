"""A template file's checked settings as plain records: Spec, AccountSpec, Problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from app.config import RiskLimits
from app.strategies.expressions import Value

AlertFormat = Literal["json", "text"]
TemplateKind = Literal["order", "oco"]
BracketMode = Literal["native", "managed"]
SyncMode = Literal["target"]


@dataclass(frozen=True)
class AccountSpec:
    """An account a template trades on: its name or id, and a quantity multiplier (> 0)."""

    account: str | int
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class Problem:
    """One problem in a template file; ``str()`` is ``templates/x.toml:LINE: message``.

    ``line`` is 1-based; 0 means the problem is about the whole file or folder.
    """

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Spec:
    """A template file's settings, checked, with its order and bracket values compiled."""

    description: str = ""
    alert_format: AlertFormat = "json"
    pattern: re.Pattern[str] | None = None
    id_field: str | None = None
    dedupe_window_s: float = 60.0
    secret_field: str = "secret"  # noqa: S105 - the name of a body field, not a secret
    time_field: str | None = None
    max_age_s: float = 30.0
    accounts: list[AccountSpec] = field(default_factory=list)
    order_values: dict[str, Value] = field(default_factory=dict)
    bracket_values: dict[str, dict[str, Value]] = field(default_factory=dict)
    kind: TemplateKind = "order"
    bracket_mode: BracketMode = "native"
    bracket_on_failure: Literal["close", "keep"] = "close"
    oco_values: dict[str, dict[str, Value]] = field(default_factory=dict)
    oco_on_both_filled: Literal["flatten", "keep"] = "flatten"
    sync: SyncMode | None = None
    risk: RiskLimits | None = None
