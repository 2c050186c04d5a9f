"""The hash chain of the decision log: what makes a stored or exported log tamper-evident.

Every accepted event the store keeps is one **record**: ``{"seq", "event", "decision",
"policy_hash", "prev", "hash"}``, where ``event`` and ``decision`` are the stored (reduced)
documents, ``policy_hash`` the content hash of the policy version that decided it
(``PolicyVersion.content_hash``), ``prev`` the ``hash`` of the record before it (``GENESIS`` for
the first) and ``hash`` the SHA-256 of the canonical JSON of the record without its ``hash``.
Changing a record breaks its own hash; deleting, inserting or reordering one breaks the ``prev``
of the record after it. Truncating the end leaves a valid shorter chain, so an auditor keeps the
head hash (``clauseline log export`` prints it) and checks it with ``verify --head``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from . import canonical

#: The ``prev`` of the first record.
GENESIS = "0" * 64
FIELDS = ("seq", "event", "decision", "policy_hash", "prev", "hash")


def record_hash(record: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a record without its ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical.dumps(body).encode("utf-8")).hexdigest()


def link(seq: int, event: Any, decision: Any, policy_hash: str | None, prev: str) -> dict:
    """A new record after ``prev``, with its hash."""
    record = {"seq": seq, "event": event, "decision": decision, "policy_hash": policy_hash,
              "prev": prev}
    record["hash"] = record_hash(record)
    return record


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``ok``, how many records, the head hash, and where the chain
    first breaks (the line of the file, the record's ``seq`` when it has one, and why)."""

    ok: bool
    records: int
    head: str
    line: int | None = None
    seq: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"chain intact: {self.records} record(s), head {self.head}"
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"chain broken at {where}: {self.reason}"


def verify(lines: Iterable[str | bytes], head: str | None = None) -> Verdict:
    """Check a log export line by line (text or bytes; anything else, such as the marker
    ``clauseline.events.read_lines`` gives for an over-long line, is a broken record); the
    first broken record stops the check."""
    prev, count, number = GENESIS, 0, 0
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, (str, bytes)):
            return Verdict(False, count, prev, number, None, "the line is longer than the limit")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8
            return Verdict(False, count, prev, number, None, "the line is not JSON")
        except RecursionError:  # nested deeper than the parser recurses
            return Verdict(False, count, prev, number, None,
                           "the line is nested too deep to be a log record")
        if not isinstance(record, dict) or set(record) != set(FIELDS):
            return Verdict(False, count, prev, number, None,
                           f"not a log record (a record has exactly {', '.join(FIELDS)})")
        seq = record["seq"] if isinstance(record["seq"], int) else None
        if record["prev"] != prev:
            return Verdict(False, count, prev, number, seq,
                           "its prev is not the hash of the record before it: a record was "
                           "deleted, inserted or moved here")
        try:
            intact = record["hash"] == record_hash(record)
        except ValueError:  # a string that is not text (a lone surrogate) cannot be hashed
            intact = False
        if not intact:
            return Verdict(False, count, prev, number, seq,
                           "its hash does not match its content: the record was changed")
        prev, count = record["hash"], count + 1
    if head is not None and head != prev:
        return Verdict(False, count, prev, number + 1, None,
                       f"the chain ends at {prev}, not at the expected head {head}: records "
                       "were removed from the end, or added after it")
    return Verdict(True, count, prev)
