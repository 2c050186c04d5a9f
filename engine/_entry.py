"""The ``clauseline`` command's entry point (``python -m clauseline`` too).

Ctrl-C at any moment, while the engine's dependencies are still being imported included, ends
with one line and exit 130, never a ``KeyboardInterrupt`` traceback. While the engine loads, an
interrupt is only noted (a ``KeyboardInterrupt`` raised inside a dependency's import could be
swallowed by its own ``except``, and the command would then run to the end); once loaded, the
command stops if one was noted, and otherwise runs with Python's usual handler, which
``clauseline.cli.main`` answers; an interrupt that lands in a finalizer, where Python could only
report and drop it, is delivered again (:func:`_unraisable`). A SIGINT ignored by the caller (a
background job) stays ignored.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading


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
    previous_hook = sys.unraisablehook
    if previous is signal.default_int_handler:
        sys.unraisablehook = _unraisable(previous_hook)
    try:
        return run(argv)
    except KeyboardInterrupt:
        return _interrupted()
    finally:
        sys.unraisablehook = previous_hook


def _unraisable(previous_hook):
    """A ``sys.unraisablehook`` that does not let a finalizer swallow Ctrl-C: the
    ``KeyboardInterrupt`` of a SIGINT that arrives while a ``__del__`` or a weakref callback runs
    (a database cursor's, a connection's) can only be reported there and dropped, and the
    command would run on to the end; instead it is delivered to the main thread again, which
    stops as for any Ctrl-C. Everything else goes to the hook before."""

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            # from another thread, a moment later: raised here, in the hook, it would be
            # reported and dropped again
            timer = threading.Timer(0.01, _thread.interrupt_main)
            timer.daemon = True
            timer.start()
            return
        previous_hook(unraisable)

    return hook
