"""``python -m app.cli``: the ``tvbridge`` command."""

from app.cli import main

raise SystemExit(main())
