"""Why a rule fired, and why not: an auditor's explanation of one event's decision.

``explain_event(policy, state, event)`` evaluates the event with :func:`evaluate` (the decision
is the evaluator's, never recomputed here) and then, for every rule of the policy version in
force that listens to the event's type, re-checks its conditions in Python against the facts the
evaluator matches: the event fact, and one fact per element of the rule's ``for_each`` list
(:func:`~clauseline.evaluation.facts.facts_for`). For a rule that fired it says which conditions
held on which fact, with the values found, and what became of the outcomes it emitted (kept,
outvoted by a deny, replaced by an override, dropped by a delete of the same target); for a rule
that did not fire, the first condition that failed, in the rule file's order (``match``, then the
``match_any`` alternatives), with the value found or "absent".

This module returns data only: the dataclasses below, and their JSON form (``as_dict()``, what
``clauseline explain --format json`` prints). :func:`clauseline.explain.render_why` renders that
JSON form as text for a person, with each fired rule's clause sentence and the readings
(interpretations) it relies on.

Why re-check instead of asking durable_rules: durable_rules only says *which* rules matched a
fact, never which condition failed. The computed conditions (``before``, ``one_of``, ...) are
evaluated with the evaluator's own :func:`~clauseline.evaluation.conditions.computed`; the
constant ones (``DIRECT`` in :mod:`clauseline.policy.compiler`) exist only as durable_rules
expressions, so :func:`direct_holds` implements them in Python, measured against durable_rules
2.0.28 (see its docstring for the one place where the two cannot agree). A rule the engine fired
on no fact that the Python check accepts, or one the check accepts but the engine did not fire,
is reported in the rule's ``note`` instead of being hidden.

Values come from the event and the subject's memory: they are untrusted. ``as_dict`` masks
card-like and SSN-like numbers in the strings it copies (:func:`clauseline.redact.mask_strings`)
but keeps them whole; the text renderer also shortens long strings and lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import canonical
from ..decision import GLOBAL, Decision
from ..eventtime import parse_instant
from ..policy import comparison
from ..policy.compiler import EVENT_LEVEL
from ..policy.model import Condition, Override, Policy, Rule
from ..redact import mask_strings
from .. import records as memory
from .combining import rule_outcomes
from .conditions import computed
from .evaluator import base_fact, evaluate
from .facts import facts_for
from ..records import instant_key
from .templates import render

# --- the conditions ---------------------------------------------------------------------------

def find(fact: dict, path: str) -> tuple[bool, Any]:
    """``(present, value)`` at a dotted path of a fact. Unlike
    :func:`clauseline.evaluation.templates.lookup`, which renders an absent value and a JSON
    ``null`` alike as ``None``, this tells them apart, as durable_rules does: a ``null`` is
    present (``exists: true`` holds on it)."""
    node: Any = fact
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def cross_type(value: Any, constant: Any) -> bool:
    """Whether durable_rules' answer to comparing ``value`` with ``constant`` is undefined for
    some operator: a string against a number constant whose text the string is or begins
    (``"12"``, ``"1"`` or ``""`` against ``12``; see :mod:`clauseline.policy.comparison`)."""
    return comparison.undefined(value, constant)


def compare(value: Any, constant: Any, op: str) -> bool:
    """``value <op> constant`` as durable_rules 2.0.28 compares a present field with a constant
    (``op``: ``eq``, ``ne``, ``lt``, ``lte``, ``gt`` or ``gte``): the one semantics of
    :func:`clauseline.policy.comparison.compare`, quirks included (``"ab" > "ab!"``,
    ``0.5 == "0.5"``, ``null`` fails ``ne``; the rule authors' list is ``docs/rule-format.md``,
    "How values compare")."""
    return comparison.compare(value, op, constant).holds


def direct_holds(condition: Condition, present: bool, value: Any) -> bool:
    """Whether a constant condition (``DIRECT`` in :mod:`clauseline.policy.compiler`) holds.

    The engine has these operators only as durable_rules expressions; their Python check is
    :func:`clauseline.policy.comparison.direct`, the semantics the reference matcher shares
    and ``tests/test_comparison.py`` holds to durable_rules: an absent path fails every test
    but ``exists: false`` and ``is_not``; ``in`` is "equal to one of", ``not_in`` "not equal to
    any of" (so it fails on an absent path), ``is_not`` "absent, or not equal" (so it fails on
    a ``null``, which is present and not comparable); comparisons as :func:`compare`.

    One case has no certain answer: a string field against a number constant whose text the
    string is or begins (``"12"`` against ``12``): durable_rules compares over a length it
    never sets, so its answer depends on the rule (on the length of the last string constant
    it tested). The answer here is the number's whole text compared (``"12" == 12``), and the
    condition's ``cross_type`` flag says the engine's may differ. The shipped schemas type
    every field a shipped rule compares, so it does not arise with the shipped policy.
    """
    return comparison.direct(condition.op, condition.value, present, value).holds


@dataclass
class ConditionResult:
    """One condition of a rule checked against one fact."""

    path: str
    op: str
    #: The right side as written in the rule file (a constant, or a template for computed ops).
    expected: Any
    #: Whether the path is present in the fact, and the value there (None when absent).
    present: bool
    actual: Any
    held: bool
    #: Computed conditions: the right side rendered against the fact (``count_since``: the
    #: rendered ``since`` and the number of records after it).
    rendered: Any = None
    #: None for a ``match`` condition; the position of its ``match_any`` alternative otherwise.
    group: int | None = None
    #: A string compared with a number: durable_rules' answer may differ (see direct_holds).
    cross_type: bool = False

    def as_dict(self) -> dict:
        out = {"path": self.path, "op": self.op, "expected": mask_strings(self.expected),
               "present": self.present, "actual": mask_strings(self.actual), "held": self.held}
        if self.rendered is not None:
            out["rendered"] = mask_strings(self.rendered)
        if self.group is not None:
            out["alternative"] = self.group
        if self.cross_type:
            out["cross_type"] = True
        return out


def check(condition: Condition, fact: dict, group: int | None = None) -> ConditionResult:
    """Check one condition against one fact (computed ones with the evaluator's own code)."""
    present, value = find(fact, condition.path)
    rendered = None
    if condition.computed:
        held = computed(condition, fact)
        rendered = _rendered(condition, fact, value)
    else:
        held = direct_holds(condition, present, value)
    constants = condition.value if condition.op in ("in", "not_in") else [condition.value]
    mixed = (not condition.computed and present and condition.op not in ("exists",)
             and any(cross_type(value, c) for c in constants))
    return ConditionResult(condition.path, condition.op, condition.value, present, value, held,
                           rendered, group, mixed)


def _rendered(condition: Condition, fact: dict, value: Any) -> Any:
    """The right side of a computed condition as this fact renders it (for display only: the
    verdict is :func:`~clauseline.evaluation.conditions.computed`'s)."""
    if condition.op == "count_since":
        spec = condition.value
        since_text = render(spec["since"], fact)
        since = parse_instant(since_text)
        items = value if isinstance(value, list) else []
        count = sum(1 for item in items if isinstance(item, dict) and since is not None
                    and (parse_instant(item.get(spec["at"])) or since) > since)
        return {"since": since_text, "count": count}
    return render(condition.value, fact)


@dataclass
class Failure:
    """Why a rule did not match a fact (or had no fact to match).

    ``kind`` is ``condition`` (``conditions`` holds the first ``match`` condition that failed),
    ``match_any`` (none of the alternatives held: ``conditions`` holds the first failing
    condition of each, in order) or ``no_items`` (the rule's ``for_each`` list, at ``path``, is
    absent, not a list, or empty, so there was no fact to match).
    """

    kind: str
    conditions: list[ConditionResult] = field(default_factory=list)
    path: str | None = None
    present: bool = True
    actual: Any = None

    @property
    def condition(self) -> ConditionResult | None:
        """The failing condition (the first alternative's, for ``match_any``)."""
        return self.conditions[0] if self.conditions else None

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "no_items":
            out.update(path=self.path, present=self.present, actual=mask_strings(self.actual))
        else:
            out["conditions"] = [c.as_dict() for c in self.conditions]
        return out


@dataclass
class FactExplanation:
    """A rule's conditions checked against one fact: the event, or one element of its list."""

    #: ``-`` for the event itself, or the ``for_each`` path the fact was expanded from.
    each: str
    #: The element's position in that list, and the element (None for the event fact).
    index: int | None
    item: Any
    matched: bool
    #: Every condition, ``match`` first, then each ``match_any`` alternative's.
    conditions: list[ConditionResult]
    #: The first ``match_any`` alternative that held (None when there are none, or none held).
    alternative: int | None = None
    failure: Failure | None = None

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"each": self.each, "matched": self.matched,
                               "conditions": [c.as_dict() for c in self.conditions]}
        if self.index is not None:
            out.update(index=self.index, item=mask_strings(self.item))
        if self.alternative is not None:
            out["alternative"] = self.alternative
        if self.failure is not None:
            out["failure"] = self.failure.as_dict()
        return out


def explain_fact(rule: Rule, fact: dict, index: int | None = None) -> FactExplanation:
    """Check every condition of ``rule`` against ``fact``; the first failure in file order."""
    results = [check(c, fact) for c in rule.match]
    groups = [[check(c, fact, j) for c in group] for j, group in enumerate(rule.match_any)]
    failure, alternative = None, None
    failed = next((r for r in results if not r.held), None)
    if failed is not None:
        failure = Failure("condition", [failed])
    if groups:
        alternative = next((j for j, g in enumerate(groups) if all(r.held for r in g)), None)
        if alternative is None and failure is None:
            failure = Failure("match_any", [next(r for r in g if not r.held) for g in groups])
    each = fact.get("_each", EVENT_LEVEL)
    return FactExplanation(each, index, fact.get("item") if each != EVENT_LEVEL else None,
                           failure is None, results + [r for g in groups for r in g],
                           alternative, failure)


# --- the outcomes -----------------------------------------------------------------------------

@dataclass
class EmittedOutcome:
    """An outcome a fired rule emitted (rendered before combining), and what became of it.

    ``fate``: ``kept`` (in the decision as emitted, or, for a disclosure vote, the rule is in
    the basis of the categories listed), ``outvoted`` (a disclosure category decided the other
    way, by the rules in ``by``), ``not_counted`` (a fallback rule's vote on a category other
    rules voted on: they decided it), ``overridden`` (an override in ``by`` replaced it),
    ``dropped`` (a ``retain`` of a target that another outcome deletes or purges: ``by``), or
    ``missing`` (not found in the decision: should not happen). A disclosure vote is split by
    fate, so ``data_categories`` lists the categories the fate concerns.
    """

    outcome: dict
    fate: str
    by: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        out = {"outcome": mask_strings(self.outcome), "fate": self.fate}
        if self.by:
            out["by"] = list(self.by)
        if self.data_categories:
            out["data_categories"] = list(self.data_categories)
        return out


def _disclosure_key(outcome: dict) -> tuple:
    return (outcome.get("subject"), outcome.get("recipient"), outcome.get("purpose"),
            outcome.get("ref"))


def _fates(rule: Rule, emitted: dict, decision: Decision,
           override_ids: set[str]) -> list[EmittedOutcome]:
    """What became of one emitted outcome in the decision."""
    outcomes = decision.outcomes
    if emitted["kind"] == "disclosure":
        by_fate: dict[tuple[str, tuple], list[str]] = {}
        for category in emitted.get("data_categories") or []:
            deciding: list[str] = []
            for o in outcomes:
                if (o["kind"] == "disclosure" and _disclosure_key(o) == _disclosure_key(emitted)
                        and category in o["data_categories"]):
                    deciding = [b["rule"] for b in o.get("basis", [])
                                if category in b["data_categories"]]
                    break
            if rule.id in deciding:
                fate, by = "kept", ()
            elif not deciding:
                fate, by = "missing", ()
            elif all(d in override_ids for d in deciding):
                fate, by = "overridden", tuple(deciding)
            elif rule.fallback:
                fate, by = "not_counted", tuple(deciding)
            else:
                fate, by = "outvoted", tuple(deciding)
            by_fate.setdefault((fate, by), []).append(category)
        return [EmittedOutcome(emitted, fate, by, tuple(cats))
                for (fate, by), cats in by_fate.items()]
    text = canonical.dumps(emitted)
    if any(canonical.dumps(o) == text for o in outcomes):
        return [EmittedOutcome(emitted, "kept")]
    for o in outcomes:
        if (o.get("target") == emitted.get("target") and o.get("subject") == emitted.get("subject")
                and any(r.get("rule") == rule.id for r in o.get("overrides") or [])):
            return [EmittedOutcome(emitted, "overridden", (o["rule"],))]
    if emitted["kind"] == "retention" and emitted.get("action") == "retain":
        by = tuple(sorted({o["rule"] for o in outcomes if o["kind"] == "retention"
                           and o.get("action") in ("delete", "purge")
                           and o.get("target") == emitted.get("target")}))
        if by:
            return [EmittedOutcome(emitted, "dropped", by)]
    return [EmittedOutcome(emitted, "missing")]


def _cites(outcome: dict, rule_id: str) -> bool:
    """Whether a decision outcome is (partly) the work of a rule: its rule, in its basis, or
    one of the rules whose outcome it replaced (``overrides``)."""
    return (outcome.get("rule") == rule_id
            or any(b.get("rule") == rule_id for b in outcome.get("basis") or [])
            or any(r.get("rule") == rule_id for r in outcome.get("overrides") or []))


# --- rules and the whole explanation ----------------------------------------------------------

@dataclass
class RuleExplanation:
    """One rule that listens to the event's type: whether it fired, and why (not)."""

    rule: str
    clause: str
    title: str
    #: Whether its id is in the decision's trace (a rule that produced outcomes always is; a
    #: fallback rule is only where its vote decided a category).
    fired: bool
    fallback: bool
    #: The ``for_each`` path, or None for a rule that matches the event itself.
    for_each: str | None
    #: One per fact the rule could match (the event, or each element of its list).
    facts: list[FactExplanation]
    #: For a rule that did not fire: the first failure (of its first fact, or ``no_items``).
    failure: Failure | None = None
    #: The decision's outcomes the rule took part in (its rule, basis or replaced outcomes).
    outcomes: list[dict] = field(default_factory=list)
    #: For every fact it matched, the outcomes it emitted and what became of them.
    emitted: list[EmittedOutcome] = field(default_factory=list)
    #: Why a rule whose conditions all held is not in the trace (a fallback rule that decided
    #: nothing), or a disagreement between the engine and the Python check.
    note: str | None = None

    @property
    def matched(self) -> bool:
        """Whether every condition held on at least one fact (by the Python check)."""
        return any(f.matched for f in self.facts)

    def as_dict(self) -> dict:
        out: dict[str, Any] = {
            "rule": self.rule, "clause": self.clause, "title": self.title, "fired": self.fired,
            "fallback": self.fallback, "for_each": self.for_each,
            "facts": [f.as_dict() for f in self.facts],
            "outcomes": [mask_strings(o) for o in self.outcomes],
            "emitted": [e.as_dict() for e in self.emitted]}
        if self.failure is not None:
            out["failure"] = self.failure.as_dict()
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class OverrideExplanation:
    """A policy-level override of the version: whether its memory path held for the subjects of
    the decision's outcomes, and what it replaced."""

    id: str
    clause: str
    title: str
    #: The memory path whose presence makes it hold (``memory.`` + ``Override.holds``).
    holds: str
    applied: bool
    #: The subjects (named by the event, or of its outcomes) whose record holds the path after
    #: the event's own changes.
    held_for: list[str] = field(default_factory=list)
    #: Each outcome it produced (its ``rule`` is the override), with what that outcome replaced
    #: (the ``overrides`` field: permits and retains of other rules).
    outcomes: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.id, "clause": self.clause, "title": self.title, "holds": self.holds,
                "applied": self.applied, "held_for": list(self.held_for),
                "outcomes": [mask_strings(o) for o in self.outcomes]}


@dataclass
class Explanation:
    """One event's decision, and for every rule of its type why it fired or did not."""

    decision: Decision
    #: The event's subject (None for an event with none, or one rejected without a string).
    subject: str | None = None
    fired: list[RuleExplanation] = field(default_factory=list)
    not_fired: list[RuleExplanation] = field(default_factory=list)
    overrides: list[OverrideExplanation] = field(default_factory=list)

    def rule(self, rule_id: str) -> RuleExplanation:
        """The explanation of one rule (KeyError when it does not listen to the event's type)."""
        for r in self.fired + self.not_fired:
            if r.rule == rule_id:
                return r
        raise KeyError(rule_id)

    def as_dict(self) -> dict:
        """Plain JSON data: the decision, then the rules that fired, did not, and the overrides."""
        return {"decision": self.decision.as_dict(), "subject": self.subject,
                "fired": [r.as_dict() for r in self.fired],
                "not_fired": [r.as_dict() for r in self.not_fired],
                "overrides": [o.as_dict() for o in self.overrides]}


def listens(rule: Rule, event_type: str) -> bool:
    """Whether a rule is tested on events of this type."""
    return event_type in rule.events or "*" in rule.events


def explain_event(policy: Policy, state: dict, event: dict) -> Explanation:
    """Evaluate ``event`` against ``state`` (as :func:`evaluate` does: the decision is its) and
    explain, for every rule of the version in force that listens to the event's type, why it
    fired or did not; plus the version's overrides. A rejected event explains no rule."""
    decision, after = evaluate(policy, state, event)
    subject = event.get("subject") if isinstance(event, dict) else None
    subject = subject if isinstance(subject, str) else None
    version = policy.version_named(decision.policy_version)
    if decision.status != "accepted" or version is None:
        return Explanation(decision, subject)
    facts = facts_for(version, base_fact(policy, version, state, event))
    trace = set(decision.trace)
    override_ids = {o.id for o in version.overrides}
    fired, not_fired = [], []
    for rule in sorted((r for r in version.rules if listens(r, event["type"])),
                       key=lambda r: r.sort_key):
        each = rule.for_each or EVENT_LEVEL
        mine = [f for f in facts if f["_each"] == each]
        checked = [explain_fact(rule, f, i if rule.for_each else None) for i, f in enumerate(mine)]
        explained = RuleExplanation(rule.id, rule.clause, rule.title, rule.id in trace,
                                    rule.fallback, rule.for_each, checked)
        explained.outcomes = [o for o in decision.outcomes if _cites(o, rule.id)]
        for fact, result in zip(mine, checked):
            if result.matched:
                for emitted in rule_outcomes(rule, fact):
                    explained.emitted.extend(_fates(rule, emitted, decision, override_ids))
        if not explained.fired:
            explained.failure = next((f.failure for f in checked if f.failure), None)
            if not checked:
                present, value = find(facts[0], rule.for_each or "")
                explained.failure = Failure("no_items", path=rule.for_each, present=present,
                                            actual=value)
        explained.note = _note(explained)
        (fired if explained.fired else not_fired).append(explained)
    overrides = [_override(o, decision, after, event) for o in version.overrides]
    return Explanation(decision, subject, fired, not_fired, overrides)


def _note(r: RuleExplanation) -> str | None:
    """Why an explanation's verdict and its conditions need a word (see RuleExplanation.note)."""
    if r.fired and not r.matched:
        return ("the engine fired this rule, but by the Python check no fact meets every "
                "condition (see clauseline.evaluation.whynot.direct_holds)")
    if not r.fired and r.matched:
        if r.fallback:
            others = sorted({b for e in r.emitted for b in e.by})
            return ("every condition held, but a fallback rule counts only for the categories "
                    "no other rule voted on, and here every category it voted on was decided by "
                    + (", ".join(others) or "another rule"))
        return ("by the Python check every condition held on some fact, but the engine did not "
                "fire this rule (see clauseline.evaluation.whynot.direct_holds)")
    return None


def _override(override: Override, decision: Decision, after: dict,
              event: dict) -> OverrideExplanation:
    """An override of the version: whether it applied (it is in the trace), for which subjects
    (those the event names and those of its outcomes, as combining.apply_overrides reads them)
    its memory path holds in the new state as of the event's time, its outcomes."""
    at = instant_key(event["time"])
    subjects = sorted(({o.get("subject") for o in decision.outcomes}
                       | memory.named_subjects(event)) - {None, GLOBAL})
    records = after.get("subjects", {})
    held = [s for s in subjects
            if _holds(memory.view_at(records.get(s), at), override.holds)]
    mine = [o for o in decision.outcomes if o.get("rule") == override.id]
    return OverrideExplanation(override.id, override.clause, override.title,
                               "memory." + override.holds, override.id in decision.trace, held,
                               mine)


def _holds(view: dict, path: str) -> bool:
    """Whether a memory path is present and not null (as combining.apply_overrides reads it)."""
    present, value = find(view, path)
    return present and value is not None


# --- temporary -------------------------------------------------------------------------------

__all__ = ["ConditionResult", "EmittedOutcome", "Explanation", "FactExplanation", "Failure",
           "OverrideExplanation", "RuleExplanation", "base_fact", "check", "compare",
           "direct_holds", "explain_event", "explain_fact", "find", "listens"]
