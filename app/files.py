"""Writing the trader's files (templates, webhook secrets, the login file) so that a crash or a
full disk never leaves a half-written one: temp file in the same folder, fsync, rename, fsync the
folder. On Windows a file another program has open (an antivirus scanning it, an editor, the
search indexer) cannot be replaced for a moment: the rename is tried again a few times first.
Below every other package: anything may import it."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

# The rename's tries when another program holds the file (Windows: PermissionError), and the
# pause before each retry (seconds, doubling): 0.05 + 0.1 + 0.2 + 0.4 = 0.75 s at most.
REPLACE_TRIES = 5
REPLACE_BACKOFF_S = 0.05


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
        _replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _replace(temp: str, path: Path) -> None:
    """``os.replace`` tried again on PermissionError (the file held open elsewhere); the last
    try's error is raised."""
    delay = REPLACE_BACKOFF_S
    for _ in range(REPLACE_TRIES - 1):
        try:
            os.replace(temp, path)
            return
        except PermissionError:
            time.sleep(delay)
            delay *= 2
    os.replace(temp, path)


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
