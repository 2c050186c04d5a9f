"""What the ``clauseline`` commands share: the options several of them take, each declared once
as an argparse parent parser (:class:`Parents`), and the helpers that load the policy, read the
files named on the command line (an event, a log, a state), print, and show progress.

A helper is given the option values it needs as arguments, never the parsed ``args``: it cannot
read an option that its command does not define.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..decision import Decision
from ..errors import ClauselineError, PolicyLoadError, Problem, printable
from ..events import MAX_EVENT_BYTES, Oversized, read_lines
from ..events.parsing import loads_bounded
from ..explain import describe
from ..policy import load_policy
from ..redact import quote

RULES_HELP = "policy rules folder (default: the shipped securus-2019-05-04)"


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


class Parents:
    """The options several commands share, as parent parsers for ``add_parser(parents=[...])``.

    ``rules`` and ``quiet`` are the same for every command; the others take what differs from
    one command to another (the help text, a default, the choices). A command includes the
    parent of every option it passes to a shared helper."""

    def __init__(self) -> None:
        #: ``--rules DIR`` after the command (``clauseline rules check --rules DIR``); it is
        #: also accepted before the command, by the main parser, which gives the default
        self.rules = _parent()
        self.rules.add_argument("--rules", metavar="DIR", default=argparse.SUPPRESS,
                                help=RULES_HELP)
        #: ``--quiet``: no progress bar (:func:`progress`)
        self.quiet = _parent()
        self.quiet.add_argument("--quiet", action="store_true",
                                help="no progress bar (there is none either when stderr is not "
                                "a terminal); the summary on stderr is still printed (it is "
                                "the result: 2>/dev/null drops it)")
        #: ``--pretty``: indented JSON (:func:`show`)
        self.pretty = _parent()
        self.pretty.add_argument("--pretty", action="store_true", help="indent the JSON")

    @staticmethod
    def policy(what: str) -> argparse.ArgumentParser:
        """``--policy VERSION``: decide under one version whatever the time (:func:`load`)."""
        p = _parent()
        p.add_argument("--policy", metavar="VERSION",
                       help=f"{what} under this policy version (a test fixture version too), "
                       "whatever the event's time; default: the version in force at each "
                       "event's time")
        return p

    @staticmethod
    def db(help: str, *, required: bool = False, default: str | None = None
           ) -> argparse.ArgumentParser:
        """``--db URL``: a store (``clauseline.store.open_store``)."""
        p = _parent()
        p.add_argument("--db", metavar="URL", required=required, default=default, help=help)
        return p

    @staticmethod
    def format(*choices: str, help: str | None = None) -> argparse.ArgumentParser:
        """``--format``: the output's form, the first choice by default."""
        p = _parent()
        p.add_argument("--format", choices=list(choices), default=choices[0], help=help)
        return p

    @staticmethod
    def explain(help: str) -> argparse.ArgumentParser:
        """``--explain``: each outcome with the sentence its rule enforces (:func:`show`)."""
        p = _parent()
        p.add_argument("--explain", action="store_true", help=help)
        return p


def _whole_number(text: str) -> int:
    # at most 18 digits: int() of a longer text is slow, and past 4,300 digits its error
    # suggests sys.set_int_max_str_digits()
    if len(text.strip().lstrip("+-")) > 18:
        raise argparse.ArgumentTypeError(f"expected a whole number of at most 18 digits, not "
                                         f"one of {len(text)} characters")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {quote(text)}") from None


def at_least_one(text: str) -> int:
    """An argparse type: a whole number, 1 or more (a limit, a count)."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {quote(value)}")
    return value


def not_negative(text: str) -> int:
    """An argparse type: a whole number, 0 or more (an index)."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {quote(value)}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: one the system picks)."""
    value = _whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {quote(value)}")
    return value


def echo(text: str, stream=None) -> None:
    """One line (or a few) on stdout, or on ``stream``. A message on stderr has its control and
    bidirectional characters escaped (:func:`clauseline.errors.printable`): it may name a file,
    a key or a rule that holds one (text on stdout is escaped where it is made)."""
    if stream is not None and stream is sys.stderr:
        text = printable(text)
    print(text, file=stream or sys.stdout)


#: The exit code of an error in the commands that check or compare (``verify``, ``diff``,
#: ``replay --compare``), which keep 0 for the same and 1 for a finding: docs/auditing.md,
#: "Exit codes".
ERROR = 2


def errors_exit_2(command: str, run: Callable[[], int]) -> int:
    """Run a checking command (``verify``, ``diff``, ``replay --compare``) so that an error
    exits :data:`ERROR` (2), never 1, which those commands keep for a finding: a policy that
    does not load, an unknown version, an unreadable or malformed input, a store fault. The
    message is the one ``clauseline.cli.main`` would print."""
    try:
        return run()
    except PolicyLoadError as error:
        echo(str(error), sys.stderr)
        echo(f"clauseline: the policy rules did not load ({len(error.problems)} problem(s)); "
             "run 'clauseline rules check'", sys.stderr)
    except ClauselineError as error:
        echo(f"clauseline {command}: {error}", sys.stderr)
    except OSError as error:  # BrokenPipeError included: main() answers it as before
        if isinstance(error, BrokenPipeError):
            raise
        echo(f"clauseline {command}: {error.filename or ''}: {error.strerror or error}",
             sys.stderr)
    return ERROR


def load(rules: str | None, version: str | None = None, *, fixtures: bool = False):
    """The policy of a command: every version in force at its time, or with ``--policy VERSION``
    (``version``) that version alone, at every time (a test fixture version too, when named)."""
    policy = load_policy(rules, fixtures=fixtures or bool(version))
    if not version:
        return policy
    return forced(policy, version, "--policy")


def forced(policy, version: str, option: str):
    """``policy`` with one version only, in force at every time; ``policy.unknown_version``
    naming ``option`` when the rules have no such version."""
    try:
        return policy.forced(version)
    except KeyError:
        known = ", ".join(v.version for v in policy.versions)
        raise ClauselineError([Problem("policy.unknown_version", f"{option} {quote(version)}: no "
                                       f"such policy version (the rules have {known})")]) from None


STATE_SCHEMA = "https://clauseline.dev/schemas/state.schema.json"


def read_state(path: str, policy) -> dict:
    """A state file written by --state-out, checked against ``schemas/state.schema.json``:
    anything else is ``state.invalid``, each problem located by a JSON Pointer."""
    raw = Path(path).read_bytes()
    try:  # nesting bounded: validating and evaluating the state recurse into it
        state = loads_bounded(raw)
    except ValueError as error:  # not JSON, or not UTF-8
        where = f" at line {error.lineno} column {error.colno}" if isinstance(
            error, json.JSONDecodeError) else ""
        raise ClauselineError([Problem("state.invalid", f"{path}: not JSON{where}")]) from None
    except RecursionError:
        raise ClauselineError([Problem("state.invalid", f"{path}: nested too deep")]) from None
    problems = policy.schemas.problems(state, STATE_SCHEMA)
    if problems:
        raise ClauselineError([Problem("state.invalid", f"{path}: {p.message}", p.path)
                               for p in problems[:20]])
    return state


@contextmanager
def state_checked(path: str):
    """Evaluation over a state read from a file: a state that passed its schema but still does
    not hold what the engine wrote (a memory value of a type no rule expects) is refused as
    ``state.invalid``, never a traceback."""
    try:
        yield
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise ClauselineError([Problem(
            "state.invalid", f"{path}: the state does not hold what clauseline writes "
            f"({type(error).__name__} while evaluating); write it with --state-out")]) from None


class RateEstimate:
    """Events per second and the time remaining, smoothed, for a progress bar.

    For its first :attr:`tau` seconds (and until an event is done) the rate is the average
    since the start; after that an
    exponential moving average of the rate measured over each sampling interval (at least
    :attr:`interval` seconds), weighted by the interval's length (a time constant of
    :attr:`tau` seconds): a slow patch (a store's commit, a batch decided at once, a burst of
    complex events) moves the estimate gradually. The remaining time shown counts down with
    the clock and moves toward ``events left / rate`` with a time constant of :attr:`eta_tau`
    seconds, so that it does not jump when a batch lands.

    A pure function of the (completed, clock) pairs it is given: the progress bar gives it
    ``time.monotonic()``, a test any clock it likes. Nothing here reads an event's time."""

    #: the shortest interval a rate is measured over, in seconds
    interval = 0.25
    #: the time constant of the rate's moving average, in seconds: a new measure has weight
    #: 1 - exp(-dt / tau) against the estimate so far
    tau = 5.0
    #: the time constant with which the remaining time shown moves toward the estimate (it
    #: counts down with the clock meanwhile), in seconds
    eta_tau = 3.0

    def __init__(self, total: int | None, now: float):
        self.total, self.started = total, now
        self.completed = 0
        self.rate: float | None = None  # None until one interval has passed
        self._last_time, self._last_completed = now, 0
        self._remaining_at: tuple[float, float] | None = None  # (seconds left, measured at)

    def advance(self, n: int, now: float) -> bool:
        """``n`` more events done at ``now``; True when the estimate changed (an interval
        passed since the last measure)."""
        self.completed += n
        return self.measure(now)

    def measure(self, now: float, force: bool = False) -> bool:
        """Measure the rate at ``now`` if an interval has passed (or ``force``)."""
        dt = now - self._last_time
        if dt <= 0 or (dt < self.interval and not force):
            return False
        if now - self.started < self.tau or not self.rate:  # nothing done yet: the average
            self.rate = self.completed / (now - self.started)
        else:
            current = (self.completed - self._last_completed) / dt
            self.rate += (1.0 - math.exp(-dt / self.tau)) * (current - self.rate)
        self._last_time, self._last_completed = now, self.completed
        if self.total is None or self.rate <= 0:
            self._remaining_at = None
            return True
        target = max(self.total - self.completed, 0) / self.rate
        if self._remaining_at is None or now - self.started < self.tau or not target:
            self._remaining_at = (target, now)
        else:  # the time shown moves toward the estimate, counting down meanwhile
            shown = max(self._remaining_at[0] - (now - self._remaining_at[1]), 0.0)
            weight = 1.0 - math.exp(-dt / self.eta_tau)
            self._remaining_at = (shown + weight * (target - shown), now)
        return True

    def elapsed(self, now: float) -> float:
        return now - self.started

    def remaining(self, now: float) -> float | None:
        """Seconds left at the smoothed rate, counted down since the last measure; None while
        unknown (no total, or no rate yet)."""
        if self._remaining_at is None:
            return None
        left, at = self._remaining_at
        return max(left - (now - at), 0.0)


def clock_text(seconds: float | None) -> str:
    """``0:01:05``, or ``-:--:--`` for a time not known yet."""
    if seconds is None:
        return "-:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def rate_text(rate: float | None) -> str:
    """``1,234 events/s``, or ``- events/s`` before the first measure."""
    return "- events/s" if rate is None else f"{rate:,.0f} events/s"


def progress_line(what: str, estimate: RateEstimate, now: float) -> str:
    """The words of the bar after the bar itself: ``120/409 events  elapsed 0:00:01  292
    events/s  remaining ~0:00:01`` (no total: no ``/409`` and no remaining time)."""
    count = (f"{estimate.completed}/{estimate.total}" if estimate.total is not None
             else f"{estimate.completed}")
    text = (f"{count} events  elapsed {clock_text(estimate.elapsed(now))}  "
            f"{rate_text(estimate.rate)}")
    if estimate.total is not None:
        text += f"  remaining ~{clock_text(estimate.remaining(now))}"
    return text


@contextmanager
def progress(quiet: bool, total, what: str):
    """A progress bar on stderr (rich) for a replay or an export: only when stderr is a terminal
    and not ``quiet`` (--quiet); it disappears when done. ``total`` is a number, None, or a
    function that counts (called only when a bar is shown). Yields ``advance(n=1)``.

    The bar reads ``clauseline replay ━━━━━━━━ 120/409 events  elapsed 0:00:01  292 events/s
    remaining ~0:00:01`` (:func:`progress_line`): the time elapsed, the rate and the time
    remaining, each labelled, the rate and the remaining time smoothed (:class:`RateEstimate`).
    With no total (stdin) it shows the count, the elapsed time and the rate. --quiet turns the
    bar off, not the command's summary on stderr (that is its result: 2>/dev/null drops it)."""
    if quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    if callable(total):
        total = total()
    import threading
    import time
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text
    estimate = RateEstimate(total, time.monotonic())
    lock = threading.Lock()  # rich renders from its own thread while the command advances

    class Words(ProgressColumn):
        """The count, elapsed, rate and remaining: read at every refresh, so that the elapsed
        and remaining times move while a batch is being decided."""

        def render(self, task) -> Text:
            with lock:
                now = time.monotonic()
                estimate.measure(now)
                return Text(progress_line(what, estimate, now))

    with Progress(TextColumn(f"clauseline {what}"), BarColumn(bar_width=20), Words(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)

        def advance(n: int = 1) -> None:
            with lock:
                estimate.advance(n, time.monotonic())
            bar.advance(task, n)

        yield advance
        with lock:  # the last frame shows the final rate, not one measured before a batch
            estimate.measure(time.monotonic(), force=True)
        bar.refresh()


def count_events(path: str) -> int | None:
    """How many non-blank lines a log file has (what a replay decides); None for stdin."""
    if path == "-":
        return None
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in read_lines(handle)
                       if isinstance(line, Oversized) or line.strip())
    except OSError:
        return None


def read_event(path: str) -> bytes | Oversized:
    """One event file named on the command line (``-``: standard input), without one final
    line ending, never held whole when it is over the event size limit."""
    handle = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        raw = handle.read(MAX_EVENT_BYTES + 3)
        # one final line ending (what an editor adds) is not part of the event, as in a replay
        if raw.endswith(b"\n") and not handle.read(1):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if len(raw) <= MAX_EVENT_BYTES:
            return raw
        size = len(raw)
        while more := handle.read(1 << 20):
            size += len(more)
        return Oversized(size)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def open_log(path: str):
    """A log named on the command line, as a binary stream (``-``: standard input)."""
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def show(decision: Decision, policy, *, explain: bool = False, pretty: bool = False) -> None:
    """Print one decision: as text with the sentences behind it (``explain``), as indented JSON
    (``pretty``), or as canonical JSON on one line."""
    if explain:
        echo(describe(decision, policy))
    elif pretty:
        echo(json.dumps(decision.as_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        echo(decision.to_json())


def stateless(policy, decision: Decision, command: str = "evaluate") -> Decision:
    """Say so when an event was decided from an empty state though its rules read memory: on
    stderr, and in the decision's ``warnings`` (``state.empty``)."""
    version = policy.version_named(decision.policy_version)
    readers = version.memory_readers(decision.event_type) if version else ()
    if not readers:
        return decision
    shown = ", ".join(readers[:4]) + (f" and {len(readers) - 4} more" if len(readers) > 4 else "")
    message = (f"decided from an empty state (no --db, no --state): {len(readers)} rule(s) this "
               f"event reaches read the subject's memory ({shown}); a subject with a history in "
               "a store may be decided differently")
    echo(f"clauseline {command}: warning: {message}", sys.stderr)
    return replace(decision, warnings=decision.warnings + ({"code": "state.empty",
                                                            "message": message},))
