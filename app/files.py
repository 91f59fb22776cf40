"""Writing the trader's files (templates, webhook secrets, the login file) so that a crash or a
full disk never leaves a half-written one: temp file in the same folder, fsync, rename, fsync the
folder. Below every other package: anything may import it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one step. ``mode`` (e.g. 0o600 for secrets) defaults to
    the existing file's, else 0o644. The temp file is ``.<name>.*.tmp``: no loader reads it.
    Raises OSError (the old file is then untouched and no temp file is left)."""
    folder = path.parent if str(path.parent) else Path(".")
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(temp, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
