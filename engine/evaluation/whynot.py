"""Why a rule fired, and why not: an auditor's explanation of one event's decision.

``explain_event(policy, state, event)`` evaluates the event with :func:`evaluate` (the decision
is the evaluator's, never recomputed here) and then, for every rule of the policy version in
force that listens to the event's type, re-checks its conditions in Python against the facts the
evaluator matches: the event fact, and one fact per element of the rule's ``for_each`` list
(:func:`~clauseline.evaluation.facts.facts_for`). For a rule that fired it says which conditions
held on which fact, with the values found, and what became of the outcomes it emitted (kept,
outvoted by a deny, replaced by an override, dropped by a delete of the same target); for a rule
that did not fire, the first condition that failed, in the rule file's order (``match``, then the
``match_any`` alternatives), with the value found or "absent". ``render_text`` prints it for a
person, with each fired rule's clause sentence and the readings (interpretations) it relies on.

Why re-check instead of asking durable_rules: durable_rules only says *which* rules matched a
fact, never which condition failed. The computed conditions (``before``, ``one_of``, ...) are
evaluated with the evaluator's own :func:`~clauseline.evaluation.conditions.computed`; the
constant ones (``DIRECT`` in :mod:`clauseline.policy.compiler`) exist only as durable_rules
expressions, so :func:`direct_holds` implements them in Python, measured against durable_rules
2.0.28 (see its docstring for the one place where the two cannot agree). A rule the engine fired
on no fact that the Python check accepts, or one the check accepts but the engine did not fire,
is reported in the rule's ``note`` instead of being hidden.

Values come from the event and the subject's memory: they are untrusted. ``render_text``
masks card-like and SSN-like numbers (:func:`clauseline.redact.mask_numbers`) and shortens
long strings and lists; ``as_dict`` masks numbers in the strings it copies but keeps them whole.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from .. import canonical
from ..decision import GLOBAL, Decision, outcome_summary
from ..eventtime import parse_instant
from ..policy.compiler import EVENT_LEVEL
from ..policy.model import COMPUTED_OPS, Condition, Override, Policy, PolicyVersion, Rule
from ..redact import mask_numbers
from . import memory
from .combining import rule_outcomes
from .conditions import computed
from .evaluator import base_fact, evaluate
from .facts import facts_for
from .memory import instant_key
from .templates import render

# --- the conditions ---------------------------------------------------------------------------

_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lte": operator.le,
            "gt": operator.gt, "gte": operator.ge}


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


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"  # a list or an object: durable_rules compares neither with anything


def cross_type(value: Any, constant: Any) -> bool:
    """Whether comparing ``value`` with ``constant`` is one durable_rules makes between a string
    and a number (see :func:`direct_holds`)."""
    return {_kind(value), _kind(constant)} == {"string", "number"}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float):
        return "%f" % value
    return value


def compare(value: Any, constant: Any, op: str) -> bool:
    """``value <op> constant`` as durable_rules 2.0.28 compares a present field with a constant.

    - ``null`` equals only ``null``; a field that is ``null`` fails every other test (``ne``
      too), and any non-null field is ``ne`` a ``null`` constant;
    - a list or an object fails every test;
    - numbers and booleans compare as numbers (``true`` is 1, ``false`` 0; ``1 == 1.0``);
    - strings compare byte by byte (``strcmp``);
    - a boolean and a string compare as the text ``"true"``/``"false"`` with the string;
    - a number and a string compare as the number's C text (``%d``, ``%f``) with the string:
      see :func:`direct_holds` for why that one is only approximately durable_rules.
    """
    left, right = _kind(value), _kind(constant)
    if "other" in (left, right):
        return False
    if left == "null":
        return right == "null" and op == "eq"
    if right == "null":
        return op == "ne"
    if left in ("bool", "number") and right in ("bool", "number"):
        return _COMPARE[op](value, constant)
    return _COMPARE[op](_as_text(value), _as_text(constant))


def direct_holds(condition: Condition, present: bool, value: Any) -> bool:
    """Whether a constant condition (``DIRECT`` in :mod:`clauseline.policy.compiler`) holds.

    These operators are implemented by the engine only as durable_rules expressions; this is
    their Python check, written to give durable_rules' answers (measured against durable_rules
    2.0.28 on a grid of values of every JSON type and every operator): an absent path fails every
    test except ``exists: false`` and ``is_not``; ``in`` is "equal to one of", ``not_in`` "not
    equal to any of" (so it fails on an absent path), ``is_not`` is "absent, or not equal" (so
    it fails on a ``null``, which is present and not comparable); the comparisons are
    :func:`compare`.

    One case cannot be reproduced: a string field against a number constant (or a number field
    against a string constant). durable_rules formats the number as text into a buffer sized by
    the *other* operand and its answer depends on the other rules of the ruleset (measured:
    ``"1" == 15`` holds alone, and ``"1"`` is both ``ne`` and ``eq`` 1 in a larger ruleset).
    The shipped schemas type every field a shipped rule compares, so it does not arise with the
    shipped policy; where it does, the condition's ``cross_type`` flag says the answer here is
    a text comparison and may differ from the engine's.
    """
    op, constant = condition.op, condition.value
    if op == "exists":
        return present == bool(constant)
    if op == "is_not":
        return not present or compare(value, constant, "ne")
    if not present:
        return False
    if op == "in":
        return any(compare(value, c, "eq") for c in constant)
    if op == "not_in":
        return all(compare(value, c, "ne") for c in constant)
    return compare(value, constant, op)


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
        out = {"path": self.path, "op": self.op, "expected": _masked(self.expected),
               "present": self.present, "actual": _masked(self.actual), "held": self.held}
        if self.rendered is not None:
            out["rendered"] = _masked(self.rendered)
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
            out.update(path=self.path, present=self.present, actual=_masked(self.actual))
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
            out.update(index=self.index, item=_masked(self.item))
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
        out = {"outcome": _masked(self.outcome), "fate": self.fate}
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
            "outcomes": [_masked(o) for o in self.outcomes],
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
    #: The outcome subjects whose record holds the path after the event's own changes.
    held_for: list[str] = field(default_factory=list)
    #: Each outcome it produced (its ``rule`` is the override), with what that outcome replaced
    #: (the ``overrides`` field: permits and retains of other rules).
    outcomes: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.id, "clause": self.clause, "title": self.title, "holds": self.holds,
                "applied": self.applied, "held_for": list(self.held_for),
                "outcomes": [_masked(o) for o in self.outcomes]}


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


def _version(policy: Policy, name: str | None) -> PolicyVersion | None:
    return next((v for v in policy.versions if v.version == name), None)


def explain_event(policy: Policy, state: dict, event: dict) -> Explanation:
    """Evaluate ``event`` against ``state`` (as :func:`evaluate` does: the decision is its) and
    explain, for every rule of the version in force that listens to the event's type, why it
    fired or did not; plus the version's overrides. A rejected event explains no rule."""
    decision, after = evaluate(policy, state, event)
    subject = event.get("subject") if isinstance(event, dict) else None
    subject = subject if isinstance(subject, str) else None
    version = _version(policy, decision.policy_version)
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
    """An override of the version: whether it applied (it is in the trace), for which outcome
    subjects its memory path holds in the new state as of the event's time, its outcomes."""
    at = instant_key(event["time"])
    subjects = sorted({o.get("subject") for o in decision.outcomes} - {None, GLOBAL})
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


# --- text -------------------------------------------------------------------------------------

#: Longest string shown (characters, after masking), and most list items or object keys shown.
MAX_TEXT = 60
MAX_ITEMS = 8


def show(value: Any, short: bool = True) -> str:
    """A value as text: strings masked (card and SSN numbers) and quoted with escapes, JSON
    literals lowercase. ``short`` (for values from the event and memory, which are untrusted)
    also cuts long strings and lists; a rule's own constants are shown whole."""
    if isinstance(value, str):
        text = mask_numbers(value)
        if short and len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + "..."
        return repr(text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        keys = list(range(len(value))) if isinstance(value, list) else list(value)
        cut = keys[:MAX_ITEMS] if short else keys
        shown = [show(value[k], short) if isinstance(value, list)
                 else f"{show(str(k), short)}: {show(value[k], short)}" for k in cut]
        if len(keys) > len(cut):
            shown.append(f"... {len(keys) - len(cut)} more")
        return ("[{}]" if isinstance(value, list) else "{{{}}}").format(", ".join(shown))
    return mask_numbers(str(value))


def bare(text: str, limit: int = MAX_TEXT) -> str:
    """Untrusted text shown unquoted (an event id, a type, an error message): numbers masked,
    control characters escaped, cut after ``limit`` characters."""
    text = repr(mask_numbers(text))[1:-1]
    return text if len(text) <= limit else text[:limit] + "..."


def _template(template: Any, rendered: Any) -> str:
    """A computed condition's right side: the template as written, and what it rendered to."""
    return f"{template} (= {show(rendered)})"


_NEEDS = {"eq": "{}", "ne": "anything but {}", "in": "one of {}", "not_in": "none of {}",
          "lt": "less than {}", "lte": "at most {}", "gt": "more than {}", "gte": "at least {}",
          "before": "a time before {}", "after": "a time after {}",
          "not_before": "a time not before {}", "not_after": "a time not after {}",
          "same_as": "the same as {}",
          "differs_from": "different from {}", "one_of": "one of {}", "none_of": "none of {}"}


def needs(c: ConditionResult) -> str:
    """What a condition asks of its path, in words."""
    if c.op == "exists":
        return "it present" if c.expected else "it absent"
    if c.op == "is_not":
        return f"it absent or not {show(c.expected, False)}"
    if c.op == "count_since":
        spec, rendered = c.expected, c.rendered or {}
        bound = (f"at least {spec['at_least']}" if "at_least" in spec
                 else f"fewer than {spec['fewer_than']}")
        return (f"{bound} records whose {spec['at']} is after "
                f"{_template(spec['since'], rendered.get('since'))}")
    if c.op in ("some_have", "none_have"):
        wanted = ", ".join(f"{name} in {_template(t, (c.rendered or {}).get(name))}"
                           for name, t in c.expected.items())
        return f"{'some' if c.op == 'some_have' else 'no'} record with {wanted}"
    right = _template(c.expected, c.rendered) if c.op in COMPUTED_OPS else show(c.expected, False)
    return _NEEDS[c.op].format(right)


def found(c: ConditionResult) -> str:
    """What the fact holds at a condition's path, in words."""
    if not c.present:
        return f"{c.path} is absent"
    if c.op == "count_since":
        count = (c.rendered or {}).get("count")
        records = len(c.actual) if isinstance(c.actual, list) else 0
        return f"{c.path} has {records} records, {count} of them after that instant"
    return f"{c.path} is {show(c.actual)}"


def condition_line(c: ConditionResult) -> str:
    """``data.status is 'authorized', the rule needs one of ['completed', 'failed']``."""
    if c.op == "count_since":
        line = f"{found(c)}; the rule needs {needs(c)}"
    else:
        line = f"{found(c)}, the rule needs {needs(c)}"
    if c.cross_type:
        line += " (a string compared with a number: the engine's answer may differ)"
    return line


def failure_lines(failure: Failure) -> list[str]:
    """A failure as lines (unindented)."""
    if failure.kind == "no_items":
        what = (f"{failure.path} is absent" if not failure.present
                else f"{failure.path} is {show(failure.actual)}")
        return [f"{what}: no element to match (for_each needs a non-empty list)"]
    if failure.kind == "condition":
        return [condition_line(failure.conditions[0])]
    lines = ["none of the match_any alternatives held:"]
    lines += [f"  alternative {c.group + 1}: {condition_line(c)}" for c in failure.conditions]
    return lines


def outcome_text(o: dict) -> str:
    """One outcome in a line: ``clauseline.decision.outcome_summary``, with its subject, masked
    and shortened."""
    text = mask_numbers(outcome_summary(o))
    if len(text) > 3 * MAX_TEXT:
        text = text[:3 * MAX_TEXT] + "..."
    if o.get("subject") not in (None, GLOBAL):
        text += f" [subject {mask_numbers(str(o['subject']))}]"
    return f"{o.get('kind')} {text}"


def _fact_label(f: FactExplanation) -> str:
    return f"item {f.index} {show(f.item)}"


def _grouped(facts: list[FactExplanation],
             lines_of) -> list[tuple[list[FactExplanation], list[str]]]:
    """Consecutive facts that print the same lines, grouped (one header, the lines once)."""
    out: list[tuple[list[FactExplanation], list[str]]] = []
    for f in facts:
        lines = lines_of(f)
        if out and out[-1][1] == lines:
            out[-1][0].append(f)
        else:
            out.append(([f], lines))
    return out


def _held_lines(f: FactExplanation) -> list[str]:
    held = [c for c in f.conditions if c.group is None or c.group == f.alternative]
    lines = [condition_line(c) for c in held]
    if f.alternative is not None:
        lines.append(f"(match_any alternative {f.alternative + 1} held)")
    return lines or ["(no conditions: every such event matches)"]


def _facts_lines(r: RuleExplanation, indent: str) -> list[str]:
    """The conditions of each fact a fired rule matched, and the first failure of the others."""
    lines: list[str] = []
    matched = [f for f in r.facts if f.matched]
    unmatched = [f for f in r.facts if not f.matched]
    for group, held in _grouped(matched, _held_lines):
        if r.for_each:
            labels = ", ".join(_fact_label(f) for f in group)
            lines.append(f"{indent}matched {labels} of {r.for_each}:")
            lines += [f"{indent}  {line}" for line in held]
        else:
            lines.append(f"{indent}matched:")
            lines += [f"{indent}  {line}" for line in held]
    for group, failed in _grouped(unmatched, lambda f: failure_lines(f.failure)):
        lines.append(f"{indent}did not match {', '.join(_fact_label(f) for f in group)}"
                     f" of {r.for_each}:")
        lines += [f"{indent}  {line}" for line in failed]
    return lines


def _emitted_lines(r: RuleExplanation, indent: str) -> list[str]:
    lines = []
    for e in r.emitted:
        if e.fate == "kept":
            continue
        o = (dict(e.outcome, data_categories=list(e.data_categories)) if e.data_categories
             else e.outcome)
        by = ", ".join(e.by)
        reason = {"outvoted": f"outvoted: decided the other way by {by}",
                  "not_counted": f"not counted (a fallback counts only where no other rule "
                                 f"voted): decided by {by}",
                  "overridden": f"replaced by the override {by}",
                  "dropped": f"dropped: the same target is deleted or purged by {by}",
                  "missing": "not found in the decision"}[e.fate]
        lines.append(f"{indent}emitted {outcome_text(o)}: {reason}")
    return lines


def render_text(explanation: Explanation, policy: Policy) -> str:
    """The explanation as text an auditor reads (deterministic: rules in clause, id order)."""
    d = explanation.decision
    head = (f"event {bare(d.event_id or '-')} {bare(d.event_type or '?')} at "
            f"{bare(d.time or '-')}"
            + (f", subject {show(explanation.subject)}" if explanation.subject else "")
            + f": {d.status}" + (f" (policy {d.policy_version})" if d.policy_version else ""))
    lines = [head]
    for e in d.errors:  # a rejected event's errors quote its values
        lines.append(f"  error {bare(str(e.get('path') or '/'))}: "
                     f"{bare(str(e.get('message')), 4 * MAX_TEXT)}")
    if d.out_of_order:
        lines.append(f"  out of order: earlier than {d.out_of_order['latest']}; memory read as of "
                     "the event's own time")
    version = _version(policy, d.policy_version)
    if version is None:
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append("Fired:" if explanation.fired else "Fired: none")
    for r in explanation.fired:
        rule = version.rule(r.rule)
        clause = version.clauses.get(rule.clause)
        lines.append(f"  {rule.id}: {rule.title}" + ("  (fallback)" if rule.fallback else ""))
        lines.append(f"    clause {rule.clause}" + (f" ({clause.title})" if clause else "")
                     + f": \"{rule.quote}\"")
        for name in rule.interpretations:
            lines.append(f"    reading {name}: {version.interpretations[name].reading}")
        if r.note:
            lines.append(f"    note: {r.note}")
        lines += _facts_lines(r, "    ")
        if r.outcomes:
            lines.append("    in the decision:")
            lines += [f"      {outcome_text(o)}" for o in r.outcomes]
        elif not r.emitted:
            lines.append("    in the decision: nothing (the rule emits no outcome; it shows in "
                         "the trace)")
        lines += _emitted_lines(r, "    ")
    if explanation.overrides:
        lines.append("")
        lines.append("Overrides:")
        for o in explanation.overrides:
            override = version.rule(o.id)
            if o.applied:
                lines.append(f"  {o.id} applied: {o.title}")
                clause = version.clauses.get(o.clause)
                lines.append(f"    clause {o.clause}" + (f" ({clause.title})" if clause else "")
                             + f": \"{override.quote}\"")
                for name in override.interpretations:
                    lines.append(f"    reading {name}: {version.interpretations[name].reading}")
                lines.append(f"    {o.holds} is present for {', '.join(o.held_for)}")
                for outcome in o.outcomes:
                    lines.append(f"    {outcome_text(outcome)}")
                    for replaced in outcome.get("overrides") or []:
                        what = replaced.get("effect") or replaced.get("action")
                        cats = replaced.get("data_categories")
                        lines.append(f"      replaces {what} of {replaced.get('rule')}"
                                     + (f": {', '.join(cats)}" if cats else ""))
            elif o.held_for:
                lines.append(f"  {o.id} not applied: {o.holds} is present for "
                             f"{', '.join(o.held_for)}, but no disclosure or retain of theirs "
                             "was there to replace")
            elif any(out.get("subject") not in (None, GLOBAL) for out in d.outcomes):
                lines.append(f"  {o.id} not applied: {o.holds} is absent for every subject "
                             "of the outcomes")
            else:
                lines.append(f"  {o.id} not applied: no outcome concerns a subject")
    lines.append("")
    lines.append("Did not fire:" if explanation.not_fired else "Did not fire: none")
    for r in explanation.not_fired:
        lines.append(f"  {r.rule}: {r.title}" + ("  (fallback)" if r.fallback else ""))
        if r.note:
            lines.append(f"    note: {r.note}")
            lines += _emitted_lines(r, "    ")
            continue
        if r.failure is not None and r.failure.kind == "no_items":
            lines += [f"    {line}" for line in failure_lines(r.failure)]
            continue
        for group, failed in _grouped(r.facts, lambda f: failure_lines(f.failure)):
            prefix = "    "
            if r.for_each:
                lines.append(f"    {', '.join(_fact_label(f) for f in group)} of {r.for_each}:")
                prefix = "      "
            lines += [prefix + line for line in failed]
    return "\n".join(lines) + "\n"


def _masked(value: Any) -> Any:
    """A copy of a JSON value with card-like and SSN-like numbers masked in its strings."""
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


__all__ = ["ConditionResult", "EmittedOutcome", "Explanation", "FactExplanation", "Failure",
           "OverrideExplanation", "RuleExplanation", "base_fact", "check", "compare",
           "direct_holds", "explain_event", "explain_fact", "find", "listens", "render_text",
           "show"]
