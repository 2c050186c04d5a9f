"""Running events through the evaluator against a store: one unit of work for every entry point.

The evaluator is pure; a :class:`Session` is the thin loop around it that every entry point
shares (CLI evaluate and replay, HTTP, the stream consumer, the pytest plugin). Every event,
alone or in a batch, takes the same path through a store's :class:`Transaction`::

    for tx in store.transactions(events):       # one attempt each; a retry is a new one
        with tx:                                 # begin: locks, and every read of the batch
            for event in events:
                tx.decided(source, id)           # a repeat answers its first decision
                state = tx.state(event)          # the records it may read, already loaded
                decision, after = evaluate(policy, state, event, fold=True)   # no I/O
                tx.record(event, decision, after, policy_hash)             # kept in the tx
            tx.commit(decisions)                 # one write of everything, then the commit

A single event is a batch of one. The store reads before the evaluator runs and writes after
it: nothing calls back, nothing runs SQL while an event is evaluated, no transaction hides in a
thread-local. Retries (a write conflict, a transient database fault, a commit whose answer was
lost) belong to the store's ``transactions`` iterator: it hands out a new attempt and the
session runs the batch again from its start (evaluation is deterministic).

:class:`MemoryStore`, the store of a replay without a database, keeps what a replay needs in
memory that grows with the live subjects, not with the log: their records (whose journals
:mod:`clauseline.records` bounds) and, per accepted event, 16 bytes of its idempotency index.
The decisions a repeat answers with are written to an anonymous temporary file
(:class:`KeptDecisions`): that file is I/O of the store, as a database would be, never of the
evaluator, and its size grows with the log (about a tenth of the decisions' JSON).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import struct
import sys
import tempfile
import zlib
from array import array
from dataclasses import replace
from typing import Any, Iterable, Iterator, Protocol, Sequence

from .decision import Decision, rejected
from .errors import Problem
from .evaluation import apply_writes, evaluate
from .events import Oversized, parse_event
from .policy.model import Policy
from .records import (DueAfter, Records, changed_records, empty_state, fold_due, instant_key,
                      unloaded)
from .timers import TIMER_SOURCE, due_ticks, is_timer


class Transaction(Protocol):
    """One attempt at a unit of work: a batch of events decided and kept together, or not at
    all. Used as a context manager (``with tx:``); see the module's doc for the loop."""

    #: The batch's decisions once :meth:`commit` succeeded; set before the body runs when an
    #: earlier attempt's commit went unanswered but did happen (the body then does nothing).
    committed: list[Decision] | None
    #: The HTTP request id of each event of the batch, in order (None when there is none): set
    #: by :meth:`Session.submit_many` before the body runs; a store may keep it with each
    #: decision (the SQL stores do), or ignore it.
    request_ids: Sequence[str | None] | None

    def decided(self, source: str, event_id: str) -> Decision | None:
        """The decision already kept for this (source, id), in the store or earlier in this
        batch, if any."""

    def state(self, event: dict, also: Iterable[str] = ()) -> dict:
        """The state this event is evaluated against: a :class:`~clauseline.records.Records`
        reader (or a plain mapping) of every record it may read, loaded now, and the index of
        due instants as far as it needs it. ``also``: more subjects to load (those the last
        evaluation read without their records, :func:`clauseline.records.unloaded`)."""

    def record(self, event: dict, decision: Decision, after: dict,
               policy_hash: str | None) -> None:
        """Keep an accepted event with its decision and the changes ``after`` (what
        ``evaluate(..., fold=True)`` returned over :meth:`state`): later events of the batch
        see them; nothing is durable before :meth:`commit`."""

    def commit(self, decisions: list[Decision]) -> None:
        """Make everything recorded durable at once; then :attr:`committed` is ``decisions``."""


class Store(Protocol):
    """Where a session keeps what it has seen. ``clauseline.store`` has durable implementations;
    :class:`MemoryStore` keeps everything in memory."""

    def transactions(self, events: Sequence[Any], read_only: bool = False
                     ) -> Iterator[Transaction]:
        """Attempts at one unit of work over ``events`` (module doc): iterate, run each inside
        ``with tx:``; the iteration ends once an attempt committed (or, ``read_only``, once one
        ran to its end without committing: a dry run) and raises the store's error when it
        gives up."""


class KeptDecisions:
    """The idempotency index of a :class:`MemoryStore`: the decision of every accepted event,
    by its (source, id), so that a repeat answers its first decision byte for byte.

    What stays in memory is 8 bytes a decision, in sorted arrays (:class:`_Digests`): the
    leading 48 bits of a 64-bit digest of its (source, id), and the last :data:`TAG_BITS` bits
    of the number of the block its canonical JSON was written in (a tag names block ``t``,
    ``t + 65536``, ...: a repeat looks in each, which takes a log of some ten million decisions
    before it is more than one).
    The JSON itself goes to an anonymous temporary file (``tempfile.TemporaryFile``, gone with
    the process) in blocks of about 128 KiB compressed with zlib (about a tenth of the
    decisions' size: some 90 MB of disk at a million decisions, growing with the log like the
    output a replay writes). The file is the store's I/O, never the evaluator's; a repeat reads
    its decision back from there (repeats are rare: a block is decompressed for each, the last
    one kept, and its entries are read until the pair's). A digest only points at a candidate
    block: the (source, id) written beside the JSON decides, so two pairs whose digests collide
    are both kept and told apart."""

    #: a block is compressed and written once it holds this many bytes
    BLOCK = 1 << 17
    #: the bits of a block's number kept with each digest (the digest keeps the 48 others)
    TAG_BITS = 16
    _HEAD = struct.Struct("<II")  # a decision's entry: the lengths of its key and of its JSON
    _BLOCK_HEAD = struct.Struct("<I")  # a block in the file: its compressed length

    def __init__(self):
        self._digests = _Digests(self.TAG_BITS)  # each digest's tag: its block's number, cut
        self._file: Any = None  # made on the first full block
        self._written = 0  # the file's length
        self._offsets = array("Q")  # the file offset of each block written, by number
        self._block = bytearray()  # the decisions not yet written (the block numbered last)
        self._read: tuple[int, bytes] | None = None  # the last block read back: (number, data)

    def __len__(self) -> int:
        return len(self._digests)

    def __sizeof__(self) -> int:
        """The bytes held in memory (``sys.getsizeof``): the index and the block not yet
        written, not the file."""
        return object.__sizeof__(self) + sys.getsizeof(self._digests) + \
            sys.getsizeof(self._offsets) + sys.getsizeof(self._block) + \
            (len(self._read[1]) if self._read else 0)

    @staticmethod
    def _key(source: str, event_id: str) -> bytes:
        # the length keeps the pair unambiguous; surrogates are kept as they came
        return f"{len(source)}:{source}{event_id}".encode("utf-8", "surrogatepass")

    @staticmethod
    def _digest(key: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")

    def add(self, source: str, event_id: str, decision_json: str) -> None:
        """Keep the decision (its canonical JSON) of a pair not kept before."""
        key = self._key(source, event_id)
        data = decision_json.encode("utf-8")
        self._block += self._HEAD.pack(len(key), len(data))
        self._block += key
        self._block += data
        self._digests.add(self._digest(key), len(self._offsets))  # the block being filled
        if len(self._block) >= self.BLOCK:
            self._flush()

    def get(self, source: str, event_id: str) -> str | None:
        """The canonical JSON of the decision kept for this pair, if any."""
        key = self._key(source, event_id)
        period, blocks = 1 << self.TAG_BITS, len(self._offsets) + 1  # + the one in memory
        tags = set(self._digests.find(self._digest(key)))
        for number in sorted(n for tag in tags for n in range(tag, blocks, period)):
            block, at = self._block_at(number), 0
            while at < len(block):  # the block's decisions, one after the other
                key_length, data_length = self._HEAD.unpack_from(block, at)
                at += self._HEAD.size
                if key_length == len(key) and block[at:at + key_length] == key:
                    at += key_length
                    return bytes(block[at:at + data_length]).decode("utf-8")
                at += key_length + data_length
        return None

    def _flush(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="clauseline-decisions-")
        packed = zlib.compress(self._block, 1)
        self._file.write(self._BLOCK_HEAD.pack(len(packed)) + packed)
        self._offsets.append(self._written)
        self._written += self._BLOCK_HEAD.size + len(packed)
        self._block = bytearray()

    def _block_at(self, number: int) -> bytes | bytearray:
        """The decisions of the block numbered ``number`` (the one still in memory when it is
        the last)."""
        if number == len(self._offsets):
            return self._block
        if self._read is None or self._read[0] != number:
            self._file.seek(self._offsets[number])
            length, = self._BLOCK_HEAD.unpack(self._file.read(self._BLOCK_HEAD.size))
            self._read = number, zlib.decompress(self._file.read(length))
            self._file.seek(self._written)
        return self._read[1]


class _Digests:
    """A multiset of 64-bit words, each a digest's leading bits and a ``tag`` in its last
    ``tag_bits`` bits, in sorted ``array`` runs: 8 bytes an entry where a dict of ints takes
    about a hundred. The runs are buckets by the words' leading bits (digests are uniform), each
    kept sorted by ``array.insert`` (a ``memmove`` of a few kilobytes); when the buckets average
    ``BUCKET`` entries, each is split in two by its next bit, so a lookup or an insert costs a
    bisection of one small run at any size."""

    BUCKET = 1024

    def __init__(self, tag_bits: int = 16):
        self._tag_bits = tag_bits
        self._bits = 0  # there are 2 ** _bits buckets
        self._runs = [array("Q")]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + sys.getsizeof(self._runs) + \
            sum(sys.getsizeof(run) for run in self._runs)

    def find(self, digest: int) -> Iterator[int]:
        """The tags kept with the leading bits of ``digest`` (almost always one or none)."""
        shift = self._tag_bits
        prefix = digest >> shift
        run = self._runs[digest >> (64 - self._bits)]
        at = bisect.bisect_left(run, prefix << shift)
        while at < len(run) and run[at] >> shift == prefix:
            yield run[at] & ((1 << shift) - 1)
            at += 1

    def add(self, digest: int, tag: int) -> None:
        shift = self._tag_bits
        word = (digest >> shift << shift) | (tag & ((1 << shift) - 1))
        run = self._runs[word >> (64 - self._bits)]
        run.insert(bisect.bisect_right(run, word), word)
        self._count += 1
        if self._count > self.BUCKET << self._bits:
            self._split()

    def _split(self) -> None:
        shift = 63 - self._bits  # the bit that tells the two halves of a bucket apart
        runs = []
        for bucket in range(len(self._runs)):
            old = self._runs[bucket]
            self._runs[bucket] = None  # freed as the loop goes
            middle = bisect.bisect_left(old, (bucket << 1 | 1) << shift)
            runs += [old[:middle], old[middle:]]
        self._runs = runs
        self._bits += 1


class MemoryStore:
    """The default store of a replay without ``--db``: everything in memory but the decisions'
    JSON (:class:`KeptDecisions`), nothing kept after the process."""

    def __init__(self, state: dict | None = None):
        #: the whole state (subjects and the index of due instants); ``state`` starts it from
        #: a state read from a file (``evaluate --state``)
        self.state = state if state is not None else empty_state()
        #: the idempotency index: each accepted event's (source, id) -> its decision
        self.decisions = KeptDecisions()

    def decision_for(self, source: str, event_id: str) -> Decision | None:
        """The decision kept for this (source, id), if any."""
        text = self.decisions.get(source, event_id)
        return None if text is None else Decision.from_dict(json.loads(text))

    def transactions(self, events: Sequence[Any], read_only: bool = False
                     ) -> Iterator["MemoryTransaction"]:
        """One attempt, which cannot fail: memory has no faults to retry."""
        yield MemoryTransaction(self, read_only)

    def _keep(self, event: dict, decision: Decision, after: dict) -> None:
        self.decisions.add(event["source"], event["id"], decision.to_json())
        if after is self.state:
            return  # nothing changed
        # the records this event changed, folded into the map this store owns: the cost of an
        # event does not grow with the number of subjects
        subjects = self.state["subjects"]
        if not isinstance(subjects, dict):  # a mapping of another kind: made a dict once
            subjects = dict(subjects)
        subjects.update(changed_records(after))
        due = after.get("due")
        if isinstance(due, DueAfter):
            # and the index of due instants: O(log n) per entry changed, at any size
            due = fold_due(due.before, due)
        self.state = dict(after, subjects=subjects, due=due)


class MemoryTransaction:
    """A :class:`Transaction` of the :class:`MemoryStore`: each recorded event is applied at
    once (there is nothing to roll back to: the store is gone with the process)."""

    def __init__(self, store: MemoryStore, read_only: bool):
        self.store = store
        self.read_only = read_only
        self.committed: list[Decision] | None = None
        self.request_ids: Sequence[str | None] | None = None  # a memory store keeps none

    def __enter__(self) -> "MemoryTransaction":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def decided(self, source: str, event_id: str) -> Decision | None:
        return self.store.decision_for(source, event_id)

    def state(self, event: dict, also: Iterable[str] = ()) -> dict:
        return self.store.state  # every record is loaded: nothing is ever unloaded

    def record(self, event: dict, decision: Decision, after: dict,
               policy_hash: str | None) -> None:
        if self.read_only:
            raise RuntimeError("a read-only transaction records nothing")
        self.store._keep(event, decision, after)

    def commit(self, decisions: list[Decision]) -> None:
        self.committed = decisions


def _key(event: Any) -> tuple[str, str] | None:
    if isinstance(event, dict) and isinstance(event.get("source"), str) and isinstance(event.get("id"), str):
        return event["source"], event["id"]
    return None


class Session:
    """Evaluates events in the order they are given against a store, through its transactions."""

    def __init__(self, policy: Policy, store: Store | None = None):
        self.policy = policy
        self.store = store if store is not None else MemoryStore()
        #: each policy version's content hash, kept with every decision it made (the chain)
        self.policy_hashes = {v.version: v.content_hash or None for v in policy.versions}

    def submit(self, event: Any) -> Decision:
        """Evaluate one parsed event (a dict) and record it if accepted: a batch of one."""
        return self.submit_many([event])[0]

    def submit_many(self, events: Sequence[Any],
                    request_ids: Sequence[str | None] | None = None,
                    shared: Sequence[list | None] | None = None) -> list[Decision]:
        """Evaluate parsed events in order and record the accepted ones in one transaction:
        each is decided exactly as if it had been committed alone, and when this returns every
        accepted one is durable (group commit). If the store gives up, none of the batch is
        stored and its error says so; decisions are returned only once committed, so a caller
        that reports a decision reports a stored one. A batch of several events takes the SQL
        stores' whole write lock: keep batches to hundreds of events. ``request_ids``: the HTTP
        request id of each event, in order, which a SQL store keeps with its decision.
        ``shared``: for each event, None, or its writes to records it does not name (a
        partition that none of its subjects concerns: :func:`clauseline.evaluation.apply_writes`,
        docs/scale.md), made and kept without evaluating it."""
        events = list(events)
        if not any(_key(event) for event in events):  # nothing the store could know or keep
            return [self._unkeyed(event) for event in events]
        for tx in self.store.transactions(events):
            tx.request_ids = request_ids
            with tx:
                if tx.committed is None:
                    if shared is None:
                        tx.commit([self._decide(tx, event) for event in events])
                    else:
                        tx.commit([self._decide(tx, event, writes=writes)
                                   for event, writes in zip(events, shared)])
        return tx.committed

    def advance(self, time: str) -> list[Decision]:
        """Fire and record, in one transaction, the timers due strictly before ``time`` (an RFC
        3339 time: a watermark, the event time a stream's producer has reached): what a valid
        event at ``time`` would fire before it, without an event. Returns their decisions, in
        the order they fired (none when nothing is due)."""
        mark = {"specversion": "1.0", "id": "watermark", "source": TIMER_SOURCE,
                "type": "clock.tick", "time": time, "data": {}}
        instant_key(time)  # a ValueError for what is no time
        for tx in self.store.transactions([mark]):
            with tx:
                if tx.committed is None:
                    tx.commit(list(self.fire(tx, mark)))
        return tx.committed

    def preview(self, event: Any) -> Decision:
        """Evaluate one parsed event against the stored state and record nothing (a dry run).

        An event already stored (same source and id) answers with its first decision marked
        ``duplicate``, as :meth:`submit` would; nothing in the store changes either way.
        """
        if _key(event) is None:
            return self._unkeyed(event)
        for tx in self.store.transactions([event], read_only=True):
            with tx:
                decision = self._decide(tx, event, keep=False)
        return decision

    def state_for(self, event: Any) -> dict:
        """The state ``event`` would be evaluated against, read from the store (nothing is
        written): every record its evaluation reads, loaded (for ``explain``)."""
        if _key(event) is None:
            return empty_state()
        for tx in self.store.transactions([event], read_only=True):
            with tx:
                if self.policy.schemas.event_problems(event):
                    state = tx.state(event)
                else:
                    state = self._dry_run(tx, event)[1]
        return state

    def _unkeyed(self, event: Any) -> Decision:
        """An event without a usable (source, id): rejected by validation, against nothing."""
        return evaluate(self.policy, empty_state(), event)[0]

    def _decide(self, tx: Transaction, event: Any, keep: bool = True,
                writes: list | None = None) -> Decision:
        key = _key(event)
        if key is None:
            return self._unkeyed(event)
        first = tx.decided(*key)
        problems = self.policy.schemas.event_problems(event)
        if not problems and is_timer(event):
            problems = [Problem("event.reserved_source", f"the source {TIMER_SOURCE} is the "
                                "engine's own, for the ticks of its timers; an event cannot "
                                "be posted under it", "/source")]
        if first is not None:  # a repeat, valid, still shows that its time has come
            fired = self.fire(tx, event) if keep and not problems else ()
            return replace(first.as_duplicate(), fired=fired) if fired else first.as_duplicate()
        if problems:
            return rejected(event, problems)
        if not keep:  # a dry run: the timers' changes are seen, not recorded
            return self._dry_run(tx, event)[0]
        if writes is not None:  # what it writes outside its subjects, made without evaluating
            also = {w[0] for w in writes}
            state = tx.state(event, also=also)
            fired = self.fire(tx, event, state)
            decision, after = apply_writes(self.policy, tx.state(event, also=also) if fired
                                           else state, event, writes, fold=True)
        else:
            state = tx.state(event)
            fired = self.fire(tx, event, state)
            decision, after, _ = self._evaluate(tx, event, None if fired else state)
        if decision.status == "accepted":
            tx.record(event, decision, after, self.policy_hashes.get(decision.policy_version))
        return replace(decision, fired=fired) if fired else decision

    def fire(self, tx: Transaction, event: dict, state: dict | None = None
             ) -> tuple[Decision, ...]:
        """Fire, record and return the timers due before the valid ``event``'s time: each an
        obligation still owed at its due instant, decided by a tick of its own at that instant
        (:mod:`clauseline.timers`), in the order (due instant, subject, ref). ``state``: what
        ``tx.state(event)`` gave, when the caller has it already."""
        fired = []
        for tick in due_ticks(tx.state(event) if state is None else state, event):
            decision, after, _ = self._evaluate(tx, tick)
            if decision.status == "accepted":
                tx.record(tick, decision, after, self.policy_hashes.get(decision.policy_version))
                fired.append(decision)
        return tuple(fired)

    def _dry_run(self, tx: Transaction, event: dict) -> tuple[Decision, dict]:
        """(decision, the state it was evaluated against) of a validated event, after the
        timers due before it, none of it recorded (a dry run, ``explain``)."""
        wanted: set[str] = set()
        while True:
            state = loaded = tx.state(event, also=wanted)
            for tick in due_ticks(state, event):
                state = evaluate(self.policy, state, tick, checked=True)[1]
            decision = evaluate(self.policy, state, event, checked=True)[0]
            more = unloaded(loaded) - wanted
            if not more:
                return decision, state
            wanted |= more

    def _evaluate(self, tx: Transaction, event: dict, state: dict | None = None
                  ) -> tuple[Decision, dict, dict]:
        """(decision, changes, the state evaluated against) of a validated event: evaluated
        again, with more loaded, while an evaluation reads a record its transaction had not
        loaded (see :class:`~clauseline.records.Records`). ``state``: ``tx.state(event)``, when
        the caller has it already and nothing was recorded since."""
        wanted: set[str] = set()
        if state is None:
            state = tx.state(event)
        while True:
            decision, after = evaluate(self.policy, state, event, fold=True, checked=True)
            more = unloaded(state) - wanted
            if not more:
                return decision, after, state
            wanted |= more
            state = tx.state(event, also=wanted)

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
        each: group commit). The decisions are the same; each is yielded only once its batch
        is committed, so what a caller has seen is stored."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        numbered: Iterable[tuple[int, Any]] = enumerate(lines, start=1)
        if order == "time":
            numbered = sorted(numbered, key=lambda pair: _time_key(pair[1]))
        elif order != "input":
            raise ValueError(f"order must be 'input' or 'time', not {order!r}")
        waiting: list[tuple[int, Any, Decision | None]] = []  # (line, event, or its rejection)
        events = 0
        for number, line in numbered:
            if _blank(line):
                continue
            event, problems = parse_event(_without_ending(line))
            if problems and not events:  # no event waits before it: answered at once
                yield number, _with_line(rejected(None, problems), number)
                continue
            waiting.append((number, event, rejected(None, problems) if problems else None))
            events += not problems
            if events >= batch:
                yield from self._decide_lines(waiting)
                waiting, events = [], 0
        yield from self._decide_lines(waiting)

    def _decide_lines(self, waiting: list[tuple[int, Any, Decision | None]]
                      ) -> Iterator[tuple[int, Decision]]:
        """Submit the parsed events of ``waiting`` as one batch, then yield every line's
        decision in order."""
        parsed = [event for _, event, refused in waiting if refused is None]
        decided = iter(self.submit_many(parsed) if parsed else [])
        for number, _, refused in waiting:
            decision = refused or next(decided)
            for timer in decision.fired:  # the timers it fired, each a decision of its own
                yield number, timer
            yield number, _with_line_if_rejected(decision, number)


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


__all__ = ["MemoryStore", "MemoryTransaction", "Problem", "Records", "Session", "Store",
           "Transaction"]
