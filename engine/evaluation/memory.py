"""Remembered records that know when each value was written: memory read as of event time.

Event time is the only clock, and logs arrive slightly out of order (several facilities, logs
ordered by ingestion). So a subject's record keeps, beside its current values, a journal of every
change with the time of the event that made it; an event at time ``t`` sees, for each key, the
latest value written at or before ``t`` (:func:`view_at`). Changes of one event apply in the
order of the trace; changes at the same instant apply in the order they arrived.

The record's layout (a JSON document, stored as is by ``clauseline.store``)::

    {"profile": {...}, "obligations": {...}, <remembered keys>: ...,   # current values
     "_journal": [[at, seq, verb, path, value], ...],                  # sorted by (at, seq)
     "_seen": {"first": at, "last": at}}                                # its events' times

``at`` is the instant as fixed-width UTC text (:func:`instant_key`), so it sorts as text;
``seq`` is the journal's length when the change was written, so ties keep arrival order. The
current values are the journal replayed to its end: in-order events (the common case) read and
write them directly; an event earlier than the journal's last change reads a replay of the
entries up to its time, and its own changes are inserted in time order and replayed.

A record written before the journal existed has current values only: they count as written
before any event (``at`` is ``""``).
"""

from __future__ import annotations

import bisect
import copy
import functools
from typing import Any

from ..decision import OPEN
from ..eventtime import parse_time

JOURNAL = "_journal"
SEEN = "_seen"
#: Keys of a record that the engine keeps for itself; rules cannot see or write them.
ENGINE_KEYS = (JOURNAL, SEEN)
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


def _apply(node: dict, entry: list) -> None:
    at, _, verb, path, value = entry
    for step in path[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            if verb in ("delete", "miss"):
                return
            child = node[step] = {}
        node = child
    last = path[-1]
    if verb == "set" or (verb == "default" and last not in node):
        node[last] = copy.deepcopy(value)
    elif verb == "append":
        if not isinstance(node.get(last), list):
            node[last] = []
        node[last].append(copy.deepcopy(value))
    elif verb == "delete":
        node.pop(last, None)
    elif verb == "miss":
        obligation = node.get(last)
        if isinstance(obligation, dict) and obligation.get("status") in OPEN \
                and not obligation.get("missed"):
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
        out[JOURNAL] = [["", i, "set", [k], copy.deepcopy(v)] for i, (k, v) in enumerate(values)]
    return out


def write(record: dict, at: str, verb: str, path: list[str], value: Any = None) -> None:
    """Add one change at instant ``at`` to a record whose journal list and whose value at
    ``path[0]`` the caller owns, and bring its current values up to date (replaying the
    journal when the change is earlier than its last one)."""
    journal = record[JOURNAL]
    entry = [at, len(journal), verb, list(path), copy.deepcopy(value)]
    if not journal or journal[-1][0] <= at:
        journal.append(entry)
        _apply(record, entry)
        return
    journal.insert(bisect.bisect_right([e[0] for e in journal], at), entry)
    for key in [k for k in record if k not in ENGINE_KEYS]:
        del record[key]
    for each in journal:
        _apply(record, each)


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
