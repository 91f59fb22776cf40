"""The working folder (``--config``'s folder, else ``TVBRIDGE_HOME``, else the current folder) and
``tvbridge init``, which makes one from the starter folder shipped in the package.

Every relative path in the settings (templates, secrets, journal, login file) is read from the
working folder, so a shortcut, a scheduled task or a terminal opened elsewhere finds the same files:
main() enters the folder before the command runs (file arguments given on the command line are
made absolute first, so they still mean what the trader typed).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from app.cli.common import say
from app.errors import BridgeError, ConfigError

HOME_ENV = "TVBRIDGE_HOME"
CONFIG_NAME = "tvbridge.toml"
SECRETS_NAME = "webhook_secrets.toml"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkingFolder:
    """The folder a command runs in, and why it was chosen (for the line ``serve`` prints)."""

    path: Path
    source: str  # "--config", "TVBRIDGE_HOME" or "the current folder"

    def describe(self) -> str:
        return f"working folder {self.path} (from {self.source})"


def enter(args: argparse.Namespace) -> WorkingFolder:
    """Choose the working folder, make the command's Path arguments absolute, and change into it.

    Raises ConfigError when ``TVBRIDGE_HOME`` names a folder that does not exist."""
    here = Path.cwd()
    for name, value in vars(args).items():
        if isinstance(value, Path) and not value.is_absolute():
            setattr(args, name, here / value)
    config: Path | None = getattr(args, "config", None)
    home = os.environ.get(HOME_ENV, "").strip()
    if config is not None:
        folder = WorkingFolder(config.parent, "--config")
    elif home:
        folder = WorkingFolder(Path(home).expanduser().absolute(), HOME_ENV)
        if not folder.path.is_dir():
            raise ConfigError(f"{HOME_ENV}={home} is not a folder; make it with `tvbridge init {home}`")
        if (folder.path / CONFIG_NAME).exists():
            args.config = folder.path / CONFIG_NAME
    else:
        folder = WorkingFolder(here, "the current folder")
    if folder.path.is_dir() and folder.path != here:
        os.chdir(folder.path)
    return folder


def _starter() -> Traversable:
    return resources.files("app.cli") / "starter"


def _plan(target: Path) -> dict[Path, Traversable]:
    """Every file ``init`` writes into ``target`` → its source in the starter folder."""
    starter = _starter()
    plan: dict[Path, Traversable] = {target / CONFIG_NAME: starter / "tvbridge.example.toml"}
    for folder in ("templates", "alerts"):
        for item in sorted((starter / folder).iterdir(), key=lambda t: t.name):
            if item.is_file():
                plan[target / folder / item.name] = item
    return plan


def init(args: argparse.Namespace) -> int:
    """Make a working folder: tvbridge.toml (every setting, commented), templates/, alerts/ and
    webhook_secrets.toml with a new random secret per template (mode 0600; never printed).
    Refuses, writing nothing, when any of those files already exists. Raises BridgeError."""
    from app.ingest.auth import ensure_secrets

    target = Path(args.dir).absolute()
    plan = _plan(target)
    secrets_file = target / SECRETS_NAME
    existing = [path for path in [*plan, secrets_file] if path.exists()]
    if existing:
        names = ", ".join(str(path.relative_to(target)) for path in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise BridgeError(f"{target} already has {names}{more}: nothing written (move them away first)")
    try:
        for path, source in plan.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.read_bytes())
        strategies = sorted(path.stem for path in (target / "templates").glob("*.toml"))
        ensure_secrets(secrets_file, strategies)
    except OSError as exc:
        raise BridgeError(f"cannot write the working folder {target}: {exc.strerror}") from None
    say(f"tvbridge: made the working folder {target}")
    say(f"  {CONFIG_NAME}: every setting, at its default (gateway = the built-in simulator)")
    say(f"  templates/: {len(strategies)} example strategies; alerts/: their alert messages")
    say(f"  {SECRETS_NAME}: a new webhook secret per template (keep it private)")
    start = "" if target == Path.cwd() else f"cd {_quoted(target)} && "
    say(f"Next: {start}tvbridge serve   (or set {HOME_ENV}={target} and run tvbridge anywhere)")
    return 0


def _quoted(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if " " in text else text


def note(folder: WorkingFolder) -> None:
    """The one line ``serve`` logs at start: which working folder it uses. A log line, not a
    ``tvbridge:`` message: those are the one-line errors a failed start ends with."""
    log.info("%s", folder.describe())


__all__ = ["HOME_ENV", "WorkingFolder", "enter", "init", "note"]
