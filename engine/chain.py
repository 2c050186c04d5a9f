"""The hash chain of the decision log: what makes a stored or exported log tamper-evident.

Every accepted event the store keeps is one **record**: ``{"seq", "event", "decision",
"policy_hash", "engine_version", "prev", "hash"}``, where ``event`` and ``decision`` are the
stored (reduced) documents, ``policy_hash`` the content hash of the policy version that decided
it (``PolicyVersion.content_hash``: its rules, derivations, facility profiles and schemas),
``engine_version`` the version of the clauseline package that decided it (records stored before
the store recorded it, revision 0006, have no such key, and verify as they were written),
``prev`` the ``hash`` of the record before it (``GENESIS`` for the first) and ``hash`` the
SHA-256 of the canonical JSON of the record without its ``hash``.
An export adds two keys to each record outside the chain (:data:`UNCHAINED`: the hash does not
cover them, so the chain is the same with or without them): ``decision_id``, the decision's own
id (:func:`decision_id`, derived, so :func:`verify` recomputes it), and ``request_id``, the HTTP
request that stored it (or null).
Changing a record breaks its own hash; deleting, inserting or reordering one breaks the ``prev``
of the record after it. Truncating the end leaves a valid shorter chain, so an auditor keeps the
head hash (``clauseline log export`` prints it) and checks it with ``verify --head``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import canonical
from .redact import mask_numbers, quote

#: The ``prev`` of the first record.
GENESIS = "0" * 64
FIELDS = ("seq", "event", "decision", "policy_hash", "prev", "hash")
#: The key a record names the engine version under (absent from records stored before it was).
ENGINE_VERSION = "engine_version"


def engine_version() -> str:
    """The version of the installed clauseline package (its metadata), which every chained
    record names; ``0+unknown`` for a source tree never installed."""
    global _ENGINE
    if _ENGINE is None:
        from importlib.metadata import PackageNotFoundError, version
        try:
            _ENGINE = version("clauseline")
        except PackageNotFoundError:
            _ENGINE = "0+unknown"
    return _ENGINE


_ENGINE: str | None = None


#: Keys an export adds to a record outside the chain (revision 0007): the decision's id, derived
#: (:func:`decision_id`, checked by :func:`verify`), and the HTTP request id that stored it.
DECISION_ID, REQUEST_ID = "decision_id", "request_id"
UNCHAINED = (DECISION_ID, REQUEST_ID)


def decision_id(source: Any, event_id: Any, policy_version: Any) -> str:
    """The stable id of the decision of the event (``source``, ``event_id``) under
    ``policy_version``: ``dec_`` and the first 26 characters (130 bits) of the lowercase base32
    SHA-256 of the canonical JSON ``[source, event_id, policy_version]``. Derived from what the
    decision itself names (``event_source``, ``event_id``, ``policy_version``), not from its
    place in a store: a repeat of the event answers the same id, the same log replayed into
    another store gives the same ids, and an auditor recomputes it from an export."""
    digest = hashlib.sha256(canonical.dumps([source, event_id, policy_version])
                            .encode("utf-8", "surrogatepass")).digest()
    # base32 of the digest's first 130 bits, two characters (ten bits) at a time: the same
    # text as ``base64.b32encode``, which loops in Python over the whole digest, at a third of
    # its cost (a store derives an id for every event it keeps)
    bits = int.from_bytes(digest[:17], "big") >> 6
    return "dec_" + "".join([_BASE32_PAIRS[(bits >> shift) & 1023] for shift in _SHIFTS])


_BASE32_PAIRS = [a + b for a in "abcdefghijklmnopqrstuvwxyz234567"
                 for b in "abcdefghijklmnopqrstuvwxyz234567"]
_SHIFTS = tuple(range(120, -1, -10))


def decision_id_of(decision: Any) -> str | None:
    """:func:`decision_id` of a decision's JSON (a dict), or None when it is not one."""
    if not isinstance(decision, dict):
        return None
    return decision_id(decision.get("event_source"), decision.get("event_id"),
                       decision.get("policy_version"))


def record_hash(record: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a record without its ``hash`` (and without the
    keys outside the chain, :data:`UNCHAINED`)."""
    body = {k: v for k, v in record.items() if k != "hash" and k not in UNCHAINED}
    return hashlib.sha256(canonical.dumps(body).encode("utf-8")).hexdigest()


def text_hash(seq: int, event: str, decision: str, policy_hash: str | None, prev: str,
              engine: str | None = None) -> str:
    """:func:`record_hash` of the record :func:`link` makes, from the canonical JSON of its
    event and decision (``canonical.dumps``) as the store has already made it to write them:
    canonical JSON nests, so the record's text is theirs put between its other members, and
    the documents are not serialised again."""
    parts = ['{"decision":', decision]
    if engine is not None:
        parts += [',"engine_version":', canonical.dumps(engine)]
    parts += [',"event":', event, ',"policy_hash":', canonical.dumps(policy_hash),
              ',"prev":', canonical.dumps(prev), ',"seq":', canonical.dumps(seq), "}"]
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def link(seq: int, event: Any, decision: Any, policy_hash: str | None, prev: str,
         engine: str | None = None) -> dict:
    """A new record after ``prev``, with its hash; ``engine`` is the engine version that
    decided it (None only for a record stored before versions were recorded: no key)."""
    record = {"seq": seq, "event": event, "decision": decision, "policy_hash": policy_hash,
              "prev": prev}
    if engine is not None:
        record[ENGINE_VERSION] = engine
    record["hash"] = record_hash(record)
    return record


#: Longest event attribute (source, id, time) a verdict shows, after masking.
SHOWN_MAX = 80


def shown(value: Any) -> str:
    """An event attribute of a record as a verdict shows it: card-like and SSN-like numbers
    masked (:func:`clauseline.redact.mask_numbers`, as every message masks them), control and
    bidirectional characters escaped, cut after :data:`SHOWN_MAX` characters; a value that is
    not a string is described by its type (:func:`clauseline.redact.quote`)."""
    if not isinstance(value, str):
        return "(none)" if value is None else f"({quote(value)})"
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in mask_numbers(value))
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX] + "..."


def event_named(record: Any) -> str | None:
    """``source S, id I, time T`` of a record's event, masked (:func:`shown`); None when the
    record holds no event object."""
    event = record.get("event") if isinstance(record, dict) else None
    if not isinstance(event, dict):
        return None
    return ", ".join(f"{key} {shown(event.get(key))}" for key in ("source", "id", "time"))


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``ok``, how many records, the head hash, and where the chain
    first breaks (the line of the file, the record's ``seq`` when it has one, the event of that
    record, and why). ``unreadable`` when the check could not read a record at all (a line that
    is not JSON, not UTF-8, nested too deep or longer than the limit): an error, not a finding
    (``clauseline verify`` exits 2, not 1)."""

    ok: bool
    records: int
    head: str
    line: int | None = None
    seq: int | None = None
    reason: str = ""
    #: (engine version, records) of the records checked, by version; ``not recorded`` for
    #: records stored before the engine version was
    engines: tuple[tuple[str, int], ...] = ()
    #: the event of the first broken record (:func:`event_named`), when it holds one
    event: str | None = None
    #: the line could not be read as JSON: the file is not a log export there
    unreadable: bool = False

    def __str__(self) -> str:
        if self.ok:
            engines = ", ".join(f"{v} ({n})" for v, n in self.engines)
            return (f"chain intact: {self.records} record(s), head {self.head}"
                    + (f"; decided by engine version {engines}" if engines else ""))
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        if self.event:
            where += f"; event {self.event}"
        if self.unreadable:
            return f"cannot read line {self.line}: {self.reason}"
        return f"chain broken at {where}: {self.reason}"


def verify(lines: Iterable[str | bytes], head: str | None = None,
           loads: Callable[[str | bytes], Any] = json.loads) -> Verdict:
    """Check a log export line by line (text or bytes; anything else, such as the marker
    ``clauseline.events.read_lines`` gives for an over-long line, is a broken record); the
    first broken record stops the check. ``loads`` parses a line: ``clauseline verify`` passes
    ``clauseline.events.parsing.loads_bounded``, whose ``RecursionError`` for a line nested
    deeper than a record can be makes it a broken record before anything recurses into it."""
    prev, count, number = GENESIS, 0, 0
    engines: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, (str, bytes)):
            return Verdict(False, count, prev, number, None, "the line is longer than the limit",
                           unreadable=True)
        if not line.strip():
            continue
        try:
            record = loads(line)
        except RecursionError:  # nested deeper than the parser recurses, or than ``loads`` takes
            return Verdict(False, count, prev, number, None,
                           "the line is nested too deep to be a log record", unreadable=True)
        except ValueError:  # not JSON, or not UTF-8
            return Verdict(False, count, prev, number, None,
                           "the line is not JSON (or not UTF-8): not a log export",
                           unreadable=True)
        if not isinstance(record, dict) or not _record_shaped(record):
            return Verdict(False, count, prev, number, None,
                           f"not a log record (a record has exactly {', '.join(FIELDS)}, and "
                           f"optionally {ENGINE_VERSION}, {DECISION_ID} and {REQUEST_ID})",
                           event=event_named(record))
        seq = record["seq"] if isinstance(record["seq"], int) else None
        if record["prev"] != prev:
            return Verdict(False, count, prev, number, seq,
                           "its prev is not the hash of the record before it: a record was "
                           "deleted, inserted or moved here", event=event_named(record))
        try:
            intact = record["hash"] == record_hash(record)
        except ValueError:  # a string that is not text (a lone surrogate) cannot be hashed
            intact = False
        if not intact:
            return Verdict(False, count, prev, number, seq,
                           "its hash does not match its content: the record was changed",
                           event=event_named(record))
        if DECISION_ID in record and record[DECISION_ID] != decision_id_of(record["decision"]):
            # outside the hash, but derived: a changed id is caught by deriving it again
            return Verdict(False, count, prev, number, seq,
                           f"its {DECISION_ID} is not the one its decision's event_source, "
                           "event_id and policy_version give: the id was changed",
                           event=event_named(record))
        prev, count = record["hash"], count + 1
        engine = record.get(ENGINE_VERSION, "not recorded")
        engines[engine] = engines.get(engine, 0) + 1
    if head is not None and head != prev:
        return Verdict(False, count, prev, number + 1, None,
                       f"the chain ends at {prev}, not at the expected head {head}: records "
                       "were removed from the end, or added after it")
    return Verdict(True, count, prev, engines=tuple(sorted(engines.items())))


def _record_shaped(record: dict) -> bool:
    """Whether a record has exactly the chain's fields (and a string engine version, or none:
    records stored before the version was recorded have none)."""
    keys = set(record)
    if ENGINE_VERSION in keys:
        keys.discard(ENGINE_VERSION)
        if not isinstance(record[ENGINE_VERSION], str):
            return False
    # exports since revision 0007 add the decision id and the request id (or null)
    if DECISION_ID in keys:
        keys.discard(DECISION_ID)
        if not isinstance(record[DECISION_ID], str):
            return False
    if REQUEST_ID in keys:
        keys.discard(REQUEST_ID)
        if not isinstance(record[REQUEST_ID], (str, type(None))):
            return False
    return keys == set(FIELDS)
