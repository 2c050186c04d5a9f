"""A pure-Python matcher of the compiled rules: what durable_rules 2.0.28 decides, without it.

:class:`ReferenceMatcher` has the public interface of :class:`clauseline.policy.matcher.Matcher`
(``match``, ``list_paths``, ``computed_for``) and reads the same compiled definitions
(:func:`clauseline.policy.compiler.compile_rules`). ``tests/test_differential.py`` runs it beside
durable_rules on every fact the evaluator builds for the golden scenarios, the demo log and a
hypothesis corpus, and they must agree. durable_rules is a C extension unmaintained since 2020;
this module is also the way out if it ever has to be replaced. It is test tooling
(``clauseline.testing``): the engine never imports it.

How one value compares with one constant is not here: it is
:mod:`clauseline.policy.comparison`, the one statement of durable_rules' comparison semantics,
which the why-not explanation (:func:`clauseline.evaluation.whynot.direct_holds`) reads too. This
module adds what a whole fact and a whole rule do: how a fact is flattened into properties, what
a fact refuses, how often a rule fires.

The semantics below were found by experiment against durable_rules 2.0.28 (asserting facts as
:mod:`clauseline.policy.matcher` does, through ``fact_json``), read beside its C source
(``src/rules/events.c``, ``state.c``, ``rete.c``, ``json.c`` of the sdist). Each point names
the probe of ``tests/test_differential.py`` (``PROBES``) that shows it; every probe runs against
both matchers. The *type table* probe is a rule per operator and constant (``CONSTANTS``)
against a fact per value (``VALUES``); ``tests/test_comparison.py`` holds the comparisons to
durable_rules on generated values and constants.

What a fact shows
    Like the Matcher, this matcher shows the rules of a fact's type only the paths they test
    (:func:`clauseline.policy.compiler.project`): each under its dotted name, an object or array
    value as an empty one. So no name chosen by event data reaches the matching, a fact never
    has more than a few dozen properties, and the notes below on dotted keys, repeated names,
    opaque arrays and the property limit describe what durable_rules does with a raw fact (the
    probes still run them, through the projection, on both matchers).

How a fact is seen
    The fact, with ``id`` and ``sid`` added, is read as a flat list of *properties*: every
    member of every object, nested objects included, named by its dotted path (``data``,
    ``data.recipient``, ``data.recipient.kind``, ...) in document order. Arrays are opaque
    values: ``{"a": [{"b": 1}]}`` has no ``a.b``, nor has ``{"a": 5}`` (probes *dotted*, *item
    scalar path*). A key that contains a dot aliases the nested path: ``{"a.b": 1}`` has a
    property ``a.b`` like ``{"a": {"b": 1}}`` (*dotted*). When one name occurs several times,
    every test reads the *first* one in document order, and a test that holds counts once per
    occurrence: ``{"a": {"b": 1}, "a.b": 2}`` makes ``a.b == 1`` fire twice and ``a.b != 1``
    not at all (*dup eq, dup neq, dup ex, dup nex*). Each value is read, and compared with a
    rule's constant, as :mod:`clauseline.policy.comparison` says (*type table*).

What a fact refuses (durable_rules raises; :class:`FactRefused` here)
    A lone surrogate in a key or string (``pyAssertFact Invalid argument``), ``Infinity`` or
    ``-Infinity`` anywhere, arrays included (error 202) (*surrogate, inf*); more than
    :data:`MAX_PROPERTIES` properties, ``id`` and ``sid`` included (error 302, *property
    limit*). The matcher asserts a fact only into the rulesets of its type (and of every type),
    so a fact that no rule can see by its type is never refused (*surrogate, inf*).

Tests
    ``$ex`` holds for any present property, ``$nex`` for an absent one; the comparisons are
    :func:`clauseline.policy.comparison.compare_values`. A string value against a *number*
    constant whose text it is, or begins, is undefined in durable_rules (it compares over a
    length it never sets): :meth:`ReferenceMatcher.assess` names every rule and fact whose
    outcome depends on one, so that a comparison with durable_rules leaves them out.

How a rule fires
    ``$and`` is a chain and ``$or`` a merge node of the rete, and a rule fires once per path
    through it that holds: the product over ``$and`` and the sum over ``$or`` of the parts'
    counts. A fact meeting two of a rule's ``match_any`` groups fires it twice, ``in: [1, 1,
    2]`` fires twice on 1, two ``exists: false`` groups both absent fire twice (*or double
    fire, same disjuncts, or of nex*). ``match`` returns one pair per firing, as the matcher
    does; the evaluator sees each.

Deliberately not reproduced (each reported as a durable_rules defect, with a reproduction)
    * Property names are matched by their 32-bit FNV-1a hash only, never compared: a member
      whose dotted name collides with a rule's path is read as that path, and one that
      collides with ``$forward`` (the name of every ``$or`` merge node, a ``$nex`` test)
      turns off every ``$or`` of every rule. A request id of seven letters and digits is
      enough (``test_a_request_id_cannot_turn_rules_off``). Names are compared here.
    * At most 64 rete nodes pending per fact (error 303): 65 ``match_any`` groups that all
      hold. Not limited here.
    * A member whose JSON text is 16 MiB or more (error 314). Not limited here.
    * A ruleset whose constant JSON writes with an exponent (``1e-07``, ``1e+20``: error 204)
      or that is an array (102) or object (202) cannot be created. Exponent constants are read
      as the doubles they are here; array and object constants are refused (``ValueError``)
      when the matcher is built.
    * One rete node has at most 511 distinct tests below it: with 512 (a rule whose ``in``
      lists 512 values, or 512 rules whose first test differs) asserting a fact that reaches
      the node never returns, and with 513 rules ``create_ruleset`` itself never returns
      (``findAlpha`` and ``handleAlpha`` probe a full 512-slot table for ever): the hang the
      issue measured at about 530 rules. A ruleset of one rule that is a bare ``$nex`` also
      spins (compiled rules always start with ``_each``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from ..policy.comparison import Refused, compare_values, escaped, read_constant, read_value
from ..policy.compiler import CompiledRules, project

#: The most properties (members of the fact and of its nested objects, ``id`` and ``sid``
#: included) durable_rules 2.0.28 reads from one fact (``MAX_OBJECT_PROPERTIES`` - 1).
MAX_PROPERTIES = 254
_SID = "0"
#: durable_rules' operators of a compiled test, by the names of :mod:`clauseline.policy.comparison`
_OPS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte", "$neq": "ne"}

#: A fact durable_rules 2.0.28 refuses to read (it raises): a lone surrogate, an infinite
#: number (:class:`clauseline.policy.comparison.Refused`, raised when a value is read), or more
#: than :data:`MAX_PROPERTIES` properties. The message names the reason, never a value.
FactRefused = Refused


def _key(key: Any) -> str:
    # json.dumps writes these keys as strings; anything else it refuses
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    raise TypeError(f"a fact's keys cannot be {type(key).__name__}")


def _check_deep(value: Any) -> None:
    """Refuse what durable_rules refuses inside arrays (which it parses but never reads)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            escaped(item)
        elif isinstance(item, float) and math.isinf(item):
            raise FactRefused("an infinite number, which durable_rules cannot read")
        elif isinstance(item, dict):
            for key, member in item.items():
                if isinstance(key, str):
                    escaped(key)
                stack.append(member)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def properties(fact: dict) -> dict[str, list]:
    """Every property durable_rules reads from ``fact``: dotted name -> its values
    (:class:`clauseline.policy.comparison.Value`) in document order (more than one when a key
    with a dot aliases a nested path)."""
    found: dict[str, list] = {}
    count = 0
    # pre-order, in document order: an object's own property, then its members
    pending: list[tuple[str, Any]] = [(_key(k), v) for k, v in reversed(list(fact.items()))]
    while pending:
        name, value = pending.pop()
        escaped(name)
        count += 1
        if count > MAX_PROPERTIES:
            raise FactRefused(f"the fact has more than {MAX_PROPERTIES} properties (members of "
                              "it and of its nested objects), which durable_rules cannot read")
        if isinstance(value, (list, tuple)):
            _check_deep(value)
        found.setdefault(name, []).append(read_value(value))
        if isinstance(value, dict):
            pending.extend((f"{name}.{_key(k)}", v) for k, v in reversed(list(value.items())))
    return found


class _Trace:
    __slots__ = ("undefined",)

    def __init__(self):
        self.undefined = False


Test = Callable[[dict, _Trace], int]


def _test(expression: Any) -> Test:
    """A compiled expression as a function: (properties, trace) -> how many times it holds."""
    if not isinstance(expression, dict) or len(expression) != 1:
        raise ValueError(f"not a durable_rules expression of one member: {expression!r}")
    (key, body), = expression.items()
    if key in ("$and", "$or"):
        parts = [_test(part) for part in body]
        if key == "$and":
            def conjunction(props, trace):
                total = 1
                for part in parts:
                    total *= part(props, trace)
                    if not total:
                        return 0
                return total
            return conjunction
        return lambda props, trace: sum(part(props, trace) for part in parts)
    if key in ("$ex", "$nex"):
        (path, _), = body.items()
        if key == "$ex":
            return lambda props, trace: len(props.get(path, ()))
        return lambda props, trace: 0 if path in props else 1
    if key in _OPS:
        (path, constant), = body.items()
        op = _OPS[key]
    elif key.startswith("$"):
        raise ValueError(f"an operator the compiler does not write: {key}")
    else:
        path, constant, op = key, body, "eq"
    right = read_constant(constant)

    def comparison(props, trace):
        found = props.get(path)
        if not found:
            return 0
        holds, defined = compare_values(found[0], op, right)
        trace.undefined = trace.undefined or not defined
        return len(found) if holds else 0

    return comparison


class ReferenceMatcher(CompiledRules):
    """Finds every rule of a policy version that matches each of a list of facts, as
    :class:`clauseline.policy.matcher.Matcher` does with durable_rules, in pure Python."""

    def __init__(self, version):
        super().__init__(version.rules)
        tests: dict[str, Test] = {}
        for rule_id, body in self.definition.items():
            (alias, expression), = body["all"][0].items()
            tests[rule_id] = _test(expression)
        #: as the Matcher groups them, with only the paths they test shown (compiler.project)
        self._groups = {kind: [(i, tests[i]) for i in ids] for kind, ids in self.groups.items()}

    def assess(self, facts: list[dict]) -> tuple[list[tuple[str, int]], set[tuple[str, int]]]:
        """What :meth:`match` returns, and the (rule id, fact index) pairs whose outcome depends
        on a comparison durable_rules 2.0.28 leaves undefined (a string against a number
        constant whose text it is or begins: :mod:`clauseline.policy.comparison`): a
        comparison with durable_rules leaves them out."""
        out, undefined = [], set()
        for index, fact in enumerate(facts):
            kind = self.group_of(fact)
            if kind is None:
                continue
            props = properties(dict(project(fact, self.paths[kind]), id=f"f{index}", sid=_SID))
            for rule_id, test in self._groups[kind]:
                trace = _Trace()
                out.extend([(rule_id, index)] * test(props, trace))
                if trace.undefined:
                    undefined.add((rule_id, index))
        return out, undefined

    def match(self, facts: list[dict]) -> list[tuple[str, int]]:
        """(rule id, index of the fact) for every time a rule fires on each fact (a rule whose
        ``$or`` holds in several ways fires once for each). Raises :class:`FactRefused` for a
        fact durable_rules cannot read."""
        return self.assess(facts)[0]


__all__ = ["FactRefused", "MAX_PROPERTIES", "ReferenceMatcher", "properties"]
