"""Deadlines as event-time timers (clause U; CONTRACT.md, ``clock.tick``).

An obligation still owed at its due instant is reported missed by a decision of its own at that
instant: the decision of a ``clock.tick`` the engine makes, a **timer**, whose ``source`` is
:data:`TIMER_SOURCE` and whose ``id`` is derived from the obligation (its subject, its ref and
the due instant), so the same timer has the same identity in every replay and in every
partitioning of a stream. A timer fires when time passes its instant: before the first valid
event whose ``time`` is later than the due instant (event time is the only clock), whatever that
event's subject, in the order (due instant, subject, ref). The event is then evaluated against
the state the timers left. A timer is stored like an event (the store keeps its tick and its
decision, in the hash chain), and the session hands its decision to the caller with the event's
(``Decision.fired``).

The timer's evaluation lists exactly its obligation in ``memory.overdue_obligations`` (from
which the rules report it, clause U's ``ccpa.deadline_missed``), and the engine marks it
``missed`` at the due instant. No other event lists an overdue obligation: by the time an
event is evaluated, the timers of every deadline before its time have fired.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .records import current, due_index, instant_key, overdue

#: The ``source`` of every timer's tick (a URI reference, as CloudEvents asks).
TIMER_SOURCE = "urn:clauseline:timer"


def timer_id(subject: str, ref: str, due_at: str) -> str:
    """The timer's ``id``: the due instant, then a digest of (subject, ref, due instant), so
    that no subject id or ref (which may quote what a person sent) is spelt in an id."""
    digest = hashlib.sha256("\x00".join((subject, ref, due_at)).encode("utf-8",
                                                                       "surrogatepass"))
    return f"due-{due_at}-{digest.hexdigest()[:24]}"


def timer_event(subject: str, ref: str, due_at: str, due_by: Any) -> dict:
    """The tick of the timer of ``subject``'s obligation ``ref``, due at instant ``due_at``
    (:func:`clauseline.records.instant_key`); its ``time`` is the obligation's ``due_by`` as
    the rules wrote it when that names the same instant."""
    time = due_at
    if isinstance(due_by, str):
        try:
            if instant_key(due_by) == due_at:
                time = due_by
        except ValueError:
            pass
    return {"specversion": "1.0", "id": timer_id(subject, ref, due_at), "source": TIMER_SOURCE,
            "type": "clock.tick", "time": time, "data": {}}


def is_timer(event: Any) -> bool:
    """Whether ``event`` is a timer's tick (made by the engine, never posted)."""
    return isinstance(event, dict) and event.get("source") == TIMER_SOURCE


def due_ticks(state: dict, event: dict) -> list[dict]:
    """The ticks of the timers ``state`` owes before ``event``'s time (strictly before it), in
    the order they fire: what a :class:`~clauseline.session.Session` evaluates and records
    before the (validated) event. Pure: with :func:`clauseline.evaluate`, one event at a time::

        for tick in due_ticks(state, event):
            timer_decision, state = evaluate(policy, state, tick)
        decision, state = evaluate(policy, state, event)
    """
    try:
        at = instant_key(event["time"])
    except (TypeError, ValueError, KeyError):
        return []
    ticks = []
    subjects = state.get("subjects") or {}
    for due, sid, ref in overdue(due_index(state), at):
        obligation = (current(subjects.get(sid)).get("obligations") or {}).get(ref)
        due_by = obligation.get("due_by") if isinstance(obligation, dict) else None
        ticks.append(timer_event(sid, ref, due, due_by))
    return ticks


def tick_of(decision: Any) -> dict:
    """The tick of a timer's decision (a :class:`~clauseline.decision.Decision`), as the store
    keeps it with the decision (``store.log()``): the event a replay's records pair it with."""
    return {"specversion": "1.0", "id": decision.event_id, "source": decision.event_source,
            "type": decision.event_type, "time": decision.time, "data": {}}
