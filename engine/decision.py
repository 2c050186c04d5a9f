"""The decision model: what evaluating one event decided, in the contract's JSON shape.

Plain data shared by every stage after evaluation (the session, the store, the explanation
renderer, the test tooling) without importing the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from . import canonical
from .errors import Problem
from .eventtime import parse_time
from .redact import mask_numbers

#: The subject id of the global record, and of outcomes that concern no single subject.
GLOBAL = "*"

#: Obligation statuses that still owe something and have not yet passed their due instant.
OPEN = ("open", "extended")
#: Obligation statuses that still owe something: ``missed`` is set by the engine's timer at
#: the due instant (:mod:`clauseline.timers`; an obligation outcome never carries it).
OWED = OPEN + ("missed",)

#: Outcome kinds in the order a decision lists them.
KIND_ORDER = {"disclosure": 0, "retention": 1, "notice": 2, "obligation": 3, "violation": 4}


@dataclass(frozen=True)
class Decision:
    """What evaluating one event decided. ``as_dict()`` is the contract's JSON shape."""

    event_id: str | None
    event_source: str | None
    event_type: str | None
    time: str | None
    policy_version: str | None
    status: str
    outcomes: tuple[dict, ...] = ()
    trace: tuple[str, ...] = ()
    errors: tuple[dict, ...] = field(default_factory=tuple)
    #: Set when the event is earlier than the latest event already applied for its subject:
    #: ``{"latest": time}``. The event is evaluated against memory as of its own time.
    out_of_order: dict | None = None
    #: What the caller should know about how the decision was made, e.g. ``{"code":
    #: "state.empty", "message": ...}`` when ``clauseline evaluate`` had no store and no state.
    warnings: tuple[dict, ...] = ()
    #: The decisions of the timers fired before this event (:mod:`clauseline.timers`), each
    #: stored as its own; not part of this decision's JSON.
    fired: tuple["Decision", ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict:
        """The decision as plain JSON data (``errors`` only when rejected)."""
        return self._data(dict)

    def _data(self, copy) -> dict:
        """:meth:`as_dict`, each outcome, error and warning passed through ``copy``."""
        out = {
            "event_id": self.event_id, "event_source": self.event_source,
            "event_type": self.event_type, "time": self.time,
            "policy_version": self.policy_version, "status": self.status,
            "outcomes": [copy(o) for o in self.outcomes], "trace": list(self.trace),
        }
        if self.status == "rejected":
            out["errors"] = [copy(e) for e in self.errors]
        if self.out_of_order is not None:
            out["out_of_order"] = copy(self.out_of_order)
        if self.warnings:
            out["warnings"] = [copy(w) for w in self.warnings]
        return out

    def to_json(self) -> str:
        """Canonical JSON text of the decision (byte-stable; made once, then kept)."""
        text = self.__dict__.get("_json")
        if text is None:
            text = canonical.dumps(self._data(_itself))  # only read: nothing to copy
            object.__setattr__(self, "_json", text)  # a cache, not a field: frozen all the same
        return text

    def as_duplicate(self) -> "Decision":
        """The same decision, marked as the answer to a repeated event (which fires nothing)."""
        return replace(self, status="duplicate", fired=())

    @classmethod
    def from_dict(cls, data: dict) -> "Decision":
        """Rebuild a decision from ``as_dict()`` output (for stores and replays)."""
        return cls(data.get("event_id"), data.get("event_source"), data.get("event_type"),
                   data.get("time"), data.get("policy_version"), data["status"],
                   tuple(data.get("outcomes", ())), tuple(data.get("trace", ())),
                   tuple(data.get("errors", ())), data.get("out_of_order"),
                   tuple(data.get("warnings", ())))


def _itself(value):
    return value


def settle_retention(outcomes: list[dict]) -> list[dict]:
    """A target that is deleted or purged cannot also be retained: drop the ``retain``. One
    rule of the decision's shape, applied wherever outcomes are put together: the evaluator's
    outcomes of one event, and a partitioned stream's partial decisions merged into one."""
    gone = {o["target"] for o in outcomes
            if o["kind"] == "retention" and o["action"] in ("delete", "purge")}
    return [o for o in outcomes if not (o["kind"] == "retention" and o["action"] == "retain"
                                        and o["target"] in gone)]


def outcome_sort_key(outcome: dict) -> tuple:
    """The documented order: kind, clause, rule, subject, then the canonical text."""
    return _leading(outcome) + (canonical.dumps(outcome),)


def _leading(outcome: dict) -> tuple:
    return (KIND_ORDER[outcome["kind"]], outcome["clause"], outcome["rule"],
            outcome.get("subject") or "")


def in_order(outcomes: list[dict]) -> list[dict]:
    """The outcomes sorted by :func:`outcome_sort_key`, the canonical text made only where
    kind, clause, rule and subject do not already tell two outcomes apart (rarely)."""
    keyed = sorted(((_leading(o), o) for o in outcomes), key=lambda pair: pair[0])
    out = [o for _, o in keyed]
    start = 0
    for end in range(1, len(keyed) + 1):
        if end == len(keyed) or keyed[end][0] != keyed[start][0]:
            if end - start > 1:
                out[start:end] = sorted(out[start:end], key=canonical.dumps)
            start = end
    return out


def outcome_summary(outcome: dict) -> str:
    """What an outcome says, in the words of its kind (``permit law_enforcement (...): voice``):
    the one line every text rendering of an outcome uses (explain, whynot, diff, report)."""
    kind = outcome["kind"]
    if kind == "disclosure":
        return (f"{outcome['effect']} {outcome['recipient']} ({outcome['purpose']}): "
                f"{', '.join(outcome['data_categories'])}")
    if kind == "retention":
        return (f"{outcome['action']} {', '.join(outcome['data_categories'])} of "
                f"{outcome['target']} by {outcome['due_by']}")
    if kind == "notice":
        return f"{outcome['notice']} to {outcome['to']} via {outcome['channel']} by {outcome['due_by']}"
    if kind == "obligation":
        return f"{outcome['obligation']} {outcome['ref']} {outcome['status']} due {outcome['due_by']}"
    return f"{outcome['violation']} {outcome['ref']}: {outcome['detail']}"


def _field(event: Any, name: str) -> Any:
    value = event.get(name) if isinstance(event, dict) else None
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text, cannot be written out
        return None
    return value


def _echoed_id(event: Any, name: str) -> str | None:
    """A rejected event's id or source as its decision repeats it: nothing is stored for it, so
    one over 256 characters is not repeated and card or SSN numbers in it are masked."""
    value = _field(event, name)
    if value is None or len(value) > 256:
        return None
    return mask_numbers(value)


def _echoed_type(event: Any) -> str | None:
    """A rejected event's type as its decision repeats it: not one with more than four digits
    or over 256 characters (a number put there is not echoed; the identifiers are)."""
    value = _field(event, "type")
    if value is None or len(value) > 256 or sum(c.isdigit() for c in value) > 4:
        return None
    return value


def _echoed_time(event: Any) -> str | None:
    """A rejected event's time as its decision repeats it: only a valid RFC 3339 time."""
    value = _field(event, "time")
    if value is None or len(value) > 64:
        return None
    try:
        parse_time(value)
    except (ValueError, OverflowError):
        return None
    return value


def rejected(event: Any, problems: list[Problem]) -> Decision:
    """The decision for an event that cannot be evaluated: its errors, nothing changed. Its
    ``event_id`` and ``event_source`` are repeated (they name the event) when at most 256
    characters, card and SSN numbers masked; its type and time only when they are what such
    fields hold (:func:`_echoed_id`, :func:`_echoed_type`, :func:`_echoed_time`)."""
    return Decision(_echoed_id(event, "id"), _echoed_id(event, "source"), _echoed_type(event),
                    _echoed_time(event), None, "rejected",
                    errors=tuple(p.as_event_error() for p in problems))
