"""Running events through the evaluator against a store: parsing, idempotency, state.

The evaluator is pure; a :class:`Session` is the thin loop around it that every entry point
shares (CLI replay, HTTP, pytest plugin): parse the raw event, answer a repeated ``(source, id)``
with the first decision marked ``duplicate``, evaluate against the stored state, and record the
event, its decision and the new state together.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import replace
from typing import Any, Iterable, Iterator, Protocol, Sequence

from .decision import Decision, rejected
from .errors import Problem
from .evaluation import empty_state, evaluate
from .evaluation.memory import instant_key
from .evaluation.state import DueAfter, SubjectsAfter, fold_due
from .events import Oversized, parse_event
from .policy.model import Policy


class Store(Protocol):
    """Where a session keeps what it has seen. ``clauseline.store`` has durable implementations."""

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        """The decision already made for this (source, id), if any."""

    def state_for(self, event: dict) -> dict:
        """The state the evaluator needs for this event (at least the event's subject)."""

    def record(self, event: dict, decision: Decision, state: dict) -> None:
        """Keep the accepted event, its decision and the new state, atomically."""

    # Optional: ``atomically(event, work) -> Decision`` runs ``work()`` (the session's
    # decision_for, state_for, evaluate, record) in one transaction under the event's lock.


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(1, zdict=_ZDICT)
    return compressor.compress(data) + compressor.flush()


def _inflate(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(zdict=_ZDICT)
    return decompressor.decompress(data) + decompressor.flush()


#: What decisions have in common (their keys and most frequent words), primed into each
#: compression so that a small decision compresses well on its own.
_ZDICT = (b'"trace":["status":"accepted""outcomes":[{"action":"clause":"data_categories":["due_by":'
          b'"kind":"disclosure""kind":"retention""kind":"obligation""kind":"violation"'
          b'"kind":"notice""permitted":true"permitted":false"purpose":"recipient":"ref":'
          b'"rule":"subject":"policy_version":"securus-2019-05-04""event_type":"event_source":'
          b'"event_id":"time":"out_of_order"')


class MemoryStore:
    """The default store of a replay without ``--db``: everything in memory, nothing kept."""

    #: The session evaluates with ``fold=True``: this store folds each event's changed records
    #: into the subjects map it owns, instead of taking a copy of every subject per event.
    folds_changes = True

    def __init__(self):
        self.state = empty_state()
        #: the idempotency index: a digest of each accepted event's (source, id) -> its
        #: decision's canonical JSON, compressed (about 150 bytes an event instead of a few
        #: kilobytes of objects: the one part of a replay's memory that grows with the log)
        self.decisions: dict[bytes, bytes] = {}

    @staticmethod
    def _digest(source: str, event_id: str) -> bytes:
        key = f"{len(source)}:{source}{event_id}"  # the length keeps the pair unambiguous
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        packed = self.decisions.get(self._digest(source, event_id))
        if packed is None:
            return None
        return Decision.from_dict(json.loads(_inflate(packed)))

    def state_for(self, event: dict) -> dict:
        return self.state

    def record(self, event: dict, decision: Decision, state: dict) -> None:
        self.decisions[self._digest(event["source"], event["id"])] = _deflate(
            decision.to_json().encode("utf-8"))
        subjects = state.get("subjects")
        if isinstance(subjects, SubjectsAfter) and subjects.before is self.state.get("subjects"):
            # the records this event changed, folded into the map this store owns: the cost
            # of an event does not grow with the number of subjects
            subjects.before.update(subjects.changed)
            state = dict(state, subjects=subjects.before)
        due = state.get("due")
        if isinstance(due, DueAfter) and due.before is self.state.get("due"):
            # and the index of due instants: O(log n) per entry changed, at any size
            state = dict(state, due=fold_due(due.before, due))
        self.state = state


def _key(event: Any) -> tuple[str, str] | None:
    if isinstance(event, dict) and isinstance(event.get("source"), str) and isinstance(event.get("id"), str):
        return event["source"], event["id"]
    return None


class Session:
    """Evaluates events one at a time against a store, in the order they are given."""

    def __init__(self, policy: Policy, store: Store | None = None):
        self.policy = policy
        self.store = store if store is not None else MemoryStore()
        bind = getattr(self.store, "bind_policy", None)
        if bind is not None:  # a store that logs which policy version decided each event
            bind(policy)

    def submit(self, event: Any) -> Decision:
        """Evaluate one parsed event (a dict) and record it if accepted.

        A store with an ``atomically(event, work)`` method (the SQL stores) runs the duplicate
        check, the evaluation and the recording as one unit under its per-subject lock, and may
        run ``work`` again after a write conflict; other stores are called directly.
        """
        key = _key(event)
        atomically = getattr(self.store, "atomically", None)
        if key is not None and atomically is not None:
            return atomically(event, lambda: self._submit(event, key))
        return self._submit(event, key)

    def submit_many(self, events: Sequence[Any]) -> list[Decision]:
        """Evaluate parsed events in order and record the accepted ones, as :meth:`submit` does
        one at a time; when it returns, every accepted event is durable (group commit).

        A store with an ``atomically_many(events, work)`` method (the SQL stores) runs them all
        in one transaction that holds the whole write lock: one commit for the batch, and
        concurrent writers wait for it (keep batches to hundreds of events). If it fails, none
        of the batch is stored and the exception says so; decisions are only returned once the
        batch is committed, so a caller that reports a decision reports a stored one."""
        events = list(events)
        many = getattr(self.store, "atomically_many", None)
        if many is None or len(events) == 1:  # one event keeps its own (per-subject) locks
            return [self.submit(event) for event in events]
        return many(events, lambda: [self._submit(event, _key(event)) for event in events])

    def _submit(self, event: Any, key: tuple[str, str] | None) -> Decision:
        if key is not None:
            first = self.store.decision_for(*key)
            if first is not None:
                return first.as_duplicate()
        decision, state = evaluate(self.policy, self.store.state_for(event) if key else empty_state(),
                                   event, fold=getattr(self.store, "folds_changes", False))
        if decision.status == "accepted":
            self.store.record(event, decision, state)
        return decision

    def preview(self, event: Any) -> Decision:
        """Evaluate one parsed event against the stored state and record nothing (a dry run).

        An event already stored (same source and id) answers with its first decision marked
        ``duplicate``, as :meth:`submit` would; nothing in the store changes either way.
        """
        key = _key(event)
        if key is not None:
            first = self.store.decision_for(*key)
            if first is not None:
                return first.as_duplicate()
        decision, _ = evaluate(self.policy, self.store.state_for(event) if key else empty_state(),
                               event)
        return decision

    def submit_text(self, text: str | bytes | Oversized) -> Decision:
        """Parse one event's JSON text, then :meth:`submit` it; bad JSON is rejected."""
        event, problems = parse_event(text)
        if problems:
            return rejected(None, problems)
        return self.submit(event)

    def replay(self, lines: Iterable[str | bytes | Oversized], order: str = "input",
               batch: int = 1) -> Iterator[tuple[int, Decision]]:
        """(line number, decision) for each non-blank line of a JSON Lines log, evaluated in
        input order, or with ``order="time"`` sorted stably by event time (lines without a
        valid time first, in input order: they are rejected and change nothing).

        Lines may be text or bytes (bytes are decoded strictly: a byte that is not UTF-8
        rejects its line only); :func:`clauseline.events.read_lines` reads a binary stream
        into lines with memory bounded by the event size limit.

        ``batch`` > 1 groups up to that many events per :meth:`submit_many` (one transaction
        each in the SQL stores: group commit). The decisions are the same; each is yielded only
        once its batch is committed, so what a caller has seen is stored."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        numbered: Iterable[tuple[int, Any]] = enumerate(lines, start=1)
        if order == "time":
            numbered = sorted(numbered, key=lambda pair: _time_key(pair[1]))
        elif order != "input":
            raise ValueError(f"order must be 'input' or 'time', not {order!r}")
        if batch == 1 or getattr(self.store, "atomically_many", None) is None:
            for number, line in numbered:
                if _blank(line):
                    continue
                yield number, _with_line_if_rejected(self.submit_text(_without_ending(line)),
                                                     number)
            return
        waiting: list[tuple[int, Any, Decision | None]] = []  # (line, event, or its rejection)
        events = 0
        for number, line in numbered:
            if _blank(line):
                continue
            event, problems = parse_event(_without_ending(line))
            waiting.append((number, event, rejected(None, problems) if problems else None))
            events += not problems
            if events >= batch:
                yield from self._decide(waiting)
                waiting, events = [], 0
        yield from self._decide(waiting)

    def _decide(self, waiting: list[tuple[int, Any, Decision | None]]
                ) -> Iterator[tuple[int, Decision]]:
        """Submit the parsed events of ``waiting`` as one batch, then yield every line's
        decision in order."""
        decided = iter(self.submit_many([event for _, event, refused in waiting
                                         if refused is None]))
        for number, _, refused in waiting:
            yield number, _with_line_if_rejected(refused or next(decided), number)


def _blank(line: Any) -> bool:
    return not isinstance(line, Oversized) and not line.strip()


def _without_ending(line: Any) -> Any:
    if isinstance(line, Oversized):
        return line
    return line.rstrip(b"\r\n" if isinstance(line, (bytes, bytearray)) else "\r\n")


def _time_key(line: Any) -> str:
    """The instant of a log line's event, as sortable text ("" when it has no valid time)."""
    event, problems = parse_event(_without_ending(line)) if not _blank(line) else (None, ["blank"])
    try:
        return instant_key(event["time"]) if not problems and isinstance(event, dict) else ""
    except (KeyError, TypeError, ValueError):
        return ""


def _with_line_if_rejected(decision: Decision, number: int) -> Decision:
    return _with_line(decision, number) if decision.status == "rejected" else decision


def _with_line(decision: Decision, number: int) -> Decision:
    """A rejected decision whose errors name the log line: ``line`` and a ``line N:`` prefix."""
    errors = tuple(dict(e, line=number, message=f"line {number}: {e['message']}")
                   for e in decision.errors)
    return replace(decision, errors=errors)


__all__ = ["MemoryStore", "Problem", "Session", "Store"]
