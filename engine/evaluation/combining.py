"""From fired rules to outcomes: rendering, combining disclosure votes, settling retention.

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


def settle_retention(outcomes: list[dict]) -> list[dict]:
    """A target that is deleted or purged cannot also be retained: drop the ``retain``."""
    gone = {o["target"] for o in outcomes
            if o["kind"] == "retention" and o["action"] in ("delete", "purge")}
    return [o for o in outcomes if not (o["kind"] == "retention" and o["action"] == "retain"
                                        and o["target"] in gone)]
