"""A pure-Python matcher of the compiled rules: what durable_rules 2.0.28 decides, without it.

:class:`ReferenceMatcher` has the public interface of :class:`clauseline.policy.matcher.Matcher`
(``match``, ``list_paths``, ``computed_for``) and reads the same compiled definitions
(:func:`clauseline.policy.compiler.compile_rules`). ``tests/test_differential.py`` runs it beside
durable_rules on every fact the evaluator builds for the golden scenarios, the demo log and a
hypothesis corpus, and they must agree. durable_rules is a C extension unmaintained since 2020;
this module is also the way out if it ever has to be replaced.

The semantics below were found by experiment against durable_rules 2.0.28 (asserting facts as
:mod:`clauseline.policy.matcher` does, through ``fact_json``), read beside its C source
(``src/rules/events.c``, ``state.c``, ``rete.c``, ``json.c`` of the sdist). Each point names
the probe of ``tests/test_differential.py`` (``PROBES``) that shows it; every probe runs against
both matchers. The *type table* probe is a rule per operator and constant (``CONSTANTS``)
against a fact per value (``VALUES``); the examples below are among them.

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
    not at all (*dup eq, dup neq, dup ex, dup nex*).

    Numbers are read from the JSON text ``fact_json`` writes. A float that Python writes with an
    exponent is written in fixed-point, so ``1e+19`` becomes the *integer* text
    ``10000000000000000000``; integer texts are read with ``atoll`` and saturate at the signed
    64-bit range, so ``2**70 == 2**63 - 1`` and ``1e19 > 2**63 - 1`` does not hold. Texts with
    a decimal point are doubles; an integer compared with a double is converted to a double
    first: ``9007199254740992.0 == 2**53 + 1``. ``NaN`` reads as ``null``. Strings are compared
    as their JSON-escaped UTF-8 bytes (``"\\n"`` is the two bytes ``\\`` and ``n``), byte by
    byte, unsigned: the order of code points, except for the characters JSON escapes
    (``"ab\\n" > "ab!"``, ``"\u00ff" > "\u00e9"``). All in the *type table*.

What a fact refuses (durable_rules raises; :class:`FactRefused` here)
    A lone surrogate in a key or string (``pyAssertFact Invalid argument``), ``Infinity`` or
    ``-Infinity`` anywhere, arrays included (error 202) (*surrogate, inf*); more than
    :data:`MAX_PROPERTIES` properties, ``id`` and ``sid`` included (error 302, *property
    limit*). The matcher asserts a fact only into the rulesets of its type (and of every type),
    so a fact that no rule can see by its type is never refused (*surrogate, inf*).

Tests (the fact's value on the left, the rule's constant on the right; all in the *type table*)
    * An absent path fails every test but ``$nex``; ``$ex`` holds for any present value,
      ``null``, objects and arrays included.
    * A ``null`` value fails every test against a non-null constant, ``$neq`` included, so
      ``is_not: x`` does not hold on ``null``; against a ``null`` constant only ``==`` holds. A
      non-null scalar against a ``null`` constant: only ``!=`` holds.
    * An object or array value fails every comparison.
    * Booleans are the numbers 0 and 1 against numbers: ``true == 1``, ``true == 1.0``,
      ``true > 0.5``, ``false < 1``.
    * A boolean against a string compares the text ``"true "`` (``"false "``, with a trailing
      space) with the string over the longer of 4 (5) and the string's length: ``true ==
      "true"``, ``true == "true "``, ``true < "truex"``, ``true > "tru"``. A string against a
      boolean constant likewise: ``"truex" > true``, ``"a" < false``.
    * A number against a string compares the number's text (``%lld``; ``%f`` for a double, so
      ``0.5`` is ``"0.500000"``) with the string over the longer of the *fact's* JSON text
      length and the string's: ``12 == "12"``, ``1 < "10"``, ``55 > "5"``, ``0.5 ==
      "0.500000"``, ``0.5 == "0.5"`` (3 characters compared), ``-3 < "5"``.
    * Two strings compare over the longer length with ``strncmp``, the fact's string followed
      in memory by its closing quote: a fact string that is a proper prefix of the constant is
      *greater* when the constant's next byte is a space or ``!`` (below ``"``): ``"ab" >
      "ab!"`` but ``"ab" < "abc"``.
    * **Undefined:** a string value against a *numeric* constant. durable_rules compares over a
      length it never sets (``rightProperty->valueLength`` of a constant, uninitialised stack
      memory): ``"1" == 12`` did not hold in one process and ``"1" != 12`` held in another,
      and ``"12"`` against ``12`` was ``!=`` while neither ``<``, ``==`` nor ``>``. This module
      compares the number's text over the longer length (what the C code means) and names every
      such comparison (:meth:`ReferenceMatcher.assess`) so that a comparison with durable_rules
      leaves them out.

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
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from .compiler import CompiledRules, project

#: The most properties (members of the fact and of its nested objects, ``id`` and ``sid``
#: included) durable_rules 2.0.28 reads from one fact (``MAX_OBJECT_PROPERTIES`` - 1).
MAX_PROPERTIES = 254
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1
_SID = "0"

# value kinds, as durable_rules types them
NIL, BOOL, INT, DOUBLE, STRING, OBJECT, ARRAY = "nil", "bool", "int", "double", "string", "object", "array"
_OPS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte", "$neq": "neq"}


class FactRefused(ValueError):
    """A fact durable_rules 2.0.28 refuses to read (it raises): a lone surrogate, an infinite
    number, or more than :data:`MAX_PROPERTIES` properties. The message names the reason,
    never a value."""


@dataclass(frozen=True)
class Value:
    """One value as durable_rules reads it: its kind, its value (the JSON-escaped UTF-8 bytes
    of a string; a saturated int; a double) and the length of its JSON text."""

    kind: str
    value: Any = None
    text_length: int = 0


def _escaped(text: str) -> bytes:
    try:
        return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")
    except UnicodeEncodeError:
        raise FactRefused("a string holds a lone surrogate, which durable_rules cannot read") from None


def _number_text(number: int | float) -> str:
    """The JSON text ``fact_json`` writes for a number (a float never with an exponent)."""
    if isinstance(number, float):
        written = float.__repr__(number)
        return format(Decimal(written), "f") if "e" in written or "E" in written else written
    return int.__repr__(number)


def _from_text(text: str) -> Value:
    if "." in text:
        return Value(DOUBLE, float(text), len(text))
    return Value(INT, min(max(int(text), _INT_MIN), _INT_MAX), len(text))


def read_value(value: Any) -> Value:
    """A scalar, object or array as durable_rules reads it from a fact (see the module notes)."""
    if value is None:
        return Value(NIL)
    if isinstance(value, bool):
        return Value(BOOL, int(value), 4 if value else 5)
    if isinstance(value, float) and math.isnan(value):
        return Value(NIL)
    if isinstance(value, float) and math.isinf(value):
        raise FactRefused("an infinite number, which durable_rules cannot read")
    if isinstance(value, (int, float)):
        return _from_text(_number_text(value))
    if isinstance(value, str):
        data = _escaped(value)
        return Value(STRING, data, len(data))
    if isinstance(value, dict):
        return Value(OBJECT)
    if isinstance(value, (list, tuple)):
        return Value(ARRAY)
    raise TypeError(f"a fact cannot hold a {type(value).__name__}")


def read_constant(value: Any) -> Value:
    """A rule's constant as durable_rules reads it from the ruleset (its JSON)."""
    if isinstance(value, (dict, list, tuple)):
        raise ValueError("a condition's constant must be a scalar: durable_rules cannot build a "
                         f"test against a {type(value).__name__}")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("a condition's constant cannot be infinite")
    if isinstance(value, float) and not math.isnan(value):
        return Value(DOUBLE, float(value), len(float.__repr__(value)))
    return read_value(value)


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
            _escaped(item)
        elif isinstance(item, float) and math.isinf(item):
            raise FactRefused("an infinite number, which durable_rules cannot read")
        elif isinstance(item, dict):
            for key, member in item.items():
                if isinstance(key, str):
                    _escaped(key)
                stack.append(member)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def properties(fact: dict) -> dict[str, list[Value]]:
    """Every property durable_rules reads from ``fact``: dotted name -> its values in
    document order (more than one when a key with a dot aliases a nested path)."""
    found: dict[str, list[Value]] = {}
    count = 0
    # pre-order, in document order: an object's own property, then its members
    pending: list[tuple[str, Any]] = [(_key(k), v) for k, v in reversed(list(fact.items()))]
    while pending:
        name, value = pending.pop()
        _escaped(name)
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


def _strncmp(left: bytes, right: bytes, length: int) -> int:
    """C ``strncmp`` over ``length`` bytes, unsigned; a byte past the end of a text reads 0."""
    for i in range(length):
        a = left[i] if i < len(left) else 0
        b = right[i] if i < len(right) else 0
        if a != b:
            return a - b
        if a == 0:
            return 0
    return 0


def _order(result: int | float, op: str) -> bool:
    if op == "lt":
        return result < 0
    if op == "lte":
        return result <= 0
    if op == "gt":
        return result > 0
    if op == "gte":
        return result >= 0
    if op == "eq":
        return result == 0
    return result != 0


def _numbers(left: int | float, right: int | float, op: str) -> bool:
    # C compares an integer with a double as doubles; Python's float(int) rounds the same way
    if isinstance(left, float) or isinstance(right, float):
        left, right = float(left), float(right)
    return _order((left > right) - (left < right), op)


def _text(value: Value) -> bytes:
    """The text durable_rules prints a number or boolean as, to compare it with a string."""
    if value.kind == BOOL:
        return b"true " if value.value else b"false "
    if value.kind == INT:
        return b"%d" % value.value
    return (b"%f" % value.value)[:256]


def compare(left: Value, op: str, right: Value) -> tuple[bool, bool]:
    """Whether ``left <op> right`` holds in durable_rules, and whether that is undefined there
    (a string against a numeric constant). ``op`` is eq, neq, lt, lte, gt or gte."""
    kinds = (left.kind, right.kind)
    numeric = (BOOL, INT, DOUBLE)
    if left.kind in numeric and right.kind in numeric:
        if kinds == (BOOL, BOOL) or DOUBLE not in kinds:
            return _order(left.value - right.value, op), False
        return _numbers(left.value, right.value, op), False
    if right.kind == NIL:
        if left.kind == NIL:
            return op == "eq", False
        return (op == "neq" if left.kind in numeric + (STRING,) else False), False
    if left.kind in (NIL, OBJECT, ARRAY):
        return False, False
    if left.kind in numeric and right.kind == STRING:
        length = max(left.text_length, right.text_length)
        return _order(_strncmp(_text(left), right.value, length), op), False
    if left.kind == STRING and right.kind == BOOL:
        text = _text(right)
        length = max(left.text_length, len(text) - 1)
        return _order(_strncmp(left.value + b'"', text, length), op), False
    if left.kind == STRING and right.kind == STRING:
        length = max(left.text_length, right.text_length)
        return _order(_strncmp(left.value + b'"', right.value, length), op), False
    # a string against a number: undefined in durable_rules; the number's text, over both lengths
    text = _text(right)
    length = max(left.text_length, len(text))
    return _order(_strncmp(left.value + b'"', text, length), op), True


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
        holds, undefined = compare(found[0], op, right)
        trace.undefined = trace.undefined or undefined
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
        on comparing a string with a numeric constant, which durable_rules 2.0.28 leaves
        undefined (see the module notes): a comparison with durable_rules leaves them out."""
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


__all__ = ["FactRefused", "MAX_PROPERTIES", "ReferenceMatcher", "Value", "compare", "properties",
           "read_constant", "read_value"]
