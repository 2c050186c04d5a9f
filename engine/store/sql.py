"""The SQL store: one implementation over SQLAlchemy Core for SQLite and PostgreSQL.

How a unit of work runs (:mod:`clauseline.session` drives it; see :meth:`SqlStore.transactions`):

1. Open an attempt (:class:`SqlTransaction`): a connection and a transaction. SQLite:
   ``BEGIN IMMEDIATE`` takes the database's single write lock, so writers (threads or processes)
   go one at a time. PostgreSQL: READ COMMITTED, then transaction-scoped advisory locks: a batch,
   and an event without subject (``clock.tick``, ``policy.changed``), take the global lock
   *exclusively*, so they see and change every subject with nobody else writing; a single event
   with a subject takes the global lock *shared* and an exclusive lock per subject it names (its
   ``subject`` and every ``subject`` inside its data), in sorted order, so that events of
   different subjects run in parallel.
2. Still before any evaluation, read everything the batch will ask for in a few queries: the
   stored decisions of its (source, id) pairs, the obligations owed before its latest time, and
   the records of the subjects its events name, of ``*`` and of the overdue obligations.
3. The session asks, per event, :meth:`~SqlTransaction.decided` (a repeat) and
   :meth:`~SqlTransaction.state` (a :class:`~clauseline.records.Records` reader of what it
   read), evaluates, and :meth:`~SqlTransaction.record` s the event, its decision and the
   changed records, redacted, in memory: the next event of the batch sees them as it would have
   read them back from the database.
4. :meth:`~SqlTransaction.commit` writes the events, decisions, chain records, subject rows and
   their obligation rows in a few multi-row statements, then commits: all or nothing.
5. Subject rows carry a version: an update that finds another version (a rule wrote a subject
   the single event does not lock, and another writer got there first) is a conflict, and the
   unit is tried again at once. A unique violation on the idempotency index (the same event
   posted twice at the same moment) too: the next attempt finds the stored decision and
   answers ``duplicate``.

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

import errno
import functools
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
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import sqlalchemy as sa
from sortedcontainers import SortedList
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from .. import canonical
from ..chain import (DECISION_ID, ENGINE_VERSION, GENESIS, REQUEST_ID, decision_id,
                     engine_version, text_hash)
from ..decision import GLOBAL, OWED, Decision
from ..errors import OneProblem
from ..records import Records, changed_records, current, due_index, instant_key, named_subjects
from ..redact import Redactor, kind_of_key, secrets_of
from ..redact import shown_url as redacted_url
from ..timers import is_timer
from .tables import decisions, events, obligations, stream_positions, subjects

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


class StoreError(OneProblem):
    """A store that cannot be opened or used, as one problem with a ``store.*`` code
    (docs/errors.md): ``store.unavailable``, ``store.not_found``, ``store.full``,
    ``store.read_only``, ``store.corrupt``, ``store.not_clauseline``, ``store.unknown_revision``.
    The message names the store (password masked) and never quotes an event's values."""

    def __init__(self, message: str, code: str = "store.unavailable", fault: "Fault | None" = None):
        super().__init__(code, message)
        #: what the database reported, when the error came from it (see :func:`classify`)
        self.fault = fault


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
    """The store URL as messages show it (:func:`clauseline.redact.shown_url`: the password and
    secret query parameters masked, one printable line), a bare path as ``sqlite:///path``."""
    text = url.strip() if isinstance(url, str) else str(url)
    return redacted_url(text if "://" in text else "sqlite:///" + text)


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
# reads ahead of a batch, and its writes
_INSERT_EVENT_SEQ = events.insert()
_LAST_SEQ = sa.select(sa.func.max(events.c.seq))
_RESERVE_SEQS = sa.text("select nextval(pg_get_serial_sequence('events', 'seq')) "
                        "from generate_series(1, :n)")
_INSERT_OBLIGATIONS = obligations.insert()
_NEXT_DUE = sa.select(sa.func.min(obligations.c.due_at)).where(obligations.c.missed.is_(False))


_DECISIONS_FOR = (sa.select(events.c.source, events.c.event_id, decisions.c.decision)
                  .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                  .where(sa.tuple_(events.c.source, events.c.event_id)
                         .in_(_P("keys", expanding=True))))


@functools.lru_cache(maxsize=None)
def _sqlite_decisions_for(n: int) -> sa.TextClause:
    """SQLite's form of ``_DECISIONS_FOR`` for ``n`` keys (parameters ``s0``, ``e0``, ...): the
    keys are a table of their own, joined to ``events`` through its unique (source, event_id)
    index, one index search per key. SQLite plans ``(source, event_id) IN ((...), ...)`` as a
    scan of that whole index, a cost that grew with the store (2.3 ms a batch of 7 keys at
    10,000 events, against 0.03 ms). PostgreSQL plans the IN list as index searches
    (BitmapOr), and the joined VALUES as a hash join over a scan of ``events``: each its own."""
    keys = ", ".join(f"(:s{i}, :e{i})" for i in range(n))
    return sa.text(f"with k(source, event_id) as (values {keys}) "
                   "select e.source, e.event_id, d.decision from k "
                   "join events e on e.source = k.source and e.event_id = k.event_id "
                   "join decisions d on d.seq = e.seq")


def _key_parameters(keys: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for i, (source, event_id) in enumerate(keys):
        out[f"s{i}"], out[f"e{i}"] = source, event_id
    return out


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


class _Kept:
    """What one transaction reads at its start and keeps between its events until its one
    write. While it is open nobody else changes what it read (the write lock: SQLite's one
    writer; PostgreSQL's advisory locks, the global one exclusively for a batch), so each event
    sees exactly what it would have read back from the database had every event before it been
    committed on its own, without a round trip:

    - ``decided``: for every (source, id) of the batch, the stored decision's text, or None;
    - ``versions``: subject -> its version in the database (0 when absent), for the subjects
      read at the start (those the events name, ``*``, and those with overdue obligations) or
      when an event first needs one; ``texts`` their records' texts as stored (None: no
      record), and ``records`` the same in their Python form, parsed when an event first reads
      one (once in the batch, not once per event). An event's write replaces them, reduced:
      see :meth:`write`; ``clean`` remembers the parts of ``records``
      already reduced (:meth:`clauseline.redact.Redactor.kept`), and ``fresh`` the records
      written whose text is not parsed yet, to learn those parts when it is;
    - ``due``: the index of the obligations still owed, as ``_OVERDUE`` would read them now:
      (due instant, subject, ref) of the database's rows owed before the batch's latest event
      time, those of a subject the batch wrote replaced by the rows it would store (``rows``);
      ``entries`` says which entries of the index are whose, so that a write replaces them
      in O(log n) each instead of every event scanning the batch's rows;
    - ``written``: subject -> index in ``events`` of the last event that wrote it;
    - the events and decisions to insert (their texts made once, for the rows and the chain);
      their seqs and chain hashes are made at the commit.
    """

    def __init__(self):
        self.decided: dict[tuple[str, str], str | None] = {}
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str | None] = {}
        self.records: dict[str, Any] = {}
        self.clean: dict[int, Any] = {}
        self.fresh: dict[str, dict] = {}
        self.due = SortedList()
        #: subject -> its entries in ``due``: the database's rows (keyed by their stored
        #: subject id) until the batch writes the subject, then those of its rows
        self.entries: dict[str, list[tuple[str, str, str]]] = {}
        self.rows: dict[str, list[dict]] = {}  # subject -> its obligation rows, as stored
        self.written: dict[str, int] = {}
        self.events: list[dict] = []
        self.decisions: list[dict] = []

    def overdue(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Index the database's obligation rows owed before the batch's latest time."""
        for row in rows:
            entry = tuple(row)
            self.due.add(entry)
            self.entries.setdefault(entry[1], []).append(entry)

    def record(self, sid: str) -> Any:
        """The subject's record as an event of the batch reads it (None: it has none)."""
        if sid in self.records:
            return self.records[sid]
        text = self.texts[sid]
        record = self.records[sid] = json.loads(text) if text is not None else None
        written = self.fresh.pop(sid, None)
        if written is not None:
            # its members equal to those the event wrote were left as they were by the
            # reduction, so they are clean, and so are the entries of a list among them (the
            # journal): the next event that writes the subject shares them
            for key, value in record.items():
                if isinstance(value, (dict, list)) and value == written.get(key) \
                        and kind_of_key(key) is None:
                    self.clean[id(value)] = value
                    if isinstance(value, list):
                        self.clean.update((id(v), v) for v in value
                                          if isinstance(v, (dict, list, str)))
        return record

    def write(self, sid: str, record: dict, known: dict[str, str], redactor: Redactor) -> None:
        """An event changed the subject's record to ``record``: keep it reduced, as stored."""
        self.versions.setdefault(sid, 0)
        self.fresh.pop(sid, None)
        if not known and self._shares(record):
            # it shares parts with what the batch already reduced: walk the rest only
            try:
                self.records[sid], self.texts[sid] = redactor.kept(
                    record, self.clean, self.records.get(sid)), None
                return
            except ValueError:
                pass  # not JSON's own values: the long way
        # the first write of the subject in the batch: reduced and serialised as it is
        # stored; parsed only if an event reads it again
        self.texts[sid] = canonical.dumps(redactor.scrub(record, known))
        self.records.pop(sid, None)
        if not known:
            self.fresh[sid] = record

    def _shares(self, record: dict) -> bool:
        """Whether the record shares parts with what the batch reduced already: a value, or
        the first item of a list (a list appended to is a copy whose old items are shared)."""
        clean = self.clean
        for value in record.values():
            if clean.get(id(value)) is value:
                return True
            if type(value) is list and value and clean.get(id(value[0])) is value[0]:
                return True
        return False

    def text(self, sid: str) -> str:
        """The text to store of a record the batch wrote (serialised once)."""
        text = self.texts[sid]
        return text if text is not None else canonical.dumps(self.records[sid])

    def wrote(self, sid: str, rows: list[dict]) -> None:
        """The subject's obligation rows are now ``rows``: its entries in ``due`` follow."""
        self.rows[sid] = rows
        for entry in self.entries.pop(sid, ()):
            self.due.remove(entry)
        entries = [(r["due_at"], r["subject_id"], r["ref"]) for r in rows
                   if not r["missed"] and r["due_at"] is not None]
        self.due.update(entries)
        self.entries[sid] = entries

    def due_before(self, limit: str) -> list[tuple[str, str, str]]:
        """What ``_OVERDUE`` would read now: (due instant, subject, ref) of every obligation still
        owed strictly before ``limit``, in the same order."""
        return list(self.due.islice(0, self.due.bisect_left((limit,))))


@dataclass(frozen=True)
class _Pending:
    """What a transaction was committing: the last event it wrote, with the hash of its chain
    record. When the commit fails without an answer (the connection dropped while it was sent),
    the next attempt finds out from the stored hash whether it happened after all, and then
    answers with ``result`` (the batch's decisions) and counts ``count`` events as stored."""

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


#: What ends an attempt and may be mended by another (see :meth:`SqlStore.transactions`).
_RETRYABLE = (Conflict, IntegrityError, StoreError, OSError, sa.exc.TimeoutError)


class SqlTransaction:
    """One attempt at a unit of work in a SQL store (:class:`clauseline.session.Transaction`).

    Opened by :meth:`SqlStore.transactions` before it is handed out: a connection, a
    transaction, its locks, and every read the batch needs (:class:`_Kept`). Then the session
    asks :meth:`decided` and :meth:`state` for each event, evaluates it and :meth:`record` s it,
    and :meth:`commit` writes everything in a few multi-row statements and commits. Leaving the
    ``with`` block rolls back whatever was not committed and gives the connection back; an error
    the store may mend by trying again (a conflict, a transient fault) is kept in
    :attr:`failure` for the iterator, not raised."""

    def __init__(self, store: "SqlStore", events: list, read_only: bool):
        self.store = store
        self.events = events
        self.read_only = read_only
        #: holds the whole write lock: a batch, an event without subject, and any SQLite
        #: transaction (one writer at a time); else PostgreSQL locks the event's subjects only
        self.whole = (store.dialect == "sqlite" or len(events) != 1
                      or not isinstance(events[0], dict)
                      or not isinstance(events[0].get("subject"), str))
        self.committed: list[Decision] | None = None
        #: the HTTP request id of each event, in the order of ``events`` (None: none, as for a
        #: replay), stored with its decision; the session sets it (``Session.submit_many``)
        self.request_ids: Sequence[str | None] | None = None
        self._request_of: dict[int, str | None] | None = None
        #: what this attempt was committing when it failed (see :class:`_Pending`)
        self.pending: _Pending | None = None
        #: the error that ended this attempt, when another attempt may mend it
        self.failure: BaseException | None = None
        self._kept = _Kept()
        #: id of an event of ``events`` -> the subjects it names (``events`` keeps them alive,
        #: so no other object has their ids)
        self._named: dict[int, set[str]] = {}
        self._conn: sa.Connection | None = None
        self._trans: sa.RootTransaction | None = None
        self._writing = False  # holds this process's SQLite writer lock

    # -- opening and closing (the store's iterator calls these) ------------------------------

    def _open(self, unsure: _Pending | None) -> None:
        store = self.store
        if not self.read_only and store.dialect == "sqlite":
            store._writer.acquire()
            self._writing = True
        conn = store.engine.connect()
        self._conn = conn.execution_options(clauseline_read=True) if self.read_only else conn
        self._trans = self._conn.begin()
        if not self.read_only:
            self._lock()
        if unsure is not None and self._conn.execute(_STORED_HASH, {
                "source": unsure.source, "event_id": unsure.event_id}).scalar() == unsure.hash:
            self.committed, self.pending = unsure.result, unsure  # the lost commit did happen
            return
        self._read_ahead()

    def _lock(self) -> None:
        if self.store.dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        conn = self._conn
        if self.whole:
            conn.execute(_LOCK, {"key": GLOBAL_LOCK})  # no other writer until the commit
            return
        conn.execute(_LOCK_SHARED, {"key": GLOBAL_LOCK})
        for key in sorted({lock_key("subject:" + s) for s in named_subjects(self.events[0])}):
            conn.execute(_LOCK, {"key": key})

    def _read_ahead(self) -> None:
        """Read, in a few queries, what the batch's events will ask for (:class:`_Kept`)."""
        conn, kept = self._conn, self._kept
        keys = sorted({(e["source"], e["id"]) for e in self.events if isinstance(e, dict)
                       and storable(e.get("source")) and storable(e.get("id"))})
        for key in keys:
            kept.decided[key] = None
        for i in range(0, len(keys), 400):
            chunk = keys[i:i + 400]
            query, parameters = (_DECISIONS_FOR, {"keys": chunk}) \
                if self.store.dialect == "postgresql" else \
                (_sqlite_decisions_for(len(chunk)), _key_parameters(chunk))
            for source, event_id, text in conn.execute(query, parameters):
                kept.decided[(source, event_id)] = text
        limits = []
        for event in self.events:
            try:
                limits.append(normal_time(event["time"]))
            except (TypeError, ValueError, KeyError):
                pass
        if limits:
            kept.overdue(conn.execute(_OVERDUE, {"limit": max(limits)}))
        wanted = {GLOBAL} | {sid for _, sid, _ in kept.due}
        for event in self.events:
            if isinstance(event, dict):
                wanted |= self._named.setdefault(id(event), named_subjects(event))
        self._read_texts(wanted)

    def _named_by(self, event: dict) -> set[str]:
        """:func:`named_subjects` of an event, found once for those of the batch."""
        named = self._named.get(id(event))
        return named if named is not None else named_subjects(event)

    def _read_texts(self, ids: Iterable[Any]) -> None:
        """Read the records of the subjects ``ids`` this transaction does not know yet."""
        kept = self._kept
        ids = sorted(i for i in ids if storable(i) and i not in kept.versions)
        for sid in ids:
            kept.versions[sid], kept.texts[sid] = 0, None
        for i in range(0, len(ids), 500):
            for sid, text, version in self._conn.execute(_SUBJECTS, {"ids": ids[i:i + 500]}):
                kept.versions[sid], kept.texts[sid] = version, text

    def _close(self) -> None:
        """Roll back what was not committed and give the connection and locks back."""
        try:
            if self._trans is not None and self._trans.is_active:
                self._trans.rollback()
        except Exception:  # noqa: BLE001  (a connection already lost: nothing to roll back)
            pass
        finally:
            self._trans = None
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # noqa: BLE001
                    pass
                self._conn = None
            if self._writing:
                self._writing = False
                self.store._writer.release()

    def __enter__(self) -> "SqlTransaction":
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        self._close()
        if isinstance(error, _RETRYABLE):
            self.failure = error
            return True  # the store's iterator decides: another attempt, or its error
        return False

    # -- the unit of work --------------------------------------------------------------------

    def decided(self, source: str, event_id: str) -> Decision | None:
        if not (storable(source) and storable(event_id)):
            return None  # no event is stored under such a key (it is rejected as invalid)
        key = (source, event_id)
        text = self._kept.decided.get(key)
        if key not in self._kept.decided:  # not one of the batch's own (read it now)
            text = self._conn.execute(_DECISION_FOR, {"source": source,
                                                      "event_id": event_id}).scalar()
        return Decision.from_dict(json.loads(text)) if text is not None else None

    def state(self, event: dict, also: Iterable[str] = ()) -> dict:
        kept = self._kept
        try:
            limit = normal_time(event.get("time"))
        except (TypeError, ValueError):
            due = []
        else:  # a timer's tick reads the obligations due at its very instant too
            due = kept.due_before(limit + "\uffff" if is_timer(event) else limit)
        wanted = self._named_by(event) | {GLOBAL} | {sid for _, sid, _ in due} | set(also)
        self._read_texts(wanted)
        loaded = {sid: kept.record(sid) if storable(sid) else None for sid in wanted}
        return {"subjects": Records(loaded), "due": due}

    def record(self, event: dict, decision: Decision, after: dict,
               policy_hash: str | None) -> None:
        if self.read_only:
            raise RuntimeError("a read-only transaction records nothing")
        kept, redactor = self._kept, self.store.redactor
        # a number the event gives under a naming field is reduced wherever it appears
        known = secrets_of(event)
        stored_event = redactor.event(event, known)
        stored_decision = redactor.decision(decision.as_dict(), known)
        decision_text = canonical.dumps(stored_decision)
        # its seq and chain hash are made at the commit, when the batch's seqs are taken
        kept.events.append({"source": event["source"], "event_id": event["id"],
                            "type": event["type"], "subject": event.get("subject"),
                            "time": event["time"], "event": canonical.dumps(stored_event)})
        kept.decisions.append({"status": decision.status,
                               "policy_version": decision.policy_version,
                               "decision": decision_text, "policy_hash": policy_hash,
                               "engine_version": engine_version(),
                               "decision_id": decision_id(event["source"], event["id"],
                                                          decision.policy_version),
                               "request_id": self._request_id(event)})
        kept.decided[(event["source"], event["id"])] = decision_text
        place = len(kept.events) - 1
        for sid, record in changed_records(after).items():
            kept.write(sid, record, known, redactor)
            kept.written[sid] = place
            kept.wrote(sid, redactor.scrub(_obligation_rows(sid, record), known))

    def _request_id(self, event: dict) -> str | None:
        """The request id given for this event (the very object) in :attr:`request_ids`."""
        if not self.request_ids:
            return None
        if self._request_of is None:
            self._request_of = {id(e): r for e, r in zip(self.events, self.request_ids)}
        return self._request_of.get(id(event))

    def commit(self, decisions: list[Decision]) -> None:
        if self.read_only:
            raise RuntimeError("a read-only transaction commits nothing")
        kept = self._kept
        if kept.events:
            self._write()
            last = kept.events[-1]
            self.pending = _Pending(last["source"], last["event_id"], kept.decisions[-1]["hash"],
                                    decisions, len(kept.events))
        self._trans.commit()
        self.committed = decisions

    def _chain(self) -> list[int]:
        """Give the recorded events their seqs, in order, and their chain records; return the
        seqs. The chain has one order, the order of seq: taken under the chain lock where
        another writer may append at the same time (a PostgreSQL event that locks its own
        subjects only), and exactly as many as there are events, so that a batch stores the
        same seqs and hashes as one transaction per event."""
        conn, kept = self._conn, self._kept
        if self.store.dialect == "postgresql":
            if not self.whole:
                conn.execute(_LOCK, {"key": CHAIN_LOCK})
            seqs = sorted(conn.execute(_RESERVE_SEQS, {"n": len(kept.events)}).scalars())
        else:
            last = conn.execute(_LAST_SEQ).scalar() or 0
            seqs = list(range(last + 1, last + 1 + len(kept.events)))
        head = conn.execute(_HEAD).scalar() or GENESIS
        for seq, event_row, decision_row in zip(seqs, kept.events, kept.decisions):
            event_row["seq"] = decision_row["seq"] = seq
            decision_row["prev_hash"] = head
            head = decision_row["hash"] = text_hash(
                seq, event_row["event"], decision_row["decision"], decision_row["policy_hash"],
                head, decision_row["engine_version"])
        return seqs

    def _write(self) -> None:
        """Write what the batch's events produced: a few statements of many rows each (one row
        at a time where a concurrent writer may have changed a subject: an event of PostgreSQL
        that locks its own subjects only, and a rule wrote another)."""
        conn, kept = self._conn, self._kept
        seqs = self._chain()
        conn.execute(_INSERT_EVENT_SEQ, kept.events)
        conn.execute(_INSERT_DECISION, kept.decisions)
        new, changed = [], []
        for sid, place in kept.written.items():
            text, version, seq = kept.text(sid), kept.versions[sid], seqs[place]
            if version == 0:
                new.append({"subject_id": sid, "record": text, "version": 1, "last_seq": seq})
            else:
                changed.append({"sid": sid, "old": version, "record": text, "new": version + 1,
                                "seq": seq})
        if self.whole:
            if new:
                conn.execute(_INSERT_SUBJECT, new)
            if changed:
                done = conn.execute(_UPDATE_SUBJECT, changed)
                if done.rowcount not in (-1, len(changed)):
                    raise Conflict("subjects changed under the write lock")
        else:
            for row in new:
                try:
                    conn.execute(_INSERT_SUBJECT, row)
                except IntegrityError as error:
                    raise Conflict(row["subject_id"]) from error
            for row in changed:
                if conn.execute(_UPDATE_SUBJECT, row).rowcount != 1:
                    raise Conflict(row["sid"])
        ids = sorted(kept.written)
        for i in range(0, len(ids), 500):
            conn.execute(_DELETE_OBLIGATIONS_OF, {"ids": ids[i:i + 500]})
        rows = [r for sid in ids for r in kept.rows.get(sid, ())]
        if rows:
            conn.execute(_INSERT_OBLIGATIONS, rows)


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
        #: SQLite has one writer at a time: this process's writers queue here, and the next one
        #: starts the moment a commit ends, instead of polling the file's lock (SQLite's busy
        #: handler sleeps up to 100 ms between tries, which made batches wait seconds)
        self._writer = threading.Lock()  # taken by SQLite writers only
        self._stored = 0
        self._stored_lock = threading.Lock()

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

    # -- units of work -----------------------------------------------------------------------

    def transactions(self, events: Sequence[Any], read_only: bool = False
                     ) -> Iterator[SqlTransaction]:
        """Attempts at one unit of work over ``events`` (see :mod:`clauseline.session`), each
        opened (locked, and everything the batch reads read) before it is handed out.

        The iteration ends once an attempt committed (or, ``read_only``, ran to its end). A write
        conflict or a concurrent insert of the same event gives another attempt at once (that
        one finds the event stored: ``duplicate``). A transient fault of the database gives
        another after a backoff, :data:`ATTEMPTS` attempts in all; when an attempt's commit went
        unanswered, the next one first looks whether that commit happened (the stored chain
        hash is the one it wrote) and then hands out an attempt already :attr:`committed`, so a
        retried event is never applied twice nor reported as its own duplicate. Any other
        fault, or the last attempt's, raises one :class:`StoreError`; nothing of the batch is
        then stored. A batch of several events holds the whole write lock until its commit."""
        events = list(events)
        what = "this event" if len(events) == 1 else f"this batch of {len(events)} event(s)"
        started = time.monotonic()
        failures = conflicts = 0
        unsure: _Pending | None = None
        while True:
            tx = SqlTransaction(self, events, read_only)
            try:
                tx._open(unsure)
            except _RETRYABLE as error:
                tx._close()
                failure = error
            except BaseException:
                tx._close()
                raise
            else:
                yield tx
                if tx.committed is not None:
                    if tx.pending is not None:
                        self._count_stored(tx.pending.count)
                    return
                failure = tx.failure
                if failure is None:
                    if read_only:
                        return
                    raise RuntimeError("a transaction of the store ended without commit")
                if tx.pending is not None:
                    unsure = tx.pending  # it failed in or after the commit
            if isinstance(failure, IntegrityError):
                if not _duplicate_event(failure):
                    raise fault_error(Fault("store.unavailable", "the database refused a write",
                                            type(failure.orig).__name__), self.shown,
                                      self._not_stored(what)) from None
                conflicts += 1  # the same event inserted at once: the next attempt finds it
            elif isinstance(failure, Conflict):
                conflicts += 1
            else:
                fault = failure.fault if isinstance(failure, StoreError) else classify(failure)
                if fault is None:
                    raise failure  # a StoreError of clauseline's own (not a database fault)
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

    def _run(self, work: Callable[[sa.Connection], T], read: bool = True) -> T:
        """``work(conn)`` in a short transaction of its own (a ``read`` one, in SQLite, does not
        take the write lock), retried after a transient failure."""

        def attempt() -> T:
            with self.engine.connect() as conn:
                if read:
                    conn = conn.execution_options(clauseline_read=True)
                with conn.begin():
                    return work(conn)

        return retrying(attempt, self.shown, attempts=self.attempts)

    def decision_by_id(self, wanted: str) -> dict | None:
        """The stored decision whose id (:func:`clauseline.chain.decision_id`) is ``wanted``,
        with what the store keeps about it: ``{"decision_id", "seq", "request_id", "event":
        {"source", "id", "type", "subject", "time"}, "decision"}``; None when none has it."""
        if not storable(wanted):
            return None
        query = (sa.select(decisions.c.decision_id, events.c.seq, decisions.c.request_id,
                           events.c.source, events.c.event_id, events.c.type, events.c.subject,
                           events.c.time, decisions.c.decision)
                 .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                 .where(decisions.c.decision_id == wanted))
        row = self._run(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        found, seq, request, source, event_id, kind, subject, at, text = row
        return {"decision_id": found, "seq": seq, "request_id": request,
                "event": {"source": source, "id": event_id, "type": kind, "subject": subject,
                          "time": at},
                "decision": json.loads(text)}

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        """The decision stored for this (source, id), if any."""
        if not (storable(source) and storable(event_id)):
            return None  # no event is stored under such a key (it is rejected as invalid)
        row = self._run(lambda conn: conn.execute(
            _DECISION_FOR, {"source": source, "event_id": event_id}).first())
        return Decision.from_dict(json.loads(row[0])) if row else None

    # -- the position of a partitioned stream (clauseline.stream) ----------------------------

    def stream_position(self, stream: str) -> tuple[int, int, int] | None:
        """(partition, partitions, applied stream sequence) this store holds of ``stream``, or
        None when it holds none of it (migration 0005, ``stream_positions``)."""
        row = self._run(lambda conn: conn.execute(
            sa.select(stream_positions.c.partition, stream_positions.c.partitions,
                      stream_positions.c.applied_seq)
            .where(stream_positions.c.stream == stream)).first())
        return (row[0], row[1], row[2] or 0) if row is not None else None

    def set_stream_position(self, stream: str, partition: int, partitions: int, seq: int,
                            now: str) -> None:
        """Record that the stream is applied up to ``seq`` (never backwards: a redelivered
        batch leaves it), as partition ``partition`` of ``partitions``; ``now``: the wall-clock
        time of the write, for operators."""
        column = stream_positions.c.applied_seq
        # SQLite's two-argument max() is PostgreSQL's greatest()
        highest = (sa.func.greatest if self.dialect == "postgresql" else sa.func.max)(column, seq)

        def write(conn: sa.Connection) -> None:
            done = conn.execute(stream_positions.update()
                                .where(stream_positions.c.stream == stream)
                                .values(applied_seq=highest, updated_at=now))
            if done.rowcount == 0:
                conn.execute(stream_positions.insert().values(
                    stream=stream, partition=partition, partitions=partitions, applied_seq=seq,
                    updated_at=now))

        self._run(write, read=False)

    def next_due(self) -> str | None:
        """The earliest due instant (fixed-width UTC text) of an obligation the store still owes
        and has not marked missed: an event later than it would report it."""
        return self._run(lambda conn: conn.execute(_NEXT_DUE).scalar())

    def _load(self, conn: sa.Connection, ids: set[str]) -> dict[str, tuple[dict, int]]:
        out = {}
        ids = sorted(i for i in ids if storable(i))
        for i in range(0, len(ids), 500):
            rows = conn.execute(_SUBJECTS, {"ids": ids[i:i + 500]})
            for sid, record, version in rows:
                out[sid] = (json.loads(record), version)
        return out


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
                           decisions.c.policy_hash, decisions.c.prev_hash, decisions.c.hash,
                           decisions.c.engine_version, decisions.c.decision_id,
                           decisions.c.request_id)
                 .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                 .order_by(events.c.seq).execution_options(yield_per=1000))
        try:
            with self.engine.connect().execution_options(clauseline_read=True) as conn:
                for (seq, event, decision, policy_hash, prev, digest, engine, did,
                     request) in conn.execute(query):
                    record = {"seq": seq, "event": json.loads(event),
                              "decision": json.loads(decision), "policy_hash": policy_hash,
                              "prev": prev, "hash": digest}
                    if engine is not None:  # none for records stored before revision 0006
                        record[ENGINE_VERSION] = engine
                    # outside the chain (clauseline.chain.UNCHAINED); 0007 filled every id
                    record[DECISION_ID], record[REQUEST_ID] = did, request
                    yield record
        except (OSError, sa.exc.TimeoutError) as error:  # a StoreError passes as it is
            raise fault_error(classify(error), self.shown) from None

    def close(self) -> None:
        self.engine.dispose()
