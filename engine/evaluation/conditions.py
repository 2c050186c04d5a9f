"""Computed conditions: the tests durable_rules cannot make against a constant.

Their right side is a template rendered per fact (another field, a shifted time, a list), so the
evaluator computes each into a boolean stored under ``_cmp.<key>`` in the fact, which the
compiled rule then tests (see :mod:`clauseline.policy.compiler`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..eventtime import parse_instant
from ..policy.model import TIME_OPS, Condition
from .templates import lookup


#: A list this long or longer is tested for membership through a set (:func:`_members`).
LONG_LIST = 32
#: The sets of the last few long lists tested (a remembered list that grows with the log, such
#: as the recordings ordered deleted on the global record): each list object is hashed once, not
#: scanned at every event that tests it. Records are copied on write, so a list object a state
#: holds never changes; its length is checked all the same. At most :data:`_SETS_KEPT` sets and,
#: beyond the newest, :data:`_SETS_MEMBERS` members in all: every append to a long list makes a
#: new list object, and sixteen sets of the global record's versions (12,000 recordings after
#: 400,000 events) held about 10 MB that grew with the log. A list that is a kept one with items
#: appended takes over that one's set, its new items added (hashing the whole list again at each
#: append cost in proportion to the list: 0.6 ms at 12,000 recordings, against a comparison of
#: the two lists' items by identity, a tenth of that).
_SETS: "OrderedDict[int, tuple[list, int, set]]" = OrderedDict()
_SETS_KEPT = 16
_SETS_MEMBERS = 1 << 14
_sets_members = 0  # the members of the sets in _SETS
_SETS_LOCK = threading.Lock()


def _grown_from(values: list) -> int | None:
    """The key in :data:`_SETS` of a list of which ``values`` is a copy with items appended
    (the latest such), or None."""
    for key in reversed(_SETS):
        kept, length, _ = _SETS[key]
        if length < len(values) and values[length - 1] is kept[length - 1] \
                and values[0] is kept[0] and values[:length] == kept:
            return key
    return None


def _contains(values: list, item: Any) -> bool:
    """``item in values``, through a set made once per list object for a long list. Sessions
    evaluate in several threads (the service's workers), and a set taken over by a longer list
    changes: it is found, changed and tested under one lock."""
    if len(values) < LONG_LIST:
        return item in values
    with _SETS_LOCK:
        members = _members(values)
        try:
            return item in members
        except TypeError:  # an unhashable value (an object) against a set: compared one by one
            return item in values


def _members(values: list) -> Any:
    """Something to test ``in`` against that answers as ``values`` does (a long list): a set of
    it made once per list object, or the list itself when it holds unhashable items. The
    caller holds :data:`_SETS_LOCK` until its test is done."""
    global _sets_members
    key = id(values)
    kept = _SETS.get(key)
    if kept is not None and kept[0] is values and kept[1] == len(values):
        _SETS.move_to_end(key)
        return kept[2]
    if kept is not None:  # this list grown in place (records are not; yet be sure)
        _sets_members -= _SETS.pop(key)[1]
    parent = _grown_from(values)
    try:
        if parent is None:
            members = set(values)
        else:  # the set of the list it grew from, which is no longer that list's
            old, length, members = _SETS.pop(parent)
            _sets_members -= length
            members.update(values[length:])
    except TypeError:  # an object or a list among them: equality by scanning
        return values
    _SETS[key] = (values, len(values), members)
    _sets_members += len(values)
    while len(_SETS) > 1 and (len(_SETS) > _SETS_KEPT or _sets_members > _SETS_MEMBERS):
        _sets_members -= _SETS.popitem(last=False)[1][1]
    return members


def _same(left: Any, right: Any) -> bool:
    a, b = parse_instant(left), parse_instant(right)
    return a == b if a is not None and b is not None else left == right


def computed(condition: Condition, fact: dict) -> bool:
    """Evaluate a computed condition against one fact; an absent value makes it false."""
    left, op = lookup(fact, condition.path), condition.op
    if op == "count_since":
        spec = condition.value
        since = condition.right(fact)
        items = left if isinstance(left, list) else []
        count = sum(1 for item in items if isinstance(item, dict) and since is not None
                    and (parse_instant(item.get(spec["at"])) or since) > since)
        return count >= spec["at_least"] if "at_least" in spec else count < spec["fewer_than"]
    if op in ("some_have", "none_have"):
        wanted = condition.right(fact, True)
        items = left if isinstance(left, list) else []
        found = any(isinstance(item, dict) and all(
            item.get(name) in (values if isinstance(values, list) else [values])
            for name, values in wanted.items()) for item in items)
        return found if op == "some_have" else not found
    if op in TIME_OPS:
        b = condition.right(fact)  # computed first: a shift out of the calendar raises
        if left is None:
            return False
        a = parse_instant(left)
        if a is None or b is None:
            return False
        return {"before": a < b, "after": a > b, "not_before": a >= b, "not_after": a <= b}[op]
    right = condition.right(fact, True)  # only read: no copy
    if left is None:
        return False
    if op in ("one_of", "none_of"):
        found = _contains(right, left) if isinstance(right, list) else False
        return found if op == "one_of" else not found
    return right is not None and _same(left, right) == (op == "same_as")
