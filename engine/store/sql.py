"""The SQL store: one implementation over SQLAlchemy Core for SQLite and PostgreSQL.

How a submit runs (``Session.submit`` calls :meth:`SqlStore.atomically`):

1. Begin a transaction. SQLite: ``BEGIN IMMEDIATE`` takes the database's single write lock, so
   writers (threads or processes) go one at a time. PostgreSQL: READ COMMITTED, then
   transaction-scoped advisory locks: an event with a subject takes the global lock *shared* and
   an exclusive lock per subject it names (its ``subject`` and every ``subject`` inside its data),
   in sorted order; an event without subject (``clock.tick``, ``policy.changed``) takes the
   global lock *exclusively*, so it sees and changes every subject with nobody else writing.
   Events of different subjects run in parallel.
2. Inside the lock, the session re-checks the (source, id) idempotency index, loads the state,
   evaluates, and :meth:`record` writes the event, its decision, the changed subject records,
   and their obligation rows, then commits: all or nothing.
3. Subject rows carry a version: an update that finds another version (a rule wrote a subject the
   event does not name, and another writer got there first) raises a conflict, and the whole
   submit is retried from step 1 at once. A unique violation on the idempotency index (the same
   event posted twice at the same moment) is retried too: the retry finds the stored decision
   and returns it as ``duplicate``.

Faults (docs/storage.md, "Faults"): every error of the database becomes one :class:`StoreError`
with a ``store.*`` code, through :func:`guard` (an engine ``handle_error`` hook, so that every
user of the store's engine gets one), which quotes no SQL parameter (event values) and no
password. A transient one (a lost connection, a server shutting down or starting, a deadlock, a
serialization failure, a lock timeout) is retried from step 1 with exponential backoff and
jitter, :data:`ATTEMPTS` attempts in all, before it is given up as ``store.unavailable``. A retry
never applies an event twice: the (source, id) index decides, and an attempt whose commit went
unanswered is recognised, on the next attempt, by the chain hash it wrote.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from .. import canonical
from ..chain import GENESIS, link
from ..decision import GLOBAL, OWED, Decision
from ..errors import ClauselineError, Problem
from ..evaluation.memory import current, instant_key
from ..evaluation.state import due_index
from ..redact import Redactor, secrets_of
from .tables import decisions, events, obligations, subjects

T = TypeVar("T")
log = logging.getLogger("clauseline.store")

#: Write conflicts (another writer changed a subject row this transaction read, or inserted the
#: same event at the same moment) are retried at once, up to this many times.
CONFLICT_RETRIES = 50
#: Attempts in all (the first and the retries) at a unit of work that fails transiently.
ATTEMPTS = 8
#: The n-th retry waits between half and all of ``min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (n-1))``
#: seconds (exponential backoff, "equal jitter"): 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2 s at most,
#: 5.15 s in all, so that a server restart or a failover of a few seconds is ridden out.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0


class StoreError(ClauselineError):
    """A store that cannot be opened or used, as one problem with a ``store.*`` code
    (docs/errors.md): ``store.unavailable``, ``store.not_found``, ``store.full``,
    ``store.read_only``, ``store.corrupt``, ``store.not_clauseline``, ``store.unknown_revision``.
    The message names the store (password masked) and never quotes an event's values."""

    def __init__(self, message: str, code: str = "store.unavailable", fault: "Fault | None" = None):
        super().__init__([Problem(code, message)])
        #: what the database reported, when the error came from it (see :func:`classify`)
        self.fault = fault

    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def message(self) -> str:
        return self.problems[0].message


@dataclass(frozen=True)
class Fault:
    """What a database error means to clauseline: its ``store.*`` code, a description that
    quotes no value, the database's own name for it, and whether trying again may help."""

    code: str
    what: str
    tag: str
    transient: bool = False


# SQLite primary result codes (https://sqlite.org/rescode.html)
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_NOMEM = 3, 5, 6, 7
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_AUTH, _SQLITE_NOTADB = 14, 23, 26

#: PostgreSQL SQLSTATEs worth another attempt: the session or server went away, or another
#: transaction was in the way (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_TRANSIENT = {
    "40001": "a serialization failure with another transaction",
    "40P01": "a deadlock with another transaction",
    "55P03": "a lock that could not be taken in time",
    "57P01": "the server ended the session (an administrator, or a shutdown)",
    "57P02": "the server is restarting after a crash",
    "57P03": "the server is starting up or shutting down",
    "53300": "the server has no free connection slot",
}
#: Connection failures that trying again will not mend (libpq reports them without SQLSTATE).
_PG_PERMANENT = re.compile(r"does not exist|authentication failed|no pg_hba\.conf entry|"
                           r"password|permission denied|does not support ssl|certificate|"
                           r"invalid|could not translate host name", re.IGNORECASE)


def _sqlite_fault(error: BaseException, path: Path | None) -> Fault:
    code = getattr(error, "sqlite_errorcode", None)
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    primary = code & 0xFF if isinstance(code, int) else None
    if primary is None:  # no result code (an error of the sqlite3 module itself)
        return Fault("store.unavailable", "the SQLite module refused the operation", name)
    if primary == _SQLITE_FULL:
        return Fault("store.full", "the store is full: the disk, a quota or a size limit of the "
                     "database file left no room", name)
    if primary in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_AUTH):
        return Fault("store.read_only", "the store cannot be written: the database file, its "
                     "folder or its file system is read-only", name)
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return Fault("store.corrupt", "the file is not a SQLite database, or it is damaged "
                     "(truncated, overwritten)", name)
    if primary == _SQLITE_CANTOPEN:
        if path is not None and not _writable_folder(path):
            return Fault("store.read_only", "the store cannot be written: its folder is read-only "
                         "(SQLite needs to create the database and its -wal and -shm files there)",
                         name)
        return Fault("store.unavailable", "SQLite cannot open the database file, or its -wal "
                     "and -shm files next to it", name)
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        # only after the 60 s busy timeout: waiting again would double a wait already long
        return Fault("store.unavailable", "another process held the database's write lock for "
                     "longer than the 60 s clauseline waits", name)
    if primary == _SQLITE_IOERR:
        return Fault("store.unavailable", "the disk reported an I/O error", name)
    if primary == _SQLITE_NOMEM:
        return Fault("store.unavailable", "SQLite ran out of memory", name)
    return Fault("store.unavailable", "SQLite refused the operation", name)


def _writable_folder(path: Path) -> bool:
    folder = path.parent if str(path.parent) else Path(".")
    # access() answers EROFS for a read-only file system even to root
    return os.access(folder if folder.exists() else Path("."), os.W_OK)


def _pg_fault(error: BaseException, disconnect: bool) -> Fault:
    state = getattr(error, "sqlstate", None)
    name = type(error).__name__
    if state is None and not disconnect and name not in ("OperationalError", "InterfaceError"):
        # refused by the driver itself, before the server saw it (e.g. a NUL byte in a text)
        return Fault("store.unavailable", "the PostgreSQL driver refused the operation", name)
    if state is None:
        # a failure to connect or a connection lost: libpq's own text quotes no event value
        text = " ".join(str(error).split())[:200]
        permanent = bool(_PG_PERMANENT.search(text)) and not disconnect
        return Fault("store.unavailable", "the connection to the PostgreSQL server was lost"
                     if disconnect else "the connection to the PostgreSQL server failed",
                     f"{name}: {text}" if text else name, transient=not permanent)
    tag = f"SQLSTATE {state} {name}"
    if state in _PG_TRANSIENT:
        return Fault("store.unavailable", _PG_TRANSIENT[state], tag, transient=True)
    if state.startswith("08") or disconnect:
        return Fault("store.unavailable", "the connection to the PostgreSQL server was lost", tag,
                     transient=True)
    if state == "53100":
        return Fault("store.full", "the store is full: the PostgreSQL server's disk has no room "
                     "left", tag)
    if state == "25006":
        return Fault("store.read_only", "the store cannot be written: the database is read-only "
                     "(a standby, or default_transaction_read_only)", tag)
    if state == "42501":
        return Fault("store.read_only", "the store cannot be written: the database user lacks "
                     "a privilege it needs", tag)
    if state in ("XX001", "XX002"):
        return Fault("store.corrupt", "the PostgreSQL server found damaged data or a damaged "
                     "index", tag)
    if state.startswith("28") or state == "3D000":
        return Fault("store.unavailable", "the PostgreSQL server refused the login or the "
                     "database", tag)
    return Fault("store.unavailable", "the PostgreSQL server refused the operation", tag)


def classify(error: BaseException, *, disconnect: bool = False, path: Path | None = None) -> Fault:
    """What ``error`` (a driver's exception, an OSError of the store's files, or a SQLAlchemy
    pool timeout) means for the store. ``disconnect``: SQLAlchemy found the connection dead."""
    if isinstance(error, sa.exc.StatementError) and getattr(error, "orig", None) is not None:
        disconnect = disconnect or bool(getattr(error, "connection_invalidated", False))
        error = error.orig
    if isinstance(error, sa.exc.TimeoutError):
        return Fault("store.unavailable", "no database connection became free in time",
                     "pool timeout", transient=True)
    module = type(error).__module__.split(".")[0]
    if module == "sqlite3":
        return _sqlite_fault(error, path)
    if module == "psycopg":
        return _pg_fault(error, disconnect)
    if isinstance(error, OSError):
        name = errno.errorcode.get(error.errno or 0, type(error).__name__)
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
            return Fault("store.full", "the store is full: the disk or a quota left no room", name)
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return Fault("store.read_only", "the store cannot be written: a file or folder of it "
                         "is read-only", name)
        if error.errno in (errno.EEXIST, errno.ENOTDIR):
            return Fault("store.unavailable", "a folder on the path of the store is a file", name)
        return Fault("store.unavailable", "a file of the store cannot be used", name)
    if isinstance(error, UnicodeError):
        return Fault("store.unavailable", "the database cannot hold a value of this event as "
                     "text (it is not valid Unicode)", type(error).__name__)
    return Fault("store.unavailable", "the database refused the operation",
                 type(error).__name__, transient=disconnect)


def shown_url(url: str) -> str:
    """The store URL as messages show it: the password masked, the scheme as the user wrote it."""
    text = url.strip() if isinstance(url, str) else str(url)
    try:
        target = text if "://" in text else "sqlite:///" + text  # a bare path
        if text.startswith(("postgresql://", "postgres://")):
            target = "postgresql+psycopg://" + text.split("://", 1)[1]
        shown = sa.make_url(target).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(a malformed store URL)"
    if text.startswith(("postgres://", "postgresql://")):
        shown = text.split("://", 1)[0] + "://" + shown.split("://", 1)[1]
    # one line, no control or bidirectional character (a path may hold any)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in shown)


def fault_error(fault: Fault, shown: str, tail: str = "") -> StoreError:
    """The one :class:`StoreError` a fault of the store ``shown`` becomes."""
    return StoreError(f"{shown}: {fault.what} ({fault.tag}){tail}", code=fault.code, fault=fault)


_GUARDED: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


def guard(engine: sa.Engine, shown: str, path: Path | None = None) -> sa.Engine:
    """Make every database error raised through ``engine`` (on connecting, executing, committing)
    one :class:`StoreError` carrying its :class:`Fault`, for the store's own code and for any
    other user of ``store.engine``. Integrity errors stay as they are: the store reads them
    (a unique violation of the idempotency index is a concurrent duplicate). Once per engine."""
    if engine in _GUARDED:
        return engine
    _GUARDED.add(engine)

    @sa_event.listens_for(engine, "handle_error")
    def _handle(context):
        if isinstance(context.sqlalchemy_exception, IntegrityError) or context.is_pre_ping:
            return None
        original = context.original_exception
        if not isinstance(original, (context.dialect.loaded_dbapi.Error, OSError, UnicodeError)):
            return None  # a fault of the code, not of the store: it is not disguised as one
        raise fault_error(classify(original, disconnect=context.is_disconnect, path=path), shown)

    return engine


def backoff(retry: int) -> float:
    """Seconds to wait before the ``retry``-th retry (from 1): exponential, with equal jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retrying(attempt: Callable[[], T], shown: str, *, attempts: int | None = None) -> T:
    """``attempt()``, tried again after a transient :class:`StoreError` (or an OSError or pool
    timeout), with :func:`backoff`, ``attempts`` times in all; then, or at once for a fault that
    is not transient, one :class:`StoreError` saying how often it was tried."""
    attempts = attempts or ATTEMPTS
    started = time.monotonic()
    failures = 0
    while True:
        try:
            return attempt()
        except (StoreError, OSError, sa.exc.TimeoutError) as error:
            fault = error.fault if isinstance(error, StoreError) else classify(error)
            if fault is None:
                raise  # a StoreError of clauseline's own (not found, unknown revision, ...)
            failures += 1
            if not fault.transient or failures >= attempts:
                raise gave_up(fault, shown, failures, started) from None
            delay = backoff(failures)
            log.warning("store %s: %s (%s); retrying in %.2f s (attempt %d of %d)",
                        shown, fault.what, fault.tag, delay, failures + 1, attempts)
            time.sleep(delay)


def gave_up(fault: Fault, shown: str, failures: int, started: float, tail: str = "") -> StoreError:
    """The error after ``failures`` failed attempts (the last with ``fault``)."""
    tried = (f"; tried {failures} times over {time.monotonic() - started:.1f} s"
             if failures > 1 else "")
    return fault_error(fault, shown, tried + tail)


class Conflict(Exception):
    """Another writer changed a row this transaction read; the submit is retried."""


#: An RFC 3339 time as fixed-width UTC text that sorts and compares correctly.
normal_time = instant_key


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name."""
    digest = hashlib.blake2b(f"clauseline:{name}".encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


GLOBAL_LOCK = lock_key("global")
#: Taken (exclusively, until commit) by every PostgreSQL transaction that appends to the decision
#: log, before its event gets its seq: the chain has one order, and it is the order of seq.
CHAIN_LOCK = lock_key("chain")

# The statements of the hot path, built once (SQLAlchemy caches their compiled form).
_P = sa.bindparam
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(_P("key", type_=sa.BigInteger)))
_LOCK_SHARED = sa.select(sa.func.pg_advisory_xact_lock_shared(_P("key", type_=sa.BigInteger)))
_DECISION_FOR = (sa.select(decisions.c.decision)
                 .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                 .where(events.c.source == _P("source"), events.c.event_id == _P("event_id")))
_INSERT_EVENT = events.insert().returning(events.c.seq)
_INSERT_DECISION = decisions.insert()
_HEAD = sa.select(decisions.c.hash).order_by(decisions.c.seq.desc()).limit(1)
_OVERDUE = (sa.select(obligations.c.due_at, obligations.c.subject_id, obligations.c.ref)
            .where(obligations.c.missed.is_(False), obligations.c.due_at < _P("limit"))
            .order_by(obligations.c.due_at, obligations.c.subject_id, obligations.c.ref))
_SUBJECTS = (sa.select(subjects.c.subject_id, subjects.c.record, subjects.c.version)
             .where(subjects.c.subject_id.in_(_P("ids", expanding=True))))
_INSERT_SUBJECT = subjects.insert()
_UPDATE_SUBJECT = (subjects.update()
                   .where(subjects.c.subject_id == _P("sid"), subjects.c.version == _P("old"))
                   .values(record=_P("record"), version=_P("new"), last_seq=_P("seq")))
_DELETE_OBLIGATIONS = obligations.delete().where(obligations.c.subject_id == _P("sid"))
_DELETE_OBLIGATIONS_OF = obligations.delete().where(
    obligations.c.subject_id.in_(_P("ids", expanding=True)))
# group commit (SqlStore.atomically_many)
_DECISIONS_FOR = (sa.select(events.c.source, events.c.event_id, decisions.c.decision)
                  .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                  .where(sa.tuple_(events.c.source, events.c.event_id)
                         .in_(_P("keys", expanding=True))))
_INSERT_EVENT_SEQ = events.insert()
_LAST_SEQ = sa.select(sa.func.max(events.c.seq))
_RESERVE_SEQS = sa.text("select nextval(pg_get_serial_sequence('events', 'seq')) "
                        "from generate_series(1, :n)")
_INSERT_OBLIGATIONS = obligations.insert()


def storable(text: Any) -> bool:
    """Whether a text can be a key in both databases: PostgreSQL text holds no NUL, and neither
    holds a lone surrogate (not UTF-8). The store is asked about events before they are
    validated (the idempotency check and the state come first): nothing can be stored under any
    other key, so it is looked up as absent rather than sent to the database."""
    if not isinstance(text, str) or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def named_subjects(event: dict) -> set[str]:
    """The event's subject and every ``subject`` string inside its data (call parties, SVV
    participants): the records the event may read and write besides the shared one."""
    found = set()
    if isinstance(event.get("subject"), str):
        found.add(event["subject"])
    stack = [event.get("data")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            value = node.get("subject")
            if isinstance(value, str):
                found.add(value)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class _Subjects(dict):
    """The ``subjects`` map handed to the evaluator: preloaded records, and any other subject
    loaded from the store on first access (a rule may write a subject the event does not name)."""

    def __init__(self, loaded: dict, loader: Callable[[str], dict | None]):
        super().__init__(loaded)
        self._loader = loader

    def get(self, key, default=None):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        record = self._loader(key) if isinstance(key, str) else None
        if record is None:
            return default
        dict.__setitem__(self, key, record)
        return record

    def __missing__(self, key):
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def __contains__(self, key):
        return self.get(key) is not None


class _Tx:
    """One open transaction of this thread (with its :class:`_Batch` in a group commit)."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.batch: _Batch | None = None


class _Batch:
    """What a group commit (:meth:`SqlStore.atomically_many`) keeps between its events until its
    one flush and commit. The transaction holds the database's whole write lock (SQLite's
    ``BEGIN IMMEDIATE``, PostgreSQL's global advisory lock taken exclusively), so no other writer
    changes a row it read: each event sees exactly what it would have read back from the database
    had every event before it been committed on its own, without a round trip:

    - ``decided``: for every (source, id) of the batch, the stored decision's text, or None;
    - ``texts``: subject -> (record text as stored, version in the database; 0 when absent),
      read once at the start (the subjects the events name, and those with overdue
      obligations) and replaced as the batch's events write them;
    - ``overdue``: the database's obligation rows still owed before the batch's latest event
      time, read once; ``rows`` the rows of the subjects the batch wrote, which replace theirs;
    - the events, decisions and chain records to insert, with the seq numbers reserved for them.
    """

    def __init__(self):
        self.decided: dict[tuple[str, str], str | None] = {}
        self.texts: dict[str, tuple[str | None, int]] = {}
        self.overdue: list[tuple[str, str, str]] = []
        self.rows: dict[str, list[dict]] = {}  # subject -> its obligation rows, as stored
        self.written: dict[str, tuple[str, int]] = {}  # subject -> (record text, last seq)
        self.events: list[dict] = []
        self.decisions: list[dict] = []
        self.seqs: list[int] = []
        self.head: str | None = None

    def due_before(self, limit: str) -> list[tuple[str, str, str]]:
        """What ``_OVERDUE`` would read now: (due instant, subject, ref) of every obligation still
        owed strictly before ``limit``, in the same order."""
        found = [row for row in self.overdue if row[0] < limit and row[1] not in self.rows]
        for rows in self.rows.values():
            found.extend((r["due_at"], r["subject_id"], r["ref"]) for r in rows
                         if not r["missed"] and r["due_at"] is not None and r["due_at"] < limit)
        found.sort()
        return found


class _Handed:
    """What the last ``state_for`` of this thread handed out: each record (compared by identity
    in ``record``) with the version it had."""

    def __init__(self):
        self.subjects: dict[str, tuple[Any, int]] = {}


@dataclass(frozen=True)
class _Pending:
    """The (last) event :meth:`SqlStore.record` wrote in this thread's transaction, with the hash
    of its chain record: when the commit fails without an answer (the connection dropped while it
    was sent), the next attempt finds out from the stored hash whether it happened after all,
    and then answers with ``result`` (the decision, or a batch's decisions) and counts ``count``
    events as stored."""

    source: str
    event_id: str
    hash: str
    result: Any = None
    count: int = 1


_STORED_HASH = (sa.select(decisions.c.hash)
                .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                .where(events.c.source == _P("source"), events.c.event_id == _P("event_id")))


def _duplicate_event(error: IntegrityError) -> bool:
    """A unique violation of the (source, event_id) index: the same event, inserted at once."""
    text = str(error.orig)
    return "uq_events_source_event_id" in text or "events.source" in text


class SqlStore:
    """A durable :class:`clauseline.session.Store` over SQLAlchemy (SQLite or PostgreSQL).

    Every method raises :class:`StoreError` when the database fails; a transient failure is
    first retried (``attempts`` attempts in all, see :func:`retrying`)."""

    def __init__(self, engine: sa.Engine, redactor: Redactor, url: str):
        self.engine = engine
        self.redactor = redactor
        self.url = url
        #: the URL as messages show it (password masked)
        self.shown = shown_url(url)
        guard(engine, self.shown)  # open_store's engines have it already (with the file's path)
        self.dialect = engine.dialect.name
        #: attempts in all at a unit of work that fails transiently (see ATTEMPTS)
        self.attempts = ATTEMPTS
        self._local = threading.local()
        #: SQLite has one writer at a time: this process's writers queue here, and the next one
        #: starts the moment a commit ends, instead of polling the file's lock (SQLite's busy
        #: handler sleeps up to 100 ms between tries, which made batches wait seconds)
        self._writer = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        self._stored = 0
        self._stored_lock = threading.Lock()
        #: policy version id -> content hash (see :meth:`bind_policy`)
        self.policy_hashes: dict[str, str | None] = {}

    @property
    def stored(self) -> int:
        """How many events this object has stored (committed) since it was opened."""
        return self._stored

    def _count_stored(self, count: int = 1) -> None:
        with self._stored_lock:
            self._stored += count

    def _not_stored(self, what: str = "this event") -> str:
        """The end of a message about a submit that failed: what is and is not stored."""
        if not self.stored:
            return f"; {what} was rolled back and nothing of it is stored"
        return (f"; {what} was rolled back and nothing of it is stored; the {self.stored} "
                "event(s) this process stored before it are kept: once the fault is mended, run "
                "the same command again (what is stored is skipped as duplicate)")

    # -- transactions ------------------------------------------------------------------------

    @property
    def _tx(self) -> _Tx | None:
        return getattr(self._local, "tx", None)

    @property
    def _handed(self) -> _Handed:
        handed = getattr(self._local, "handed", None)
        if handed is None:
            handed = self._local.handed = _Handed()
        return handed

    def _run(self, work: Callable[[sa.Connection], T], attempts: int | None = None,
             read: bool = True) -> T:
        """``work(conn)`` in the current transaction, or else in a new short one of its own (a
        ``read`` one, in SQLite, does not take the write lock), retried after a transient
        failure."""
        tx = self._tx
        if tx is not None:
            return work(tx.conn)

        def attempt() -> T:
            with self.engine.connect() as conn:
                if read:
                    conn = conn.execution_options(clauseline_read=True)
                with conn.begin():
                    self._local.tx = _Tx(conn)
                    try:
                        return work(conn)
                    finally:
                        self._local.tx = None

        return retrying(attempt, self.shown, attempts=attempts or self.attempts)

    def _lock(self, conn: sa.Connection, event: Any) -> None:
        if self.dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        named = named_subjects(event) if isinstance(event, dict) else set()
        if not isinstance(event, dict) or not isinstance(event.get("subject"), str):
            conn.execute(_LOCK, {"key": GLOBAL_LOCK})
            return
        conn.execute(_LOCK_SHARED, {"key": GLOBAL_LOCK})
        for key in sorted({lock_key("subject:" + s) for s in named}):
            conn.execute(_LOCK, {"key": key})

    def atomically(self, event: Any, work: Callable[[], Decision]) -> Decision:
        """Run ``work`` (the session's check, evaluate and record) in one locked transaction.

        A write conflict or a concurrent insert of the same event runs it again at once (the
        second time the event is found stored: ``duplicate``). A transient fault of the database
        runs it again after a backoff, :data:`ATTEMPTS` attempts in all; when an attempt's commit
        went unanswered, the next one first looks whether that commit happened (the stored chain
        hash is the one it wrote) and then returns its decision instead of evaluating again, so a
        retried event is never applied twice nor reported as its own duplicate. Any other fault,
        or the last attempt's, raises one :class:`StoreError`; the event is then not stored."""
        if self._tx is not None:
            return work()
        return self._unit(lambda conn: self._lock(conn, event), work, "this event")

    def atomically_many(self, events: list, work: Callable[[], list[Decision]]) -> list[Decision]:
        """Group commit: run ``work`` (the session's check, evaluate and record of each event, in
        order) in one transaction that holds the whole write lock, and commit once.

        Each event is decided exactly as if each had been committed on its own, in order (see
        :class:`_Batch`); the decisions are returned only once the commit succeeded, so every
        decision a caller reports is durable, and a crash or fault before it loses only events
        nobody was told about. Faults and retries are those of :meth:`atomically`, for the batch
        as a whole: a retried batch is evaluated again from its start (evaluation is
        deterministic), and a batch whose commit went unanswered is recognised by the chain hash
        of its last event."""
        if self._tx is not None:
            return work()
        events = list(events)
        return self._unit(lambda conn: self._begin_batch(conn, events), work,
                          f"this batch of {len(events)} event(s)")

    def _unit(self, begin: Callable[[sa.Connection], None], work: Callable[[], T], what: str) -> T:
        """The retry loop of :meth:`atomically` and :meth:`atomically_many`: ``begin(conn)``
        (locks, and a batch's reads), then ``work()``, then a batch's flush, in one transaction."""
        started = time.monotonic()
        failures = conflicts = 0
        unsure: _Pending | None = None
        while True:
            self._local.pending = None
            try:
                with self._writer, self.engine.begin() as conn:
                    tx = self._local.tx = _Tx(conn)
                    self._local.handed = _Handed()
                    try:
                        begin(conn)
                        if unsure is not None and conn.execute(_STORED_HASH, {
                                "source": unsure.source, "event_id": unsure.event_id}
                                ).scalar() == unsure.hash:
                            result = unsure.result  # the unanswered commit did happen
                            self._local.pending = unsure
                        else:
                            result = work()
                            if tx.batch is not None:
                                self._flush(conn, tx.batch)
                            pending = self._local.pending
                            if pending is not None:
                                count = len(tx.batch.events) if tx.batch is not None else 1
                                self._local.pending = _Pending(pending.source, pending.event_id,
                                                               pending.hash, result, count)
                    finally:
                        self._local.tx = None
                if self._local.pending is not None:
                    self._count_stored(self._local.pending.count)
                return result
            except IntegrityError as error:
                if not _duplicate_event(error):
                    raise fault_error(Fault("store.unavailable", "the database refused a write",
                                            type(error.orig).__name__), self.shown,
                                      self._not_stored(what)) from None
                conflicts += 1  # the same event inserted at once: the next attempt finds it
            except Conflict:
                conflicts += 1
            except (StoreError, OSError, sa.exc.TimeoutError) as error:
                fault = error.fault if isinstance(error, StoreError) else classify(error)
                if fault is None:
                    raise
                if self._local.pending is not None and self._local.pending.result is not None:
                    unsure = self._local.pending  # it failed in or after the commit
                failures += 1
                if not fault.transient or failures >= self.attempts:
                    raise gave_up(fault, self.shown, failures, started,
                                  self._not_stored(what)) from None
                delay = backoff(failures)
                log.warning("store %s: %s (%s); retrying in %.2f s (attempt %d of %d)",
                            self.shown, fault.what, fault.tag, delay, failures + 1, self.attempts)
                time.sleep(delay)
                continue
            if conflicts >= CONFLICT_RETRIES:
                raise StoreError(f"{self.shown}: other writers changed the same subjects "
                                 f"{conflicts} times in a row while {what} was evaluated"
                                 + self._not_stored(what))
            time.sleep(random.uniform(0, 0.002 * conflicts))

    def _begin_batch(self, conn: sa.Connection, events: list) -> None:
        """Take the whole write lock and read, in a few queries, what the batch's events will
        ask for (see :class:`_Batch`)."""
        if self.dialect == "postgresql":
            conn.execute(_LOCK, {"key": GLOBAL_LOCK})  # no other writer until the commit
        batch = _Batch()
        keys = sorted({(e["source"], e["id"]) for e in events if isinstance(e, dict)
                       and storable(e.get("source")) and storable(e.get("id"))})
        for key in keys:
            batch.decided[key] = None
        for i in range(0, len(keys), 400):
            rows = conn.execute(_DECISIONS_FOR, {"keys": keys[i:i + 400]})
            for source, event_id, text in rows:
                batch.decided[(source, event_id)] = text
        limits = []
        for event in events:
            try:
                limits.append(normal_time(event["time"]))
            except (TypeError, ValueError, KeyError):
                pass
        batch.overdue = self._overdue(conn, max(limits)) if limits else []
        wanted = {GLOBAL} | {sid for _, sid, _ in batch.overdue}
        for event in events:
            if isinstance(event, dict):
                wanted |= named_subjects(event)
        self._read_texts(conn, batch, wanted)
        self._local.tx.batch = batch

    def _read_texts(self, conn: sa.Connection, batch: _Batch, ids: set[str]) -> None:
        """Read the records of the subjects ``ids`` the batch does not know yet, into it."""
        ids = sorted(i for i in ids if i not in batch.texts and storable(i))
        for sid in ids:
            batch.texts[sid] = (None, 0)
        for i in range(0, len(ids), 500):
            for sid, text, version in conn.execute(_SUBJECTS, {"ids": ids[i:i + 500]}):
                batch.texts[sid] = (text, version)

    def _flush(self, conn: sa.Connection, batch: _Batch) -> None:
        """Write what the batch's events produced: a few statements of many rows each."""
        if not batch.events:
            return
        conn.execute(_INSERT_EVENT_SEQ, batch.events)
        conn.execute(_INSERT_DECISION, batch.decisions)
        new, changed = [], []
        for sid, (text, seq) in batch.written.items():
            version = batch.texts[sid][1]
            if version == 0:
                new.append({"subject_id": sid, "record": text, "version": 1, "last_seq": seq})
            else:
                changed.append({"sid": sid, "old": version, "record": text, "new": version + 1,
                                "seq": seq})
        if new:
            conn.execute(_INSERT_SUBJECT, new)
        if changed:
            done = conn.execute(_UPDATE_SUBJECT, changed)
            if done.rowcount not in (-1, len(changed)):
                raise Conflict("subjects changed under the write lock")
        ids = sorted(batch.written)
        for i in range(0, len(ids), 500):
            conn.execute(_DELETE_OBLIGATIONS_OF, {"ids": ids[i:i + 500]})
        rows = [r for sid in ids for r in batch.rows.get(sid, ())]
        if rows:
            conn.execute(_INSERT_OBLIGATIONS, rows)

    def _next_seq(self, conn: sa.Connection, batch: _Batch) -> int:
        """The seq of the batch's next stored event: SQLite gives the next rowids itself (one
        writer at a time); PostgreSQL's are taken from the events' sequence, as many as the batch
        may need, in one query."""
        if not batch.seqs:
            if self.dialect == "postgresql":
                unstored = sum(1 for text in batch.decided.values() if text is None)
                batch.seqs = sorted(conn.execute(_RESERVE_SEQS, {"n": max(1, unstored)})
                                    .scalars(), reverse=True)
            else:
                last = (batch.events[-1]["seq"] if batch.events
                        else conn.execute(_LAST_SEQ).scalar() or 0)
                batch.seqs = [last + 1]
        return batch.seqs.pop()

    # -- the Store protocol ------------------------------------------------------------------

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        if not (storable(source) and storable(event_id)):
            return None  # no event is stored under such a key (it is rejected as invalid)
        batch = self._tx.batch if self._tx is not None else None
        if batch is not None and (source, event_id) in batch.decided:
            text = batch.decided[(source, event_id)]
            return Decision.from_dict(json.loads(text)) if text is not None else None
        row = self._run(lambda conn: conn.execute(
            _DECISION_FOR, {"source": source, "event_id": event_id}).first())
        return Decision.from_dict(json.loads(row[0])) if row else None

    def state_for(self, event: dict) -> dict:
        batch = self._tx.batch if self._tx is not None else None
        if batch is not None:
            return self._batch_state(event, batch)
        handed = self._local.handed = _Handed()

        def read(conn: sa.Connection):
            wanted = named_subjects(event) | {GLOBAL}
            due = self._overdue(conn, event.get("time"))
            wanted |= {sid for _, sid, _ in due}
            return wanted, due, self._load(conn, wanted)

        wanted, due, found = self._run(read)
        loaded = {}
        for sid, (record, version) in found.items():
            handed.subjects[sid] = (record, version)
            loaded[sid] = record
        for sid in wanted - set(loaded):
            handed.subjects[sid] = (None, 0)

        def load_more(sid: str) -> dict | None:
            if sid in handed.subjects:
                return handed.subjects[sid][0]
            found = self._run(lambda conn: self._load(conn, {sid}).get(sid))
            handed.subjects[sid] = found if found else (None, 0)
            return found[0] if found else None

        # the index of due instants, as far as the evaluator needs it: what is overdue now
        return {"subjects": _Subjects(loaded, load_more), "due": due}

    def _batch_state(self, event: dict, batch: _Batch) -> dict:
        """:meth:`state_for` inside a group commit: the same state, from what the batch holds."""
        handed = self._local.handed = _Handed()
        conn = self._tx.conn
        try:
            due = batch.due_before(normal_time(event.get("time")))
        except (TypeError, ValueError):
            due = []
        wanted = named_subjects(event) | {GLOBAL} | {sid for _, sid, _ in due}
        self._read_texts(conn, batch, wanted)

        def load(sid: str) -> dict | None:
            if sid not in handed.subjects:
                if sid not in batch.texts:
                    if not storable(sid):
                        return None
                    self._read_texts(conn, batch, {sid})
                text, version = batch.texts[sid]
                handed.subjects[sid] = (json.loads(text) if text is not None else None, version)
            return handed.subjects[sid][0]

        loaded = {}
        for sid in wanted:
            if storable(sid) and load(sid) is not None:
                loaded[sid] = handed.subjects[sid][0]
        return {"subjects": _Subjects(loaded, load), "due": due}

    def bind_policy(self, policy) -> None:
        """Learn the content hash of each policy version, recorded with every decision."""
        self.policy_hashes = {v.version: v.content_hash or None for v in policy.versions}

    def record(self, event: dict, decision: Decision, state: dict) -> None:
        handed = self._handed
        standalone = self._tx is None
        if not standalone and self._tx.batch is not None:
            self._record_in_batch(self._tx.conn, self._tx.batch, event, decision, state)
            return

        def write(conn: sa.Connection) -> list:
            if self.dialect == "postgresql":
                conn.execute(_LOCK, {"key": CHAIN_LOCK})
            prev = conn.execute(_HEAD).scalar() or GENESIS
            stored_event = self.redactor.event(event)
            # a number the event gives under a naming field is reduced wherever it appears
            known = secrets_of(event)
            stored_decision = self.redactor.decision(decision.as_dict(), known)
            seq = conn.execute(_INSERT_EVENT, {
                "source": event["source"], "event_id": event["id"], "type": event["type"],
                "subject": event.get("subject"), "time": event["time"],
                "event": canonical.dumps(stored_event)}).scalar_one()
            policy_hash = self.policy_hashes.get(decision.policy_version)
            chained = link(seq, stored_event, stored_decision, policy_hash, prev)
            conn.execute(_INSERT_DECISION, {
                "seq": seq, "status": decision.status, "policy_version": decision.policy_version,
                "decision": canonical.dumps(stored_decision), "policy_hash": policy_hash,
                "prev_hash": prev, "hash": chained["hash"]})
            written = []
            for sid, record in (state.get("subjects") or {}).items():
                before, version = handed.subjects.get(sid, (None, 0))
                if record is before:
                    continue
                self._write_subject(conn, sid, record, version, seq, known)
                written.append((sid, record, version + 1))
            self._local.pending = _Pending(event["source"], event["id"], chained["hash"])
            return written

        # a write outside atomically() is not retried: nothing would tell a retry that its
        # unanswered commit happened
        written = self._run(write, attempts=1, read=False)
        if standalone:
            self._count_stored()
        for sid, record, version in written:
            handed.subjects[sid] = (record, version)

    def _record_in_batch(self, conn: sa.Connection, batch: _Batch, event: dict,
                         decision: Decision, state: dict) -> None:
        """:meth:`record` inside a group commit: the same rows and chain, kept in the batch
        until its flush (a subject written twice is written once, with its last record)."""
        handed = self._handed
        if batch.head is None:
            batch.head = conn.execute(_HEAD).scalar() or GENESIS
        seq = self._next_seq(conn, batch)
        stored_event = self.redactor.event(event)
        known = secrets_of(event)
        stored_decision = self.redactor.decision(decision.as_dict(), known)
        decision_text = canonical.dumps(stored_decision)
        policy_hash = self.policy_hashes.get(decision.policy_version)
        chained = link(seq, stored_event, stored_decision, policy_hash, batch.head)
        batch.head = chained["hash"]
        batch.events.append({"seq": seq, "source": event["source"], "event_id": event["id"],
                             "type": event["type"], "subject": event.get("subject"),
                             "time": event["time"], "event": canonical.dumps(stored_event)})
        batch.decisions.append({"seq": seq, "status": decision.status,
                                "policy_version": decision.policy_version,
                                "decision": decision_text, "policy_hash": policy_hash,
                                "prev_hash": chained["prev"], "hash": chained["hash"]})
        batch.decided[(event["source"], event["id"])] = decision_text
        for sid, record in (state.get("subjects") or {}).items():
            before, version = handed.subjects.get(sid, (None, 0))
            if record is before:
                continue
            text = canonical.dumps(self.redactor.scrub(record, known))
            batch.written[sid] = (text, seq)
            batch.texts[sid] = (text, batch.texts.get(sid, (None, 0))[1])
            batch.rows[sid] = self.redactor.scrub(self._obligation_rows(sid, record), known)
            handed.subjects[sid] = (record, version + 1)
        self._local.pending = _Pending(event["source"], event["id"], chained["hash"])

    # -- helpers -----------------------------------------------------------------------------

    def _overdue(self, conn: sa.Connection, at: Any) -> list[tuple[str, str, str]]:
        """(due instant, subject, ref) of every obligation still owed before ``at``."""
        try:
            limit = normal_time(at)
        except (TypeError, ValueError):
            return []
        return [tuple(r) for r in conn.execute(_OVERDUE, {"limit": limit})]

    def _load(self, conn: sa.Connection, ids: set[str]) -> dict[str, tuple[dict, int]]:
        out = {}
        ids = sorted(i for i in ids if storable(i))
        for i in range(0, len(ids), 500):
            rows = conn.execute(_SUBJECTS, {"ids": ids[i:i + 500]})
            for sid, record, version in rows:
                out[sid] = (json.loads(record), version)
        return out

    def _write_subject(self, conn, sid: str, record: dict, version: int, seq: int,
                       known: dict | None = None) -> None:
        text = canonical.dumps(self.redactor.scrub(record, known))
        if version == 0:
            try:
                conn.execute(_INSERT_SUBJECT, {"subject_id": sid, "record": text, "version": 1,
                                               "last_seq": seq})
            except IntegrityError as error:
                raise Conflict(sid) from error
        else:
            done = conn.execute(_UPDATE_SUBJECT, {"sid": sid, "old": version, "record": text,
                                                  "new": version + 1, "seq": seq})
            if done.rowcount != 1:
                raise Conflict(sid)
        conn.execute(_DELETE_OBLIGATIONS, {"sid": sid})
        rows = self._obligation_rows(sid, record)
        if rows:
            conn.execute(_INSERT_OBLIGATIONS, self.redactor.scrub(rows, known))

    @staticmethod
    def _obligation_rows(sid: str, record: dict) -> list[dict]:
        """The ``obligations`` rows of a subject's record: those still owed."""
        rows = []
        for ref, o in sorted((current(record).get("obligations") or {}).items()):
            if not isinstance(o, dict) or o.get("status") not in OWED:
                continue
            due_by = o.get("due_by")
            try:
                due_at = normal_time(due_by) if isinstance(due_by, str) else None
            except ValueError:
                due_at = None
            rows.append({"subject_id": sid, "ref": str(ref),
                         "obligation": str(o.get("obligation") or ""),
                         "status": o["status"], "due_by": due_by, "due_at": due_at,
                         "opened_at": o.get("opened_at"),
                         "missed": o["status"] == "missed" or bool(o.get("missed"))})
        return rows

    # -- queries -----------------------------------------------------------------------------

    def due(self, at: str) -> list[dict]:
        """Obligations still owed (open, extended, or missed: past due and still owed) due at or
        before ``at`` (RFC 3339), sorted by due time, then subject, then ref."""
        return self.owed(at=at)

    def owed(self, *, at: str | None = None, before: str | None = None,
             subject: str | None = None, limit: int | None = None) -> list[dict]:
        """Obligations still owed, sorted by due time, then subject, then ref: those due at or
        before ``at``, strictly before ``before``, of one ``subject``, at most ``limit`` of them.
        ``overdue`` says whether the due time is strictly before ``at`` (or ``before``)."""
        query = sa.select(obligations)
        now = normal_time(at) if at is not None else (normal_time(before) if before is not None else None)
        if at is not None:
            query = query.where(obligations.c.due_at <= now)
        elif before is not None:
            query = query.where(obligations.c.due_at < now)
        if subject is not None:
            if not storable(subject):
                return []  # nothing is stored under such a subject
            query = query.where(obligations.c.subject_id == subject)
        query = query.order_by(obligations.c.due_at, obligations.c.subject_id, obligations.c.ref)
        if limit is not None:
            query = query.limit(limit)
        rows = self._run(lambda conn: conn.execute(query).mappings().all())
        return [{"subject": r["subject_id"], "ref": r["ref"], "obligation": r["obligation"],
                 "status": r["status"], "due_by": r["due_by"], "opened_at": r["opened_at"],
                 "missed": bool(r["missed"]),
                 "overdue": now is not None and r["due_at"] is not None and r["due_at"] < now}
                for r in rows]

    def ping(self) -> None:
        """Run a trivial query (once, not retried): raises :class:`StoreError` when the store
        does not answer."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("select 1"))

    def subject(self, subject_id: str) -> dict | None:
        """The stored record of one subject (reduced), or None."""
        found = self._run(lambda conn: self._load(conn, {subject_id}).get(subject_id))
        return found[0] if found else None

    def state(self) -> dict:
        """The whole stored state (every subject, and the index of due instants derived from
        them: for tests and small stores)."""
        rows = self._run(lambda conn: conn.execute(
            sa.select(subjects.c.subject_id, subjects.c.record).order_by(subjects.c.subject_id)
        ).all())
        found = {"subjects": {sid: json.loads(rec) for sid, rec in rows}}
        return dict(found, due=due_index(found))

    def decisions(self) -> list[tuple[str, str, str]]:
        """(source, id, decision JSON) of every accepted event, in acceptance order."""
        rows = self._run(lambda conn: conn.execute(
            sa.select(events.c.source, events.c.event_id, decisions.c.decision)
            .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
            .order_by(events.c.seq)).all())
        return [tuple(r) for r in rows]

    def count(self) -> int:
        """How many events (records of the decision log) the store holds."""
        return self._run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(decisions)).scalar_one())

    def log(self) -> Iterator[dict]:
        """The decision log, record by record in ``seq`` order (see :mod:`clauseline.chain`)."""
        query = (sa.select(events.c.seq, events.c.event, decisions.c.decision,
                           decisions.c.policy_hash, decisions.c.prev_hash, decisions.c.hash)
                 .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                 .order_by(events.c.seq).execution_options(yield_per=1000))
        try:
            with self.engine.connect().execution_options(clauseline_read=True) as conn:
                for seq, event, decision, policy_hash, prev, digest in conn.execute(query):
                    yield {"seq": seq, "event": json.loads(event),
                           "decision": json.loads(decision), "policy_hash": policy_hash,
                           "prev": prev, "hash": digest}
        except (OSError, sa.exc.TimeoutError) as error:  # a StoreError passes as it is
            raise fault_error(classify(error), self.shown) from None

    def close(self) -> None:
        self.engine.dispose()
