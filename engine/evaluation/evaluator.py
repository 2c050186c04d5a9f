"""The pure evaluator: ``evaluate(policy, state, event) -> (decision, new_state)``.

No I/O, no wall clock, no globals that change: the event's ``time`` is the only clock, the state
goes in and a new state comes out (the input is never mutated), and the same inputs always give
the same decision. See docs/decisions.md for the order of outcomes and the combining of
disclosure votes.
"""

from __future__ import annotations

from typing import Any

from .. import canonical
from ..decision import GLOBAL, OPEN, Decision, in_order, rejected, settle_retention
from ..errors import Problem
from ..events.validation import SchemaSet
from ..eventtime import format_time, parse_time
from ..policy.model import Policy, PolicyVersion
from ..redact import ENVELOPE_KEYS, OUTCOME_KEYS, mask_strings, masked_or_same, secrets_of
from .. import records as memory
from .combining import apply_overrides, combine_disclosures, rule_outcomes
from .facts import facts_for, memory_view, profile_after, profile_changes, profile_view
from ..records import due_at, due_index, instant_key
from ..timers import TIMER_SOURCE, timer_id
from .state import StateChanges



def evaluate(policy: Policy, state: dict, event: Any,
             schemas: SchemaSet | None = None, fold: bool = False,
             checked: bool = False) -> tuple[Decision, dict]:
    """Evaluate one parsed event against ``state``; return the decision and the new state.

    A rejected event leaves the state as it was (the same object is returned). Events are
    validated with the policy's own schema set unless ``schemas`` is given. The new state's
    ``subjects`` is a new dict sharing the unchanged records; with ``fold`` it is a
    :class:`~clauseline.records.SubjectsAfter` holding only the changed ones, for a
    store that folds them into its own map (so an event's cost does not grow with the number
    of subjects). ``checked``: the caller validated the event already.

    Deadlines are the caller's: an obligation overdue at the event's time is listed in
    ``memory.overdue_obligations`` only by its timer's tick (:mod:`clauseline.timers`), which
    a :class:`~clauseline.session.Session` fires before the event.
    """
    if not checked:
        problems = (schemas or policy.schemas).event_problems(event)
        if problems:
            return rejected(event, problems), state
    try:
        return _evaluate(policy, state, event, fold)
    except OverflowError:
        # a deadline or window computed from the event's time passes the year 9999 (the
        # calendar's end): the event cannot be decided, and it changes nothing
        return rejected(event, [Problem(
            "event.time_out_of_range", "a time computed from this event's time (a deadline or a "
            "window) falls outside the years 1 to 9999", "/time")]), state


def as_rules_see_it(event: dict) -> dict:
    """The event as the rules read it: every card, bank or SSN number in its strings (by shape,
    or given under a field naming it, :func:`clauseline.redact.secrets_of`) masked without a
    key (``r-[redacted card ...1111]``), its envelope identifiers and subject ids kept as given.

    So no such number reaches the subjects' records (a request id quoted as an obligation's
    ``ref``, a remembered channel), and a store, which reduces what it writes, reads back the
    very values memory holds: the same decisions in memory and in every store (SECURITY.md)."""
    return _seen_by_rules(event)[0]


def _seen_by_rules(event: dict) -> tuple[dict, dict[str, str]]:
    """:func:`as_rules_see_it`, and the numbers given under a field naming them in what the
    rules see (:func:`~clauseline.redact.secrets_of`), which outcomes are masked with: those of
    the event itself where nothing was masked (almost always), found once."""
    known = secrets_of(event)
    seen = masked_or_same(event, ENVELOPE_KEYS, known)
    return seen, (known if seen is event else secrets_of(seen))


def _evaluate(policy: Policy, state: dict, event: dict, fold: bool) -> tuple[Decision, dict]:
    # ``known``: a number given under a field naming it is masked anywhere in the outcomes
    event, known = _seen_by_rules(event)
    moment = parse_time(event["time"])
    version = policy.version_at(moment)
    if version is None:
        first = policy.versions[0]
        return rejected(event, [Problem(
            "event.no_policy_in_force", f"no policy version is in force at {event['time']}; "
            f"{first.version} takes effect at {first.effective_from.isoformat()}", "/time")]), state

    subject = event.get("subject")
    at = instant_key(event["time"])
    subjects = state.get("subjects", {})
    record = subjects.get(subject) if subject else None
    view = memory.view_at(record, at)
    latest = memory.latest(record)
    overdue = _timer_due(subjects, due_index(state), event, at)
    facts = facts_for(version, _base_fact(policy, version, event, moment, at, subjects, record,
                                          view, overdue))

    changes = StateChanges(subjects, at, event["time"])
    if subject:
        changes.saw(subject)
        for path, value in profile_changes(version, event):
            if memory.lookup_path(view, path) != value:
                changes.write(subject, "set", path, value)
    fired: set[str] = set()  # fallback rules join the trace only where they decided something
    votes, others = [], []
    matches = sorted(version.matcher.match(facts), key=lambda m: (version.rule(m[0]).sort_key, m[1]))
    for rule_id, index in matches:
        rule = version.rule(rule_id)
        if not rule.fallback:
            fired.add(rule_id)
        for outcome in rule_outcomes(rule, facts[index]):
            if outcome["kind"] == "disclosure":
                votes.append((outcome, rule))
            else:
                others.append(outcome)
        for op in rule.remember:
            changes.apply(op, facts[index])
    for o in overdue:  # the engine owns the missed status; rules report it
        changes.miss(o["subject"], o["ref"])
    others = _distinct(others)
    for outcome in in_order([o for o in others
                             if o["kind"] == "obligation" and isinstance(o.get("ref"), str)]):
        changes.track(outcome)
    votes, others, overridden = apply_overrides(version.overrides, changes, votes, others, event)
    fired.update(overridden)
    combined = combine_disclosures(votes)
    fired.update(b["rule"] for o in combined for b in o["basis"])
    # an outcome may quote an event value (a request id as ``ref``): no card, bank or SSN number
    # leaves the engine in a decision (clause C), whatever is printed or stored
    outcomes = in_order([mask_strings(o, OUTCOME_KEYS, known)
                         for o in combined + settle_retention(others)])
    trace = tuple(sorted(fired, key=lambda r: version.rule(r).sort_key))
    decision = Decision(event["id"], event["source"], event["type"], event["time"],
                        version.version, "accepted", tuple(outcomes), trace,
                        out_of_order=_out_of_order(latest, at))
    return decision, changes.state(state, fold)


#: Marks, in :func:`_distinct`, a rule whose first outcome's text is made already.
_TEXT_MADE = object()


def _distinct(outcomes: list[dict]) -> list[dict]:
    """The outcomes without repeats (the same canonical JSON), each where it first came. Two
    outcomes of different rules differ (each names its rule), so JSON text is made only for
    the outcomes of a rule that gave more than one."""
    out, first, texts = [], {}, set()
    for outcome in outcomes:
        rule = outcome["rule"]
        earlier = first.get(rule)
        if earlier is None:
            first[rule] = outcome
            out.append(outcome)
            continue
        if earlier is not _TEXT_MADE:
            texts.add(canonical.dumps(earlier))
            first[rule] = _TEXT_MADE
        text = canonical.dumps(outcome)
        if text not in texts:
            texts.add(text)
            out.append(outcome)
    return out


def base_fact(policy: Policy, version: PolicyVersion, state: dict, event: dict) -> dict:
    """The fact an event gives the rules of ``version`` before its lists are expanded
    (``facts_for``): the event, the subject's profile after it, memory as of its time, the
    facility and the policy. What :func:`evaluate` matches; ``whynot`` explains with it."""
    event = as_rules_see_it(event)
    subject = event.get("subject")
    at = instant_key(event["time"])
    subjects = state.get("subjects", {})
    record = subjects.get(subject) if subject else None
    view = memory.view_at(record, at)
    return _base_fact(policy, version, event, parse_time(event["time"]), at, subjects, record,
                      view, _timer_due(subjects, due_index(state), event, at))


def _base_fact(policy: Policy, version: PolicyVersion, event: dict, moment, at: str,
               subjects, record: dict | None, view: dict, overdue: list[dict]) -> dict:
    subject = event.get("subject")
    profile = profile_after(version, view.get("profile"), event) if subject else {}
    facility = policy.facility(event["data"].get("facility_id"), version)
    return {"id": event["id"], "source": event["source"], "type": event["type"],
            "subject": subject, "time": event["time"], "data": event["data"],
            "profile": profile_view(version, profile, moment),
            "memory": memory_view(view, event["data"], overdue,
                                  memory.first_seen(record, at) if subject else None,
                                  memory.view_at(subjects.get(GLOBAL), at)),
            "facility": {"id": facility.id, "exempt_user_types": list(facility.exempt_user_types)},
            "policy": {"version": version.version, "contact": dict(version.contact)}}


def _timer_due(subjects, index, event: dict, at: str) -> list[dict]:
    """For a timer's tick (:mod:`clauseline.timers`), its obligation still owed and due at
    ``at``, as its record (as of ``at``) with its ``subject``; for any other event, nothing."""
    if event.get("source") != TIMER_SOURCE:
        return []
    out = []
    for _, sid, ref in due_at(index, at):
        if timer_id(sid, ref, at) != event["id"]:
            continue
        obligation = (memory.view_at(subjects.get(sid), at).get("obligations") or {}).get(ref)
        if isinstance(obligation, dict) and obligation.get("status") in OPEN:
            out.append(dict(obligation, subject=sid))
    return out


def _out_of_order(latest: str | None, at: str) -> dict | None:
    """The decision's marker for an event earlier than the latest applied for its subject."""
    if latest is None or latest <= at:
        return None
    return {"latest": format_time(parse_time(latest))}


#: What a shared write may do (:func:`apply_writes`): a rule's ``remember`` verbs, and
#: ``default``, which an obligation's tracking writes. ``miss`` is the engine's own (a timer's).
WRITE_VERBS = ("set", "append", "delete", "default")


def writes_outside(state: dict, named: set[str], at: str) -> list[list] | None:
    """The changes an evaluation from an empty state, at instant ``at``, made to records of
    subjects not in ``named`` (the shared record ``*`` above all): ``[subject, verb, path,
    value]`` each, in the order they were made, read from those records' journals. None when
    they cannot be told from the journals alone (a record folded part of its journal, a verb a
    shared write may not carry, a subject the engine saw): such an event is evaluated in full
    wherever it goes."""
    writes, outside = [], {}
    for sid, record in (state.get("subjects") or {}).items():
        if sid in named:
            continue
        if memory.SEEN in record:
            return None
        outside[sid] = record
        for _, _, verb, path, value in record.get(memory.JOURNAL) or ():
            if verb not in WRITE_VERBS:
                return None
            writes.append([sid, verb, list(path), value])
    # the journals hold every change only if nothing was folded: made again, the writes must
    # give the very records the evaluation left
    return writes if _made_again({}, writes, at) == outside else None


def _made_again(subjects: dict, writes: list[list], at: str) -> dict:
    """``writes`` made at instant ``at`` over ``subjects`` (not changed): the changed records."""
    changes = StateChanges(subjects, at, at)
    for sid, verb, path, value in writes:
        changes.write(sid, verb, list(path), value)
    return changes.after


def apply_writes(policy: Policy, state: dict, event: dict, writes: list[list],
                 fold: bool = False) -> tuple[Decision, dict]:
    """An event's writes to records it does not name, made without evaluating it: what a
    partition that none of its subjects concerns does with an event that writes the shared
    record (docs/scale.md, "Events that cross partitions"). ``writes``: what
    :func:`writes_outside` found of the same event (the producer's evaluation from an empty
    state, valid because every rule that writes there decides from the event alone). The
    decision is the envelope with no outcome and no trace: this partition vouches for nothing
    of the event. The event must be valid (checked by the caller)."""
    version = policy.version_at(parse_time(event["time"]))
    if version is None:
        return evaluate(policy, state, event, fold=fold, checked=True)  # rejected, as anywhere
    at = instant_key(event["time"])
    changes = StateChanges(state.get("subjects", {}), at, event["time"])
    for sid, verb, path, value in writes:
        changes.write(sid, verb, list(path), value)
    decision = Decision(event["id"], event["source"], event["type"], event["time"],
                        version.version, "accepted")
    return decision, changes.state(state, fold)
