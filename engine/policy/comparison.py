"""How a condition compares a fact's value with a rule's constant: durable_rules 2.0.28's answer.

Rules with a constant right side (``DIRECT`` in :mod:`clauseline.policy.compiler`) are matched
by durable_rules' C core, and everything in clauseline that has to say whether such a condition
holds without asking it reads this module: the why-not explanation
(:func:`clauseline.evaluation.whynot.direct_holds`) and the pure-Python reference matcher
(:mod:`clauseline.testing.reference`, which holds this module to durable_rules in
``tests/test_differential.py`` and ``tests/test_comparison.py``). There is one semantics, and
it is durable_rules', quirks included; ``docs/rule-format.md`` ("How values compare") says the
same for rule authors.

It was found by experiment against durable_rules 2.0.28 (facts asserted as
:mod:`clauseline.policy.matcher` asserts them, through ``fact_json``), read beside its C source
(``reduceProperties`` and ``reduceString`` in ``src/rules/events.c``).

How a value is read (:func:`read_value`, :func:`read_constant`)
    Kinds: ``null``, boolean, integer, double, string, object, array. Numbers are read from the
    JSON text ``fact_json`` writes: a float that Python writes with an exponent is written in
    fixed-point, so ``1e+19`` is the *integer* text ``10000000000000000000``; integer texts
    saturate at the signed 64-bit range (``2**70`` reads as ``2**63 - 1``); a text with a
    decimal point is a double. ``NaN`` reads as ``null``. A string is its JSON-escaped UTF-8
    bytes (``"\\n"`` is the two bytes ``\\`` and ``n``; ``"`` is ``\\"``). A lone surrogate or an
    infinity cannot be read: durable_rules refuses the whole fact (:class:`Refused`). A
    constant cannot be an object or an array (durable_rules cannot build the test).

How two values compare (:func:`compare_values`; the fact's value left, the constant right)
    * Numbers and booleans compare as numbers, ``true`` being 1 and ``false`` 0: ``true == 1``,
      ``true > 0.5``. Integers compare exactly; with a double on either side, as doubles
      (``9007199254740992.0 == 2**53 + 1``).
    * ``null`` equals only ``null``. A ``null`` value fails every other test, ``ne`` included;
      a non-null scalar against a ``null`` constant holds only ``ne``.
    * An object or an array fails every comparison (``ne`` included).
    * Two strings compare with C ``strncmp`` over the longer of their two lengths, byte by byte
      (unsigned), on the escaped bytes. So the order is that of code points, except for the
      characters JSON escapes (``"a\\n" > "a "``, ``'a"' > "a#"``, ``"a\\x01" > "a["``). A
      length is kept in 16 bits: a string of 64 KiB or more compares over its length modulo
      65,536 (``"ab"`` followed by 65,536 ``x`` equals ``"ab"``). The fact's string is
      followed in memory by its closing quote (``"``, byte 0x22): a fact string that is a
      proper prefix of the constant is *greater* when the constant's next byte is a space or
      ``!`` (the only bytes below ``"`` in escaped JSON): ``"ab" > "ab!"``, ``"ab" > "ab "``,
      but ``"ab" < "abc"``.
    * A number against a string: the number's C text (``%lld``; ``%f`` for a double, so
      ``0.5`` is ``"0.500000"``) against the string, over the longer of the *fact's* JSON text
      length and the other's length. A number fact against a string constant: ``12 == "12"``,
      ``1 < "10"``, ``55 > "5"``, ``-3 < "5"``, and ``0.5 == "0.5"`` (3 characters compared:
      ``0.5`` is 3 long in the fact) as well as ``0.5 == "0.500000"``.
    * A boolean against a string: the text ``"true "`` (``"false "``, with a space) over the
      longer of 4 (5) and the string's length: ``true == "true"``, ``true == "true "``,
      ``true < "truex"``, ``true > "tru"``; a string fact against a boolean constant likewise,
      the fact's closing quote included (``"truex" > true``).
    * **Undefined:** a string fact against a *number* constant. durable_rules compares over
      the longer of the string's length and a length it never sets for a number constant
      (uninitialised stack memory: in practice the length of the last string constant the
      rule tested before, such as its event type's name). Where the string differs from the
      number's text within its own length the answer does not depend on that length
      (``"abc" > 12``, ``"2" > 12``, ``"123" > 12``); where the string is the number's text or
      a prefix of it (``"12"``, ``"1"`` or ``""`` against ``12``) the answer is either
      "equal" or the order of its closing quote (``"12" > 12``, ``"1" < 12``): measured,
      ``"12" == 12`` held in a rule of event type ``p`` and did not in one of ``probe.event``.
      :func:`compare_values` gives the answer with the number's whole text compared
      (``"12" == 12``, what the C code means) and says whether that answer is certain
      (:attr:`Verdict.defined`).

The operators of a condition (:func:`direct`)
    An absent path fails every test but ``exists: false`` and ``is_not``. ``in`` is "equal to
    one of", ``not_in`` "not equal to any of" (so it fails on an absent path, and on ``null``),
    ``is_not`` "absent, or not equal" (so it fails on a ``null``, which is present and not
    comparable), ``exists`` holds for any present value, ``null``, objects and arrays included.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

# value kinds, as durable_rules types them
NIL, BOOL, INT, DOUBLE, STRING, OBJECT, ARRAY = "nil", "bool", "int", "double", "string", "object", "array"
#: The comparisons durable_rules makes against a constant, by their rule-file names
#: (durable_rules' ``$neq`` is ``ne``; equality is a bare ``{path: value}``).
COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1
#: durable_rules keeps a value's length in 16 bits: a string of 64 KiB or more compares over
#: its length modulo 65,536.
_LENGTH_MASK = 0xFFFF
_NUMERIC = (BOOL, INT, DOUBLE)


class Refused(ValueError):
    """A value durable_rules 2.0.28 refuses to read (it raises, refusing the whole fact): a
    lone surrogate or an infinite number. The message names the reason, never the value."""


@dataclass(frozen=True)
class Value:
    """One value as durable_rules reads it: its kind, its value (the JSON-escaped UTF-8 bytes
    of a string; a saturated int; a double) and the length of its JSON text as durable_rules
    keeps it (in 16 bits: a string's escaped length modulo 65,536)."""

    kind: str
    value: Any = None
    text_length: int = 0


class Verdict(NamedTuple):
    """Whether a comparison holds in durable_rules, and whether that answer is certain: False
    only for a string fact against a number constant whose answer depends on memory
    durable_rules never set (see the module notes)."""

    holds: bool
    defined: bool = True


def escaped(text: str) -> bytes:
    """A string as durable_rules holds it: its JSON-escaped UTF-8 bytes (``Refused`` for a
    lone surrogate)."""
    try:
        return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("a string holds a lone surrogate, which durable_rules cannot read") from None


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
    """A fact's scalar, object or array as durable_rules reads it (see the module notes)."""
    if value is None:
        return Value(NIL)
    if isinstance(value, bool):
        return Value(BOOL, int(value), 4 if value else 5)
    if isinstance(value, float) and math.isnan(value):
        return Value(NIL)
    if isinstance(value, float) and math.isinf(value):
        raise Refused("an infinite number, which durable_rules cannot read")
    if isinstance(value, (int, float)):
        return _from_text(_number_text(value))
    if isinstance(value, str):
        data = escaped(value)
        return Value(STRING, data, len(data) & _LENGTH_MASK)
    if isinstance(value, dict):
        return Value(OBJECT)
    if isinstance(value, (list, tuple)):
        return Value(ARRAY)
    raise TypeError(f"a fact cannot hold a {type(value).__name__}")


def read_constant(value: Any) -> Value:
    """A rule's constant as durable_rules reads it from the ruleset (its JSON). ValueError for
    what durable_rules cannot build a test against (an object, an array, an infinity)."""
    if isinstance(value, (dict, list, tuple)):
        raise ValueError("a condition's constant must be a scalar: durable_rules cannot build a "
                         f"test against a {type(value).__name__}")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("a condition's constant cannot be infinite")
    if isinstance(value, float) and not math.isnan(value):
        return Value(DOUBLE, float(value), len(float.__repr__(value)))
    return read_value(value)


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


def _holds(op: str, order: int) -> bool:
    if op == "eq":
        return order == 0
    if op == "ne":
        return order != 0
    if op == "lt":
        return order < 0
    if op == "lte":
        return order <= 0
    if op == "gt":
        return order > 0
    return order >= 0


def _text(value: Value) -> bytes:
    """The text durable_rules prints a number or boolean as, to compare it with a string."""
    if value.kind == BOOL:
        return b"true " if value.value else b"false "
    if value.kind == INT:
        return b"%d" % value.value
    return (b"%f" % value.value)[:256]


def _number_order(left: Value, right: Value) -> int:
    a, b = left.value, right.value
    if DOUBLE in (left.kind, right.kind):  # C converts the integer to a double, as float() does
        a, b = float(a), float(b)
    return (a > b) - (a < b)


def compare_values(left: Value, op: str, right: Value) -> Verdict:
    """``left <op> right`` in durable_rules, ``left`` read from a fact (:func:`read_value`),
    ``right`` from a rule (:func:`read_constant`); ``op`` is one of :data:`COMPARISONS`."""
    if op not in COMPARISONS:
        raise ValueError(f"not a comparison: {op!r} (one of {', '.join(COMPARISONS)})")
    if left.kind in _NUMERIC and right.kind in _NUMERIC:
        return Verdict(_holds(op, _number_order(left, right)))
    if right.kind == NIL:
        if left.kind == NIL:
            return Verdict(op == "eq")
        return Verdict(op == "ne" and left.kind in _NUMERIC + (STRING,))
    if left.kind in (NIL, OBJECT, ARRAY) or right.kind not in _NUMERIC + (STRING,):
        return Verdict(False)
    if left.kind in _NUMERIC:  # against a string constant
        length = max(left.text_length, right.text_length)
        return Verdict(_holds(op, _strncmp(_text(left), right.value, length)))
    quoted = left.value + b'"'  # the fact's string, followed by its closing quote
    if right.kind == STRING:
        length = max(left.text_length, right.text_length)
        return Verdict(_holds(op, _strncmp(quoted, right.value, length)))
    text = _text(right)
    if right.kind == BOOL:  # "true " over 4, "false " over 5
        return Verdict(_holds(op, _strncmp(quoted, text, max(left.text_length, len(text) - 1))))
    # a string against a number constant: over max(the string's length, a length never set);
    # the answer meant is the number's whole text, certain when no such length changes it
    meant = _holds(op, _strncmp(quoted, text, max(left.text_length, len(text))))
    short = _holds(op, _strncmp(quoted, text, left.text_length))
    long = _holds(op, _strncmp(quoted, text, left.text_length + len(text) + 1))
    return Verdict(meant, short == long)


def compare(value: Any, op: str, constant: Any) -> Verdict:
    """``value <op> constant`` in durable_rules: a fact's present value (a JSON value) against
    a rule's constant. :class:`Refused` for a value durable_rules cannot read, ValueError for
    a constant it cannot build a test against."""
    return compare_values(read_value(value), op, read_constant(constant))


def undefined(value: Any, constant: Any) -> bool:
    """Whether durable_rules' answer to some comparison of ``value`` with ``constant`` is
    undefined (a string that is a number constant's text, or a prefix of it: see the module
    notes). False for what cannot be read."""
    try:
        left, right = read_value(value), read_constant(constant)
    except ValueError:
        return False
    return not all(compare_values(left, op, right).defined for op in COMPARISONS)


def _any(verdicts) -> Verdict:
    verdicts = list(verdicts)
    if any(v.holds and v.defined for v in verdicts):
        return Verdict(True)
    return Verdict(any(v.holds for v in verdicts), all(v.defined for v in verdicts))


def _all(verdicts) -> Verdict:
    verdicts = list(verdicts)
    if any(not v.holds and v.defined for v in verdicts):
        return Verdict(False)
    return Verdict(all(v.holds for v in verdicts), all(v.defined for v in verdicts))


#: The operators :func:`direct` decides: the compiler's ``DIRECT`` ones.
OPERATORS = COMPARISONS + ("in", "not_in", "exists", "is_not")


def direct(op: str, constant: Any, present: bool, value: Any = None) -> Verdict:
    """Whether a condition with a constant right side (an operator of :data:`OPERATORS`, the
    compiler's ``DIRECT``) holds on a fact whose path is ``present`` with ``value``, as
    durable_rules decides it (once or more: a rule whose ``in`` lists a value twice fires twice
    on it, and this says only whether it fires). A value durable_rules cannot read fails
    (durable_rules refuses the whole fact, so no rule fires on it)."""
    if op == "exists":
        return Verdict(present == bool(constant))
    if op not in OPERATORS:
        raise ValueError(f"not a constant operator: {op!r} (one of {', '.join(OPERATORS)})")
    if not present:
        return Verdict(op == "is_not")
    try:
        left = read_value(value)
    except Refused:
        return Verdict(False)
    if op == "in":
        return _any(compare_values(left, "eq", read_constant(c)) for c in constant)
    if op == "not_in":
        return _all(compare_values(left, "ne", read_constant(c)) for c in constant)
    return compare_values(left, "ne" if op == "is_not" else op, read_constant(constant))


__all__ = ["ARRAY", "BOOL", "COMPARISONS", "DOUBLE", "INT", "NIL", "OBJECT", "OPERATORS", "Refused",
           "STRING", "Value", "Verdict", "compare", "compare_values", "direct", "escaped",
           "read_constant", "read_value", "undefined"]
