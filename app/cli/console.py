"""The command's output streams, readable whatever the console's code page.

Text here holds "→", "…" and journaled names from strangers. Printed to a Windows console,
Python writes UTF-16 through the console API and any character shows; redirected to a file or a
pipe, it encodes with the code page (cp1252, cp437, or PYTHONIOENCODING) and a "→" raised
UnicodeEncodeError: ``tvbridge --help > help.txt`` crashed. So: to a file or pipe, write UTF-8
(what editors, ``jq`` and ``--json`` readers expect, and JSON's own encoding); to a terminal, keep
its encoding and replace what it cannot show with "?" rather than crash.
"""

from __future__ import annotations

import io
import sys


def utf8_output() -> None:
    """Reconfigure ``sys.stdout`` and ``sys.stderr`` as above; streams that are not real text
    files (a test's StringIO, None under pythonw) are left alone."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue
        try:
            if stream.isatty():
                stream.reconfigure(errors="replace")
            else:
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")
        except (OSError, ValueError):  # a closed or detached stream: nothing to print to anyway
            continue
