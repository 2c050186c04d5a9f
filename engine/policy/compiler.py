"""Compile declarative rules into a durable_rules ruleset definition.

Each rule becomes one durable_rules rule over a single fact alias ``m``. Its test always starts
with the fact's ``_each`` marker (which list the fact was expanded from, ``-`` for the event
itself) and the event type, then the rule's own conditions. durable_rules does the matching;
the evaluator asserts each fact, collects every rule that fired, and retracts the fact.
"""

from __future__ import annotations

import json

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


def paths_of(expression: dict) -> set[str]:
    """The fact paths a compiled expression tests."""
    out: set[str] = set()
    stack = [expression]
    while stack:
        node = stack.pop()
        (key, body), = node.items()
        if key in ("$and", "$or"):
            stack.extend(body)
        elif key.startswith("$"):
            out.update(body)
        else:
            out.add(key)
    return out


def project(fact: dict, paths: tuple[tuple[str, tuple[str, ...]], ...]) -> dict:
    """What durable_rules is shown of a fact: only the paths the rules able to match it test,
    each under its dotted name, an object or array value as an empty one (durable_rules fails
    every comparison with either, and ``exists`` holds for both). The rest of the fact (the
    whole memory, the profile, ids chosen by producers) never reaches it: its names are
    matched by a 32-bit hash only, so a member named by event data could otherwise collide
    with a rule's path or an internal name, and a large record would pass its limit of 254
    properties per fact. ``paths`` is ``(dotted, steps)`` pairs (:func:`split_paths`)."""
    out = {}
    for dotted, steps in paths:
        node = fact
        for step in steps:
            if type(node) is not dict or step not in node:
                break
            node = node[step]
        else:
            out[dotted] = {} if type(node) is dict else [] if type(node) is list else node
    return out


#: :func:`projection_key`'s marks for a path that is absent, and for an object or array value
#: (shown to durable_rules as an empty one)
_ABSENT, _OBJECT, _ARRAY = object(), object(), object()


def projection_key(fact: dict, paths: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple:
    """A hashable stand-in for :func:`project`'s result: two facts with the same key have the
    same projection, and so the same JSON text (a value with its type: ``1``, ``1.0`` and
    ``True`` are told apart; a float by its ``repr``). Made without building the projection
    or its text, which the matcher needs only for a fact it has not seen. Raises TypeError for
    a value that cannot be hashed (not one of JSON's own)."""
    out = []
    for _, steps in paths:
        node = fact
        for step in steps:
            if type(node) is not dict or step not in node:
                out.append(_ABSENT)
                break
            node = node[step]
        else:
            kind = type(node)
            if kind is str:
                out.append(node)
            elif kind is dict:
                out.append(_OBJECT)
            elif kind is list:
                out.append(_ARRAY)
            else:
                out.append((kind, repr(node) if kind is float else node))
    return tuple(out)


def key_function(paths: tuple[tuple[str, tuple[str, ...]], ...]):
    """:func:`projection_key` for these paths, compiled into one function: each prefix the
    paths share is looked up once, and no loop runs per fact (the matcher makes a key for every
    fact it is given). The paths are rule paths, written into the code as string literals."""
    lines = ["def key(fact):"]
    names: dict[tuple[str, ...], str] = {(): "fact"}

    def node(prefix: tuple[str, ...]) -> str:
        if prefix not in names:
            parent = node(prefix[:-1])
            name = names[prefix] = f"n{len(names)}"
            lines.append(f"    {name} = {parent}.get({prefix[-1]!r}, ABSENT) "
                         f"if type({parent}) is dict else ABSENT")
        return names[prefix]

    leaves = []
    for _, steps in paths:
        value, leaf = node(steps), f"k{len(leaves)}"
        lines += [f"    kind = type({value})",
                  f"    {leaf} = {value} if kind is str or {value} is ABSENT else OBJECT if kind "
                  f"is dict else ARRAY if kind is list else (kind, repr({value}) if kind is "
                  f"float else {value})"]
        leaves.append(leaf)
    lines.append(f"    return ({''.join(leaf + ', ' for leaf in leaves)})")
    scope = {"ABSENT": _ABSENT, "OBJECT": _OBJECT, "ARRAY": _ARRAY}
    exec(compile("\n".join(lines), f"<projection key of {len(paths)} paths>", "exec"), scope)
    return scope["key"]


def split_paths(paths) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Dotted paths as :func:`project` takes them, sorted."""
    return tuple((p, tuple(p.split("."))) for p in sorted(paths))


#: The most distinct tests the rules of one durable_rules ruleset may make. Below one node of
#: its network, durable_rules keeps the nodes that follow in a hash table of 512 slots, probed
#: until an empty slot, with no stop when there is none: the 512th test below one node fills the
#: table and the next fact asserted never returns, the 513th makes ``create_ruleset`` spin. The
#: tests below one node are at most the distinct tests of the ruleset, whatever their paths
#: (every value of an ``in`` or ``not_in`` list, every alternative of ``match_any``, each
#: condition, the event type): a ruleset that makes at most this many cannot fill one. Measured
#: by bench/in_list_threshold.py (docs/rule-format.md, "Limits"): 511 return, 512 hang at the
#: first fact, 513 in ``create_ruleset``; this leaves a margin of 64.
MAX_TESTS_PER_RULESET = 448


#: The most ``$and``/``$or`` nodes one rule's expression may hold. durable_rules keeps a rule's
#: boolean structure in a sequence of at most 32 entries, two per ``$and``/``$or`` node (the
#: operator and its end), and refuses the ruleset at the 32nd (error 113,
#: ``ERR_EXPRESSION_LIMIT_EXCEEDED``; rete.h ``MAX_SEQUENCE_EXPRESSIONS``). Measured with
#: durable_rules 2.0.28: an ``$and`` of 14 ``$or`` nodes (15 in all) loads, of 15 is refused,
#: and so for an ``$or`` of ``$and`` nodes.
MAX_OPERATORS_PER_RULE = 15


def operators_of(expression: dict) -> int:
    """How many ``$and``/``$or`` nodes a compiled expression holds (the top one included): an
    ``in`` list of two values or more, a ``not_in`` list, an ``is_not``, each ``match_any``
    group of two conditions or more, the ``match_any`` itself, a list of event types."""
    count = 0
    stack = [expression]
    while stack:
        node = stack.pop()
        (key, body), = node.items()
        if key in ("$and", "$or"):
            count += 1
            stack.extend(body)
    return count


def tests_of(expression: dict) -> set[str]:
    """The distinct tests a compiled expression makes, each as canonical JSON (``{path: value}``
    or ``{operator: {path: value}}``): what durable_rules turns into nodes of its network."""
    out: set[str] = set()
    stack = [expression]
    while stack:
        node = stack.pop()
        (key, body), = node.items()
        if key in ("$and", "$or"):
            stack.extend(body)
        else:
            out.add(json.dumps(node, sort_keys=True))
    return out


def fnv1a_32(name: str) -> int:
    """durable_rules' hash of a property name (32-bit FNV-1a over its UTF-8 bytes, each read
    as a signed char, as its C code does on this platform)."""
    h = 0x811C9DC5
    for byte in name.encode("utf-8"):
        h ^= (byte - 256 if byte > 127 else byte) & 0xFFFFFFFF
        h = (h * 16777619) & 0xFFFFFFFF
    return h


#: Names durable_rules uses itself inside a fact or a rule network.
RESERVED_NAMES = ("$forward", "$m", "m", "id", "sid", "$s", "$sid", "$nex", "$ex")


def hash_collisions(paths) -> list[tuple[str, str]]:
    """Pairs of names (rule paths, their dotted prefixes, durable_rules' own names) with one
    hash: durable_rules would read one as the other."""
    names = set(RESERVED_NAMES)
    for path in paths:
        parts = path.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    seen: dict[int, str] = {}
    out = []
    for name in sorted(names):
        other = seen.setdefault(fnv1a_32(name), name)
        if other != name:
            out.append((other, name))
    return out


def compile_rules(rules: tuple[Rule, ...]) -> dict:
    """The durable_rules ruleset body: rule id -> ``{"all": [{"m": expr}], "run": rule id}``."""
    return {rule.id: {"all": [{"m": rule_expression(rule)}], "run": rule.id} for rule in rules}


class CompiledRules:
    """What every matcher of one policy version starts from: the compiled definitions, the
    lists to expand into facts and the computed conditions per event type, and the rules a
    fact of each type meets with the paths they test (what :func:`project` shows).

    ``groups``: event type -> ids of the rules of that type, then of the rules of every type;
    under ``"*"`` (a type no rule names) the rules of every type alone."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.definition = compile_rules(rules)
        #: event type ("*" for every type) -> list paths some rule iterates with ``for_each``
        self.fanout: dict[str, tuple[str, ...]] = {}
        #: (event type or "*", ``_each`` marker) -> computed conditions to evaluate per fact
        self.computed: dict[tuple[str, str], list] = {}
        for rule in rules:
            each = rule.for_each or EVENT_LEVEL
            for kind in rule.events:
                if rule.for_each and rule.for_each not in self.fanout.get(kind, ()):
                    self.fanout[kind] = tuple(sorted(self.fanout.get(kind, ()) + (rule.for_each,)))
                self.computed.setdefault((kind, each), []).extend(
                    c for c in rule.conditions if c.computed)
        everywhere = [r.id for r in rules if "*" in r.events]
        groups: dict[str, list[str]] = {}
        for rule in rules:
            for kind in rule.events:
                if kind != "*":
                    groups.setdefault(kind, []).append(rule.id)
        self.groups = {kind: list(dict.fromkeys(ids + everywhere)) for kind, ids in groups.items()}
        if everywhere:
            self.groups["*"] = everywhere
        #: event type (as in ``groups``) -> the paths its rules test
        self.tested = {kind: set().union(*(paths_of(self.definition[i]["all"][0]["m"])
                                           for i in ids))
                       for kind, ids in self.groups.items()}
        #: the same, as :func:`project` takes them
        self.paths = {kind: split_paths(tested) for kind, tested in self.tested.items()}
        #: event type -> its facts' :func:`projection_key`, compiled (:func:`key_function`)
        #: when a fact of the type first comes (:meth:`key_of`)
        self.keys: dict = {}

    def key_of(self, kind: str):
        """The compiled :func:`projection_key` of the facts of ``kind`` (a key of ``groups``)."""
        found = self.keys.get(kind)
        if found is None:
            found = self.keys[kind] = key_function(self.paths[kind])
        return found

    def group_of(self, fact: dict) -> str | None:
        """The key of ``groups`` a fact meets (None: no rule can match it)."""
        kind = fact.get("type")
        if isinstance(kind, str) and kind in self.groups:
            return kind
        return "*" if "*" in self.groups else None

    def list_paths(self, event_type: str) -> tuple[str, ...]:
        """The list paths to expand into facts for an event of this type."""
        return tuple(sorted(set(self.fanout.get(event_type, ()) + self.fanout.get("*", ()))))

    def computed_for(self, event_type: str, each: str) -> list:
        """Computed conditions that rules able to match such a fact depend on."""
        return self.computed.get((event_type, each), []) + self.computed.get(("*", each), [])
