"""From fired rules to outcomes: rendering, combining disclosure votes, applying overrides.

See docs/decisions.md for the order of outcomes and how disclosure votes are combined.
"""

from __future__ import annotations

from .. import canonical
from ..decision import GLOBAL
from ..policy.model import Rule
from ..records import instant_key, named_subjects


def rule_outcomes(rule: Rule, fact: dict) -> list[dict]:
    """The outcomes a fired rule emits for one fact: its templates rendered (compiled with the
    rule, :attr:`~clauseline.policy.model.Rule.emitters`), the subject defaulting to the fact's
    (or ``*``), and the rule's clause and id attached."""
    out = []
    for kind, fields in rule.emitters:
        outcome = {"kind": kind}
        for name, fill in fields:
            outcome[name] = fill(fact, False)
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
    rules = {r.id: r for _, r in votes}
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


def apply_overrides(overrides, changes, votes: list, others: list,
                    event: dict | None = None) -> tuple[list, list, set]:
    """Apply the policy-level overrides to one event's disclosure votes and other outcomes.

    An override holds for a subject while its ``holds`` memory path is present in the subject's
    record as this event sees it after its own changes. It applies to every subject the event
    names (:func:`clauseline.records.named_subjects`: the envelope's ``subject`` and every
    ``subject`` in its data, such as call parties and SVV participants), and to the subject of
    every outcome. An outcome concerns its own subject; one about the event's subject concerns
    every subject the event names too (a call's recording is each party's data), unless its
    target is one subject's own record (``subject:<id>``). For each subject it holds for:

    - ``disclosure: deny``: every disclosure vote concerning the subject, permit or deny,
      ``fallback`` or not, becomes the subject's deny by the override (a vote about another
      subject stays, and the subject gets a deny of its own beside it);
    - ``retain: delete``: nothing of the subject's is kept. Every retention that keeps its data
      (a ``retain``; a ``delete``, ``purge`` or ``expire`` due after the event; any other
      action) becomes the subject's ``delete`` due at the event's time, and what the event
      collects (``data.collected``) is deleted from the subject's record at once (unless a
      delete of that record due at once already covers it).

    Each replaced permit or keeping is listed under the new outcome's ``overrides``. Returns the
    votes, the other outcomes and the ids of the overrides that changed something.
    """
    if not overrides:
        return votes, others, set()
    held: dict[str, object] = {}
    envelope = event.get("subject") if event else None
    named = sorted(named_subjects(event)) if event else []

    def holding(subject: str, kind: str):
        if subject not in held:
            view = changes.view(subject) if subject != GLOBAL else {}
            held[subject] = next((o for o in overrides if _present(view, o.holds)), None)
        found = held[subject]
        return found if found is not None and getattr(found, kind) else None

    def concerned(outcome: dict) -> list[str]:
        """The subjects an outcome concerns: its own, and, for an outcome about the event's
        subject, every subject the event names (not for a target that is one subject's record)."""
        subject = outcome["subject"]
        target = outcome.get("target")
        if subject != envelope or (isinstance(target, str) and target.startswith("subject:")):
            return [subject]
        return [subject] + [s for s in named if s != subject]

    used: set[str] = set()
    new_votes = []
    for outcome, rule in votes:
        kept = True
        for subject in concerned(outcome):
            override = holding(subject, "disclosure")
            if override is None or rule.id == override.id:
                continue
            replaced = dict(outcome, subject=subject, effect="deny", clause=override.clause,
                            rule=override.id)
            replaced.pop("overrides", None)
            if outcome["effect"] == "permit":
                replaced["overrides"] = [{"rule": rule.id, "clause": rule.clause,
                                          "effect": "permit",
                                          "data_categories": list(outcome["data_categories"] or [])}]
            new_votes.append((replaced, override))
            used.add(override.id)
            kept = kept and subject != outcome["subject"]
        if kept:
            new_votes.append((outcome, rule))
    new_others: list[dict] = []
    added: set[str] = set()  # the deletes made here, once each (two keepings may give the same)

    def add(deleted: dict, override) -> None:
        key = canonical.dumps(deleted)
        if key not in added:
            added.add(key)
            new_others.append(deleted)
        used.add(override.id)

    for outcome in others:
        kept = True
        if outcome["kind"] == "retention" and _keeps(outcome, changes.at):
            for subject in concerned(outcome):
                override = holding(subject, "retain")
                if override is None:
                    continue
                add(dict(outcome, subject=subject, action="delete", due_by=changes.time,
                         clause=override.clause, rule=override.id,
                         overrides=[{"rule": outcome["rule"], "clause": outcome["clause"],
                                     "action": outcome["action"]}]), override)
                kept = kept and subject != outcome["subject"]
        if kept:
            new_others.append(outcome)
    collected = (event.get("data") or {}).get("collected") if event else None
    if isinstance(collected, list) and collected:
        for subject in named:
            override = holding(subject, "retain")
            if override is None or _deleted_at_once(new_others, subject, collected, changes.at):
                continue
            add({"kind": "retention", "subject": subject, "action": "delete",
                 "data_categories": list(collected), "target": f"subject:{subject}",
                 "due_by": changes.time, "clause": override.clause, "rule": override.id}, override)
    return new_votes, new_others, used


#: Retention actions that end the data's keeping at their due time; any other action (``retain``,
#: or one a later rule adds) keeps it.
_ENDING = ("delete", "purge", "expire")


def _keeps(outcome: dict, at: str) -> bool:
    """Whether a retention keeps its data after the event: a ``retain`` (or any action but
    delete, purge and expire), or a delete, purge or expire due later than the event (a due
    time that is not a time counts as later: fail closed)."""
    if outcome.get("action") not in _ENDING:
        return True
    try:
        return instant_key(outcome.get("due_by")) > at
    except (TypeError, ValueError):
        return True


def _deleted_at_once(outcomes, subject: str, categories: list, at: str) -> bool:
    """Whether the outcomes already delete these categories of the subject's record at once."""
    covered: set = set()
    for o in outcomes:
        if (o["kind"] == "retention" and o.get("target") == f"subject:{subject}"
                and o.get("action") in ("delete", "purge") and not _keeps(o, at)):
            covered.update(o.get("data_categories") or [])
    return set(categories) <= covered


def _present(view: dict, path: str) -> bool:
    node = view
    for step in path.split("."):
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return node is not None
