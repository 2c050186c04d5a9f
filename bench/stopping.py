"""A bench run stopped by SIGTERM (a time limit) or SIGHUP (a closed terminal) cleans up as it
does on Ctrl-C or on a failure: Python's default handling of those two signals ends the
process at once, running no ``finally``, and left streams in NATS, schemas in PostgreSQL,
servers and load generators running."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Callable, Iterator


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: raised where the run stands, so that what it made is removed
    on the way out (each step's ``finally``). A BaseException, as KeyboardInterrupt is, so that
    no ``except Exception`` on the way (a figure that could not be read, a stream that could
    not be deleted) takes the stop for a failure and goes on."""

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.args[0]).name


_STOPPING: list[int] = []


def _stop(signum, frame) -> None:
    # once: a second signal (a process group signalled, then each child by its parent) must
    # not interrupt the cleanup the first one started. Not by setting SIG_IGN: a signal
    # already pending then raises "ignored due to race condition" wherever the cleanup stands
    if _STOPPING:
        return
    _STOPPING.append(signum)
    raise Stopped(signum)


def stoppable(program: str, body: Callable[[list[str]], int], argv: list[str]) -> int:
    """``body(argv)``, SIGTERM and SIGHUP raising :class:`Stopped` meanwhile: then ``program``
    says it was stopped and exits 128 + the signal, once what it made is removed."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        return body(argv)
    except Stopped as error:
        print(f"{program}: stopped by {error.signal_name}; what it made is removed",
              file=sys.stderr)
        return 128 + error.args[0]


@contextmanager
def reaped(process: subprocess.Popen, signum: int = signal.SIGKILL,
           wait: float = 120.0) -> Iterator[subprocess.Popen]:
    """Whatever interrupts the block (a stop, a failure) first stops ``process`` with
    ``signum`` (a bench script given SIGTERM cleans up in turn) and waits for it, killing it
    after ``wait`` seconds."""
    try:
        yield process
    except BaseException:
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise
