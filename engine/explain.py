"""Decisions as text a person reads: the one renderer the CLI and the test tooling share.

Two views of a decision, built from the same pieces:

- :func:`describe`: one line per decision and one per outcome (``clauseline replay --format
  text``); given the policy, each outcome is followed by the sentence its rule enforces and the
  readings (interpretations) it relies on (``--explain``).
- :func:`report`: the event, its status and errors, every outcome with all its fields, and the
  rules that fired with their clause, title and file (the test tooling's failure messages).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Callable

from .decision import Decision, outcome_summary
from .eventtime import format_time
from .policy.model import Policy, Rule

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


def reasons(policy: Policy, decision: Decision, outcome: dict) -> list[str]:
    """The sentence each deciding rule of an outcome enforces, and the readings it relies on."""
    version = next((v for v in policy.versions if v.version == decision.policy_version), None)
    if version is None:
        return []
    out = []
    for rule_id in [b["rule"] for b in outcome.get("basis", [])] or [outcome["rule"]]:
        rule = version.rule(rule_id)
        out.append(f"        {rule.id} (clause {rule.clause}): \"{rule.quote}\"")
        for name in rule.interpretations:
            out.append(f"          reading {name}: {version.interpretations[name].reading}")
    return out


#: Characters shown as escapes (``\\u202e``) in text output: controls (C0 but the line break, DEL, C1),
#: line and paragraph separators, and bidirectional formatting characters, which would let a
#: value reorder, hide or split the text a reviewer reads.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with controls and bidirectional formatting characters escaped (``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


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


__all__ = ["RuleLookup", "describe", "outcome_fields", "outcome_summary", "reasons", "report",
           "rule_line", "show_value"]
