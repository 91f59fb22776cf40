"""Editing templates on disk: invalid text writes nothing, a save is atomic and keeps the old one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.strategies import (
    TemplateInvalid,
    check_template_text,
    load_templates,
    new_template_text,
    previous_versions,
    save_template,
)
from app.strategies.store import PREVIOUS_DIR
from tests.helpers import SHIPPED_TEMPLATES
from tests.strategies.test_load import GOOD


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(SHIPPED_TEMPLATES, folder)
    return folder


def test_check_reports_toml_syntax_with_the_line() -> None:
    template, problems = check_template_text("t", GOOD.replace("quantity = 1", "quantity = = 1"))

    assert template is None
    assert [str(p).split(": ")[0] for p in problems] == ["t.toml:6"]
    assert "not valid TOML" in str(problems[0])


def test_check_reports_schema_and_jinja_problems_with_their_lines() -> None:
    text = GOOD.replace("quantity = 1", 'quantity = 1\ntyp = "market"').replace(
        "{{ alert.action }}", "{{ alert.action }"
    )

    template, problems = check_template_text("t", text)

    assert template is None
    assert [p.line for p in problems] == [5, 7]
    assert "Jinja syntax error" in problems[0].message
    assert "unknown key 'typ'" in problems[1].message and "did you mean 'type'" in problems[1].message


def test_check_refuses_a_bad_name_with_the_rule() -> None:
    template, problems = check_template_text("MNQ Trend", GOOD)

    assert template is None
    assert "'MNQ Trend' is not a valid strategy name" in str(problems[0])
    assert "lower-case letters" in problems[0].message


def test_check_of_a_good_text_gives_the_template(tmp_path: Path) -> None:
    template, problems = check_template_text("mnq-trend", GOOD, directory=tmp_path)

    assert problems == []
    assert template is not None and template.name == "mnq-trend"
    assert template.path == tmp_path / "mnq-trend.toml" and template.source == GOOD


def test_invalid_save_writes_nothing(folder: Path) -> None:
    before = (folder / "mnq-market.toml").read_bytes()
    listing = sorted(p.name for p in folder.iterdir())

    with pytest.raises(TemplateInvalid) as caught:
        save_template(folder, "mnq-market", before.decode().replace('type = "market"', 'type = "markt"'))

    assert [str(p).split(": ")[0] for p in caught.value.problems] == ["mnq-market.toml:14"]
    assert "mnq-market.toml:14: order.type is 'markt'" in str(caught.value)
    assert (folder / "mnq-market.toml").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == listing  # no temp file, no .previous


def test_save_writes_the_exact_text_and_keeps_the_previous_version(folder: Path) -> None:
    path = folder / "mnq-market.toml"
    before = path.read_text(encoding="utf-8")
    text = before.replace('quantity = "{{ alert.quantity }}"', "quantity = 2") + "# édité\n"

    saved = save_template(folder, "mnq-market", text)

    assert path.read_text(encoding="utf-8") == text
    assert saved.template.source == text and saved.template.path == path
    assert saved.previous is not None and saved.previous.parent == folder / PREVIOUS_DIR
    assert saved.previous.read_text(encoding="utf-8") == before
    assert previous_versions(folder, "mnq-market") == [saved.previous]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    # The kept copy never loads as a strategy of its own.
    assert sorted(load_templates(folder)) == sorted(p.stem for p in SHIPPED_TEMPLATES.glob("*.toml"))


def test_saves_in_the_same_second_keep_every_version_newest_first(folder: Path) -> None:
    texts = [GOOD.replace('"test"', f'"v{n}"') for n in range(4)]
    for text in texts:
        save_template(folder, "mnq-trend", text)

    versions = previous_versions(folder, "mnq-trend")

    assert [p.read_text() for p in versions] == texts[2::-1]
    assert all(p.name.startswith("mnq-trend.") and p.name.endswith("Z.toml") for p in versions)
    assert previous_versions(folder, "mnq") == []  # another strategy's prefix is not its own


def test_saving_the_same_text_again_writes_nothing(folder: Path) -> None:
    path = folder / "mnq-market.toml"
    stamp = path.stat().st_mtime_ns

    saved = save_template(folder, "mnq-market", path.read_text(encoding="utf-8"))

    assert saved.previous is None
    assert path.stat().st_mtime_ns == stamp and previous_versions(folder, "mnq-market") == []


def test_a_failed_write_leaves_the_file_and_no_temp(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "mnq-market.toml"
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_template(folder, "mnq-market", GOOD)

    assert path.read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_new_strategy_text_is_the_source_with_its_description_adapted(folder: Path) -> None:
    source = (folder / "mnq-market.toml").read_text(encoding="utf-8")

    text = new_template_text(folder, "mnq-scalp", "mnq-market")

    assert 'description = "Copy of mnq-market: MNQ market order from' in text
    assert text.splitlines()[:3] + text.splitlines()[4:] == source.splitlines()[:3] + source.splitlines()[4:]
    assert not (folder / "mnq-scalp.toml").exists()  # nothing written yet
    template, problems = check_template_text("mnq-scalp", text)
    assert problems == [] and template is not None
    assert template.description.startswith("Copy of mnq-market: ")


def test_new_strategy_without_a_description_gets_one(tmp_path: Path) -> None:
    (tmp_path / "plain.toml").write_text(GOOD.replace('description = "test"\n', ""))

    text = new_template_text(tmp_path, "plain-2", "plain")

    assert text.startswith('description = "Copy of plain"\n[order]\n')


@pytest.mark.parametrize(
    ("name", "source", "says"),
    [
        ("mnq-bracket", "mnq-market", "strategy 'mnq-bracket' already exists"),
        ("MNQ new", "mnq-market", "'MNQ new' is not a valid strategy name: use up to 64 lower-case"),
        ("../evil", "mnq-market", "is not a valid strategy name"),
        ("fresh", "no-such", "cannot start from 'no-such'"),
        ("fresh", "../templates/mnq-market", "cannot start from"),
    ],
)
def test_new_strategy_names_are_refused(folder: Path, name: str, source: str, says: str) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        new_template_text(folder, name, source)

    assert says in str(caught.value)


def test_save_refuses_an_invalid_name_and_writes_nothing(folder: Path) -> None:
    with pytest.raises(TemplateInvalid, match="not a valid strategy name"):
        save_template(folder, "../outside", GOOD)

    assert not (folder.parent / "outside.toml").exists()
