"""From fired rules to outcomes: rendering, combining disclosure votes, applying overrides.

See docs/decisions.md for the order of outcomes and how disclosure votes are combined.
"""

from __future__ import annotations

from ..decision import GLOBAL
from ..policy.model import Rule
from .templates import render


def rule_outcomes(rule: Rule, fact: dict) -> list[dict]:
    """The outcomes a fired rule emits for one fact: its templates rendered, the subject
    defaulting to the fact's (or ``*``), and the rule's clause and id attached."""
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
    replaced: dict[tuple, list[dict]] = {}
    for outcome, rule in votes:
        key = (outcome["subject"], outcome["recipient"], outcome["purpose"], outcome.get("ref"))
        replaced.setdefault(key, []).extend(outcome.get("overrides") or [])
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
            if effect == "deny" and replaced[(subject, recipient, purpose, ref)]:
                outcome["overrides"] = _merged(replaced[(subject, recipient, purpose, ref)])
            out.append(outcome)
    return out


def _merged(entries: list[dict]) -> list[dict]:
    """Replaced votes merged per (rule, effect), categories sorted, rules in sort order."""
    by: dict[tuple, dict] = {}
    for e in entries:
        key = (e["clause"], e["rule"], e["effect"])
        by.setdefault(key, dict(e, data_categories=set()))["data_categories"].update(e["data_categories"])
    return [dict(v, data_categories=sorted(v["data_categories"])) for _, v in sorted(by.items())]


def apply_overrides(overrides, changes, votes: list, others: list) -> tuple[list, list, set]:
    """Apply the policy-level overrides to one event's disclosure votes and other outcomes.

    An override holds for a subject while its ``holds`` memory path is present in the subject's
    record as this event sees it after its own changes. Then every disclosure vote concerning
    the subject becomes a deny by the override (a ``fallback`` vote too), and every ``retain``
    of the subject's data becomes a ``delete`` due at the event's time. Each replaced permit or
    retain is listed under the new outcome's ``overrides``. Returns the votes, the other
    outcomes and the ids of the overrides that changed something.
    """
    if not overrides:
        return votes, others, set()
    held: dict[str, object] = {}

    def holding(subject: str, kind: str):
        if subject not in held:
            view = changes.view(subject) if subject != GLOBAL else {}
            held[subject] = next((o for o in overrides if _present(view, o.holds)), None)
        found = held[subject]
        return found if found is not None and getattr(found, kind) else None

    used: set[str] = set()
    new_votes = []
    for outcome, rule in votes:
        override = holding(outcome["subject"], "disclosure")
        if override is None or rule.id == override.id:
            new_votes.append((outcome, rule))
            continue
        replaced = dict(outcome, effect="deny", clause=override.clause, rule=override.id)
        if outcome["effect"] == "permit":
            replaced["overrides"] = [{"rule": rule.id, "clause": rule.clause, "effect": "permit",
                                      "data_categories": list(outcome["data_categories"] or [])}]
        new_votes.append((replaced, override))
        used.add(override.id)
    new_others = []
    for outcome in others:
        override = holding(outcome["subject"], "retain") if (
            outcome["kind"] == "retention" and outcome["action"] == "retain") else None
        if override is None:
            new_others.append(outcome)
            continue
        new_others.append(dict(
            outcome, action="delete", due_by=changes.time, clause=override.clause,
            rule=override.id, overrides=[{"rule": outcome["rule"], "clause": outcome["clause"],
                                          "action": "retain"}]))
        used.add(override.id)
    return new_votes, new_others, used


def _present(view: dict, path: str) -> bool:
    node = view
    for step in path.split("."):
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return node is not None
