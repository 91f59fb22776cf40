"""docs/settings.md, the settings reference, generated from the settings model (app/config.py).

``python -m app.cli.settings_doc`` prints it; ``python -m app.cli.settings_doc --write`` rewrites
docs/settings.md. tests/test_settings_doc.py fails when the committed file is not what this makes,
so the reference never drifts from the model: change a ``description=`` there, then regenerate.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from app.config import RiskLimits, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
COMMAND = "python -m app.cli.settings_doc --write"

_HEADER = f"""# Settings reference

Generated from the settings model (`app/config.py`) by `{COMMAND}`;
do not edit by hand (`tests/test_settings_doc.py` fails when this file and the model differ).

Settings come from `tvbridge.toml` (or `--config PATH`) and from `TVBRIDGE_*` environment
variables, `__` nesting: `[server] port` is `TVBRIDGE_SERVER__PORT`; the environment wins.
"off" means the setting has no value (no limit) until you set one. `tvbridge check` lists every
wrong setting with its file and line.
"""

# Units read from a key's name, as the settings name them (README: "Times are in seconds unless
# the name says otherwise").
_UNIT_SUFFIXES = (
    ("_per_minute", "per 60 s"),
    ("_minutes", "minutes"),
    ("_bytes", "bytes"),
    ("_s", "seconds"),
)
_UNITS = {
    "max_contracts_per_contract": "contracts",
    "max_contracts_total": "weighted contracts",
    "max_order_size": "contracts",
    "daily_loss_limit": "USD",
    "daily_profit_target": "USD",
    "max_trailing_drawdown": "USD",
    "max_entries_per_day": "entries",
    "max_trades_per_minute": "entries",
    "max_trades_per_hour": "entries",
    "cooldown_after_losses": "losing trades",
    "port": "TCP port",
    "webhook_port": "TCP port",
    "session_close": "HH:MM, [risk] timezone",
    "day_start": "HH:MM, [risk] timezone",
    "lockout_until": "HH:MM, [risk] timezone",
    "trading_windows": "HH:MM-HH:MM, [risk] timezone",
    "contract_weights": "contracts",
}


def unit(key: str) -> str:
    """The unit of ``key``'s value, from its name; "" when it has none."""
    if key in _UNITS:
        return _UNITS[key]
    for suffix, name in _UNIT_SUFFIXES:
        if key.endswith(suffix):
            return name
    return ""


def type_name(annotation: Any) -> str:
    """A trader's name for a field's type: ``text``, ``whole number``, ``"warn" | "flatten"``..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (types.UnionType, typing.Union):
        named = [type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(named)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"table of {type_name(args[1])}"
    simple = {
        str: "text",
        int: "whole number",
        float: "number",
        bool: "true \\| false",
        Decimal: "number",
        Path: "path",
        SecretStr: "secret text",
        date: "date",
    }
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return simple.get(annotation, str(annotation))


def bounds(field: FieldInfo) -> str:
    """The field's limits, e.g. ``> 0, ≤ 60``; "" when it has none."""
    shown = []
    for item in field.metadata:
        for kind, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if isinstance(item, getattr(annotated_types, kind.capitalize())):
                shown.append(f"{sign} {getattr(item, kind)}")
    return ", ".join(shown)


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in tvbridge.toml; "off" for None."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "off"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Path):
        value = value.as_posix()
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
        return f"`{{ {inner} }}`" if inner else "`{}`"
    return f"`{json.dumps(value, default=str)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(section: str, model: type[BaseModel], *, override: bool = False) -> list[str]:
    lines = [
        "| key | type | default | unit | meaning | environment |",
        "|---|---|---|---|---|---|",
    ]
    for key, field in model.model_fields.items():
        kind = type_name(field.annotation)
        limits = bounds(field)
        if limits:
            kind = f"{kind} ({limits})"
        default = "[risk]'s" if override else default_text(field)
        env = "" if override else f"`TVBRIDGE_{section.upper()}__{key.upper()}`"
        lines.append(
            f"| `{key}` | {kind} | {default} | {unit(key)} | {_cell(field.description or '')} | {env} |"
        )
    return lines


def markdown() -> str:
    """The whole reference: a section per table of tvbridge.toml, a row per key."""
    out = [_HEADER]
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        out += [f"## `[{section}]`", "", _cell(field.description or ""), ""]
        out += _table(section, model)
        out.append("")
        if section == "risk":
            out += [
                '### `[risk.accounts."NAME"]`',
                "",
                "One account's limits (by account name or id), key by key over `[risk]`'s; the same",
                "keys as a template's own `[risk]`. A key not set keeps `[risk]`'s value.",
                "",
            ]
            out += _table(section, RiskLimits, override=True)
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC.name} instead of printing")
    args = parser.parse_args(argv)
    text = markdown()
    if args.write:
        DOC.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
