"""The pure evaluator: ``evaluate(policy, state, event) -> (decision, new_state)``.

No I/O, no wall clock, no globals that change: the event's ``time`` is the only clock, the state
goes in and a new state comes out (the input is never mutated), and the same inputs always give
the same decision. See docs/evaluation.md for the order of outcomes and the combining of
disclosure votes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import canonical
from .compiler import EVENT_LEVEL
from .errors import Problem
from .model import Condition, Policy, PolicyVersion, Rule
from .schemas import SchemaSet, default_schemas
from .templates import lookup, render, split_path
from .timeutil import age_on, parse_date, parse_instant as _instant, parse_time

#: The subject id of the global record, and of outcomes that concern no single subject.
GLOBAL = "*"
#: Obligation statuses that still owe something.
OPEN = ("open", "extended")
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

    def as_dict(self) -> dict:
        """The decision as plain JSON data (``errors`` only when rejected)."""
        out = {
            "event_id": self.event_id, "event_source": self.event_source,
            "event_type": self.event_type, "time": self.time,
            "policy_version": self.policy_version, "status": self.status,
            "outcomes": [dict(o) for o in self.outcomes], "trace": list(self.trace),
        }
        if self.status == "rejected":
            out["errors"] = [dict(e) for e in self.errors]
        return out

    def to_json(self) -> str:
        """Canonical JSON text of the decision (byte-stable)."""
        return canonical.dumps(self.as_dict())

    def as_duplicate(self) -> "Decision":
        """The same decision, marked as the answer to a repeated event."""
        return replace(self, status="duplicate")

    @classmethod
    def from_dict(cls, data: dict) -> "Decision":
        """Rebuild a decision from ``as_dict()`` output (for stores and replays)."""
        return cls(data.get("event_id"), data.get("event_source"), data.get("event_type"),
                   data.get("time"), data.get("policy_version"), data["status"],
                   tuple(data.get("outcomes", ())), tuple(data.get("trace", ())),
                   tuple(data.get("errors", ())))


def empty_state() -> dict:
    """The state of a system that has seen no event."""
    return {"subjects": {}}


def _field(event: Any, name: str) -> Any:
    value = event.get(name) if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


def rejected(event: Any, problems: list[Problem]) -> Decision:
    """The decision for an event that cannot be evaluated: its errors, nothing changed."""
    return Decision(_field(event, "id"), _field(event, "source"), _field(event, "type"),
                    _field(event, "time"), None, "rejected",
                    errors=tuple(p.as_event_error() for p in problems))


def _profile(stored: dict | None, event: dict) -> dict:
    """The subject's profile after this event: account.opened replaces, a patch merges, and
    child.identified sets ``birth_date`` and ``parental_consent_verified``."""
    data = event["data"]
    if event["type"] == "account.opened":
        return dict(data["profile"])
    profile = dict(stored or {})
    if isinstance(data.get("profile"), dict):
        profile.update(data["profile"])
    if event["type"] == "child.identified":
        # the report is the newest knowledge of two profile fields (clause T decides on them)
        profile.update({k: data[k] for k in ("birth_date", "parental_consent_verified")})
    return profile


def _derived(profile: dict, moment: datetime) -> dict:
    """The profile as rules see it, with facts derived at event time (see docs/rule-format.md)."""
    view = dict(profile)
    if "birth_date" in profile:
        view["age"] = age_on(parse_date(profile["birth_date"]), moment)
    residence = profile.get("residence") or {}
    if "country" in residence:
        view["outside_us"] = residence["country"] != "US"
        view["california_resident"] = residence.get("region") == "US-CA"
    return view


def _facts(version: PolicyVersion, base: dict) -> list[dict]:
    """The event as one fact, plus one fact per element of each list a rule iterates; each
    carries the computed conditions (``_cmp``) that rules able to match it depend on."""
    facts = [dict(base, _each=EVENT_LEVEL)]
    for path in version.matcher.list_paths(base["type"]):
        items = lookup(base, path)
        if isinstance(items, list):
            facts.extend(dict(base, _each=path, item=item) for item in items)
    for fact in facts:
        fact["_cmp"] = {c.key: computed(c, fact)
                        for c in version.matcher.computed_for(base["type"], fact["_each"])}
    return facts




def _same(left: Any, right: Any) -> bool:
    a, b = _instant(left), _instant(right)
    return a == b if a is not None and b is not None else left == right


def computed(condition: Condition, fact: dict) -> bool:
    """Evaluate a computed condition against one fact; an absent value makes it false."""
    left, op = lookup(fact, condition.path), condition.op
    if op == "count_since":
        spec = condition.value
        since = _instant(render(spec["since"], fact))
        items = left if isinstance(left, list) else []
        count = sum(1 for item in items if isinstance(item, dict) and since is not None
                    and (_instant(item.get(spec["at"])) or since) > since)
        return count >= spec["at_least"] if "at_least" in spec else count < spec["fewer_than"]
    if op in ("some_have", "none_have"):
        wanted = {name: render(template, fact) for name, template in condition.value.items()}
        items = left if isinstance(left, list) else []
        found = any(isinstance(item, dict) and all(
            item.get(name) in (values if isinstance(values, list) else [values])
            for name, values in wanted.items()) for item in items)
        return found if op == "some_have" else not found
    right = render(condition.value, fact)
    if left is None:
        return False
    if op in ("one_of", "none_of"):
        found = left in (right if isinstance(right, list) else [])
        return found if op == "one_of" else not found
    if op in ("same_as", "differs_from"):
        return right is not None and _same(left, right) == (op == "same_as")
    a, b = _instant(left), _instant(right)
    if a is None or b is None:
        return False
    return {"before": a < b, "after": a > b, "not_before": a >= b, "not_after": a <= b}[op]


def _memory(subjects: dict, subject: str | None, data: dict) -> dict:
    """What rules see under ``memory``: the subject's record (without the profile), its open
    obligations (for an event without subject, every subject's), the obligation the event's
    ``request_id`` refers to, and the global record."""
    record = subjects.get(subject, {}) if subject else {}
    memory = {k: copy.deepcopy(v) for k, v in record.items() if k != "profile"}
    considered = [(subject, record)] if subject else sorted(subjects.items())
    memory["open_obligations"] = sorted(
        (dict(o, subject=sid) for sid, rec in considered
         for o in (rec.get("obligations") or {}).values()
         if o.get("status") in OPEN and not o.get("missed")),
        key=lambda o: (o["due_by"], o["subject"], o["ref"]))
    request_id = data.get("request_id")
    if isinstance(request_id, str) and request_id in (record.get("obligations") or {}):
        memory["request"] = copy.deepcopy(record["obligations"][request_id])
    memory["global"] = copy.deepcopy(subjects.get(GLOBAL, {}))
    return memory


class _Changes:
    """Copy-on-write edits to subject records: untouched records stay the same objects."""

    def __init__(self, subjects: dict):
        self.before = subjects
        self.after: dict[str, dict] = {}

    def record(self, subject: str) -> dict:
        if subject not in self.after:
            self.after[subject] = copy.deepcopy(self.before.get(subject, {}))
        return self.after[subject]

    def apply(self, op: dict, fact: dict) -> None:
        subject = render(op["subject"], fact) if "subject" in op else fact.get("subject")
        if not isinstance(subject, str):
            return
        verb = next(v for v in ("set", "append", "delete") if v in op)
        path = [str(render(seg, fact)) for seg in split_path(op[verb])]
        node = self.record(subject)
        for step in path[:-1]:
            child = node.get(step)
            if not isinstance(child, dict):
                if verb == "delete":
                    return
                child = node[step] = {}
            node = child
        last = path[-1]
        if verb == "set":
            node[last] = render(op["value"], fact)
        elif verb == "append":
            if not isinstance(node.get(last), list):
                node[last] = []
            node[last].append(render(op["value"], fact))
        else:
            node.pop(last, None)

    def track(self, outcome: dict, moment: str) -> None:
        """An obligation outcome opens, extends or closes the subject's obligation."""
        record = self.record(outcome["subject"])
        obligations = record.setdefault("obligations", {})
        prior = obligations.get(outcome["ref"], {})
        obligations[outcome["ref"]] = dict(
            prior, obligation=outcome["obligation"], ref=outcome["ref"], status=outcome["status"],
            due_by=outcome.get("due_by") or prior.get("due_by"),
            opened_at=prior.get("opened_at", moment), missed=prior.get("missed", False))

    def state(self, state: dict) -> dict:
        if not self.after:
            return state
        subjects = dict(self.before)
        subjects.update(self.after)
        return dict(state, subjects=subjects)


def _outcomes(rule: Rule, fact: dict) -> list[dict]:
    out = []
    for template in rule.emit:
        outcome = {"kind": template["kind"]}
        for name, value in template.items():
            if name != "kind":
                outcome[name] = render(value, fact)
        if outcome.get("subject") is None:
            outcome["subject"] = fact.get("subject") or GLOBAL
        outcome["clause"] = rule.clause
        outcome["rule"] = rule.id
        out.append(outcome)
    return out


def combine_disclosures(votes: list[tuple[dict, Rule]]) -> list[dict]:
    """One outcome per (subject, recipient, purpose, ref) and effect, from per-rule votes.

    For each category: votes of fallback rules count only when no other rule voted; among the
    rest a deny overrides a permit. Each outcome lists its categories and its ``basis`` (which
    rules decided which categories); its ``rule`` is the one that decided the most of them.
    """
    groups: dict[tuple, dict[str, list[tuple[str, Rule]]]] = {}
    for outcome, rule in votes:
        key = (outcome["subject"], outcome["recipient"], outcome["purpose"], outcome.get("ref"))
        group = groups.setdefault(key, {})
        for category in outcome["data_categories"] or []:
            group.setdefault(category, []).append((outcome["effect"], rule))
    out = []
    for (subject, recipient, purpose, ref), categories in groups.items():
        decided: dict[str, dict[str, set]] = {}
        for category, ballots in categories.items():
            counted = [b for b in ballots if not b[1].fallback] or ballots
            effect = "deny" if any(e == "deny" for e, _ in counted) else "permit"
            for e, rule in counted:
                if e == effect:
                    decided.setdefault(effect, {}).setdefault(rule.id, set()).add(category)
            decided.setdefault(effect, {})
        rules = {r.id: r for _, r in votes}
        for effect, by_rule in decided.items():
            cats = sorted(set().union(*by_rule.values()))
            lead = min(by_rule, key=lambda r: (-len(by_rule[r]), rules[r].sort_key))
            outcome = {"kind": "disclosure", "subject": subject, "effect": effect,
                       "recipient": recipient, "purpose": purpose, "data_categories": cats,
                       "clause": rules[lead].clause, "rule": lead,
                       "basis": [{"rule": r, "clause": rules[r].clause,
                                  "data_categories": sorted(by_rule[r])}
                                 for r in sorted(by_rule, key=lambda r: rules[r].sort_key)]}
            if ref is not None:
                outcome["ref"] = ref
            out.append(outcome)
    return out


def _settle_retention(outcomes: list[dict]) -> list[dict]:
    """A target that is deleted or purged cannot also be retained: drop the ``retain``."""
    gone = {o["target"] for o in outcomes
            if o["kind"] == "retention" and o["action"] in ("delete", "purge")}
    return [o for o in outcomes if not (o["kind"] == "retention" and o["action"] == "retain"
                                        and o["target"] in gone)]


def outcome_sort_key(outcome: dict) -> tuple:
    """The documented order: kind, clause, rule, subject, then the canonical text."""
    return (KIND_ORDER[outcome["kind"]], outcome["clause"], outcome["rule"],
            outcome.get("subject") or "", canonical.dumps(outcome))


def evaluate(policy: Policy, state: dict, event: Any,
             schemas: SchemaSet | None = None) -> tuple[Decision, dict]:
    """Evaluate one parsed event against ``state``; return the decision and the new state.

    A rejected event leaves the state as it was (the same object is returned).
    """
    schemas = schemas or default_schemas()
    problems = schemas.event_problems(event)
    if problems:
        return rejected(event, problems), state
    moment = parse_time(event["time"])
    version = policy.version_at(moment)
    if version is None:
        first = policy.versions[0]
        return rejected(event, [Problem(
            "event.no_policy_in_force", f"no policy version is in force at {event['time']}; "
            f"{first.version} takes effect at {first.effective_from.isoformat()}", "/time")]), state

    subject = event.get("subject")
    subjects = state.get("subjects", {})
    record = subjects.get(subject, {}) if subject else {}
    profile = _profile(record.get("profile"), event) if subject else {}
    facility = policy.facility(event["data"].get("facility_id"))
    base = {"id": event["id"], "source": event["source"], "type": event["type"],
            "subject": subject, "time": event["time"], "data": event["data"],
            "profile": _derived(profile, moment),
            "memory": _memory(subjects, subject, event["data"]),
            "facility": {"id": facility.id, "exempt_user_types": list(facility.exempt_user_types)},
            "policy": {"version": version.version, "contact": dict(version.contact)}}
    facts = _facts(version, base)

    changes = _Changes(subjects)
    if subject and profile != record.get("profile", {}):
        changes.record(subject)["profile"] = copy.deepcopy(profile)
    fired: set[str] = set()  # fallback rules join the trace only where they decided something
    votes, others = [], {}
    matches = sorted(version.matcher.match(facts), key=lambda m: (version.rule(m[0]).sort_key, m[1]))
    for rule_id, index in matches:
        rule = version.rule(rule_id)
        if not rule.fallback:
            fired.add(rule_id)
        for outcome in _outcomes(rule, facts[index]):
            if outcome["kind"] == "disclosure":
                votes.append((outcome, rule))
            else:
                others.setdefault(canonical.dumps(outcome), outcome)
        for op in rule.remember:
            changes.apply(op, facts[index])
    combined = combine_disclosures(votes)
    fired.update(b["rule"] for o in combined for b in o["basis"])
    outcomes = combined + _settle_retention(list(others.values()))
    outcomes.sort(key=outcome_sort_key)
    for outcome in outcomes:
        if outcome["kind"] == "obligation" and isinstance(outcome.get("ref"), str):
            changes.track(outcome, event["time"])
    trace = tuple(sorted(fired, key=lambda r: version.rule(r).sort_key))
    decision = Decision(event["id"], event["source"], event["type"], event["time"],
                        version.version, "accepted", tuple(outcomes), trace)
    return decision, changes.state(state)
