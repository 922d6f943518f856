"""``python -m einnas``: the ``einnas`` command line (same as the ``einnas`` entry point)."""

from __future__ import annotations

import sys

from einnas.cli import main

if __name__ == "__main__":
    sys.exit(main())
