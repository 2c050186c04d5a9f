"""Decisions and explanations as text a person reads: the one renderer the CLI, the audit
report and the test tooling share.

Three views, built from the same pieces:

- :func:`describe`: one line per decision and one per outcome (``clauseline replay --format
  text``); given the policy, each outcome is followed by the sentence its rule enforces and the
  readings (interpretations) it relies on (``--explain``).
- :func:`report`: the event, its status and errors, every outcome with all its fields, and the
  rules that fired with their clause, title and file (the test tooling's failure messages).
- :func:`render_why`: why each rule fired and why not (``clauseline explain``), rendered from the
  JSON form of an explanation (:meth:`clauseline.evaluation.whynot.Explanation.as_dict`, what
  ``clauseline explain --format json`` prints), so the text and the JSON cannot drift apart.

The policy text behind a rule (its clause, sentence and readings: :func:`rule_text`,
:func:`clause_title`) is looked up here for all of them and for the HTML report
(:mod:`clauseline.report`). This module may not import :mod:`clauseline.evaluation` (they are
sibling layers, ``.importlinter``): it reads explanations as plain data.

Values in an explanation come from the event and the subject's memory: they are untrusted.
:func:`render_why` masks card-like and SSN-like numbers (:func:`clauseline.redact.mask_numbers`),
escapes control characters and shortens long strings and lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from .decision import GLOBAL, Decision, outcome_summary
from .errors import printable  # the one escaping of text output
from .eventtime import format_time
from .policy.model import COMPUTED_OPS, Override, Policy, PolicyVersion, Rule
from .redact import mask_numbers
from .timers import TIMER_SOURCE

#: Finds a rule by id, preferring the given policy version: ``(rule_id, version) -> Rule | None``.
RuleLookup = Callable[[str, "str | None"], "Rule | None"]


def show_value(value: Any) -> str:
    """A value as compact text: lists in brackets, strings bare, times in UTC."""
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value) if isinstance(value, str) else json.dumps(value)


def outcome_fields(outcome: dict) -> str:
    """Every field of an outcome as ``name=value``, then the rule and clause that emitted it."""
    shown = [outcome.get("kind", "?")]
    for name, value in outcome.items():
        if name in ("kind", "clause", "rule", "subject", "detail", "text"):
            continue
        if name == "basis" and isinstance(value, list):
            value = [b.get("rule") for b in value if isinstance(b, dict)]
            if value == [outcome.get("rule")]:
                continue
        shown.append(f"{name}={show_value(value)}")
    if outcome.get("subject") not in (None, "*"):
        shown.append(f"subject={outcome['subject']}")
    return " ".join(shown) + f"   <- {outcome.get('rule')} (clause {outcome.get('clause')})"


def rule_line(rule_id: str, rule: Rule | None) -> str:
    """One line naming a rule, its clause, its title and where it is written."""
    if rule is None:
        return f"{rule_id}  clause {rule_id.split('.')[0]}"
    return f"{rule.id}  clause {rule.clause}: {rule.title}  ({rule.file}:{rule.line})"


# --- the policy text behind a rule -----------------------------------------------------------

@dataclass(frozen=True)
class RuleText:
    """A rule (or override) as the policy gives it: the sentence it enforces, the clause that
    sentence is in, and the readings (interpretations) it relies on, in the rule file's order."""

    id: str
    title: str
    clause: str
    #: The title of the clause in that version; None when the version has no such clause.
    clause_title: str | None
    quote: str
    #: ``(name, reading)`` of each interpretation the rule relies on.
    readings: tuple[tuple[str, str], ...]
    #: The id of the policy version it was found in.
    version: str
    fallback: bool = False


def _rule_text(version: PolicyVersion, rule_id: str) -> RuleText:
    """The text behind a rule or override of one version (KeyError if it has none)."""
    rule: Rule | Override = version.rule(rule_id)
    clause = version.clauses.get(rule.clause)
    readings = tuple((name, version.interpretations[name].reading)
                     for name in rule.interpretations if name in version.interpretations)
    return RuleText(rule.id, rule.title, rule.clause, clause.title if clause else None,
                    rule.quote, readings, version.version, rule.fallback)


def rule_text(policy: Policy, version_id: str | None, rule_id: str, *,
              anywhere: bool = False) -> RuleText | None:
    """The sentence and readings behind a rule (or override) of the policy version ``version_id``
    (a decision's ``policy_version``); None when that version has no such rule. With
    ``anywhere``, a rule that version lacks (or a version that is not loaded) is looked for in
    the other versions, in the policy's order (the audit report, over logs of several versions)."""
    version = policy.version_named(version_id)
    versions = [version] if version is not None else []
    if anywhere:
        versions += [v for v in policy.versions if v is not version]
    for candidate in versions:
        try:
            return _rule_text(candidate, rule_id)
        except KeyError:
            continue
    return None


def clause_title(policy: Policy, letter: str) -> str:
    """The title of a clause, from the latest version that has it ("" when none has)."""
    for version in reversed(policy.versions):
        clause = version.clauses.get(letter)
        if clause is not None:
            return clause.title
    return ""


def reading_lines(text: RuleText, indent: str) -> list[str]:
    """``reading NAME: READING``, one line per reading a rule relies on."""
    return [f"{indent}reading {name}: {reading}" for name, reading in text.readings]


def reasons(policy: Policy, decision: Decision, outcome: dict) -> list[str]:
    """The sentence each deciding rule of an outcome enforces, and the readings it relies on."""
    version = policy.version_named(decision.policy_version)
    if version is None:
        return []
    out = []
    for rule_id in [b["rule"] for b in outcome.get("basis", [])] or [outcome["rule"]]:
        text = _rule_text(version, rule_id)
        if text.fallback:
            # a fallback decides only what no other rule decided: the reading that makes it a
            # default is the reason, not the sentence it is filed under (E.no-other-transfer
            # denies an SSN because nothing permits it, not because of "commercial purposes")
            out.append(f"        {text.id} (clause {text.clause}, fallback): {text.title}: "
                       "no other rule decided these categories")
        else:
            out.append(f"        {text.id} (clause {text.clause}): \"{text.quote}\"")
        out += reading_lines(text, "          ")
    return out


def describe(decision: Decision, policy: Policy | None = None) -> str:
    """One readable line (and indented outcome lines) for a decision; given the policy, each
    outcome is followed by the sentence its rule enforces and the interpretations it relies on."""
    head = (f"{decision.time or '-':<25} {decision.event_type or '?':<26} "
            f"{decision.event_id or '-':<14} {decision.status}")
    lines = [head]
    if decision.out_of_order:
        lines.append(f"    out of order: earlier than {decision.out_of_order['latest']}, the latest "
                     "event of its subject already applied; memory read as of its own time")
    for w in decision.warnings:
        lines.append(f"    warning {w['code']}: {w['message']}")
    for e in decision.errors:
        lines.append(f"    error {e['path'] or '/'}: {e['message']}")
    for o in decision.outcomes:
        lines.append(f"    {o['kind']:<10} {outcome_summary(o)}  [{o['rule']}]")
        for replaced in o.get("overrides") or []:
            what = replaced.get("effect") or replaced.get("action")
            cats = replaced.get("data_categories")
            lines.append(f"        overrides {what} of {replaced['rule']}"
                         + (f": {', '.join(cats)}" if cats else ""))
        if policy is not None:
            lines.extend(reasons(policy, decision, o))
    return printable("\n".join(lines))


def report(decision: Decision, find_rule: RuleLookup | None = None, outcomes: bool = True) -> str:
    """The decision in a few readable lines: event, status, errors, outcomes (with all their
    fields, unless ``outcomes`` is false and there are some), and the rules that fired."""
    head = (f"decision for event {decision.event_id} ({decision.event_type} at {decision.time}): "
            f"{decision.status}")
    lines = [head]
    if decision.out_of_order:
        lines.append(f"  out of order: earlier than {decision.out_of_order['latest']}")
    if decision.status == "rejected":
        lines += [f"  error {e.get('path') or '/'}: {e.get('message')}" for e in decision.errors]
    if outcomes or not decision.outcomes:
        lines.append("outcomes:" if decision.outcomes else "outcomes: none")
        lines += [f"  - {outcome_fields(o)}" for o in decision.outcomes]
    lines.append("rules fired:" if decision.trace else "rules fired: none")
    find = find_rule or (lambda rule_id, version: None)
    lines += [f"  - {rule_line(r, find(r, decision.policy_version))}" for r in decision.trace]
    return "\n".join(lines)


# --- why and why not: an explanation as text ---------------------------------------------------
#
# An explanation is read in its JSON form (``Explanation.as_dict()`` of
# clauseline.evaluation.whynot): plain dicts and lists, the same after a JSON round trip.

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


def needs(c: Mapping) -> str:
    """What a condition (a ``ConditionResult.as_dict()``) asks of its path, in words."""
    op, expected, rendered = c["op"], c["expected"], c.get("rendered")
    if op == "exists":
        return "it present" if expected else "it absent"
    if op == "is_not":
        return f"it absent or not {show(expected, False)}"
    if op == "count_since":
        spec, rendered = expected, rendered or {}
        bound = (f"at least {spec['at_least']}" if "at_least" in spec
                 else f"fewer than {spec['fewer_than']}")
        return (f"{bound} records whose {spec['at']} is after "
                f"{_template(spec['since'], rendered.get('since'))}")
    if op in ("some_have", "none_have"):
        wanted = ", ".join(f"{name} in {_template(t, (rendered or {}).get(name))}"
                           for name, t in expected.items())
        return f"{'some' if op == 'some_have' else 'no'} record with {wanted}"
    right = _template(expected, rendered) if op in COMPUTED_OPS else show(expected, False)
    return _NEEDS[op].format(right)


def found(c: Mapping) -> str:
    """What the fact holds at a condition's path, in words."""
    if not c["present"]:
        return f"{c['path']} is absent"
    if c["op"] == "count_since":
        count = (c.get("rendered") or {}).get("count")
        records = len(c["actual"]) if isinstance(c["actual"], list) else 0
        return f"{c['path']} has {records} records, {count} of them after that instant"
    return f"{c['path']} is {show(c['actual'])}"


def condition_line(c: Mapping) -> str:
    """``data.status is 'authorized', the rule needs one of ['completed', 'failed']``."""
    if c["op"] == "count_since":
        line = f"{found(c)}; the rule needs {needs(c)}"
    else:
        line = f"{found(c)}, the rule needs {needs(c)}"
    if c.get("cross_type"):
        line += " (a string compared with a number: the engine's answer may differ)"
    return line


#: Lists the engine provides that are empty for most events, and when one is not: said under a
#: ``for_each`` over it that had no element (docs/rule-format.md, the ``memory.*`` paths).
ENGINE_LISTS = {
    "memory.overdue_obligations": (
        "(the engine lists an obligation there only in the tick of its timer, a decision of its "
        f"own at the obligation's due instant, source {TIMER_SOURCE}, fired before the first "
        "event later than it: docs/decisions.md, \"Obligations\")"),
}


def failure_lines(failure: Mapping) -> list[str]:
    """A failure (a ``Failure.as_dict()``) as lines (unindented)."""
    if failure["kind"] == "no_items":
        what = (f"{failure['path']} is absent" if not failure["present"]
                else f"{failure['path']} is {show(failure['actual'])}")
        lines = [f"{what}: no element to match (for_each needs a non-empty list)"]
        if failure["path"] in ENGINE_LISTS:
            lines.append(ENGINE_LISTS[failure["path"]])
        return lines
    if failure["kind"] == "condition":
        return [condition_line(failure["conditions"][0])]
    lines = ["none of the match_any alternatives held:"]
    lines += [f"  alternative {c['alternative'] + 1}: {condition_line(c)}"
              for c in failure["conditions"]]
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


def _fact_label(f: Mapping) -> str:
    return f"item {f.get('index')} {show(f.get('item'))}"


def _grouped(facts: list[Mapping], lines_of) -> list[tuple[list[Mapping], list[str]]]:
    """Consecutive facts that print the same lines, grouped (one header, the lines once)."""
    out: list[tuple[list[Mapping], list[str]]] = []
    for f in facts:
        lines = lines_of(f)
        if out and out[-1][1] == lines:
            out[-1][0].append(f)
        else:
            out.append(([f], lines))
    return out


def _held_lines(f: Mapping) -> list[str]:
    alternative = f.get("alternative")
    held = [c for c in f["conditions"]
            if c.get("alternative") is None or c.get("alternative") == alternative]
    lines = [condition_line(c) for c in held]
    if alternative is not None:
        lines.append(f"(match_any alternative {alternative + 1} held)")
    return lines or ["(no conditions: every such event matches)"]


def _facts_lines(r: Mapping, indent: str) -> list[str]:
    """The conditions of each fact a fired rule matched, and the first failure of the others."""
    lines: list[str] = []
    matched = [f for f in r["facts"] if f["matched"]]
    unmatched = [f for f in r["facts"] if not f["matched"]]
    for group, held in _grouped(matched, _held_lines):
        if r["for_each"]:
            labels = ", ".join(_fact_label(f) for f in group)
            lines.append(f"{indent}matched {labels} of {r['for_each']}:")
            lines += [f"{indent}  {line}" for line in held]
        else:
            lines.append(f"{indent}matched:")
            lines += [f"{indent}  {line}" for line in held]
    for group, failed in _grouped(unmatched, lambda f: failure_lines(f["failure"])):
        lines.append(f"{indent}did not match {', '.join(_fact_label(f) for f in group)}"
                     f" of {r['for_each']}:")
        lines += [f"{indent}  {line}" for line in failed]
    return lines


_FATES = {"outvoted": "outvoted: decided the other way by {}",
          "not_counted": "not counted (a fallback counts only where no other rule voted): "
                         "decided by {}",
          "overridden": "replaced by the override {}",
          "dropped": "dropped: the same target is deleted or purged by {}",
          "missing": "not found in the decision"}


def _emitted_lines(r: Mapping, indent: str) -> list[str]:
    lines = []
    for e in r["emitted"]:
        if e["fate"] == "kept":
            continue
        categories = e.get("data_categories")
        o = dict(e["outcome"], data_categories=list(categories)) if categories else e["outcome"]
        reason = _FATES[e["fate"]].format(", ".join(e.get("by") or ()))
        lines.append(f"{indent}emitted {outcome_text(o)}: {reason}")
    return lines


def _clause_line(indent: str, text: RuleText) -> str:
    return (f"{indent}clause {text.clause}"
            + (f" ({text.clause_title})" if text.clause_title is not None else "")
            + f": \"{text.quote}\"")


def _override_lines(o: Mapping, version: PolicyVersion, outcomes: list) -> list[str]:
    """One policy-level override (an ``OverrideExplanation.as_dict()``): applied or why not."""
    if o["applied"]:
        text = _rule_text(version, o["id"])
        lines = [f"  {o['id']} applied: {o['title']}", _clause_line("    ", text)]
        lines += reading_lines(text, "    ")
        lines.append(f"    {o['holds']} is present for {', '.join(o['held_for'])}")
        for outcome in o["outcomes"]:
            lines.append(f"    {outcome_text(outcome)}")
            for replaced in outcome.get("overrides") or []:
                what = replaced.get("effect") or replaced.get("action")
                cats = replaced.get("data_categories")
                lines.append(f"      replaces {what} of {replaced.get('rule')}"
                             + (f": {', '.join(cats)}" if cats else ""))
        return lines
    if o["held_for"]:
        return [f"  {o['id']} not applied: {o['holds']} is present for "
                f"{', '.join(o['held_for'])}, but no disclosure or keeping of their data "
                "was there to replace, and the event collects nothing"]
    if any(out.get("subject") not in (None, GLOBAL) for out in outcomes):
        return [f"  {o['id']} not applied: {o['holds']} is absent for every subject "
                "the event names or its outcomes concern"]
    return [f"  {o['id']} not applied: no outcome concerns a subject"]


def render_why(explanation: Any, policy: Policy) -> str:
    """Why each rule of an event's type fired or did not, as text an auditor reads, with each
    fired rule's clause sentence and readings from ``policy`` (deterministic: rules in clause,
    id order, as the explanation lists them).

    ``explanation`` is the JSON form, ``Explanation.as_dict()`` of
    :mod:`clauseline.evaluation.whynot` (as printed by ``clauseline explain --format json`` and
    read back, or as returned); an object with an ``as_dict()`` method is read through it."""
    x = explanation.as_dict() if hasattr(explanation, "as_dict") else explanation
    d = x["decision"]
    subject = x.get("subject")
    version_id = d.get("policy_version")
    head = (f"event {bare(d.get('event_id') or '-')} {bare(d.get('event_type') or '?')} at "
            f"{bare(d.get('time') or '-')}"
            + (f", subject {show(subject)}" if subject else "")
            + f": {d['status']}" + (f" (policy {version_id})" if version_id else ""))
    lines = [head]
    for e in d.get("errors") or ():  # a rejected event's errors quote its values
        lines.append(f"  error {bare(str(e.get('path') or '/'))}: "
                     f"{bare(str(e.get('message')), 4 * MAX_TEXT)}")
    if d.get("out_of_order"):
        lines.append(f"  out of order: earlier than {d['out_of_order']['latest']}; memory read "
                     "as of the event's own time")
    version = policy.version_named(version_id)
    if version is None:
        return "\n".join(lines) + "\n"
    fired, not_fired = x.get("fired") or [], x.get("not_fired") or []
    lines.append("")
    lines.append("Fired:" if fired else "Fired: none")
    for r in fired:
        text = _rule_text(version, r["rule"])
        lines.append(f"  {text.id}: {text.title}" + ("  (fallback)" if text.fallback else ""))
        lines.append(_clause_line("    ", text))
        lines += reading_lines(text, "    ")
        if r.get("note"):
            lines.append(f"    note: {r['note']}")
        lines += _facts_lines(r, "    ")
        if r["outcomes"]:
            lines.append("    in the decision:")
            lines += [f"      {outcome_text(o)}" for o in r["outcomes"]]
        elif not r["emitted"]:
            lines.append("    in the decision: nothing (the rule emits no outcome; it shows in "
                         "the trace)")
        lines += _emitted_lines(r, "    ")
    overrides = x.get("overrides") or []
    if overrides:
        lines.append("")
        lines.append("Overrides:")
        for o in overrides:
            lines += _override_lines(o, version, d.get("outcomes") or [])
    lines.append("")
    lines.append("Did not fire:" if not_fired else "Did not fire: none")
    for r in not_fired:
        lines.append(f"  {r['rule']}: {r['title']}" + ("  (fallback)" if r["fallback"] else ""))
        if r.get("note"):
            lines.append(f"    note: {r['note']}")
            lines += _emitted_lines(r, "    ")
            continue
        failure = r.get("failure")
        if failure is not None and failure["kind"] == "no_items":
            lines += [f"    {line}" for line in failure_lines(failure)]
            continue
        for group, failed in _grouped(r["facts"], lambda f: failure_lines(f["failure"])):
            prefix = "    "
            if r["for_each"]:
                lines.append(f"    {', '.join(_fact_label(f) for f in group)} of {r['for_each']}:")
                prefix = "      "
            lines += [prefix + line for line in failed]
    return "\n".join(lines) + "\n"


__all__ = ["MAX_ITEMS", "MAX_TEXT", "RuleLookup", "RuleText", "bare", "clause_title",
           "condition_line", "describe", "failure_lines", "found", "needs", "outcome_fields",
           "outcome_summary", "outcome_text", "reading_lines", "reasons", "render_why", "report",
           "rule_line", "rule_text", "show", "show_value"]
