"""Every ``clauseline`` subcommand against hostile input: files that are truncated JSON, a JSON
array, non-UTF-8 bytes, empty, nested too deep to parse, a folder or missing (as the event, the
log, ``--state``, ``--compare``, ``--out`` ...); store URLs that name nothing, name a file that
is no store, have a bogus scheme, or need a PostgreSQL driver that cannot be imported; a
``--state`` of the wrong shape; a ``--rules`` folder that is not one. Each answers in a few
lines, exits 1 (refused) or 2 (wrong usage), prints no traceback and no Python exception, and
leaves nothing half-written: a file that is no store is left as it was, a store that a reading
command is pointed at is not created, an output file of a refused command is not written. (A log
whose lines are not events is the exception the README states: each line is decided as a rejected
event, and ``report``, ``diff`` and ``clauses --log`` go on; ``replay`` does with ``--strict``
exiting 1.)

Most cases run ``clauseline.cli.main`` in-process (with the shipped policy loaded once); the
ones that need another process run as ``python -m clauseline``, concurrently: the PostgreSQL
driver made unimportable, and ``serve``, which would block if a case failed to refuse. The
subcommands are read from ``build_parser()``: one added without hostile cases fails
:func:`test_every_subcommand_has_hostile_cases`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import clauseline.cli.common
from clauseline.cli import build_parser, main
from clauseline.cli.common import at_least_one, not_negative, port_number

ROOT = Path(__file__).resolve().parents[1]
EVENT = (ROOT / "examples" / "disclosure-request.json").read_bytes()
SHIPPED, FIXTURE = "securus-2019-05-04", "fixture-amendment-2099-01-01"
#: a port where no NATS server answers: a command that needs one fails at once
NO_NATS = "nats://127.0.0.1:9"
#: a PostgreSQL URL; with the driver unimportable nothing is ever connected to
POSTGRES = "postgresql://clauseline@127.0.0.1:9/none"

#: the hostile contents of a file argument ("folder" and "missing" are paths, not contents)
CONTENTS = {
    "truncated": b'{"specversion": "1.0", "id": "e-1", "source": "/x", "type": "payment.ma',
    "array": b'[{"specversion": "1.0", "id": "e-1"}, 2]\n',
    "non_utf8": b'{"specversion": "1.0", "id": "\xff\xfe\xc3("}\n',
    "empty": b"",
    # deeper than Python's JSON parser recurses
    "deep": b"[" * 100_000 + b"\n",
}
KINDS = (*CONTENTS, "folder", "missing")
#: valid JSON, but not a state (``--state``) and not a decision (``--compare``)
WRONG_SHAPE = b'{"subjects": {"acct-1": "not a record"}, "due": "soon"}\n'

# A leaked exception: a traceback, or "SomeError: ..." / "SomeError" as Python prints it. A
# kind in parentheses, as a message names a fault it reports ("(ConnectionRefusedError)"), is
# a deliberate part of that message.
LEAKED = re.compile(r"Traceback|(?<![(\w])[A-Z]\w*(Error|Exception)\b|KeyboardInterrupt|"
                    r"SystemExit|StopIteration|'Namespace' object")
#: the most stderr lines an answer may take ("one or a few")
MOST_LINES = 6
#: values planted in options and URLs that no answer may repeat (docs/errors.md: a message
#: quotes a value only when it is short and safe; no URL is printed with its password)
CARD = "4111111111111111"
PLANTED = (CARD, CARD[:8], "secret")


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[tuple]:
    """Every command a user can run, nested ones as their path (``("keys", "create")``)."""
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= subcommands(sub, path + (name,))
    return found or {path}


def actions_of(command: tuple[str, ...]) -> list[argparse.Action]:
    parser = build_parser()
    for name in command:
        parser = next(a for a in parser._actions
                      if isinstance(a, argparse._SubParsersAction)).choices[name]
    return list(parser._actions)


def options_of(command: tuple[str, ...]) -> set[str]:
    return {s for a in actions_of(command) for s in a.option_strings}


#: the values each checked numeric type of the CLI must refuse (exit 2, naming the option): a
#: limit or count of 0 or below, a negative index, a port outside 0 to 65535, and a number too
#: long to be one
REFUSED_NUMBERS = {at_least_one: ("0", "-1", "9" * 30, "-" + CARD, CARD + "x"),
                   not_negative: ("-1", "-" + CARD), port_number: ("-1", "65536", CARD)}


@dataclass
class Case:
    """One hostile run: ``argv`` (paths relative to the case's folder are filled in by ``at``),
    the exit codes allowed, a text the answer must hold, and paths that must be left alone."""

    command: tuple[str, ...]
    name: str
    argv: list
    exits: tuple[int, ...] = (1,)
    says: str | None = None
    #: paths that must not exist afterwards (an output not written, a store not created)
    absent: tuple[str, ...] = ()
    #: "inline" (in-process), "process" (python -m clauseline), "no_driver" (the same without
    #: an importable psycopg)
    how: str = "inline"
    #: a store made first (``db init``) at ``store.db``
    store: bool = False
    #: exit 0 is allowed too: a log whose lines are not events is decided line by line (each
    #: a rejected decision, as the README's command table says), and an empty log is an empty one
    lines_decided: bool = False

    @property
    def id(self) -> str:
        return " ".join(self.command) + ": " + self.name


class Place:
    """The folder of one case, with the hostile files in it (made on demand)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.not_a_store = folder / "not-a-store.db"
        self.not_a_store.write_bytes(b"this is a text file, not a SQLite database\n")
        self.not_a_store_bytes = self.not_a_store.read_bytes()

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def hostile(self, kind: str, suffix: str = ".json") -> str:
        """A path holding the hostile ``kind``: written contents, a folder, or nothing."""
        path = self.folder / f"{kind}{suffix}"
        if kind == "folder":
            path.mkdir(exist_ok=True)
        elif kind == "wrong_shape":
            path.write_bytes(WRONG_SHAPE)
        elif kind != "missing":
            path.write_bytes(CONTENTS[kind])
        return str(path)

    def event(self) -> str:
        path = self.folder / "event.json"
        path.write_bytes(EVENT)
        return str(path)

    def log(self) -> str:
        path = self.folder / "log.jsonl"
        path.write_bytes(EVENT.replace(b"\n", b" ").strip() + b"\n")
        return str(path)

    def sqlite(self, name: str) -> str:
        return f"sqlite:///{self.folder / name}"


def _fill(argv: list, place: Place) -> list[str]:
    """``argv`` with its placeholders made: ``("hostile", KIND, SUFFIX)``, ``"EVENT"``,
    ``"LOG"``, ``("path", NAME)``, ``("sqlite", NAME)`` (``("sqlite", NAME, "dir")``: a folder
    made there), ``"NOT_A_STORE"``."""
    out = []
    for item in argv:
        if item == "EVENT":
            out.append(place.event())
        elif item == "LOG":
            out.append(place.log())
        elif item == "NOT_A_STORE":
            out.append(f"sqlite:///{place.not_a_store}")
        elif isinstance(item, tuple) and item[0] == "hostile":
            out.append(place.hostile(*item[1:]))
        elif isinstance(item, tuple) and item[0] == "path":
            out.append(place.path(item[1]))
        elif isinstance(item, tuple) and item[0] == "sqlite":
            if item[2:] == ("dir",):
                (place.folder / item[1]).mkdir(exist_ok=True)
            out.append(place.sqlite(item[1]))
        else:
            out.append(item)
    return out


# --- the cases ------------------------------------------------------------------------------

#: each command run as it should succeed, but for the one hostile part a case puts in
BASE: dict[tuple, list] = {
    ("evaluate",): ["evaluate", "EVENT"],
    ("explain",): ["explain", "EVENT"],
    ("replay",): ["replay", "LOG", "--strict"],
    ("diff",): ["diff", "LOG", "--policy", SHIPPED, "--against", FIXTURE],
    ("report",): ["report", "LOG", "--out", ("path", "report.html")],
    ("clauses",): ["clauses"],
    ("interpretations",): ["interpretations"],
    ("rules", "check"): ["rules", "check"],
    ("rules", "list"): ["rules", "list"],
    ("due",): ["due", "--db", ("sqlite", "store.db"), "--at", "2019-08-15T00:00:00Z"],
    ("log", "export"): ["log", "export", "--db", ("sqlite", "store.db")],
    ("right-to-know",): ["right-to-know", "acct-1", "--db", ("sqlite", "store.db"), "--at",
                         "2019-08-15T00:00:00Z"],
    ("verify",): ["verify", "LOG"],
    ("db", "init"): ["db", "init", "--db", ("sqlite", "store.db")],
    ("keys", "create"): ["keys", "create", "--db", ("sqlite", "store.db"), "--name", "n",
                         "--scope", "admin"],
    ("keys", "list"): ["keys", "list", "--db", ("sqlite", "store.db")],
    ("keys", "revoke"): ["keys", "revoke", "0123456789ab", "--db", ("sqlite", "store.db")],
    ("serve",): ["serve", "--db", ("sqlite", "store.db"), "--port", "0"],
    ("publish",): ["publish", "LOG", "--nats", NO_NATS, "--stream", "EVENTS"],
    ("consume",): ["consume", "--nats", NO_NATS, "--stream", "EVENTS", "--db",
                   ("sqlite", "store.db")],
    ("merge",): ["merge", "--db", ("sqlite", "store.db"), "--partitions", "2"],
}
#: commands that would run on (a server) if a case failed to refuse: always in a process
BLOCKING = {("serve",)}
#: commands that only read a store: a URL naming none is an error, and creates nothing
READING = {("due",), ("log", "export"), ("keys", "list"), ("keys", "revoke"), ("explain",),
           ("report",), ("right-to-know",), ("merge",)}


def _swap(argv: list, old, new: list) -> list:
    """``argv`` with the item ``old`` replaced by the items ``new``."""
    at = argv.index(old)
    return argv[:at] + new + argv[at + 1:]


def _with_db(command: tuple, db) -> list:
    argv = list(BASE[command])
    if "--db" in argv:
        at = argv.index("--db")
        return argv[:at + 1] + [db] + argv[at + 2:]
    if command == ("report",):
        return ["report", "--db", db, "--out", ("path", "report.html")]
    return argv + ["--db", db]


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(command, name, argv, **kw):
        how = kw.pop("how", "process" if command in BLOCKING else "inline")
        cases.append(Case(command, name, argv, how=how, **kw))

    # the file named by a positional argument: an event, or a log
    for command, placeholder, lines in ((("evaluate",), "EVENT", False),
                                        (("explain",), "EVENT", False),
                                        (("replay",), "LOG", False),
                                        (("diff",), "LOG", True),
                                        (("report",), "LOG", True),
                                        (("verify",), "LOG", False),
                                        (("publish",), "LOG", False)):
        for kind in KINDS:
            suffix = ".json" if placeholder == "EVENT" else ".jsonl"
            argv = _swap(BASE[command], placeholder, [("hostile", kind, suffix)])
            unreadable = kind in ("folder", "missing")
            # verify and diff check: an error exits 2, 1 is a finding (docs/auditing.md);
            # a line of verify's that is not JSON is unreadable, a JSON array a broken record
            error = unreadable or (command == ("verify",) and kind in ("truncated", "non_utf8",
                                                                       "deep"))
            exits = (2,) if command in (("verify",), ("diff",)) and error else (1,)
            # an empty log is a log of no events; an empty export, the chain of an empty store
            empty_ok = kind == "empty" and placeholder == "LOG" and command != ("publish",)
            add(command, f"{placeholder.lower()} {kind}", argv, exits=exits,
                lines_decided=(lines and not unreadable) or empty_ok,
                absent=("report.html",) if command == ("report",) and unreadable else ())
    add(("explain",), "event truncated, --format json",
        ["explain", ("hostile", "truncated", ".json"), "--format", "json"])
    for kind in KINDS:
        add(("clauses",), f"--log {kind}", ["clauses", "--log", ("hostile", kind, ".jsonl")],
            lines_decided=kind not in ("folder", "missing"))

    # --state and --compare: a file of the wrong kind, or of the wrong shape
    for kind in (*KINDS, "wrong_shape"):
        for command in (("evaluate",), ("explain",)):
            argv = BASE[command] + ["--state", ("hostile", kind, ".state.json")]
            if command == ("evaluate",):
                argv += ["--state-out", ("path", "state-out.json")]
            add(command, f"--state {kind}", argv, absent=("state-out.json",))
        add(("replay",), f"--compare {kind}",
            BASE[("replay",)] + ["--compare", ("hostile", kind, ".recorded.jsonl"),
                                 "--out", ("path", "out.jsonl")],
            # an error exits 2; an empty RECORDED is a finding: no decision has a counterpart
            exits=(1,) if kind == "empty" else (2,),
            absent=() if kind == "empty" else ("out.jsonl",))

    # outputs that cannot be written
    add(("evaluate",), "--state-out a folder", ["evaluate", "EVENT", "--state-out",
                                                ("hostile", "folder", "")])
    add(("evaluate",), "--state-out in a missing folder",
        ["evaluate", "EVENT", "--state-out", ("path", "missing/state.json")])
    add(("replay",), "--out a folder", BASE[("replay",)] + ["--out", ("hostile", "folder", "")])
    add(("report",), "--out a folder", _swap(BASE[("report",)], ("path", "report.html"),
                                            [("hostile", "folder", "")]))
    add(("report",), "--format csv --out a file",
        _swap(BASE[("report",)], ("path", "report.html"), [("hostile", "truncated", ".csv")])
        + ["--format", "csv"])
    add(("log", "export"), "--out a folder", ["log", "export", "--db", ("sqlite", "store.db"),
                                              "--out", ("hostile", "folder", "")],
        store=True, says="Is a directory")

    # store URLs
    for command in sorted(BASE):
        if "--db" not in options_of(command):
            continue
        # consume opens its stores once NATS answers with the stream (see the test at the end)
        first = "nats.unavailable" if command == ("consume",) else None
        add(command, "--db bogus scheme", _with_db(command, "bogus://user:secret@host/x"),
            says=first or "store.unavailable")
        add(command, "--db a file that is not a store", _with_db(command, "NOT_A_STORE"),
            says=first or "store.")
        add(command, "--db PostgreSQL without its driver", _with_db(command, POSTGRES),
            how="no_driver", says=first or "psycopg")
        if command in READING:
            add(command, "--db naming no store", _with_db(command, ("sqlite", "none.db")),
                says="store.not_found", absent=("none.db", "report.html"))
    add(("db", "init"), "--db under a file",
        ["db", "init", "--db", ("sqlite", "not-a-store.db/x.db")], says="store.")
    add(("db", "init"), "--db a folder", ["db", "init", "--db", ("sqlite", "dir", "dir")],
        says="store.")

    # --rules: a folder that is not one of rules
    for command in sorted(BASE):
        if "--rules" not in options_of(command):
            continue
        for name, rules in (("missing", ("path", "no-rules")),
                            ("a file", ("hostile", "truncated", ".yaml")),
                            ("an empty folder", ("hostile", "folder", ""))):
            if command in BLOCKING and name != "missing":
                continue  # a process each: the other two load the rules as every command does
            add(command, f"--rules {name}", BASE[command] + ["--rules", rules],
                exits=(2,) if command == ("diff",) else (1,))  # diff: an error is 2

    # wrong usage and other refusals
    add(("evaluate",), "--db with --state", ["evaluate", "EVENT", "--db", ("sqlite", "s.db"),
                                             "--state", ("hostile", "empty", ".json")],
        exits=(2,), absent=("s.db",))
    add(("evaluate",), "--policy unknown", ["evaluate", "EVENT", "--policy", "no-such"],
        says="policy.unknown_version")
    add(("explain",), "--db with --state", ["explain", "EVENT", "--db", ("sqlite", "s.db"),
                                            "--state", ("hostile", "empty", ".json")],
        exits=(2,), absent=("s.db",))
    add(("replay",), "--policy unknown", ["replay", "LOG", "--policy", "no-such"],
        says="policy.unknown_version")
    add(("diff",), "--against unknown", ["diff", "LOG", "--policy", SHIPPED, "--against", "x"],
        exits=(2,), says="policy.unknown_version")  # diff: an error is 2, a difference 1
    add(("report",), "a log and --db", ["report", "LOG", "--db", ("sqlite", "s.db"), "--out",
                                        ("path", "r.html")], exits=(2,), absent=("s.db", "r.html"))
    add(("report",), "neither a log nor --db", ["report", "--out", ("path", "r.html")],
        exits=(2,), absent=("r.html",))
    add(("due",), "--at not a time", ["due", "--db", ("sqlite", "s.db"), "--at", "tomorrow"],
        exits=(2,), absent=("s.db",))
    for at in (CARD, f"2019-07-01T09:00:00.{CARD}Z"):  # not a time; finer than a microsecond
        add(("due",), f"--at {at[:24]}", ["due", "--db", ("sqlite", "s.db"), "--at", at],
            exits=(2,), absent=("s.db",), says="--at")
    for command in (("evaluate",), ("replay",), ("explain",)):
        add(command, "--policy a card number", BASE[command] + ["--policy", f"v{CARD}"],
            says="policy.unknown_version")
    add(("db", "init"), "--db a card number", ["db", "init", "--db", CARD],
        says="store.unavailable")
    # right-to-know: hostile SUBJECT, --request and --at (never echoed), wrong usage
    rtk = ["right-to-know", "acct-1", "--db", ("sqlite", "store.db")]
    for subject in (CARD, f"acct-{CARD}", "\u202eacct-1", "a" * 5000):
        add(("right-to-know",), f"SUBJECT {subject[:12]!r}",
            _swap(rtk, "acct-1", [subject]), store=True, says="no event about this subject")
    add(("right-to-know",), "SUBJECT empty", _swap(rtk, "acct-1", [""]), exits=(2,),
        says="SUBJECT", absent=("store.db",))
    for request in (CARD, f"r-{CARD}", "\u202er-1", "secret"):
        add(("right-to-know",), f"--request {request[:12]!r}", rtk + ["--request", request],
            store=True)
    for at in (CARD, f"2019-07-01T09:00:00.{CARD}Z", "0001-01-01T00:00:00Z", "tomorrow", ""):
        add(("right-to-know",), f"--at {at[:24]!r}", rtk + ["--at", at], exits=(2,),
            says="--at", absent=("store.db",))
    add(("right-to-know",), "--request with --at", rtk + ["--request", "r-1", "--at",
                                                          "2019-08-15T00:00:00Z"],
        exits=(2,), absent=("store.db",))
    add(("right-to-know",), "--format csv without --out", rtk + ["--format", "csv"],
        exits=(2,), absent=("store.db",))
    add(("right-to-know",), "--record of a subject not stored", rtk + ["--record"], store=True,
        says="no event about this subject")
    add(("keys", "revoke"), "a whole key holding a card number",
        ["keys", "revoke", f"clk_{CARD}_x", "--db", ("sqlite", "store.db")], store=True,
        says="no key")
    add(("publish",), "--nats with passwords",
        ["publish", "LOG", "--nats", "nats://a:secret@127.0.0.1:9?token=secret", "--stream", "S"],
        says="nats://***@127.0.0.1:9?token=***")
    add(("verify",), "--head not a hash", ["verify", ("hostile", "empty", ".jsonl"), "--head",
                                           "\u202enot-a-hash"])
    add(("keys", "create"), "--scope unknown", ["keys", "create", "--name", "n", "--scope",
                                                "root"], exits=(2,))
    add(("keys", "revoke"), "a key id the store does not have",
        ["keys", "revoke", "nothing", "--db", ("sqlite", "store.db")], store=True, says="no key")
    add(("keys", "list"), "--format unknown", ["keys", "list", "--format", "xml"], exits=(2,))
    add(("serve",), "--workers 2 on SQLite", BASE[("serve",)] + ["--workers", "2"], exits=(2,))
    add(("serve",), "--enqueue-nats without a stream", BASE[("serve",)] + ["--enqueue-nats",
                                                                            NO_NATS], exits=(2,))
    add(("publish",), "--nats not a URL",
        ["publish", "LOG", "--nats", "not a url::x", "--stream", "S"], says="nats.unavailable")
    for command in (("publish",), ("consume",)):  # a stream's retention: a positive duration
        for value in ("0", "0s", "-7d", "7", "seven days", "1d-2h", "\u202e7d", "99999999d",
                      CARD):
            add(command, f"--max-age {value!r}", BASE[command] + ["--max-age", value],
                exits=(2,), says="--max-age")
    for value in ("0", "0s", "-1d", "7", "a day", "1d-2h", "\u202e1d", "99999999d", CARD):
        add(("publish",), f"--watermark-interval {value!r}",  # a positive span of event time
            BASE[("publish",)] + ["--watermark-interval", value], exits=(2,),
            says="--watermark-interval")
        add(("serve",), f"--enqueue-watermark-interval {value!r}",
            BASE[("serve",)] + ["--enqueue-watermark-interval", value], exits=(2,),
            says="--enqueue-watermark-interval")
    # an option of fixed choices given a card number: argparse's "invalid choice" quotes the
    # value it refuses, which the CLI's parser masks (clauseline.redact.MaskedArgumentParser)
    for command in sorted(BASE):
        for action in actions_of(command):
            if action.choices and action.option_strings \
                    and not isinstance(action, argparse._SubParsersAction):
                option = action.option_strings[-1]
                add(command, f"{option} a card number", BASE[command] + [option, CARD],
                    exits=(2,), says=f"{option}: invalid choice")
    add(("serve",), "--no-access-log with a value", BASE[("serve",)] + ["--no-access-log=yes"],
        exits=(2,), says="--no-access-log")
    add(("serve",), "--log-level in capitals", BASE[("serve",)] + ["--log-level", "INFO"],
        exits=(2,), says="--log-level")
    add(("publish",), "--stream not a name", ["publish", "LOG", "--nats", NO_NATS, "--stream",
                                              "a b.c"], says="stream.")
    add(("merge",), "--out a folder", BASE[("merge",)] + ["--out", ("hostile", "folder", "")],
        says="store.not_found")  # the stores are read first: a missing one is named
    add(("merge",), "--partitions a card number", ["merge", "--db", ("sqlite", "store.db"),
                                                   "--partitions", CARD], says="store.not_found")
    add(("consume",), "--nats nothing there", BASE[("consume",)], says="nats.unavailable",
        absent=("store.db",))

    # every numeric option, found in the parser (a new one is picked up by its type; an
    # unchecked int is refused by test_every_numeric_option_is_checked)
    for command in sorted(BASE):
        for action in actions_of(command):
            for value in REFUSED_NUMBERS.get(action.type, ()):
                option = action.option_strings[-1]
                add(command, f"{option} {value[:12]}", BASE[command] + [option, value],
                    exits=(2,), says=f"argument {option}")
    return cases


CASES = _cases()
INLINE = [c for c in CASES if c.how == "inline"]
PROCESS = [c for c in CASES if c.how in ("process", "no_driver")]


# --- running them ---------------------------------------------------------------------------

_policies: dict = {}


@pytest.fixture
def policy_once(monkeypatch):
    """The CLI's policy loading, remembered across cases: each case loads the shipped rules
    (several seconds) only the first time. A --rules folder that fails is never remembered."""
    real = clauseline.cli.common.load_policy

    def load(rules=None, fixtures=False, **kw):
        key = (rules, fixtures, tuple(sorted(kw.items())))
        if key not in _policies:
            _policies[key] = real(rules, fixtures=fixtures, **kw)
        return _policies[key]

    monkeypatch.setattr(clauseline.cli.common, "load_policy", load)
    # main() may give the library's logger a handler on this test's captured stderr
    library = logging.getLogger("clauseline")
    before = list(library.handlers)
    yield
    for handler in library.handlers[:]:
        if handler not in before:
            library.removeHandler(handler)


class Hung(BaseException):
    """A case ran past its time (BaseException: the CLI must not answer it as an error)."""


def run_inline(argv: list[str], capsys, seconds: int = 60) -> tuple[int, str, str]:
    def alarm(signum, frame):
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse: wrong usage
            code = exit.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, out, err


def no_driver_path(folder: Path) -> str:
    """A PYTHONPATH entry under which ``import psycopg`` fails, as without the postgres extra."""
    package = folder / "psycopg"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        'raise ImportError("no psycopg here (tests/test_cli_hostile.py hides the driver)")\n')
    return str(folder)


def run_process(argv: list[str], place: Place, no_driver: bool,
                seconds: int = 60) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "100"}
    if no_driver:
        shadow = no_driver_path(place.folder / "shadow")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (shadow, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run([sys.executable, "-m", "clauseline", *argv], capture_output=True,
                              text=True, errors="replace", cwd=place.folder, env=env,
                              timeout=seconds)
    except subprocess.TimeoutExpired:
        return -1, "", f"(hung: still running after {seconds} s)"
    return done.returncode, done.stdout, done.stderr


def problems_of(case: Case, place: Place, code: int, out: str, err: str) -> list[str]:
    """What is wrong with a case's answer (nothing: an empty list)."""
    wrong = []
    allowed = case.exits + ((0,) if case.lines_decided else ())
    if code not in allowed:
        wrong.append(f"exit {code}, expected {' or '.join(map(str, allowed))}")
    if LEAKED.search(err) or LEAKED.search(out):
        found = LEAKED.search(err) or LEAKED.search(out)
        wrong.append(f"a Python exception shows: {found.group(0)!r}")
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2 and lines and lines[0].startswith("usage: "):  # argparse: usage, then the error
        lines = [line for line in lines if not line.startswith((" ", "usage: "))]
    if len(lines) > MOST_LINES:
        wrong.append(f"{len(lines)} lines on stderr")
    if code not in (0,) and not lines and '"status":"rejected"' not in out \
            and ": rejected" not in out:
        wrong.append("refused without saying why (nothing on stderr, no rejected decision)")
    if case.says and case.says not in err + out:
        wrong.append(f"does not say {case.says!r}")
    for planted in PLANTED:
        if planted in err + out:
            wrong.append(f"repeats the planted value {planted!r}")
    for name in case.absent:
        if (place.folder / name).exists():
            wrong.append(f"{name} was written")
    if place.not_a_store.read_bytes() != place.not_a_store_bytes:
        wrong.append("the file that is not a store was changed")
    return wrong


def _report(case: Case, code: int, out: str, err: str, wrong: list[str]) -> str:
    return (f"{case.id}: {'; '.join(wrong)}\n  argv: {case.argv}\n  exit {code}\n"
            f"  stderr: {err[-1500:]!r}\n  stdout: {out[:300]!r}")


def test_every_numeric_option_is_checked():
    """A numeric option takes one of the CLI's checked types, never a bare ``int`` (which lets
    ``--max-batch 0`` or ``--port -1`` through to fail later, or never)."""
    unchecked = [(" ".join(command), a.option_strings[-1]) for command in sorted(BASE)
                 for a in actions_of(command) if a.type in (int, float)]
    assert not unchecked
    assert {" ".join(c.command) + ": " + c.name.split()[0] for c in CASES if c.name.startswith(
        "--") and c.name.split()[-1] in ("0", "-1", "65536")} >= {
        "serve: --max-body-bytes", "serve: --max-batch", "serve: --workers", "serve: --port",
        "consume: --batch", "consume: --partition", "consume: --metrics-port",
        "publish: --partitions", "replay: --batch", "diff: --examples"}


def test_every_subcommand_has_hostile_cases():
    covered = {c.command for c in CASES}
    assert covered == subcommands(build_parser()), (
        "hostile cases missing for " + ", ".join(sorted(" ".join(c) for c in
                                                         subcommands(build_parser()) - covered))
        + "; cases for commands that are gone: " + ", ".join(
            sorted(" ".join(c) for c in covered - subcommands(build_parser()))))
    assert set(BASE) == covered


@pytest.mark.parametrize("case", INLINE, ids=[c.id for c in INLINE])
def test_hostile_input_in_process(case: Case, tmp_path, capsys, policy_once):
    place = Place(tmp_path)
    if case.store:
        assert main(["db", "init", "--db", place.sqlite("store.db")]) == 0
        capsys.readouterr()
    argv = _fill(case.argv, place)
    code, out, err = run_inline(argv, capsys)
    wrong = problems_of(case, place, code, out, err)
    assert not wrong, _report(case, code, out, err, wrong)


def test_hostile_input_in_a_process(tmp_path):
    """The cases that need a process of their own (the driver hidden; ``serve``), run four at
    a time."""

    def one(index_case):
        index, case = index_case
        place = Place(tmp_path / str(index))
        argv = _fill(case.argv, place)
        code, out, err = run_process(argv, place, case.how == "no_driver")
        wrong = problems_of(case, place, code, out, err)
        return _report(case, code, out, err, wrong) if wrong else None

    for index, _ in enumerate(PROCESS):
        (tmp_path / str(index)).mkdir()
    with ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(one, enumerate(PROCESS)) if f]
    assert not failures, "\n".join(failures)


def _nats() -> str:
    """The local NATS server with JetStream, as tests/scale finds it (else skip)."""
    from scale.conftest import nats_url
    return nats_url()


def test_consume_with_a_stream_to_read_refuses_a_store_it_cannot_open(tmp_path, capsys,
                                                                      policy_once):
    """With a stream to read, ``consume`` reaches its partition stores: without psycopg that is
    ``store.unavailable`` naming the driver, as ``replay --db`` says, never a traceback; so is
    a bogus scheme."""
    url = _nats()
    stream = f"cl_hostile_{uuid.uuid4().hex[:10]}"
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    place = Place(tmp_path)
    try:
        assert main(["publish", str(empty), "--nats", url, "--stream", stream,
                     "--partitions", "2"]) == 0
        capsys.readouterr()
        consume = ["consume", "--nats", url, "--stream", stream, "--drain", "--decisions", "-",
                   "--db"]
        bogus = run_inline(consume + ["bogus://user:secret@host/x"], capsys)
        code, out, err = run_process(consume + [POSTGRES], place, True)
    finally:
        async def drop():
            import nats
            nc = await nats.connect(url)
            try:
                await nc.jetstream().delete_stream(stream)
            except Exception:  # noqa: BLE001 - already gone
                pass
            finally:
                await nc.close()
        asyncio.run(drop())
    for name, says, answer in (("--db bogus scheme", "unsupported store URL", bogus),
                               ("--db PostgreSQL without its driver", "psycopg",
                                (code, out, err))):
        case = Case(("consume",), f"{name}, a stream to read", [], says=says)
        wrong = problems_of(case, place, *answer)
        assert not wrong and "store.unavailable" in answer[2], _report(case, *answer, wrong)
