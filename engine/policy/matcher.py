"""The durable_rules host that matches facts against one compiled policy version.

What the dependency notes measured shapes this module: events are consumed by one rule only, so
each input is asserted as a *fact* (every matching rule fires) and retracted at once; a ruleset
holds at most 1024 sids, so all facts use one fixed sid and never a subject id; ``delete_state``
can crash the process, so it is never called; the host's background threads are switched off,
and one lock makes each assert/collect/retract cycle atomic.

Rules are grouped into one durable_rules ruleset per event type (the rules of that type and the
rules of every type, ``*``), cut into rulesets of at most :data:`MAX_RULES_PER_RULESET` rules
that make at most :data:`~clauseline.policy.compiler.MAX_TESTS_PER_RULESET` distinct tests:
``create_ruleset`` spins without end once 513 tests follow one node of its network (a few
hundred rules, or two rules with 255-value ``in`` lists), and a fact only meets the rules of
its own type. A fact shows durable_rules only the paths the rules
of its type test (:func:`clauseline.policy.compiler.project`): never a name chosen by event
data (durable_rules matches names by a 32-bit hash, so such a name could be read as a rule's
path, or as ``$forward`` and turn every ``$or`` off), never more than the 254 properties a fact
may have, and far less JSON to write and parse per fact. Rule paths whose hashes collide are
refused when the policy loads.

What fires on a fact depends on nothing but the projected fact's JSON text (the rulesets keep no
state between cycles: every fact is retracted at once, and its ``id`` is tested by no rule), so
the matcher remembers the rules that fired for the last :data:`REMEMBERED` projections it
asserted, keyed by :func:`~clauseline.policy.compiler.projection_key` (compiled per type: it
stands for the text without writing it), and answers a projection it has seen from there: most
facts of a log project alike (the same type, the same flags), and the round trip to
durable_rules was the larger part of matching.
``tests/test_differential.py`` holds both ways, remembered and asserted, to the reference.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import threading
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

from .compiler import MAX_TESTS_PER_RULESET, CompiledRules, hash_collisions, project, tests_of

_SID = "0"
_names = itertools.count(1)
#: The most rules one durable_rules ruleset holds (far below where ``create_ruleset`` hangs).
MAX_RULES_PER_RULESET = 64
#: The most paths the rules of one type may test: a fact shows durable_rules those, ``id`` and
#: ``sid``, and it reads at most 254 properties of one fact.
MAX_PATHS = 252


#: How many projected facts the matcher remembers what fired for.
REMEMBERED = 4096


_EXPONENT = re.compile(r"\d[eE][-+]?\d")


#: ``json.dumps(..., ensure_ascii=False)`` as the C encoder ``json`` builds at every call, built
#: once; a fact (plain data, built here) holds no cycle to check for.
_ENCODE = c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ": ", ", ",
                         False, False, True)


def fact_json(fact: dict) -> str:
    """A fact as the JSON text durable_rules' C core parses. Its parser refuses numbers in
    exponent notation, which Python writes for small and large floats (``1e-05``): such a float
    is written in fixed-point notation instead (``0.00001``), the same number."""
    text = "".join(_ENCODE(fact, 0))
    if not _EXPONENT.search(text):
        return text
    marker, fixed = "\x00" + secrets.token_hex(8), []

    def walk(value):
        if isinstance(value, float) and ("e" in repr(value) or "E" in repr(value)):
            fixed.append(format(Decimal(repr(value)), "f"))
            return f"{marker}{len(fixed) - 1}"
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(fact), ensure_ascii=False)
    for i, number in enumerate(fixed):
        text = text.replace(json.dumps(f"{marker}{i}"), number)
    return text


class _Host(durable_engine.Host):
    """A durable_rules host with no timers or background dispatch (event time is the clock);
    it only creates the rulesets: :class:`Matcher` drives the C core directly."""

    def _run(self):  # no background threads: nothing here runs on the wall clock
        return None

    def get_action(self, action_name):
        def never(context):  # pragma: no cover - Matcher collects firings itself
            raise AssertionError("actions are collected by Matcher, not run by the host")
        return never


def _fired(handle, state, hits: list) -> None:
    """Collect the rules that fired after one assert or retract, completing each action (what
    ``durable.engine.Ruleset.do_actions`` does, without its closures and state round trips:
    the rules' actions do nothing but name themselves)."""
    action = durable_rules_engine.start_action_for_state(handle, state)
    message = action[1] if action else None
    while message:
        hits.extend(json.loads(message))  # {rule id: {"m": fact}}: one firing
        message = durable_rules_engine.complete_and_start_action(handle, state)


def _cycle(handle, text: str, hits: list) -> None:
    """Assert one fact, collect what fires, retract it (as ``durable.engine`` would, with the
    codes of ``Ruleset._handle_result``: 1 no rule matched, nothing stored)."""
    code, state = durable_rules_engine.assert_fact(handle, text)[:2]
    if code == 1:
        return
    if code == 2:  # pragma: no cover - ids are unique within a cycle
        raise RuntimeError("durable_rules observed the fact twice")
    _fired(handle, state if code == 0 else 0, hits)
    code, state = durable_rules_engine.retract_fact(handle, text)[:2]
    if code in (0, 3):
        _fired(handle, state if code == 0 else 0, hits)


class Matcher(CompiledRules):
    """Finds every rule of a policy version that matches each of a list of facts."""

    def __init__(self, version):
        super().__init__(version.rules)
        #: event type (as in ``groups``) -> names of the rulesets a fact of it meets
        self.rulesets: dict[str, tuple[str, ...]] = {}
        prefix = f"{version.version}#{next(_names)}"
        bodies = {}
        for kind, ids in sorted(self.groups.items()):
            if len(self.tested[kind]) > MAX_PATHS:
                raise ValueError(f"the rules of {kind} test {len(self.tested[kind])} paths; "
                                 f"durable_rules reads at most {MAX_PATHS} (with id and sid) "
                                 "of one fact")
            names = []
            for part, chunk in enumerate(self._chunks(ids)):
                name = f"{prefix}/{kind}/{part}"
                bodies[name] = {i: copy.deepcopy(self.definition[i]) for i in chunk}
                names.append(name)
            self.rulesets[kind] = tuple(names)
        clashes = hash_collisions(set().union(*self.tested.values()))
        if clashes:  # durable_rules matches names by hash only: it would read one as the other
            raise ValueError("rule paths whose names durable_rules cannot tell apart: "
                             + ", ".join(f"{a} and {b}" for a, b in clashes))
        self._lock = threading.Lock()
        self._host = _Host()
        if bodies:
            try:
                self._host.set_rulesets(bodies)
            except durable_rules_engine.error as error:  # e.g. 113: too many expressions
                raise ValueError(f"durable_rules refused the compiled rules ({error})") from None
        #: ruleset name -> the C core's handle
        self._handles = {name: self._host.get_ruleset(name)._handle for name in bodies}
        #: (group, projection key or, for a value JSON does not have, the projected fact's JSON
        #: text) -> the ids of the rules that fired on it, in the order durable_rules named
        #: them; the least recently used are forgotten first
        self._fired: dict[tuple[str, Any], tuple[str, ...]] = {}

    def _chunks(self, ids: list[str]) -> list[list[str]]:
        """The rules of one group cut, in order, into rulesets of at most
        :data:`MAX_RULES_PER_RULESET` rules that make at most :data:`MAX_TESTS_PER_RULESET`
        distinct tests between them (long ``in`` lists on a few rules fill durable_rules' table
        of next nodes as many rules do). A rule that alone makes more is refused (the loader
        refuses it first, with its file and line)."""
        chunks: list[list[str]] = []
        made: set[str] = set()
        for rule_id in ids:
            tests = tests_of(self.definition[rule_id]["all"][0]["m"])
            if len(tests) > MAX_TESTS_PER_RULESET:
                raise ValueError(f"rule {rule_id} makes {len(tests)} distinct tests; "
                                 f"durable_rules hangs past 511, at most {MAX_TESTS_PER_RULESET}")
            if not chunks or len(chunks[-1]) >= MAX_RULES_PER_RULESET \
                    or len(made | tests) > MAX_TESTS_PER_RULESET:
                chunks.append([])
                made = set()
            chunks[-1].append(rule_id)
            made |= tests
        return chunks

    def match(self, facts: list[dict], remembered: bool = True) -> list[tuple[str, int]]:
        """(rule id, index of the fact) for every rule that fires on each fact. With
        ``remembered`` false, every fact is asserted even where its projection was seen before
        (the differential test's other way)."""
        out = []
        known = self._fired
        with self._lock:
            for index, fact in enumerate(facts):
                kind = self.group_of(fact)
                if kind is None:
                    continue
                paths = self.paths[kind]
                try:
                    key = (kind, self.key_of(kind)(fact))
                    hits = known.pop(key, None)
                except TypeError:  # a value that is not JSON's own: keyed by its text
                    key = (kind, fact_json(project(fact, paths)))
                    hits = known.pop(key, None)
                if not remembered:
                    hits = None
                if hits is None:  # the fact with its id and sid last, as durable_rules reads it
                    shown = fact_json(project(fact, paths))
                    text = (shown[:-1] + ", " if shown != "{}" else "{") \
                        + f'"id": "f{index}", "sid": "{_SID}"}}'
                    fired: list[str] = []
                    for name in self.rulesets[kind]:
                        _cycle(self._handles[name], text, fired)
                    hits = tuple(fired)
                    if len(known) >= REMEMBERED:
                        del known[next(iter(known))]
                known[key] = hits  # the most recently used last
                out.extend((rule, index) for rule in hits)
        return out
