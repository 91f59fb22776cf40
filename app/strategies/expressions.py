"""Template values: a TOML literal, or a Jinja2 expression over ``alert`` and ``strategy``.

Expressions run in a SandboxedEnvironment with strict undefined values, so a template that
uses an alert field the alert does not have fails loudly (MissingField) instead of sending
an order with a blank. ``None`` (JSON null) renders as an empty string, and an expression
that renders empty or whitespace means "not set". The filter ``decimal`` turns a number or
numeric string into a Decimal for arithmetic, e.g. ``{{ alert.price | decimal * 2 }}``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.utils import missing

from app.domain.ticks import to_decimal
from app.strategies.sandbox import (
    CHECK_BUDGET_S,
    CHECK_STEPS,
    MAX_STEPS,
    RENDER_BUDGET_S,
    BoundedEnvironment,
    RenderBoundError,
    render_bounded,
)

NAMES = frozenset({"alert", "strategy"})
_MARKERS = ("{{", "{%", "{#")


class MissingField(UndefinedError):
    """An expression used a name or alert field that is not there.

    Not a BridgeError: Jinja2 expects an UndefinedError here; Template turns it into a TemplateError."""

    def __init__(self, message: str, *, name: Any, obj: Any) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj

    @property
    def path(self) -> str:
        """The name as the template wrote it, e.g. ``alert.quantity``."""
        if isinstance(self.obj, AlertView):
            return f"{self.obj.tvb_path}.{self.name}"
        return str(self.name)

    @property
    def available(self) -> list[str]:
        """The fields the object does have (empty unless it is an alert view)."""
        return list(self.obj) if isinstance(self.obj, AlertView) else []


class _Missing(StrictUndefined):
    """StrictUndefined that reports which name was missing, and on what.

    The sandbox's own refusals (``exc=SecurityError``) keep their exception.
    """

    __slots__ = ()

    def __init__(
        self, hint: str | None = None, obj: Any = missing, name: Any = None, exc: Any = None
    ) -> None:
        if exc is None or exc is UndefinedError:
            exc = partial(MissingField, name=name, obj=obj)
        super().__init__(hint, obj, name, exc)


class AlertView:
    """The alert's fields as ``alert.<name>``, with no methods that could hide a field."""

    __slots__ = ("tvb_data", "tvb_path")

    def __init__(self, data: dict[str, Any], path: str = "alert") -> None:
        self.tvb_data = data
        self.tvb_path = path

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("_", "tvb_")):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        value = self.tvb_data[name]
        return AlertView(value, f"{self.tvb_path}.{name}") if isinstance(value, dict) else value

    def __contains__(self, name: object) -> bool:
        return name in self.tvb_data

    def __iter__(self) -> Iterator[str]:
        return iter(self.tvb_data)

    def __len__(self) -> int:
        return len(self.tvb_data)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.tvb_data.items()) + "}"


def _decimal(value: object) -> Decimal:
    return to_decimal(value)


def _finalize(value: object) -> object:
    return "" if value is None else value


_ENV = BoundedEnvironment(undefined=_Missing, autoescape=False, finalize=_finalize)
_ENV.filters["decimal"] = _decimal


def is_expression(value: object) -> bool:
    """True when ``value`` is a string with Jinja2 markup."""
    return isinstance(value, str) and any(marker in value for marker in _MARKERS)


@dataclass(frozen=True)
class Value:
    """One template value: ``field`` is its dotted name (``quantity``, ``bracket.stop_loss.price``)."""

    field: str
    literal: object = None
    template: Template | None = None

    @property
    def is_expression(self) -> bool:
        return self.template is not None

    def render(
        self,
        fields: dict[str, Any],
        strategy: str,
        *,
        deadline: float | None = None,
        max_steps: int = MAX_STEPS,
    ) -> object | None:
        """Return the literal, or the rendered text stripped; None when it renders empty.

        ``deadline`` (``time.thread_time()``; default RENDER_BUDGET_S from now) ends the render,
        and so does running more than ``max_steps`` lines of template code.
        Raises MissingField for a missing alert field, RenderBoundError for a bound the
        expression broke (app/strategies/sandbox.py), or whatever else the expression raises.
        """
        if self.template is None:
            return self.literal
        if deadline is None:
            deadline = time.thread_time() + RENDER_BUDGET_S
        chunks = self.template.generate(alert=AlertView(fields), strategy=strategy)
        text = render_bounded(chunks, deadline, max_steps=max_steps).strip()
        return text or None


def compile_value(field: str, value: object) -> Value:
    """Compile ``value``. Raises TemplateSyntaxError (with ``lineno``), NameError for a name
    other than ``alert`` and ``strategy``, or RenderBoundError when the expression breaks a
    bound of the sandbox without needing the alert (a constant ``lipsum(n=100000)``, ``range``
    loops, ``'a' * 10**9``): it is rendered once, on an alert with no fields, to find out."""
    if not is_expression(value):
        return Value(field, literal=value)
    assert isinstance(value, str)
    tree = _ENV.parse(value)
    unknown = sorted(meta.find_undeclared_variables(tree) - NAMES)
    if unknown:
        raise NameError(
            f"uses '{unknown[0]}', which is not defined; expressions see alert.<field> and strategy"
        )
    compiled = Value(field, template=_ENV.from_string(tree))
    try:
        compiled.render({}, "check", deadline=time.thread_time() + CHECK_BUDGET_S, max_steps=CHECK_STEPS)
    except RenderBoundError:
        raise
    except Exception:  # noqa: S110  it needs an alert's fields: checked when one comes
        pass
    return compiled


__all__ = [
    "MissingField",
    "RenderBoundError",
    "TemplateSyntaxError",
    "Value",
    "compile_value",
    "is_expression",
]
