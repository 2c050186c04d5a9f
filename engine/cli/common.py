"""What the ``clauseline`` commands share: the options several of them take, each declared once
as an argparse parent parser (:class:`Parents`), and the helpers that load the policy, read the
files named on the command line (an event, a log, a state), print, and show progress.

A helper is given the option values it needs as arguments, never the parsed ``args``: it cannot
read an option that its command does not define.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..decision import Decision
from ..errors import ClauselineError, Problem, printable
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
                                "a terminal)")
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


@contextmanager
def progress(quiet: bool, total, what: str):
    """A progress bar on stderr (rich) for a replay or an export: only when stderr is a terminal
    and not ``quiet`` (--quiet); it disappears when done. ``total`` is a number, None, or a
    function that counts (called only when a bar is shown). Yields ``advance(n=1)``."""
    if quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    if callable(total):
        total = total()
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = [TextColumn(f"clauseline {what}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)


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
