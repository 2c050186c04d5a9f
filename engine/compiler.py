"""Compile declarative rules into a durable_rules ruleset definition.

Each rule becomes one durable_rules rule over a single fact alias ``m``. Its test always starts
with the fact's ``_each`` marker (which list the fact was expanded from, ``-`` for the event
itself) and the event type, then the rule's own conditions. durable_rules does the matching;
the evaluator asserts each fact, collects every rule that fired, and retracts the fact.
"""

from __future__ import annotations

from .model import Condition, Rule

EVENT_LEVEL = "-"
_ORDER = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def condition(c: Condition) -> dict:
    """One condition as a durable_rules expression (a computed one tests its precomputed flag)."""
    if c.computed:
        return {f"_cmp.{c.key}": True}
    if c.op == "eq":
        return {c.path: c.value}
    if c.op == "ne":
        return {"$neq": {c.path: c.value}}
    if c.op == "in":
        return {"$or": [{c.path: v} for v in c.value]} if len(c.value) > 1 else {c.path: c.value[0]}
    if c.op == "not_in":
        return {"$and": [{"$neq": {c.path: v}} for v in c.value]}
    if c.op == "exists":
        return {"$ex" if c.value else "$nex": {c.path: 1}}
    if c.op in _ORDER:
        return {_ORDER[c.op]: {c.path: c.value}}
    raise ValueError(f"unknown operator {c.op!r}")


def _any_of(expressions: list[dict]) -> dict:
    return expressions[0] if len(expressions) == 1 else {"$or": expressions}


def rule_expression(rule: Rule) -> dict:
    """The whole test of one rule."""
    parts = [{"_each": rule.for_each or EVENT_LEVEL}]
    if "*" not in rule.events:
        parts.append(_any_of([{"type": t} for t in rule.events]))
    parts += [condition(c) for c in rule.match]
    if rule.match_any:
        parts.append(_any_of([{"$and": [condition(c) for c in group]} if len(group) > 1
                              else condition(group[0]) for group in rule.match_any]))
    return {"$and": parts}


def compile_rules(rules: tuple[Rule, ...]) -> dict:
    """The durable_rules ruleset body: rule id -> ``{"all": [{"m": expr}], "run": rule id}``."""
    return {rule.id: {"all": [{"m": rule_expression(rule)}], "run": rule.id} for rule in rules}
