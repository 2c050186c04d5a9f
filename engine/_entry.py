"""The ``clauseline`` command's entry point (``python -m clauseline`` too).

Ctrl-C at any moment, while the engine's dependencies are still being imported included, ends
with one line and exit 130, never a ``KeyboardInterrupt`` traceback: this module imports nothing
heavy before it is ready to catch the interrupt (``clauseline`` itself imports its names lazily).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .cli import main as run
        return run(argv)
    except KeyboardInterrupt:
        try:
            sys.stderr.write("clauseline: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        return 130
