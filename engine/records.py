"""The memory record format, in one place: what a subject's record holds, how it is read as of
an event's time, and the shape of the state the evaluator reads (records and the index of due
instants). Evaluation, the stores, the stream and the service all read and write records
through this module; it imports nothing of theirs.

Event time is the only clock, and logs arrive slightly out of order (several facilities, logs
ordered by ingestion). So a subject's record keeps, beside its current values, a journal of its
recent changes with the time of the event that made each; an event at time ``t`` sees, for each
key, the latest value written at or before ``t`` (:func:`view_at`). Changes of one event apply in
the order of the trace; changes at the same instant apply in the order they arrived.

The journal is bounded (:func:`compact`, at every change): changes more than :data:`HORIZON`
months older than the record's latest change, and all but the latest :data:`KEPT` once more than
:data:`MOST` are left, are folded into its base values. An event earlier than the fold reads the
folded values (the record as of the fold, with what late events inserted since) and is still
marked out of order; its changes apply over them, and later changes still win. So what a record
keeps grows with what it holds, not with the events that wrote it (docs/decisions.md, "How far
back memory is kept").

The record's layout (a JSON document, stored as is by ``clauseline.store``)::

    {"profile": {...}, "obligations": {...}, <remembered keys>: ...,   # current values
     "_journal": [[at, seq, verb, path, value], ...],                  # sorted by at
     "_seen": {"first": at, "last": at}}                                # its events' times

``at`` is the instant as fixed-width UTC text (:func:`instant_key`), so it sorts as text;
``seq`` is the journal's length when the change was written (a note of arrival: ties keep the
order of their place in the list). The current values are the journal replayed to its end:
in-order events (the common case) read and write them directly; an event earlier than the
journal's last change reads a replay of the entries up to its time, and its own changes are
inserted in time order and replayed.

A record written before the journal existed has current values only: they count as written
before any event (``at`` is ``""``). Base values folded by :func:`compact` are written the same
way, one ``set`` per key at ``""``.

The state (what ``evaluate(policy, state, event)`` reads): ``state["subjects"]`` maps each
subject id to its record; ``state["due"]`` is one index across subjects, a sorted list of
``(due instant, subject, ref)`` of every open or extended obligation, so that the obligations
overdue at an event's time are found without looking at every subject. A store hands the
evaluator a :class:`Records` reader (the records an event may read, loaded before it is
evaluated) and only the index entries due before the event's time; a state without ``due``
(built by hand) has it derived from its records. ``evaluate(..., fold=True)`` returns the new
state as :class:`SubjectsAfter` and :class:`DueAfter`: the changes over the state it was given.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sortedcontainers import SortedList

from .decision import OPEN
from .eventtime import add_months, parse_time

JOURNAL = "_journal"
SEEN = "_seen"
#: Keys of a record that the engine keeps for itself; rules cannot see or write them.
ENGINE_KEYS = (JOURNAL, SEEN)
#: How far back a record's journal reaches, in calendar months before its latest change: the
#: longest window the policy looks back over (a CCPA request counts the requests of the 12
#: months before it) and one more; older changes are folded into the record's base values
#: (:func:`compact`; docs/decisions.md, "How far back memory is kept").
HORIZON = 13
#: A journal that holds more than ``MOST`` changes within its horizon keeps the latest
#: ``KEPT`` and folds the others, so that a busy record (the global one, appended to at every
#: recording deleted) stays bounded too.
MOST = 32
KEPT = 16
#: What a journal entry may do: ``default`` sets a value only where none is; ``miss`` marks an
#: obligation missed if it is still open or extended at that point of the journal.
VERBS = ("set", "append", "delete", "default", "miss")


def instant_key(text: str) -> str:
    """An RFC 3339 time as fixed-width UTC text that sorts and compares as the instant."""
    if not isinstance(text, str):
        return parse_time(text)  # raises the ValueError of a value that is not a time
    return _instant_key(text)


@functools.lru_cache(maxsize=4096)  # an event's time is keyed several times on its way
def _instant_key(text: str) -> str:
    return parse_time(text).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _apply(node: dict, entry: list, owned: set[int] | None = None, share: bool = False) -> None:
    """Apply one journal entry to ``node`` in place, its value copied (or, with ``share``, the
    entry's own value itself: see :func:`write`). With ``owned`` (the ids of the containers the
    caller made), copy-on-write instead: a dict or list on the entry's path that is not the
    caller's is copied (shallow) before it changes, and values are shared, not copied, so the
    entries and values folded (:func:`compact`) are never changed."""
    at, _, verb, path, value = entry
    if owned is not None:
        share = True
    for step in path[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            if verb in ("delete", "miss"):
                return
            child = node[step] = {}
            if owned is not None:
                owned.add(id(child))
        elif owned is not None and id(child) not in owned:
            child = node[step] = dict(child)
            owned.add(id(child))
        node = child
    last = path[-1]
    if verb == "set" or (verb == "default" and last not in node):
        node[last] = value if share else copy.deepcopy(value)
    elif verb == "append":
        values = node.get(last)
        if not isinstance(values, list):
            values = node[last] = []
            if owned is not None:
                owned.add(id(values))
        elif owned is not None and id(values) not in owned:
            values = node[last] = list(values)
            owned.add(id(values))
        values.append(value if share else copy.deepcopy(value))
    elif verb == "delete":
        node.pop(last, None)
    elif verb == "miss":
        obligation = node.get(last)
        if isinstance(obligation, dict) and obligation.get("status") in OPEN \
                and not obligation.get("missed"):
            if owned is not None and id(obligation) not in owned:
                obligation = node[last] = dict(obligation)
                owned.add(id(obligation))
            obligation["status"] = "missed"
            obligation["missed_at"] = value


def current(record: dict | None) -> dict:
    """The record's current values (everything but the engine's own keys); not a copy."""
    if not record:
        return {}
    if JOURNAL not in record and SEEN not in record:
        return record
    return {k: v for k, v in record.items() if k not in ENGINE_KEYS}


def view_at(record: dict | None, at: str) -> dict:
    """The record as an event at instant ``at`` sees it: for each key, the latest value written
    at or before ``at``. Not a copy when it is the current record: do not change it."""
    journal = (record or {}).get(JOURNAL)
    if not journal or journal[-1][0] <= at:
        return current(record)
    out: dict = {}
    for entry in journal:
        if entry[0] > at:
            break
        _apply(out, entry)
    return out


def latest(record: dict | None) -> str | None:
    """The time (as :func:`instant_key`) of the latest event of this subject applied so far."""
    seen = (record or {}).get(SEEN)
    return seen.get("last") if isinstance(seen, dict) else None


def first_seen(record: dict | None, at: str) -> str:
    """The instant of the subject's earliest event at or before ``at`` (``at`` if none)."""
    seen = (record or {}).get(SEEN)
    first = seen.get("first") if isinstance(seen, dict) else None
    return min(first, at) if isinstance(first, str) and first else at


def editable(record: dict | None) -> dict:
    """A new top-level dict for a record to change, sharing its values: the caller copies a
    value before changing it in place (:meth:`clauseline.evaluation.state.StateChanges.write`
    does, once per key and event). A record without journal (an empty one, or one stored before
    the journal existed) gets one, its current values counting as written before any event."""
    record = record or {}
    out = dict(record)
    if JOURNAL not in record:
        values = sorted((k, v) for k, v in record.items() if k not in ENGINE_KEYS)
        out[JOURNAL] = [["", i, "set", _path((k,)), copy.deepcopy(v)]
                        for i, (k, v) in enumerate(values)]
    return out


#: One list per path of the journals' entries, shared by every entry of that path: a path is
#: written again and again (a subject's ``svv_recordings``, ``profile``), and its own list in
#: each entry was about a fifth of what a full journal holds. Entries and their paths are never
#: changed in place. Cleared when full (paths that name a request or an obligation recur less).
_PATHS: dict[tuple, list] = {}
_PATHS_MAX = 4096


def _path(path) -> list:
    """The shared list of ``path`` (a new one for a path that cannot be a key)."""
    try:
        key = tuple(path)
        found = _PATHS.get(key)
    except TypeError:  # an unhashable step: never written by the rules, kept as it is
        return list(path)
    if found is None:
        if len(_PATHS) >= _PATHS_MAX:
            _PATHS.clear()
        found = _PATHS[key] = list(path)
    return found


def write(record: dict, at: str, verb: str, path: list[str], value: Any = None) -> None:
    """Add one change at instant ``at`` to a record whose journal list and whose value at
    ``path[0]`` the caller owns, and bring its current values up to date (replaying the
    journal when the change is earlier than its last one); then fold what is past the
    journal's horizon (:func:`compact`).

    The entry keeps its own copy of ``value``, and an in-order change puts that very copy in
    the current values: values are never changed in place, only the containers above them,
    which the caller copies first (:class:`clauseline.evaluation.state.StateChanges`), so the
    journal, its folded base values and the current values share what they hold in common
    (one copy of a remembered list's items, not two)."""
    journal = record[JOURNAL]
    entry = [at, len(journal), verb, _path(path), copy.deepcopy(value)]
    if not journal or journal[-1][0] <= at:
        journal.append(entry)
        _apply(record, entry, share=True)
    else:
        journal.insert(bisect.bisect_right(journal, at, key=_instant), entry)
        for key in [k for k in record if k not in ENGINE_KEYS]:
            del record[key]
        for each in journal:
            _apply(record, each)
    compact(record)


def _instant(entry: list) -> str:
    return entry[0]


@functools.lru_cache(maxsize=4096)
def _horizon(latest: str, months: int) -> str:
    """The instant key ``months`` calendar months before ``latest`` (an instant key too); ``""``
    (nothing is that old) when there is none (a state file's impossible date, year 1)."""
    try:
        return add_months(parse_time(latest), -months).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (ValueError, OverflowError):
        return ""


def compact(record: dict) -> None:
    """Fold the changes of the record's journal that are past its horizon into its base
    values: those earlier than its latest change by more than :data:`HORIZON` months, and,
    when more than :data:`MOST` changes are left, all but the latest :data:`KEPT` (never
    parting the changes of one instant). The base values are entries at ``""``, one ``set``
    per key, as a record stored before the journal existed gets (:func:`editable`); the
    current values do not change. The journal list must be the caller's; the entries folded
    and their values are left as they were (a record before still shares them)."""
    journal = record.get(JOURNAL)
    if not journal:
        return
    base = bisect.bisect_right(journal, "", key=_instant)  # the base values' entries
    if base == len(journal):
        return
    fold = bisect.bisect_left(journal, _horizon(journal[-1][0], HORIZON), lo=base, key=_instant)
    if len(journal) - fold > MOST:
        fold = bisect.bisect_right(journal, journal[-KEPT - 1][0], lo=fold, key=_instant)
    if fold == base:
        return
    values: dict = {}
    owned: set[int] = set()
    for entry in journal[:fold]:
        _apply(values, entry, owned)
    journal[:fold] = [["", i, "set", _path((k,)), v]
                      for i, (k, v) in enumerate(sorted(values.items()))]


def saw(record: dict, at: str) -> None:
    """Note that an event of this subject at instant ``at`` was applied."""
    seen = record.get(SEEN) or {}
    record[SEEN] = {"first": min(seen.get("first") or at, at), "last": max(seen.get("last") or at, at)}


def due_entries(subject: str, record: dict | None) -> list[tuple[str, str, str]]:
    """(due instant, subject, ref) of each open or extended obligation of a record."""
    out = []
    for ref, o in sorted((current(record).get("obligations") or {}).items()):
        if isinstance(o, dict) and o.get("status") in OPEN and not o.get("missed") \
                and isinstance(o.get("due_by"), str):
            try:
                out.append((instant_key(o["due_by"]), subject, str(ref)))
            except ValueError:
                continue
    return out


def lookup_path(node: Any, path: list[str]) -> Any:
    """The value at a path of a record view, or None."""
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node


class SubjectsAfter(Mapping):
    """The subject records after one event: the records it changed over those before (a
    read-only mapping, so building it costs the changed records, not every subject). Only
    ``evaluate(..., fold=True)`` returns it, as every session asks: a store's transaction
    writes ``changed`` (:func:`changed_records`), and ``MemoryStore`` folds it into the map it
    owns; :func:`plain_state` makes a plain dict of it."""

    def __init__(self, before: Mapping, changed: dict):
        self.before, self.changed = before, changed

    def __getitem__(self, key):
        if key in self.changed:
            return self.changed[key]
        return self.before[key]

    def get(self, key, default=None):
        if key in self.changed:
            return self.changed[key]
        return self.before.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.changed or key in self.before

    def __iter__(self):
        yield from self.changed
        yield from (k for k in self.before if k not in self.changed)

    def __len__(self) -> int:
        return len(self.before) + sum(1 for k in self.changed if k not in self.before)

class DueAfter(Sequence):
    """The index of due instants after one event: the entries it removed and added over the
    index before (built in time proportional to the changes, not to the index). Only
    ``evaluate(..., fold=True)`` returns it, for a store that folds the changes into the index
    it owns (``MemoryStore``, a :class:`~sortedcontainers.SortedList`: O(log n) each); read as a
    sequence, it is the sorted list it stands for (built on first read)."""

    def __init__(self, before: Sequence, removed: list, added: list):
        self.before, self.removed, self.added = before, removed, added
        self._entries: list | None = None

    def entries(self) -> list:
        if self._entries is None:
            index = list(self.before)
            for entry in self.removed:
                at = bisect.bisect_left(index, entry)
                if at < len(index) and index[at] == entry:
                    del index[at]
            for entry in self.added:
                bisect.insort(index, entry)
            self._entries = index
        return self._entries

    def __getitem__(self, i):
        return self.entries()[i]

    def __len__(self) -> int:
        return len(self.entries())

    def __iter__(self):
        return iter(self.entries())

def fold_due(index: Sequence, after: DueAfter) -> SortedList:
    """Apply the changes of ``after`` to ``index`` (its ``before``) in place when it is a
    :class:`SortedList`, else to a new one made from it; return the index."""
    if not isinstance(index, SortedList):
        index = SortedList(index)
    for entry in after.removed:
        index.discard(entry)
    index.update(after.added)
    return index

def plain_state(state: dict) -> dict:
    """The state as plain JSON data (its subjects a dict, its index lists)."""
    return dict(state, subjects=dict(state.get("subjects") or {}),
                due=[list(e) for e in due_index(state)])

def empty_state() -> dict:
    """The state of a system that has seen no event."""
    return {"subjects": {}, "due": []}

def due_index(state: dict) -> list[tuple[str, str, str]]:
    """The state's index of due instants (derived from the records when it has none; entries
    read back from JSON, as lists, are made tuples again)."""
    if "due" in state:
        index = state["due"]
        if isinstance(index, (SortedList, DueAfter)):
            return index
        if index and not isinstance(index[0], tuple):
            return [tuple(e) for e in index]
        return index
    subjects = state.get("subjects") or {}
    return sorted(e for sid in subjects for e in due_entries(sid, subjects[sid]))

def overdue(index: Sequence, at: str) -> list[tuple[str, str, str]]:
    """Index entries whose due instant is strictly before ``at``."""
    if isinstance(index, SortedList):
        return list(index.islice(0, index.bisect_left((at,))))
    return list(index[:bisect.bisect_left(index, (at,))])


def due_at(index: Sequence, at: str) -> list[tuple[str, str, str]]:
    """Index entries whose due instant is ``at`` exactly (a timer's)."""
    if isinstance(index, SortedList):
        return list(index.irange((at,), (at + "\uffff",)))
    return list(index[bisect.bisect_left(index, (at,)):bisect.bisect_left(index, (at + "\uffff",))])


def named_subjects(event: dict) -> set[str]:
    """The event's subject and every ``subject`` string inside its data (call parties, SVV
    participants): the records the event may read and write besides the shared one (``*``)
    and those of obligations overdue at its time."""
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


class Records(Mapping):
    """The subject records one event may read, loaded before it is evaluated: what a store's
    transaction hands the evaluator (:meth:`clauseline.session.Transaction.state`).

    ``loaded`` maps each subject the store looked up to its record, or to None when it has
    none. The evaluator reads records only through ``get``, ``[]`` and ``in``: no read reaches
    a database. A read of a subject that was not looked up answers "no record" and is noted in
    :attr:`unloaded`; the session then has the store load those subjects too and evaluates the
    event again (evaluation is pure, so the second run is the one that counts). The shipped
    rules read only the subjects a store loads up front (:func:`named_subjects`, ``*`` and the
    subjects of overdue obligations); a rule file whose templates name other subjects costs a
    second evaluation, never a wrong one."""

    __slots__ = ("_loaded", "unloaded")

    def __init__(self, loaded: dict[str, dict | None]):
        self._loaded = loaded
        #: subjects read but not loaded (see the class's doc)
        self.unloaded: set[str] = set()

    def get(self, key, default=None):
        try:
            record = self._loaded[key]
        except KeyError:
            self.unloaded.add(key)
            return default
        except TypeError:  # not a subject id at all (unhashable)
            return default
        return default if record is None else record

    def __getitem__(self, key):
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __iter__(self):
        return (sid for sid, record in self._loaded.items() if record is not None)

    def __len__(self) -> int:
        return sum(1 for record in self._loaded.values() if record is not None)


def unloaded(state: dict) -> set[str]:
    """The subjects an evaluation against ``state`` read without their records being loaded
    (empty for a state whose subjects are a plain mapping: everything is there)."""
    subjects = state.get("subjects")
    return subjects.unloaded if isinstance(subjects, Records) else set()


def changed_records(after: dict) -> dict[str, dict]:
    """The records an event changed: ``after`` is what ``evaluate(..., fold=True)`` returned
    (the state it was given itself when nothing changed)."""
    subjects = after.get("subjects")
    return subjects.changed if isinstance(subjects, SubjectsAfter) else {}
