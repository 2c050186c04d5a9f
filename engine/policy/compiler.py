"""Compile declarative rules into a durable_rules ruleset definition.

Each rule becomes one durable_rules rule over a single fact alias ``m``. Its test always starts
with the fact's ``_each`` marker (which list the fact was expanded from, ``-`` for the event
itself) and the event type, then the rule's own conditions. durable_rules does the matching;
the evaluator asserts each fact, collects every rule that fired, and retracts the fact.
"""

from __future__ import annotations

from .model import COMPUTED_OPS, Condition, Rule

#: The ``_each`` marker of the fact that is the event itself (not an element of one of its lists).
EVENT_LEVEL = "-"

#: Operators durable_rules tests directly against a constant: operator -> expression builder.
DIRECT = {
    "eq": lambda path, value: {path: value},
    "ne": lambda path, value: {"$neq": {path: value}},
    "in": lambda path, value: ({"$or": [{path: v} for v in value]} if len(value) > 1
                               else {path: value[0]}),
    "not_in": lambda path, value: {"$and": [{"$neq": {path: v}} for v in value]},
    "exists": lambda path, value: {"$ex" if value else "$nex": {path: 1}},
    "is_not": lambda path, value: {"$or": [{"$nex": {path: 1}}, {"$neq": {path: value}}]},
    "lt": lambda path, value: {"$lt": {path: value}},
    "lte": lambda path, value: {"$lte": {path: value}},
    "gt": lambda path, value: {"$gt": {path: value}},
    "gte": lambda path, value: {"$gte": {path: value}},
}
#: Every operator a condition may use: the direct ones, then the computed ones.
OPERATORS = tuple(DIRECT) + COMPUTED_OPS


def condition(c: Condition) -> dict:
    """One condition as a durable_rules expression (a computed one tests its precomputed flag)."""
    if c.computed:
        return {f"_cmp.{c.key}": True}
    if c.op not in DIRECT:
        raise ValueError(f"unknown operator {c.op!r} (known: {', '.join(OPERATORS)})")
    return DIRECT[c.op](c.path, c.value)


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
