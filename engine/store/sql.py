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
   submit is retried from step 1. So is a PostgreSQL deadlock or serialization failure. A unique
   violation on the idempotency index (the same event posted twice at the same moment) returns
   the stored decision as ``duplicate``.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .. import canonical
from ..chain import GENESIS, link
from ..decision import GLOBAL, OWED, Decision
from ..evaluation.memory import current, instant_key
from ..evaluation.state import due_index
from ..redact import Redactor
from .tables import decisions, events, obligations, subjects

_RETRIES = 50


class Conflict(Exception):
    """Another writer changed a row this transaction read; the submit is retried."""


#: An RFC 3339 time as fixed-width UTC text that sorts and compares correctly.
normal_time = instant_key


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name."""
    digest = hashlib.blake2b(f"clauseline:{name}".encode(), digest_size=8).digest()
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
_INSERT_OBLIGATIONS = obligations.insert()


def _named_subjects(event: dict) -> set[str]:
    """The event's subject and every ``subject`` string inside its data (parties, participants)."""
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
    """One open transaction of this thread."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn


class _Handed:
    """What the last ``state_for`` of this thread handed out: each record (compared by identity
    in ``record``) with the version it had."""

    def __init__(self):
        self.subjects: dict[str, tuple[Any, int]] = {}


class SqlStore:
    """A durable :class:`clauseline.session.Store` over SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, redactor: Redactor, url: str):
        self.engine = engine
        self.redactor = redactor
        self.url = url
        self.dialect = engine.dialect.name
        self._local = threading.local()
        #: policy version id -> content hash (see :meth:`bind_policy`)
        self.policy_hashes: dict[str, str | None] = {}

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

    @contextmanager
    def _connection(self) -> Iterator[_Tx]:
        """The current transaction, or a new short one for a call outside :meth:`atomically`."""
        tx = self._tx
        if tx is not None:
            yield tx
            return
        with self.engine.begin() as conn:
            tx = self._local.tx = _Tx(conn)
            try:
                yield tx
            finally:
                self._local.tx = None

    def _lock(self, conn: sa.Connection, event: Any) -> None:
        if self.dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        named = _named_subjects(event) if isinstance(event, dict) else set()
        if not isinstance(event, dict) or not isinstance(event.get("subject"), str):
            conn.execute(_LOCK, {"key": GLOBAL_LOCK})
            return
        conn.execute(_LOCK_SHARED, {"key": GLOBAL_LOCK})
        for key in sorted({lock_key("subject:" + s) for s in named}):
            conn.execute(_LOCK, {"key": key})

    def atomically(self, event: Any, work: Callable[[], Decision]) -> Decision:
        """Run ``work`` (the session's check, evaluate and record) in one locked transaction,
        retrying it on a conflict; a concurrent duplicate returns the stored decision."""
        if self._tx is not None:
            return work()
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    self._local.tx = _Tx(conn)
                    self._local.handed = _Handed()
                    try:
                        self._lock(conn, event)
                        return work()
                    finally:
                        self._local.tx = None
            except IntegrityError as error:
                if "uq_events_source_event_id" in str(error.orig) or "events.source" in str(error.orig):
                    first = self.decision_for(event["source"], event["id"])
                    if first is not None:
                        return first.as_duplicate()
                if attempt == _RETRIES - 1:
                    raise
            except Conflict:
                if attempt == _RETRIES - 1:
                    raise
            except OperationalError as error:
                if not _retryable(error) or attempt == _RETRIES - 1:
                    raise
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RuntimeError("unreachable")

    # -- the Store protocol ------------------------------------------------------------------

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        with self._connection() as tx:
            row = tx.conn.execute(_DECISION_FOR, {"source": source, "event_id": event_id}).first()
        return Decision.from_dict(json.loads(row[0])) if row else None

    def state_for(self, event: dict) -> dict:
        handed = self._local.handed = _Handed()
        with self._connection() as tx:
            conn = tx.conn
            wanted = _named_subjects(event) | {GLOBAL}
            due = self._overdue(conn, event.get("time"))
            wanted |= {sid for _, sid, _ in due}
            loaded = {}
            for sid, (record, version) in self._load(conn, wanted).items():
                handed.subjects[sid] = (record, version)
                loaded[sid] = record
            for sid in wanted - set(loaded):
                handed.subjects[sid] = (None, 0)

        def load_more(sid: str) -> dict | None:
            if sid in handed.subjects:
                return handed.subjects[sid][0]
            with self._connection() as tx:
                found = self._load(tx.conn, {sid}).get(sid)
            handed.subjects[sid] = found if found else (None, 0)
            return found[0] if found else None

        # the index of due instants, as far as the evaluator needs it: what is overdue now
        return {"subjects": _Subjects(loaded, load_more), "due": due}

    def bind_policy(self, policy) -> None:
        """Learn the content hash of each policy version, recorded with every decision."""
        self.policy_hashes = {v.version: v.content_hash or None for v in policy.versions}

    def record(self, event: dict, decision: Decision, state: dict) -> None:
        handed = self._handed
        with self._connection() as tx:
            conn = tx.conn
            if self.dialect == "postgresql":
                conn.execute(_LOCK, {"key": CHAIN_LOCK})
            prev = conn.execute(_HEAD).scalar() or GENESIS
            stored_event = self.redactor.event(event)
            stored_decision = self.redactor.decision(decision.as_dict())
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
                self._write_subject(conn, sid, record, version, seq)
                written.append((sid, record, version + 1))
        for sid, record, version in written:
            handed.subjects[sid] = (record, version)

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
        ids = sorted(ids)
        for i in range(0, len(ids), 500):
            rows = conn.execute(_SUBJECTS, {"ids": ids[i:i + 500]})
            for sid, record, version in rows:
                out[sid] = (json.loads(record), version)
        return out

    def _write_subject(self, conn, sid: str, record: dict, version: int, seq: int) -> None:
        text = canonical.dumps(self.redactor.scrub(record))
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
        if rows:
            conn.execute(_INSERT_OBLIGATIONS, self.redactor.scrub(rows))

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
            query = query.where(obligations.c.subject_id == subject)
        query = query.order_by(obligations.c.due_at, obligations.c.subject_id, obligations.c.ref)
        if limit is not None:
            query = query.limit(limit)
        with self._connection() as tx:
            rows = tx.conn.execute(query).mappings()
            return [{"subject": r["subject_id"], "ref": r["ref"], "obligation": r["obligation"],
                     "status": r["status"], "due_by": r["due_by"], "opened_at": r["opened_at"],
                     "missed": bool(r["missed"]),
                     "overdue": now is not None and r["due_at"] is not None and r["due_at"] < now}
                    for r in rows]

    def ping(self) -> None:
        """Run a trivial query: raises the driver's error when the store does not answer."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("select 1"))

    def subject(self, subject_id: str) -> dict | None:
        """The stored record of one subject (reduced), or None."""
        with self._connection() as tx:
            found = self._load(tx.conn, {subject_id}).get(subject_id)
        return found[0] if found else None

    def state(self) -> dict:
        """The whole stored state (every subject, and the index of due instants derived from
        them: for tests and small stores)."""
        with self._connection() as tx:
            rows = tx.conn.execute(sa.select(subjects.c.subject_id, subjects.c.record)
                                   .order_by(subjects.c.subject_id))
            found = {"subjects": {sid: json.loads(rec) for sid, rec in rows}}
        return dict(found, due=due_index(found))

    def decisions(self) -> list[tuple[str, str, str]]:
        """(source, id, decision JSON) of every accepted event, in acceptance order."""
        with self._connection() as tx:
            rows = tx.conn.execute(
                sa.select(events.c.source, events.c.event_id, decisions.c.decision)
                .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                .order_by(events.c.seq))
            return [tuple(r) for r in rows]

    def count(self) -> int:
        """How many events (records of the decision log) the store holds."""
        with self._connection() as tx:
            return tx.conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()

    def log(self) -> Iterator[dict]:
        """The decision log, record by record in ``seq`` order (see :mod:`clauseline.chain`)."""
        query = (sa.select(events.c.seq, events.c.event, decisions.c.decision,
                           decisions.c.policy_hash, decisions.c.prev_hash, decisions.c.hash)
                 .select_from(events.join(decisions, decisions.c.seq == events.c.seq))
                 .order_by(events.c.seq).execution_options(yield_per=1000))
        with self.engine.connect() as conn:
            for seq, event, decision, policy_hash, prev, digest in conn.execute(query):
                yield {"seq": seq, "event": json.loads(event), "decision": json.loads(decision),
                       "policy_hash": policy_hash, "prev": prev, "hash": digest}

    def close(self) -> None:
        self.engine.dispose()


def _retryable(error: DBAPIError) -> bool:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if code in ("40P01", "40001", "55P03"):
        return True
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text
