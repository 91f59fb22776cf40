"""Every setting is documented: a description in the model, and docs/settings.md made from it.

Issue 14: 18 of 65 settings were named nowhere. The model's ``description=`` is the one source;
docs/settings.md is generated from it (``python -m app.cli.settings_doc --write``) and must be
committed as generated, so the reference cannot drift from the settings the bridge reads.
"""

from __future__ import annotations

from pydantic import BaseModel

from app.cli import settings_doc
from app.config import RiskLimits, Settings


def _models() -> list[tuple[str, type[BaseModel]]]:
    models: list[tuple[str, type[BaseModel]]] = [("settings", Settings), ("risk.accounts", RiskLimits)]
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel), name
        models.append((name, field.annotation))
    return models


def test_every_field_of_every_section_has_a_description() -> None:
    missing = [
        f"{section}.{key}"
        for section, model in _models()
        for key, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert missing == [], "settings without description= in app/config.py"
    count = sum(len(model.model_fields) for _, model in _models())
    assert count >= 67 + 7  # every key of every section, and the sections themselves


def test_the_committed_reference_is_the_generated_one() -> None:
    committed = settings_doc.DOC.read_text(encoding="utf-8")
    assert committed == settings_doc.markdown(), f"docs/settings.md is stale: run `{settings_doc.COMMAND}`"


def test_the_reference_gives_each_key_its_type_default_unit_and_meaning() -> None:
    text = settings_doc.markdown()
    for section, field in Settings.model_fields.items():
        assert f"## `[{section}]`" in text
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key, info in model.model_fields.items():
            [row] = [
                line
                for line in text.splitlines()
                if line.startswith(f"| `{key}` |") and f"TVBRIDGE_{section.upper()}__{key.upper()}" in line
            ]
            assert info.description is not None and info.description.replace("|", "\\|") in row
    assert "| `timeout_s` | number (> 0, ≤ 60) | `10.0` | seconds | seconds one REST request" in text
    assert "| `daily_loss_limit` | number (> 0) | off | USD |" in text
    assert '| `on_shutdown` | "warn" \\| "flatten" | `"warn"` |' in text
