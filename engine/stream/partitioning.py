"""Which partition owns an event, and which partitions must evaluate it.

A partition is a slice of the data subjects: ``partition_of(subject, n)`` is a stable hash of
the subject id (BLAKE2b, not Python's salted ``hash``), the same in every process, host and
version. One subject's events always land in one partition, and a partition's consumer applies
them in the stream's order.

An event does not always stay inside its subject's partition (docs/scale.md, "Events that cross
partitions"). The shipped rules let an event

- write the record of every subject it names in its data (``svv.session.recorded``
  remembers a recording on each participant), and decide outcomes about them (call parties,
  SVV participants);
- write the shared record (subject ``*``: a recording deleted for an exempt party, clause R),
  which every event reads (``memory.global``);
- pass the due instant of an obligation of any subject (clause U: its timer fires before the
  first event later than it, whatever that event's subject).

So a :class:`Route` names, besides the owner (the partition of the CloudEvents ``subject``),
every partition that evaluates the event in full: those of every subject it names, or all of
them for a subject-less event (``clock.tick``, ``policy.changed``) and for an event that writes
the shared record or a subject it does not name (the producer finds out, where the rules allow,
by evaluating it against an empty state; else every event of such a type). Where the rules
allow, a partition that none of the event's subjects concerns receives only the writes the
event makes there (``Route.writes``, the ``Clauseline-Shared-Writes`` header) and makes them
without evaluating it. The producer
publishes the event once on the subject of each of those partitions (:meth:`Router.targets`,
``NAME.p.K``), and each partition's consumer reads its own subject only. Each partition keeps,
of its decision, the outcomes about its own subjects (:mod:`clauseline.stream.merge`).
Deadlines are timers (:mod:`clauseline.timers`): each message carries the producer's
watermark (``Clauseline-Watermark``, :class:`clauseline.stream.publish.Watermark`), and a
partition fires its timers due before it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..decision import GLOBAL
from ..records import ENGINE_KEYS, instant_key, named_subjects

#: The subjects of a stream: ``NAME.p.K``, what partition K must see (its own events, those
#: fanned out to it, the broadcasts and the watermarks), read by partition K's consumer alone.
PARTITION_TOKEN = "p"
#: The header of an event's copy sent to a partition that none of its subjects concerns: the
#: writes it makes to the shared record, as JSON (:meth:`Router.writes_from_header`).
SHARED_WRITES = "Clauseline-Shared-Writes"
#: Most partitions a stream may have.
MAX_PARTITIONS = 1024
_ITEM_SUBJECT = re.compile(r"^\{item\.subject\}$")


def partition_of(subject: str, partitions: int) -> int:
    """The partition (0 to ``partitions`` - 1) of a subject id: stable across processes."""
    digest = hashlib.blake2b(subject.encode("utf-8", "surrogatepass"), digest_size=8,
                             person=b"clauseline.part").digest()
    return int.from_bytes(digest, "big") % partitions


@dataclass(frozen=True)
class Route:
    """Where an event goes. ``owner``: the partition of its CloudEvents ``subject`` (None for a
    subject-less event, or one that does not parse: see :func:`route`); ``partitions``: every
    partition that evaluates it in full, ``None`` meaning all of them."""

    owner: int | None
    partitions: frozenset[int] | None
    #: the event's writes to records it does not name (the shared record ``*``), found by the
    #: producer (:func:`clauseline.evaluation.writes_outside`): every partition outside
    #: ``partitions`` receives them (``Clauseline-Shared-Writes``) and makes them without
    #: evaluating the event. None: no partition outside ``partitions`` receives the event.
    writes: tuple | None = None

    def concerns(self, partition: int) -> bool:
        """Whether ``partition`` evaluates the event in full."""
        return self.partitions is None or partition in self.partitions

    def header(self) -> str:
        """The ``Clauseline-Partitions`` header: ``*`` or the partitions, owner first."""
        if self.partitions is None:
            return "*"
        rest = sorted(self.partitions - {self.owner})
        return ",".join(str(p) for p in ([self.owner] if self.owner is not None else []) + rest)


class Router:
    """Routes events for a policy and a partition count (see the module's docstring)."""

    def __init__(self, policy, partitions: int):
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be 1 to {MAX_PARTITIONS}, not {partitions}")
        self.policy = policy
        self.partitions = partitions
        #: event types evaluated by every partition: their rules write the shared record, or a
        #: subject the event may not name ("*" when such a rule takes every type)
        self.everywhere = broadcast_types(policy)
        #: of those, the types where such a rule reads a subject's memory or profile: whether it
        #: writes cannot be known from the event alone
        self.stateful = broadcast_types(policy, stateful_only=True)
        #: event types whose rules open, extend or close an obligation (a due instant moves)
        self.obligation_types = obligation_types(policy)

    def partition(self, subject: str) -> int:
        return partition_of(subject, self.partitions)

    def route(self, event: Any, exact: bool = False) -> Route:
        """The route of a parsed event (a dict), or of anything else (a line that did not parse:
        partition 0 owns it, and rejects it).

        An event of a type whose rules may write the shared record goes to every partition. With
        ``exact`` (the producer's side: ``publish``, the service's enqueue mode), when every such
        rule of its type decides from the event alone (no ``memory.`` or ``profile.``), the event
        is evaluated once against an empty state to see whether it writes outside the subjects it
        names; only then does it go to every partition. Consumers take that route from the
        ``Clauseline-Partitions`` header (:meth:`from_header`)."""
        if not isinstance(event, dict):
            return Route(0, frozenset({0}))
        subject = event.get("subject")
        if "subject" not in event:
            return Route(None, None)  # clock.tick, policy.changed: every partition decides it
        if not isinstance(subject, str):
            return Route(0, frozenset({0}))  # rejected by its schema, wherever it is decided
        owner = self.partition(subject)
        kind = event.get("type")
        named = named_subjects(event)
        concerned = frozenset(self.partition(s) for s in named)
        if "*" in self.everywhere or (isinstance(kind, str) and kind in self.everywhere):
            if not (exact and self.decides_alone(kind)):
                return Route(owner, None)
            writes = self.writes_elsewhere(event, named)
            if writes is None:
                return Route(owner, None)
            if writes:
                return Route(owner, concerned, tuple(writes))
        return Route(owner, concerned)

    def decides_alone(self, kind: Any) -> bool:
        """Whether every rule of events of type ``kind`` that writes outside the subjects an
        event names decides from the event alone (no ``memory.`` or ``profile.``): what such an
        event writes there is then what it writes against an empty state."""
        return "*" not in self.stateful and kind not in self.stateful

    def writes_elsewhere(self, event: dict, named: set[str]) -> list | None:
        """What the event, evaluated against an empty state, writes to records other than those
        of the subjects it names (the shared record ``*``, above all): ``[]`` for nothing, None
        when that cannot be told from the changes (it then goes everywhere)."""
        from ..evaluation import empty_state, evaluate, writes_outside
        decision, state = evaluate(self.policy, empty_state(), event)
        if decision.status != "accepted":
            return []  # rejected everywhere: it writes nothing
        if not any(sid not in named for sid in (state.get("subjects") or {})):
            return []
        return writes_outside(state, named, instant_key(event["time"]))

    def writes_from_header(self, event: Any, header: str | None) -> list | None:
        """A consumer's reading of ``Clauseline-Shared-Writes`` on an event that reached a
        partition none of its subjects concerns: the writes to make without evaluating it, or
        None (the event is then evaluated in full, as a producer that sets no such header
        asks). Taken only for an event of a type whose writes there depend on the event alone,
        and only writes of rule verbs to records the event does not name."""
        from ..evaluation.evaluator import WRITE_VERBS
        kind = event.get("type") if isinstance(event, dict) else None
        if not header or not isinstance(kind, str) or not self.decides_alone(kind) \
                or not ("*" in self.everywhere or kind in self.everywhere):
            return None
        try:
            writes = json.loads(header)
        except (ValueError, RecursionError):
            return None
        named = named_subjects(event)
        if not isinstance(writes, list) or not writes:
            return None
        for write in writes:
            if not (isinstance(write, list) and len(write) == 4 and isinstance(write[0], str)
                    and write[0] not in named and write[1] in WRITE_VERBS
                    and isinstance(write[2], list) and write[2]
                    and all(isinstance(step, str) for step in write[2])
                    and write[2][0] not in ENGINE_KEYS):
                return None
        return writes

    def from_header(self, event: Any, header: str | None) -> Route:
        """The route of an event as a consumer takes it: the producer's exact route when its
        ``Clauseline-Partitions`` header agrees with what the event shows (its owner first, every
        partition of a subject it names), else the cautious :meth:`route`."""
        cautious = self.route(event)
        if cautious.partitions is not None or cautious.owner is None or not header \
                or header == "*":
            return cautious
        try:
            given = [int(p) for p in header.split(",")]
        except ValueError:
            return cautious
        named = {self.partition(s) for s in named_subjects(event)}
        if not given or given[0] != cautious.owner or not named <= set(given) \
                or any(not 0 <= p < self.partitions for p in given):
            return cautious
        return Route(cautious.owner, frozenset(given))

    def targets(self, route: Route) -> list[int]:
        """The partitions an event of this route is published to, the owner first: every one
        that evaluates it (all of them for a subject-less event or a write to the shared
        record)."""
        if route.partitions is None:
            first = [route.owner] if route.owner is not None else []
            return first + [k for k in range(self.partitions) if k != route.owner]
        rest = sorted(route.partitions - {route.owner})
        first = ([route.owner] if route.owner is not None else []) + rest
        if route.writes is None:
            return first
        return first + [k for k in range(self.partitions) if k not in route.partitions]


def nats_subject(stream: str, partition: int) -> str:
    """The NATS subject of what ``partition`` of ``stream`` must see."""
    return f"{stream}.{PARTITION_TOKEN}.{partition}"


def owns(outcome: dict, partition: int, partitions: int) -> bool:
    """Whether an outcome is about a subject of ``partition`` (an outcome about every subject,
    ``*``, is nobody's in particular: see :mod:`clauseline.stream.merge`)."""
    subject = outcome.get("subject")
    return isinstance(subject, str) and subject != GLOBAL and \
        partition_of(subject, partitions) == partition


def broadcast_types(policy, stateful_only: bool = False) -> frozenset[str]:
    """Event types whose rules ``remember`` into a record other than the event's subject or a
    subject it names under ``subject`` (``{item.subject}``): the shared record ``*`` above all.
    Such an event is evaluated by every partition, so that each keeps the shared record whole.
    ``stateful_only``: only the types where such a rule reads memory or the profile."""
    found: set[str] = set()
    for version in policy.versions:
        for rule in version.rules:
            for op in rule.remember:
                target = op.get("subject") if isinstance(op, dict) else None
                if target is None or (isinstance(target, str) and _ITEM_SUBJECT.match(target)
                                      and _items_named(rule)):
                    continue
                if not stateful_only or rule.reads_memory:
                    found.update(rule.events)
    return frozenset(found)


def _items_named(rule) -> bool:
    """Whether the rule's ``for_each`` items are objects carrying a ``subject`` that
    :func:`named_subjects` finds (every list under ``data`` is searched)."""
    return isinstance(rule.for_each, str) and rule.for_each.startswith("data.")


def obligation_types(policy) -> frozenset[str]:
    """Event types whose rules emit an obligation (open, extend or close one: a due instant
    appears or moves). ``*`` when a rule of every type does."""
    found: set[str] = set()
    for version in policy.versions:
        for rule in version.rules:
            if any(isinstance(e, dict) and e.get("kind") == "obligation" for e in rule.emit):
                found.update(rule.events)
    return frozenset(found)


def peek(body: bytes) -> Any:
    """The event a message carries, parsed leniently for routing only (None when it is not
    JSON): the consumer evaluates the original bytes, which the session parses strictly."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
