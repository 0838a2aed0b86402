"""The benchmark-only packages (``make bench`` installs them), imported when a script runs rather
than when it loads, so that ``--help`` and the summaries of committed results work without them."""

from __future__ import annotations

import importlib
import sys

#: Each extra with its pinned lower bound (pyproject's ``bench`` extra).
PINS = {"ioh": "ioh>=0.3.14", "cma": "cma>=3.3"}


def import_extras(script: str, *names: str) -> list:
    """The modules ``names``, in order; a missing one exits with one line naming the pip command."""
    try:
        return [importlib.import_module(n) for n in names]
    except ImportError as e:
        pins = " ".join(f"'{PINS[n]}'" for n in names)
        sys.exit(f"{script}: needs {' and '.join(names)} ({e}): .venv/bin/pip install {pins}")
