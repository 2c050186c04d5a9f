"""Computed conditions: the tests durable_rules cannot make against a constant.

Their right side is a template rendered per fact (another field, a shifted time, a list), so the
evaluator computes each into a boolean stored under ``_cmp.<key>`` in the fact, which the
compiled rule then tests (see :mod:`clauseline.policy.compiler`).
"""

from __future__ import annotations

from typing import Any

from ..eventtime import parse_instant
from ..policy.model import Condition
from .templates import lookup, render


def _same(left: Any, right: Any) -> bool:
    a, b = parse_instant(left), parse_instant(right)
    return a == b if a is not None and b is not None else left == right


def computed(condition: Condition, fact: dict) -> bool:
    """Evaluate a computed condition against one fact; an absent value makes it false."""
    left, op = lookup(fact, condition.path), condition.op
    if op == "count_since":
        spec = condition.value
        since = parse_instant(render(spec["since"], fact, shared=True))
        items = left if isinstance(left, list) else []
        count = sum(1 for item in items if isinstance(item, dict) and since is not None
                    and (parse_instant(item.get(spec["at"])) or since) > since)
        return count >= spec["at_least"] if "at_least" in spec else count < spec["fewer_than"]
    if op in ("some_have", "none_have"):
        wanted = {name: render(template, fact, shared=True)
                  for name, template in condition.value.items()}
        items = left if isinstance(left, list) else []
        found = any(isinstance(item, dict) and all(
            item.get(name) in (values if isinstance(values, list) else [values])
            for name, values in wanted.items()) for item in items)
        return found if op == "some_have" else not found
    right = render(condition.value, fact, shared=True)  # only read: no copy
    if left is None:
        return False
    if op in ("one_of", "none_of"):
        found = left in (right if isinstance(right, list) else [])
        return found if op == "one_of" else not found
    if op in ("same_as", "differs_from"):
        return right is not None and _same(left, right) == (op == "same_as")
    a, b = parse_instant(left), parse_instant(right)
    if a is None or b is None:
        return False
    return {"before": a < b, "after": a > b, "not_before": a >= b, "not_after": a <= b}[op]
