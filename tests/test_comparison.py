"""One comparison semantics, held to durable_rules: :mod:`clauseline.policy.comparison`.

How a condition compares a fact's value with a rule's constant is written once, in
``clauseline.policy.comparison``; the why-not explanation
(:func:`clauseline.evaluation.whynot.check`, through ``direct_holds``) and the reference matcher
(:mod:`clauseline.testing.reference`) both read it. Here the three answers that exist for one
condition on one fact must agree:

- durable_rules' (:class:`clauseline.policy.matcher.Matcher`: did the rule fire, how often),
- the reference matcher's (the same rules, in Python: how often),
- why-not's (:func:`clauseline.evaluation.whynot.direct_holds`),

on values and constants generated to meet the places where they used to differ (strings with
common prefixes and the bytes around ``"``, numeric strings, ints, floats, booleans, ``null``,
absent paths, lists and objects), on the examples ``docs/rule-format.md`` ("How values
compare") gives rule authors, and on the two cases that were wrong in why-not, asserting
durable_rules' own answer.

The one comparison durable_rules leaves undefined (a string value against a number constant
whose text it is or begins) is left out of the agreement, and shown to be undefined.

``make test`` runs the bounded runs (a few seconds); the long run is marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from clauseline.evaluation.whynot import check, compare, direct_holds
from clauseline.policy import comparison
from clauseline.policy.compiler import DIRECT, EVENT_LEVEL
from clauseline.policy.matcher import Matcher
from clauseline.policy.model import Condition, Rule
from clauseline.testing.reference import ReferenceMatcher

TYPE = "probe.event"
ABSENT = object()
_ids = itertools.count(1)


# --------------------------------------------------------------------------------------------
# The three answers


class Judges:
    """durable_rules, the reference matcher and why-not on one policy of generated rules."""

    def __init__(self, conditions: list[Condition], event_type: str = TYPE):
        self.type = event_type
        self.rules = tuple(
            Rule(id=f"Z.c{next(_ids)}", clause="Z", title="comparison", quote="comparison",
                 events=(event_type,), for_each=None, match=(c,), match_any=(), emit=())
            for c in conditions)
        version = SimpleNamespace(version=f"comparison-{next(_ids)}", rules=self.rules)
        self.durable, self.reference = Matcher(version), ReferenceMatcher(version)

    def fact(self, value) -> dict:
        data = {} if value is ABSENT else {"v": value}
        return {"_each": EVENT_LEVEL, "type": self.type, "data": data}

    def disagreements(self, values: list, stats: dict | None = None) -> list[str]:
        """Every rule and value on which the three do not agree (leaving out what durable_rules
        leaves undefined); ``stats`` counts what was checked."""
        facts = [self.fact(v) for v in values]
        durable = Counter(self.durable.match(facts))
        reference, undefined = self.reference.assess(facts)
        reference = Counter(reference)
        out = []
        for index, (value, fact) in enumerate(zip(values, facts)):
            for rule in self.rules:
                c = rule.match[0]
                present = value is not ABSENT
                verdict = comparison.direct(c.op, c.value, present, None if value is ABSENT else value)
                fired = durable[rule.id, index]
                expected = reference[rule.id, index]
                held = direct_holds(c, present, None if value is ABSENT else value)
                shown = f"{'absent' if value is ABSENT else repr(value)} {c.op} {c.value!r}"
                if held != verdict.holds:
                    out.append(f"{shown}: why-not {held}, comparison.direct {verdict.holds}")
                if not verdict.defined and (rule.id, index) not in undefined:
                    out.append(f"{shown}: undefined, but the reference does not say so")
                if (rule.id, index) not in undefined and fired != expected:
                    out.append(f"{shown}: durable_rules fired {fired} times, the reference {expected}")
                if verdict.defined and (fired > 0) != held:
                    out.append(f"{shown}: durable_rules {'fired' if fired else 'did not fire'}, "
                               f"why-not says it {'holds' if held else 'does not hold'}")
                if stats is not None:
                    stats["checked"] = stats.get("checked", 0) + 1
                    stats["held"] = stats.get("held", 0) + bool(fired)
                    stats["undefined"] = stats.get("undefined", 0) + (not verdict.defined)
        return out


def answers(value, op: str, constant, event_type: str = TYPE) -> dict:
    """durable_rules', the reference matcher's and why-not's answer to one condition."""
    judges = Judges([Condition("data.v", op, constant)], event_type)
    fact = judges.fact(value)
    rule = judges.rules[0]
    return {"durable_rules": bool(judges.durable.match([fact])),
            "reference": bool(judges.reference.match([fact])),
            "why-not": check(rule.match[0], fact).held}


# --------------------------------------------------------------------------------------------
# The two cases why-not had wrong: durable_rules' answer, asserted


def test_ab_is_greater_than_ab_bang():
    """``"ab" > "ab!"`` holds in durable_rules: it compares the fact's string followed by its
    closing quote (``"``, 0x22) with the constant's next byte (``!``, 0x21). Why-not said False
    (Python's order), contradicting the engine."""
    assert answers("ab", "gt", "ab!") == {"durable_rules": True, "reference": True, "why-not": True}
    assert answers("ab", "lt", "ab!") == {"durable_rules": False, "reference": False, "why-not": False}
    assert answers("ab", "gt", "ab ") == {"durable_rules": True, "reference": True, "why-not": True}
    assert answers("ab", "lt", "abc") == {"durable_rules": True, "reference": True, "why-not": True}


def test_half_equals_the_text_0_5():
    """``0.5 == "0.5"`` holds in durable_rules: the number's text ``%f`` (``0.500000``) is
    compared over the fact's own JSON length (3). Why-not said False, contradicting the engine."""
    assert answers(0.5, "eq", "0.5") == {"durable_rules": True, "reference": True, "why-not": True}
    assert answers(0.5, "ne", "0.5") == {"durable_rules": False, "reference": False, "why-not": False}
    assert answers(0.5, "eq", "0.500000") == {"durable_rules": True, "reference": True, "why-not": True}


# --------------------------------------------------------------------------------------------
# What docs/rule-format.md ("How values compare") tells rule authors

#: (value, operator, constant, holds): each line of the docs section, as durable_rules answers.
DOCUMENTED = [
    (1, "eq", 1.0, True), (True, "eq", 1, True), (True, "gt", 0.5, True), (False, "lt", 1, True),
    (2 ** 70, "eq", 2 ** 63 - 1, True), (1e19, "gt", 2 ** 63 - 1, False),
    (9007199254740992.0, "eq", 2 ** 53 + 1, True),
    (None, "ne", "x", False), (None, "ne", 0, False), (None, "is_not", "x", False),
    (ABSENT, "is_not", "x", True), (ABSENT, "ne", "x", False), (ABSENT, "not_in", ["x"], False),
    (None, "not_in", ["x"], False), (None, "exists", True, True), ([], "exists", True, True),
    (["x"], "eq", "x", False), (["x"], "ne", "x", False), ({}, "ne", "x", False),
    ("b", "gt", "a", True), ("ab", "lt", "abc", True), ("ab", "gt", "ab!", True),
    ("ab", "gt", "ab ", True), ("ab\n", "gt", "ab~", False), ("ab\n", "gt", "ab!", True),
    ("a\n", "gt", "a ", True), ('a"', "gt", "a#", True), ("a\x01", "gt", "a[", True),
    ("\u00ff", "gt", "\u00e9", True), (1e19, "eq", 2 ** 63 - 1, True),
    ("ab" + "x" * 65536, "eq", "ab", True), ("ab" + "x" * 65533, "eq", "ab", False),
    (12, "eq", "12", True), (1, "lt", "10", True), (55, "gt", "5", True), (-3, "lt", "5", True),
    (0.5, "eq", "0.5", True), (0.5, "eq", "0.500000", True), (0.5, "eq", "0.50000", True),
    (True, "eq", "true", True), (True, "eq", "true ", True), (True, "lt", "truex", True),
    (True, "gt", "tru", True), ("true", "eq", True, True), ("truex", "gt", True, True),
    ("abc", "gt", 12, True), ("2", "gt", 12, True), ("123", "gt", 12, True),
    ("x", "in", ["x", "y"], True), (1, "in", [1.0], True), (1, "not_in", ["1"], False),
]


@pytest.mark.parametrize("value, op, constant, holds", DOCUMENTED,
                         ids=[f"{'absent' if v is ABSENT else repr(v)[:20]} {op} {c!r}"
                              for v, op, c, _ in DOCUMENTED])
def test_the_documented_examples_are_what_durable_rules_does(value, op, constant, holds):
    assert answers(value, op, constant) == {"durable_rules": holds, "reference": holds, "why-not": holds}


def test_a_string_against_a_number_constant_it_begins_is_undefined():
    """durable_rules compares a string value with a number constant over a length it never sets
    (in practice the length of the last string constant the rule tested: here its event type).
    ``"12" == 12`` and ``"1" == 12`` hold for a rule of event type ``p`` and not for one of
    ``probe.event``; the comparison module says so (``defined`` False), why-not flags it
    (``cross_type``), and where the string differs from the number's text within its own
    length durable_rules' answer is the module's, whatever the rule."""
    varies = {}
    for value, op in itertools.product(["12", "1", "", "abc", "123", "2", "1.5"], ["eq", "lt", "gt"]):
        verdict = comparison.compare(value, op, 12)
        seen = {t: answers(value, op, 12, t)["durable_rules"] for t in ("p", "probe.event")}
        if verdict.defined:
            assert set(seen.values()) == {verdict.holds}, (value, op, seen)
        else:
            varies[(value, op)] = seen
    assert {k for k, seen in varies.items() if len(set(seen.values())) > 1} >= {
        ("12", "eq"), ("12", "gt"), ("1", "eq"), ("1", "lt")}
    assert comparison.undefined("12", 12) and comparison.undefined("", 1.5)
    assert not comparison.undefined("abc", 12) and not comparison.undefined(12, "12")


# --------------------------------------------------------------------------------------------
# Generated values and constants

#: Strings are drawn from these stems (cut, or with one or two of ``TAILS`` added), so that
#: values and constants share prefixes and meet the bytes where orders differ.
STEMS = ("", "a", "ab", "abc", "b", "true", "false", "tru", "null", "1", "12", "10", "5", "-3",
         "0.5", "0.500000", "1.0", "2.5", "-0.25", "\u00e9", "\u00ff")
TAILS = (" ", "!", '"', "#", "\\", "\n", "\t", "~", "a", "c", "0", "1", "2", "5", ".", "-", "e",
         "\u00e9", "\u2028", "\U0001F600", "\x7f", "\x00")
BORDERS = (0, 1, -1, 5, 12, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63), 2 ** 70,
           -(2 ** 70), 0.0, -0.0, 1.0, 0.5, 0.25, 2.5, -1.25, float(2 ** 53), 1e15, 0.1)


def _number(rng) -> int | float:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randint(-20, 20)
    if kind == 1:
        return rng.randint(-80, 80) / 8
    if kind == 2:
        return round(rng.uniform(-1000, 1000), rng.randint(0, 6))
    return rng.choice(BORDERS)


def scalar(rng, constant: bool = False):
    """A value (or, with ``constant``, a rule constant: no exponent, no NaN) of any kind."""
    kind = rng.randrange(12)
    if kind < 5:
        text = rng.choice(STEMS)
        form = rng.randrange(4)
        if form == 1 and text:
            text = text[:rng.randrange(len(text))]
        elif form >= 2:
            text += "".join(rng.choice(TAILS) for _ in range(rng.randint(1, 2)))
        return text
    if kind == 5:  # a number's text, as repr, %f or an integer
        n = _number(rng)
        return rng.choice([repr(n), "%f" % n, "%d" % n])
    if kind in (6, 7, 8):
        n = _number(rng)
        if constant or rng.randrange(4):
            return n
        return rng.choice([n * 1e20, n * 1e-9, float("nan"), 1e300])  # exponents, written fixed
    if kind == 9:
        return rng.choice([True, False])
    if kind == 10 and not constant:
        return rng.choice([None, [], ["a"], {}, {"k": 1}])
    if kind == 10:
        return None
    return rng.choice(BORDERS)


def _readable_constant(c) -> bool:
    return not (isinstance(c, float) and ("e" in repr(c) or c != c))


def constants(seed: int, count: int) -> list:
    rng, out, seen = random.Random(seed), [], set()
    while len(out) < count:
        c = scalar(rng, constant=True)
        key = (type(c).__name__, repr(c))
        if _readable_constant(c) and key not in seen:
            seen.add(key)
            out.append(c)
    return out


def conditions_for(pool: list, seed: int) -> list[Condition]:
    """Every comparison, ``is_not``, and some ``in`` / ``not_in`` lists, of every constant."""
    rng = random.Random(seed)
    out = [Condition("data.v", op, c) for c in pool
           for op in ("eq", "ne", "lt", "lte", "gt", "gte", "is_not")]
    for op in ("in", "not_in"):
        out += [Condition("data.v", op, rng.sample(pool, rng.randint(1, 3)))
                for _ in range(max(2, len(pool) // 6))]
    out += [Condition("data.v", "exists", True), Condition("data.v", "exists", False)]
    return out


#: A fact's value: generated like the constants (from hypothesis' random), or absent.
VALUES = st.one_of(st.randoms(use_true_random=False).map(scalar), st.just(ABSENT))


def bounded(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    print_blob=False, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def judges():
    return Judges(conditions_for(constants(seed=1, count=32), seed=1))


def _agree(judges: Judges, values: list, stats: dict | None = None):
    problems = judges.disagreements(values, stats)
    assert not problems, "\n".join(problems[:10])


@bounded(60)
@given(values=st.lists(VALUES, min_size=1, max_size=3))
def test_the_three_agree_on_generated_values_and_constants(judges, values):
    _agree(judges, values)


def test_the_generated_run_is_not_vacuous(judges):
    """The generated values hold and fail conditions, and meet the undefined comparison."""
    stats: dict = {}
    rng = random.Random(2)
    _agree(judges, [scalar(rng) for _ in range(30)] + [ABSENT, "12", "1", ""], stats)
    assert 0 < stats["held"] < stats["checked"] and stats["undefined"] > 0


@pytest.fixture(scope="module")
def many_judges():
    return [Judges(conditions_for(constants(seed=s, count=120), seed=s)) for s in (10, 11, 12)]


@pytest.mark.slow
@bounded(1000)
@given(data=st.data())
def test_the_three_agree_on_generated_values_and_constants_long(many_judges, data):
    """The same on 3 policies of 120 other constants each (about 900 conditions), 1,000
    examples."""
    judges = many_judges[data.draw(st.integers(0, len(many_judges) - 1))]
    _agree(judges, data.draw(st.lists(VALUES, min_size=1, max_size=4)))


# --------------------------------------------------------------------------------------------
# Written once


def test_the_comparison_covers_every_direct_operator():
    """``comparison.direct`` decides every operator the compiler gives durable_rules."""
    assert set(comparison.OPERATORS) == set(DIRECT)


def test_the_reference_matcher_is_test_tooling():
    """The reference matcher left the core: it is ``clauseline.testing.reference``."""
    assert importlib.util.find_spec("clauseline.policy.reference") is None


def test_why_not_reads_the_comparison_module():
    """Why-not's ``compare`` and ``direct_holds`` are the module's answers."""
    for value, op, constant in [("ab", "gt", "ab!"), (0.5, "eq", "0.5"), (None, "ne", 1)]:
        assert compare(value, constant, op) == comparison.compare(value, op, constant).holds
        assert direct_holds(Condition("v", op, constant), True, value) == \
            comparison.direct(op, constant, True, value).holds
