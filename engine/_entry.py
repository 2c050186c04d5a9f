"""The ``clauseline`` command's entry point (``python -m clauseline`` too).

Ctrl-C at any moment, while the engine's dependencies are still being imported included, ends
with one line and exit 130, never a ``KeyboardInterrupt`` traceback. While the engine loads, an
interrupt is only noted (a ``KeyboardInterrupt`` raised inside a dependency's import could be
swallowed by its own ``except``, and the command would then run to the end); once loaded, the
command stops if one was noted, and otherwise runs with Python's usual handler, which
``clauseline.cli.main`` answers. A SIGINT ignored by the caller (a background job) stays ignored.
"""

from __future__ import annotations

import signal
import sys


def _interrupted() -> int:
    try:
        sys.stderr.write("clauseline: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 130


def main(argv: list[str] | None = None) -> int:
    noted: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:
        signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        return _interrupted()
    finally:
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)
    if noted:
        return _interrupted()
    try:
        return run(argv)
    except KeyboardInterrupt:
        return _interrupted()
