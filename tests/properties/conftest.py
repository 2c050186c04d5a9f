"""Hypothesis strategies generated from clauseline's own JSON Schemas, and the checks the
property tests share.

The generator reads the shipped schema files (``clauseline.schemas``: the CloudEvents envelope,
``events/<type>.schema.json`` for every type of the catalogue and ``defs.schema.json``), resolves
their cross-file ``$ref`` (siblings of a ``$ref`` are combined with its target, as 2020-12
applies both) and walks the keywords they use. It understands exactly the keywords listed in
:data:`GENERATED` and :data:`ANNOTATIONS`; a schema that uses another one raises
:class:`UnsupportedSchema` (``test_generator_knows_every_keyword_and_format`` fails), so a new
field or a new event type is covered without touching this file, and a new kind of constraint
is noticed.

What makes the events realistic rather than merely valid (the values come from the schemas or
the loaded policy; only the pools of ids are made up here):

- ``examples`` of a schema are drawn about three times in four (cookie purposes, user types,
  reasons, profiles, residences, times);
- envelope and party ``subject`` ids come mostly from a small pool, and every ``*_id`` member
  from a small pool of its own, so memory builds up and requests, recordings and responses meet;
- ``facility_id`` comes from the policy's facility profiles, ``user_type`` from the user types
  they exempt, ``policy.changed``'s ``version`` from the policy's versions;
- times lie between 30 days before the first policy version takes effect and three years after
  the last one, written with assorted offsets and fractions of a second; birth dates are mostly
  of adults; a log starts once the policy is in force, meets every event type in an order drawn
  per log, and advances by steps from seconds to past the 45-day deadlines, now and then going
  back (out of order) or repeating an event (a duplicate).

Beside the generator: :func:`mutants` (a valid event broken in one place, by one of
:data:`MUTATIONS`), :func:`secrets` (card, bank, routing and SSN numbers in their spellings) and
:func:`find_number` (the scan for them), and :func:`documented_codes` (docs/errors.md).
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from clauseline import load_policy
from clauseline.resources import schemas_dir

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://clauseline.dev/schemas/"
ENVELOPE = BASE + "cloudevent.schema.json"
OUTCOME = BASE + "outcome.schema.json"
DECISION = BASE + "decision.schema.json"
EVENTS = BASE + "events/"

#: Keywords the generator turns into values (and the mutator breaks).
GENERATED = frozenset({
    "$ref", "type", "enum", "const", "required", "properties", "additionalProperties",
    "unevaluatedProperties", "propertyNames", "minProperties", "maxProperties", "items",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "if", "then",
})
#: Keywords that constrain nothing (``examples`` is used as a source of realistic values).
ANNOTATIONS = frozenset({
    "$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
    "writeOnly", "readOnly", "deprecated", "x-fideslang",
})
#: Formats the generator writes (and the mutator breaks).
FORMATS = frozenset({"date-time", "date", "uri-reference", "uri"})

#: Subject ids most events use, so that memory builds up across a log.
SUBJECT_POOL = ("acct-1", "acct-2", "det-7", "visitor-9")
#: How many values the pool of each ``*_id`` member has.
ID_POOL_SIZE = 3

#: Suffix every anchored pattern of the schemas carries (Python's ``$`` also matches before a
#: final newline); stripped before the pattern is handed to ``from_regex``.
_NO_TRAILER = "(?![\\s\\S])"
#: A pattern that is one character class repeated: ``^[...]*`` (identifiers and short texts).
_ONE_CLASS = re.compile(r"^\^\[(?P<cls>(?:\\.|[^\]\\])+)\]\*(?:\$)?$")


class UnsupportedSchema(Exception):
    """A schema uses a keyword or format the generator does not know."""


# --------------------------------------------------------------------------------------------
# The schema files


def _absolute(node: Any, base: str) -> Any:
    """A copy of a schema document with every ``$ref`` made absolute."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = urljoin(base, value)
            elif key in ("examples", "enum", "const", "x-fideslang", "default"):
                out[key] = value
            else:
                out[key] = _absolute(value, base)
        return out
    if isinstance(node, list):
        return [_absolute(v, base) for v in node]
    return node


def _combine(target: dict, siblings: dict) -> dict:
    """A ``$ref``'s target with the keywords beside the ``$ref``; both apply (2020-12)."""
    out = dict(target)
    for key, value in siblings.items():
        if key not in out or key in ANNOTATIONS:
            out[key] = value
        elif key == "required":
            out[key] = list(dict.fromkeys(list(out[key]) + list(value)))
        elif key in ("minItems", "minLength", "minProperties", "minimum"):
            out[key] = max(out[key], value)
        elif key in ("maxItems", "maxLength", "maxProperties", "maximum"):
            out[key] = min(out[key], value)
        elif out[key] != value:
            raise UnsupportedSchema(f"cannot combine {key!r} beside a $ref with its target's")
    return out


class Schemas:
    """The shipped schema files by ``$id``, with ``$ref`` resolution."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or schemas_dir()
        self.docs: dict[str, dict] = {}
        for path in sorted(self.folder.rglob("*.schema.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.docs[doc["$id"]] = _absolute(doc, doc["$id"])

    def target(self, ref: str) -> dict:
        url, fragment = urldefrag(ref)
        node: Any = self.docs[url]
        for token in [t for t in fragment.split("/") if t]:
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def resolved(self, schema: dict) -> dict:
        """The schema with its ``$ref`` (recursively) combined into one dict."""
        if not isinstance(schema, dict) or "$ref" not in schema:
            return schema
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return _combine(self.resolved(self.target(schema["$ref"])), siblings)

    @cached_property
    def event_types(self) -> tuple[str, ...]:
        """The catalogue: one type per ``events/<type>.schema.json``."""
        return tuple(sorted(i[len(EVENTS):-len(".schema.json")] for i in self.docs
                            if i.startswith(EVENTS)))

    def data_schema(self, kind: str) -> dict:
        return self.docs[f"{EVENTS}{kind}.schema.json"]

    @property
    def envelope(self) -> dict:
        return self.docs[ENVELOPE]

    def schema_of_data(self, event: dict) -> dict | None:
        """The schema ``data`` is validated against: the data schema of the event's type (the
        engine dispatches on ``type``; the envelope only says ``data`` is an object)."""
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str) or kind not in self.event_types:
            return None
        return self.data_schema(kind)

    def keywords(self) -> set[str]:
        """Every keyword the envelope, event and shared schemas use (where values are made)."""
        found: set[str] = set()

        def walk(node):
            if not isinstance(node, dict):
                return
            found.update(node)
            for key, value in node.items():
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        walk(sub)
                elif key in ("items", "additionalProperties", "unevaluatedProperties",
                             "propertyNames", "then", "else", "not", "contains"):
                    walk(value)
                elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                    for sub in value:
                        walk(sub)
                # `if` is evaluated with jsonschema itself, not generated

        for schema_id in [ENVELOPE, BASE + "defs.schema.json"] + [
                f"{EVENTS}{t}.schema.json" for t in self.event_types]:
            walk(self.docs[schema_id])
        return found

    def write_only_members(self) -> dict[str, set[str]]:
        """``{member name: event types}`` of the members the schemas mark ``writeOnly``: the
        vocabulary of raw card, bank and SSN numbers (``payment.made``'s ``card_number`` ...)."""
        out: dict[str, set[str]] = {}
        for kind in self.event_types:
            for name, sub in self.data_schema(kind).get("properties", {}).items():
                if self.resolved(sub).get("writeOnly"):
                    out.setdefault(name, set()).add(kind)
        return out


def one_class(pattern: str) -> str | None:
    """The character class of a pattern ``^[...]*`` (maybe with the no-trailer suffix)."""
    core = pattern[:-len(_NO_TRAILER)] if pattern.endswith(_NO_TRAILER) else pattern
    found = _ONE_CLASS.match(core)
    return found.group("cls") if found else None


@lru_cache(maxsize=None)
def refused_characters(cls: str) -> tuple[str, ...]:
    """The characters of the Basic Multilingual Plane that a ``[cls]`` pattern refuses
    (controls, separators, bidirectional marks), surrogates aside."""
    one = re.compile(f"[{cls}]")
    return tuple(chr(c) for c in range(0x10000)
                 if not 0xD800 <= c <= 0xDFFF and not one.fullmatch(chr(c)))


def _regex_for_hypothesis(pattern: str) -> str:
    """A pattern for ``from_regex(..., fullmatch=True)``: anchors and trailer removed."""
    core = pattern[:-len(_NO_TRAILER)] if pattern.endswith(_NO_TRAILER) else pattern
    core = core[1:] if core.startswith("^") else core
    if core.endswith("$") and not core.endswith("\\$"):
        core = core[:-1]
    return core


def pointer(path: tuple) -> str:
    """A JSON Pointer (RFC 6901) of a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def resolve_pointer(document: Any, text: str) -> tuple[bool, Any]:
    """``(found, value)`` of a JSON Pointer in a document. A step the engine masked
    (``[redacted name of N characters]``: a member name holding a long number, or a very long
    one; docs/errors.md) resolves through each member it may stand for."""
    if text == "":
        return True, document
    if not text.startswith("/"):
        return False, None
    from clauseline.events.parsing import shown_name
    node = document
    steps = text[1:].split("/")
    for index, raw in enumerate(steps):
        token = raw.replace("~1", "/").replace("~0", "~")
        if token.startswith("[redacted name of ") and isinstance(node, dict) and token not in node:
            rest = "".join("/" + step for step in steps[index + 1:])
            for name in node:  # each member the mask may stand for
                if shown_name(name) == token:
                    found, value = resolve_pointer(node[name], rest)
                    if found:
                        return found, value
            return False, None
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


# --------------------------------------------------------------------------------------------
# Times


_OFFSETS = (0, 0, -300, -360, -420, -480, 60, 120, 330, 545, 840, -720, -570)


def render_time(instant: datetime, offset_minutes: int, fraction: str, zulu: bool) -> str:
    """An RFC 3339 text of an exact instant, in the given offset, the fraction written as
    ``""`` (none), ``"ms"``, ``"us"`` or ``"ns"`` (microseconds padded with zeros)."""
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    us = local.microsecond
    if fraction == "ms" and us % 1000 == 0:
        text += f".{us // 1000:03d}"
    elif fraction == "ns":
        text += f".{us:06d}000"
    elif fraction == "us" or us:
        text += f".{us:06d}"
    if offset_minutes == 0 and zulu:
        return text + "Z"
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def written_times(draw, instants):
    """An instant drawn from ``instants``, written in an assorted RFC 3339 form."""
    instant = draw(instants)
    return render_time(instant, draw(st.sampled_from(_OFFSETS)),
                       draw(st.sampled_from(["", "ms", "us", "ns"])), draw(st.booleans()))


# --------------------------------------------------------------------------------------------
# The generator


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Generator:
    """Strategies for events of the catalogue, from the schema files and the loaded policy."""

    def __init__(self, schemas: Schemas, policy):
        self.schemas = schemas
        self.policy = policy
        starts = [v.effective_from for v in policy.versions]
        #: The span event times are drawn from: a month before the first version takes effect
        #: (``event.no_policy_in_force``) to three years after the last.
        self.start = min(starts) - timedelta(days=30)
        self.end = max(starts) + timedelta(days=3 * 365)
        exempt = {t for f in policy.facilities.values() for t in f.exempt_user_types}
        #: Values the policy knows, by member name.
        self.known: dict[str, tuple] = {
            "subject": SUBJECT_POOL,
            "facility_id": tuple(sorted(policy.facilities)),
            "user_type": tuple(sorted(exempt | {t for v in policy.versions
                                                for t in v.default_exempt_user_types})),
            "version": tuple(v.version for v in policy.versions),
        }
        self._events: dict[str, Any] = {}

    # -- values --------------------------------------------------------------------------

    def check(self, schema: dict) -> None:
        unknown = set(schema) - GENERATED - ANNOTATIONS
        if unknown:
            raise UnsupportedSchema(f"the property-test generator does not know {sorted(unknown)}")
        if schema.get("format") is not None and schema["format"] not in FORMATS:
            raise UnsupportedSchema(f"the property-test generator does not know format {schema['format']!r}")
        if "then" in schema and set(schema["then"]) - {"required"}:
            raise UnsupportedSchema("the generator applies only `required` in a `then`")

    def value(self, schema: dict, name: str | None = None, overrides: dict | None = None):
        """A strategy for values valid against ``schema`` (a member called ``name``)."""
        s = self.schemas.resolved(schema)
        self.check(s)
        base = self._base(s, name, overrides or {})
        if "const" in s or "enum" in s or overrides:
            return base
        realistic = []
        if s.get("examples"):
            # a copy: a test that changes what it drew must not change the schema's examples
            realistic += [st.sampled_from(s["examples"]).map(copy.deepcopy)] * 3
        known = self.known.get(name or "")
        if known is None and name and name.endswith("_id") and s.get("type") == "string":
            known = tuple(f"{name[:-3].replace('_', '-')}-{i}" for i in range(1, ID_POOL_SIZE + 1))
        if known:
            realistic.append(st.sampled_from(known))
        if not realistic:
            return base
        # about three draws in four realistic, the rest anything the schema allows
        return st.one_of(*(realistic * (3 if known else 1)), base)

    def _base(self, s: dict, name: str | None, overrides: dict):
        if "const" in s:
            return st.just(s["const"])
        if "enum" in s:
            return st.sampled_from(s["enum"])
        kinds = s.get("type")
        if kinds is None:
            kinds = "object" if "properties" in s else None
        if kinds is None:
            raise UnsupportedSchema(f"a schema without type: {sorted(s)}")
        if isinstance(kinds, list):
            return st.one_of(*(self._typed(s, k, name, overrides) for k in kinds))
        return self._typed(s, kinds, name, overrides)

    def _typed(self, s: dict, kind: str, name: str | None, overrides: dict):
        if kind == "object":
            return self._object(s, overrides)
        if kind == "array":
            items = self.value(s.get("items", {"type": "string"}))
            lo = s.get("minItems", 0)
            hi = min(s.get("maxItems", lo + 4), lo + 4)
            if s.get("uniqueItems"):
                return st.lists(items, min_size=lo, max_size=hi, unique_by=_canonical)
            return st.lists(items, min_size=lo, max_size=hi)
        if kind == "string":
            return self._string(s)
        if kind in ("number", "integer"):
            return self._number(s, kind)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        raise UnsupportedSchema(f"type {kind!r}")

    def _number(self, s: dict, kind: str):
        lo, hi = s.get("minimum"), s.get("maximum")
        ints = st.integers(min_value=None if lo is None else int(lo),
                           max_value=None if hi is None else int(hi))
        if kind == "integer":
            return ints
        floats = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
        bounds = [st.just(b) for b in (lo, hi) if b is not None]
        return st.one_of(*bounds, ints, floats)

    def _string(self, s: dict):
        fmt = s.get("format")
        lo, hi = s.get("minLength", 0), s.get("maxLength", 64)
        if fmt == "date-time":
            return self.times()
        if fmt == "date":
            return self.dates()
        if fmt == "uri-reference":
            return st.from_regex(r"/[a-z0-9-]{1,12}(/[a-z0-9._-]{1,12}){0,3}", fullmatch=True)
        if fmt == "uri":
            return st.from_regex(r"https://[a-z]{1,10}\.example(/[a-z0-9._-]{1,12}){0,3}",
                                 fullmatch=True)
        pattern = s.get("pattern")
        cls = one_class(pattern) if pattern else None
        if pattern and cls is None:
            compiled = re.compile(pattern)
            return st.from_regex(_regex_for_hypothesis(pattern), fullmatch=True).filter(
                lambda v: lo <= len(v) <= hi and compiled.search(v) is not None)
        if cls is not None:
            one = re.compile(f"[{cls}]")
            alphabet = st.characters(exclude_categories=("Cs",),
                                     exclude_characters=refused_characters(cls)).filter(
                lambda c: one.fullmatch(c) is not None)
        else:
            alphabet = st.characters(exclude_categories=("Cs",))
        short = st.text(alphabet, min_size=lo, max_size=max(lo, min(hi, 8)))
        # the longest allowed, as a short text repeated (cheap to draw and to shrink)
        border = st.text(alphabet, min_size=1, max_size=4).map(lambda t: (t * hi)[:hi])
        return st.one_of(short, short, short, border)

    def _object(self, s: dict, overrides: dict):
        props = s.get("properties", {})
        members = {k: overrides[k] if k in overrides else self.value(v, k) for k, v in props.items()}
        required = list(s.get("required", []))
        optional = [k for k in props if k not in required]
        lo, hi = s.get("minProperties", 0), s.get("maxProperties", 64)
        extra = s.get("additionalProperties")
        extra_names = extra_values = None
        if isinstance(extra, dict):
            names = self.schemas.resolved(s.get("propertyNames", {"type": "string"}))
            extra_names = self.value(dict(names, type="string")).filter(lambda n: n not in props)
            extra_values = self.value(extra)
        condition = Draft202012Validator(s["if"]) if "if" in s else None
        then_required = s.get("then", {}).get("required", [])

        @st.composite
        def build(draw):
            chosen = set(required) | set(k for k in overrides if k in props)
            for k in optional:
                if k not in chosen and draw(st.booleans()):
                    chosen.add(k)
            while len(chosen) < lo:
                chosen.add(draw(st.sampled_from([k for k in optional if k not in chosen])))
            out = {k: draw(members[k]) for k in props if k in chosen}
            if extra_names is not None and len(out) < hi:
                names = draw(st.lists(extra_names, max_size=min(3, hi - len(out) - 1), unique=True))
                for n in names:
                    out[n] = draw(extra_values)
            if condition is not None and condition.is_valid(out):
                for k in then_required:
                    if k not in out:
                        out[k] = draw(members[k])
            return out

        return build()

    # -- times ---------------------------------------------------------------------------

    def instants(self, start: datetime | None = None, end: datetime | None = None):
        """Instants between ``start`` and ``end``; they shrink towards the day the first policy
        version takes effect (or the nearest end of the span)."""
        start, end = start or self.start, end or self.end
        anchor = min(max(min(v.effective_from for v in self.policy.versions), start), end)
        seconds = st.integers(int((start - anchor).total_seconds()),
                              int((end - anchor).total_seconds()))
        micros = st.sampled_from([0, 0, 0, 250000, 500000, 123456])
        return st.builds(lambda s, us: anchor + timedelta(seconds=s, microseconds=us), seconds, micros)

    def times(self):
        """Date-times within the policy's years, in assorted forms."""
        return written_times(self.instants())

    def dates(self):
        """Calendar dates from 1930 to the last year events are drawn from, mostly of adults
        (dates of children too, one draw in four, so that clause T's age checks go both ways
        without every subject becoming a child whose information is deleted)."""
        adult = self.start.date().replace(year=self.start.year - 18)
        return st.one_of(st.dates(date(1930, 1, 1), adult), st.dates(date(1930, 1, 1), adult),
                         st.dates(date(1930, 1, 1), adult),
                         st.dates(date(1930, 1, 1), self.end.date())).map(date.isoformat)

    # -- events --------------------------------------------------------------------------

    def event(self, kind: str | None = None, time=None):
        """One schema-valid event of ``kind`` (any type of the catalogue when None)."""
        if kind is None:
            return st.sampled_from(self.schemas.event_types).flatmap(lambda k: self.event(k, time))
        strategy = self._events.get(kind)
        if strategy is None:
            strategy = self._events[kind] = self.value(self.schemas.envelope, overrides={
                "type": st.just(kind), "data": self.value(self.schemas.data_schema(kind))})
        if time is None:
            return strategy
        return st.tuples(strategy, time).map(lambda pair: dict(pair[0], time=pair[1]))

    def log(self, min_size: int = 1, max_size: int = 12):
        """A JSON Lines log as a list of events: times advance by steps up to past the 45-day
        deadlines, sometimes go back (out of order); an event is sometimes sent again."""
        steps = st.sampled_from([0, 1, 60, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400,
                                 46 * 86400, -3600])
        # every type in turn, in an order drawn per log: each log meets the whole catalogue
        # (sampled_from would favour a few types)
        orders = st.permutations(self.schemas.event_types)
        offsets, fractions = st.sampled_from(_OFFSETS), st.sampled_from(["", "ms", "us", "ns"])
        # a log starts once the policy is in force (single events also come before it)
        first = self.instants(min(v.effective_from for v in self.policy.versions),
                              self.end - timedelta(days=400))

        @st.composite
        def build(draw):
            n = draw(st.integers(min_size, max_size))
            order = draw(orders)
            moment = draw(first)
            out: list[dict] = []
            while len(out) < n:
                if out and draw(st.integers(0, 9)) == 0:  # a producer sends one again
                    out.append(copy.deepcopy(out[draw(st.integers(0, len(out) - 1))]))
                    continue
                moment = min(moment + timedelta(seconds=draw(steps)), self.end)
                event = draw(self.event(order[len(out) % len(order)]))
                event["time"] = render_time(moment, draw(offsets), draw(fractions), draw(st.booleans()))
                out.append(event)
            return out

        return build()

    # -- the nodes of an event, with their schemas -----------------------------------------

    def nodes(self, event: Any) -> list["Node"]:
        """Every value of an event with the (resolved) schema that governs it."""
        out: list[Node] = []

        def walk(value, schema, path):
            s = self.schemas.resolved(schema)
            out.append(Node(path, s, value))
            if isinstance(value, dict):
                props = s.get("properties", {})
                extra = s.get("additionalProperties")
                for key, child in value.items():
                    if path == () and key == "data":
                        sub = self.schemas.schema_of_data(value)
                    elif key in props:
                        sub = props[key]
                    elif isinstance(extra, dict):
                        sub = extra
                    else:
                        sub = None
                    if sub is not None:
                        walk(child, sub, path + (key,))
            elif isinstance(value, list) and isinstance(s.get("items"), dict):
                for i, child in enumerate(value):
                    walk(child, s["items"], path + (i,))

        walk(event, self.schemas.envelope, ())
        return out

    def required_now(self, s: dict, value: dict) -> list[str]:
        """The members ``s`` requires of this object (``then`` included when ``if`` holds)."""
        required = list(s.get("required", []))
        if "if" in s and Draft202012Validator(s["if"]).is_valid(value):
            required += [k for k in s["then"].get("required", []) if k not in required]
        return required


@dataclass(frozen=True)
class Node:
    path: tuple
    schema: dict
    value: Any

    @property
    def pointer(self) -> str:
        return pointer(self.path)


def set_at(document: Any, path: tuple, value: Any) -> Any:
    """A deep copy of ``document`` with the node at ``path`` replaced (the root when empty)."""
    if not path:
        return value
    out = copy.deepcopy(document)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


# --------------------------------------------------------------------------------------------
# Mutations: schema-valid events made invalid in one place


def _bad_times(valid: str) -> list[str]:
    """Date-time texts docs/errors.md says are refused, made from a valid one."""
    head = valid[:19]
    return [
        head,                                  # no offset: a local time
        head.replace("T", "t") + "Z",          # lower-case t
        head + "z",                            # lower-case z
        head.replace("T", " ") + "Z",          # a space for T
        head[:5] + "02-30" + head[10:] + "Z",  # 30 February
        head[:5] + "13" + head[7:] + "Z",      # month 13
        head[:11] + "24" + head[13:] + "Z",    # hour 24
        head + ".0000005Z",                    # finer than a microsecond
        head + "+24:00",                       # an offset past a day
        "9999-12-31T23:59:59-12:00",           # a UTC instant after the year 9999
        "0001-01-01T00:30:00+01:00",           # a UTC instant before the year 1
        "",
        "2019-07-01",
    ]


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def refused_only_by_clauseline(text: str) -> bool:
    """Whether an RFC 3339 date-time is one that the standard ``date-time`` format allows and
    clauseline refuses (docs/errors.md, ``schema.format``): a time finer than a microsecond,
    or one whose UTC instant falls outside the years 1 to 9999."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return False
    fraction = (m.group(7) or ".")[1:]
    if fraction[6:].strip("0"):
        return True
    try:
        local = datetime(*(int(m.group(i)) for i in range(1, 7)))
    except ValueError:
        return False
    offset = timedelta(0) if m.group(8) == "Z" else (
        (1 if m.group(8)[0] == "+" else -1)
        * timedelta(hours=int(m.group(8)[1:3]), minutes=int(m.group(8)[4:6])))
    try:
        local - offset
    except OverflowError:
        return True
    return False


_BAD_DATES = ["2019-02-30", "2019-13-01", "19-01-01", "2019-1-1", "2019-01-01T00:00:00Z", ""]

#: JSON values of each type, to put where another type is required.
_OF_EACH_TYPE = [None, True, 0, 1.5, "x", [], {}]


def _json_type_ok(value: Any, kinds: Any) -> bool:
    kinds = kinds if isinstance(kinds, list) else [kinds]
    for kind in kinds:
        if kind == "null" and value is None:
            return True
        if kind == "boolean" and isinstance(value, bool):
            return True
        if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind == "string" and isinstance(value, str):
            return True
        if kind == "array" and isinstance(value, list):
            return True
        if kind == "object" and isinstance(value, dict):
            return True
    return False


#: The kinds of mutation, each with the error codes that may report it at its place.
MUTATIONS = {
    "drop_required": {"schema.required"},
    "wrong_type": {"schema.type", "schema.const", "schema.enum", "event.not_object"},
    "out_of_enum": {"schema.enum"},
    "not_const": {"schema.const"},
    "too_long": {"schema.maxLength"},
    "too_short": {"schema.minLength"},
    "pattern": {"schema.pattern"},
    "control_char": {"schema.pattern"},
    "bad_time": {"schema.format", "schema.pattern", "schema.maxLength"},
    "bad_date": {"schema.format", "schema.pattern", "schema.maxLength"},
    "below_minimum": {"schema.minimum"},
    "above_maximum": {"schema.maximum"},
    "too_few_items": {"schema.minItems"},
    "too_many_items": {"schema.maxItems"},
    "duplicate_item": {"schema.uniqueItems"},
    "unknown_member": {"schema.unevaluatedProperties", "schema.additionalProperties",
                       "schema.propertyNames", "schema.maxProperties"},
    "too_few_members": {"schema.minProperties"},
    "too_many_members": {"schema.maxProperties"},
}


@dataclass(frozen=True)
class Mutant:
    """An invalid event: what was broken, where, and the codes that may say so there."""

    event: Any
    kind: str
    where: str       # the JSON Pointer an error must name
    codes: frozenset


#: Stands for "any value this schema allows" when mutation kinds are read off a schema alone.
_ANY = object()


def _types_of(s: dict, v: Any) -> set[str]:
    """The JSON types the node has (its value's), or may have (``_ANY``: the schema's)."""
    if v is not _ANY:
        if isinstance(v, bool):
            return {"boolean"}
        if isinstance(v, (int, float)):
            return {"number"}
        return {"object" if isinstance(v, dict) else "array" if isinstance(v, list)
                else "string" if isinstance(v, str) else "null"}
    kinds = s.get("type", "object" if "properties" in s else [])
    kinds = set(kinds if isinstance(kinds, list) else [kinds])
    return kinds | ({"number"} if "integer" in kinds else set())


def mutation_kinds(gen: Generator, s: dict, v: Any = _ANY) -> list[str]:
    """The mutations that apply to a node of schema ``s`` holding ``v`` (or, with ``_ANY``,
    to some value the schema allows)."""
    out, types = [], _types_of(s, v)
    if "object" in types:
        required = s.get("required", []) if v is _ANY else [k for k in gen.required_now(s, v) if k in v]
        if required:
            out.append("drop_required")
        if s.get("additionalProperties") is not None or s.get("unevaluatedProperties") is False:
            out.append("unknown_member")
        if s.get("minProperties", 0) > 0:
            out.append("too_few_members")
        if "maxProperties" in s:
            out.append("too_many_members")
    if "type" in s:
        out.append("wrong_type")
    if "enum" in s:
        out.append("out_of_enum")
    if "const" in s:
        out.append("not_const")
    if "string" in types:
        if "maxLength" in s:
            out.append("too_long")
        if s.get("minLength", 0) > 0:
            out.append("too_short")
        if s.get("format") == "date-time":
            out.append("bad_time")
        elif s.get("format") == "date":
            out.append("bad_date")
        elif "pattern" in s:
            out.append("control_char" if one_class(s["pattern"]) else "pattern")
    if "number" in types:
        if "minimum" in s:
            out.append("below_minimum")
        if "maximum" in s:
            out.append("above_maximum")
    if "array" in types:
        if s.get("minItems", 0) > 0:
            out.append("too_few_items")
        if "maxItems" in s:
            out.append("too_many_items")
        if s.get("uniqueItems") and (v is _ANY or v):
            out.append("duplicate_item")
    return out


def _schema_kinds(gen: Generator, kind: str) -> set[str]:
    """Every mutation some event of this type may take, read off its schemas."""
    found: set[str] = set()

    def walk(schema):  # the schemas have no recursion
        s = gen.schemas.resolved(schema)
        found.update(mutation_kinds(gen, s))
        for sub in s.get("properties", {}).values():
            walk(sub)
        for key in ("additionalProperties", "items"):
            if isinstance(s.get(key), dict):
                walk(s[key])

    walk({k: v for k, v in gen.schemas.envelope.items() if k != "properties"}
         | {"properties": {k: v for k, v in gen.schemas.envelope["properties"].items() if k != "data"}})
    walk(gen.schemas.envelope["properties"]["data"])
    walk(gen.schemas.data_schema(kind))
    return found


@lru_cache(maxsize=None)
def types_open_to(kind: str) -> tuple[str, ...]:
    """The event types whose events may take a mutation of this kind."""
    gen = generator()
    return tuple(t for t in gen.schemas.event_types if kind in _schema_kinds(gen, t))


@st.composite
def mutants(draw, gen: Generator, events=None, kind: str | None = None):
    """A schema-valid event broken in one place by one of :data:`MUTATIONS` (``kind``, or one
    drawn), or ``events`` (a strategy) broken by a kind that applies to the event drawn."""
    if events is None:
        kind = kind or draw(st.sampled_from(sorted(MUTATIONS)))
        event = draw(gen.event(draw(st.sampled_from(types_open_to(kind)))))
    else:
        event = draw(events)
    sites = [(node, k) for node in gen.nodes(event) for k in mutation_kinds(gen, node.schema, node.value)
             if kind is None or k == kind]
    # an optional member the kind needs may be absent from the event drawn
    assume(sites)
    node, kind = draw(st.sampled_from(sites))
    s, v, path = node.schema, node.value, node.path
    where = node.pointer
    codes = set(MUTATIONS[kind])
    if kind == "drop_required":
        member = draw(st.sampled_from([k for k in gen.required_now(s, v) if k in v]))
        new = {k: x for k, x in v.items() if k != member}
        where = pointer(path + (member,))
    elif kind == "unknown_member":
        props = s.get("properties", {})
        names = st.text(min_size=1, max_size=24).filter(lambda n: n not in props)
        if isinstance(s.get("additionalProperties"), dict) and "propertyNames" in s:
            # any name is allowed that propertyNames allows: an unknown one must break it,
            # and jsonschema reports the keyword of propertyNames that fails
            accepted = re.compile(s["propertyNames"]["pattern"])
            names = names.filter(lambda n: accepted.search(n) is None)
            codes = {"schema.propertyNames"} | {f"schema.{k}" for k in s["propertyNames"]
                                                if k not in ANNOTATIONS}
        new = dict(v, **{draw(names): draw(st.sampled_from(_OF_EACH_TYPE[1:]))})
    elif kind == "too_few_members":
        new = {}
    elif kind == "too_many_members":
        new = dict(v)
        for i in range(s["maxProperties"] + 1 - len(v)):
            new[f"x{i}" if isinstance(s.get("additionalProperties"), dict) else f"extra_{i}"] = "v"
    elif kind == "wrong_type":
        new = draw(st.sampled_from([x for x in _OF_EACH_TYPE if not _json_type_ok(x, s["type"])]))
    elif kind == "out_of_enum":
        new = draw(st.sampled_from(s["enum"]).map(lambda e: f"{e}x") | st.text(max_size=8)
                   .filter(lambda t: t not in s["enum"]))
    elif kind == "not_const":
        new = f"{s['const']}.0"
    elif kind == "too_long":
        new = (v + "a" * s["maxLength"])[: s["maxLength"] + draw(st.integers(1, 8))]
        new = new + "a" * (s["maxLength"] + 1 - len(new))
    elif kind == "too_short":
        new = ""
    elif kind == "pattern":
        accepted = re.compile(s["pattern"])
        new = draw(st.text(min_size=1, max_size=s.get("maxLength", 8)).filter(
            lambda t: accepted.search(t) is None))
    elif kind == "control_char":
        bad = draw(st.sampled_from(refused_characters(one_class(s["pattern"]))))
        at = draw(st.integers(0, len(v)))
        new = (v[:at] + bad + v[at:])[: max(s.get("maxLength", 10**6), 1)]
        if bad not in new:
            new = bad + v[1:]
    elif kind == "bad_time":
        new = draw(st.sampled_from(_bad_times(v)))
    elif kind == "bad_date":
        new = draw(st.sampled_from(_BAD_DATES))
    elif kind == "below_minimum":
        new = s["minimum"] - draw(st.sampled_from([1, 0.5, 10**6]))
    elif kind == "above_maximum":
        new = s["maximum"] + draw(st.sampled_from([1, 0.5, s["maximum"]]))
    elif kind == "too_few_items":
        new = []
    elif kind == "too_many_items":
        item = v[0] if v else draw(gen.value(s["items"]))
        new = [item] * (s["maxItems"] + 1)
    elif kind == "duplicate_item":
        new = list(v) + [v[0]]
    else:  # pragma: no cover - MUTATIONS and this function are kept in step
        raise AssertionError(kind)
    if isinstance(new, str) and s.get("format"):
        # a string that breaks a formatted member's length or characters usually breaks its
        # format too, and the engine then reports the format alone (said once)
        codes.add("schema.format")
    return Mutant(set_at(event, path, new), kind, where, frozenset(codes))


# --------------------------------------------------------------------------------------------
# Card, bank and SSN numbers


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these are every second digit counting from the check digit
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


_DIGIT = st.sampled_from("0123456789")


@st.composite
def card_numbers(draw):
    """A payment card number: 13 to 19 digits that pass the Luhn check."""
    length = draw(st.integers(13, 19))
    body = draw(st.sampled_from("3456")) + "".join(draw(st.lists(_DIGIT, min_size=length - 2,
                                                                   max_size=length - 2)))
    return body + luhn_check_digit(body)


@st.composite
def routing_numbers(draw):
    """An ABA routing number: a Federal Reserve prefix (01-12, 21-32), then digits whose
    weighted checksum is 0 (mod 10)."""
    prefix = draw(st.sampled_from([f"{n:02d}" for n in [*range(1, 13), *range(21, 33)]]))
    head = prefix + "".join(draw(st.lists(_DIGIT, min_size=6, max_size=6)))
    d = [int(c) for c in head]
    last = (-(3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5])) % 10
    return head + str(last)


@st.composite
def bank_account_numbers(draw):
    """A checking account number: 10 to 17 digits."""
    return draw(st.sampled_from("123456789")) + "".join(draw(st.lists(_DIGIT, min_size=9, max_size=16)))


@st.composite
def ssns(draw):
    """A social security number as issued: area 001-899 but 666, group 01-99, serial 0001-9999."""
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    return f"{area:03d}{draw(st.integers(1, 99)):02d}{draw(st.integers(1, 9999)):04d}"


def _plausible(digits: str) -> bool:
    """No digit five times in a row. Real numbers seldom have one, and the shrinker would
    otherwise make numbers such as ``6000000000``, which a scan then finds where a hex digest
    meets the all-zero hash that starts the decision log's chain in the database file."""
    return re.search(r"(\d)\1{4}", digits) is None


SENSITIVE = {kind: strategy.filter(_plausible) for kind, strategy in (
    ("card", card_numbers()), ("bank_account", bank_account_numbers()),
    ("routing", routing_numbers()), ("ssn", ssns()))}
#: Separators numbers are written with.
SEPARATORS = (" ", "  ", ".", "-", "\u00a0", "_", "/")
#: How each kind is usually grouped when written.
_GROUPS = {"ssn": (3, 2, 4), "routing": (3, 3, 3)}


def _groups(kind: str, digits: str) -> list[str]:
    sizes = _GROUPS.get(kind)
    if sizes is None:
        sizes = (4, 6, 5) if kind == "card" and len(digits) == 15 else (4,) * 5
    out, i = [], 0
    for size in sizes:
        if i >= len(digits):
            break
        out.append(digits[i:i + size])
        i += size
    if i < len(digits):
        out[-1] += digits[i:]
    return out


@dataclass(frozen=True)
class Secret:
    """A sensitive number and how it is written into an event."""

    kind: str
    digits: str
    value: Any      # the JSON value placed: a string, an integer or a float
    style: str

    @property
    def shape_known(self) -> bool:
        """Whether the value alone shows what it is: a Luhn-valid card run, or an SSN written
        in its 3-2-4 groups. Other numbers are known by the member they are given under."""
        return self.kind == "card" or (self.kind == "ssn" and self.style == "grouped")


@st.composite
def secrets(draw, kinds=tuple(SENSITIVE), numbers: bool = True):
    """A sensitive number and one spelling of it: bare, in groups with a separator,
    concatenated with other digits, or (``numbers``) as a JSON integer or float."""
    kind = draw(st.sampled_from(kinds))
    digits = draw(SENSITIVE[kind])
    styles = ["bare", "grouped", "grouped", "concatenated"]
    if numbers and digits[0] != "0":
        styles += ["integer", "float"]
    style = draw(st.sampled_from(styles))
    if style == "bare":
        value: Any = digits
    elif style == "grouped":
        value = draw(st.sampled_from(SEPARATORS)).join(_groups(kind, digits))
    elif style == "concatenated":
        value = (draw(st.text("0123456789", min_size=1, max_size=4)) + digits
                 + draw(st.text("0123456789", max_size=4)))
    elif style == "integer":
        value = int(digits)
    else:
        exact = float(int(digits)) == int(digits) and int(digits) < 10**16
        value = float(int(digits)) if exact else int(digits)
        style = "float" if exact else "integer"
    return Secret(kind, digits, value, style)


#: A separator inside a written number: those of :data:`SEPARATORS`, and the no-break space as
#: JSON escapes it and as its UTF-8 bytes read as Latin-1 (database files are scanned as bytes).
_SEP = r"(?:\\u00a0|\xc2\xa0|[ ._/\-\u00a0])"
_WRITTEN_NUMBER = re.compile(r"[0-9](?:" + _SEP + r"{0,2}[0-9])*")
_ONE_SEP = re.compile(_SEP)


def find_number(text: str, digits: str) -> str | None:
    """The stretch of ``text`` that writes ``digits`` (with or without separators, inside a
    longer run of digits or not), or None."""
    for match in _WRITTEN_NUMBER.finditer(text):
        if digits in _ONE_SEP.sub("", match.group()):
            return match.group()
    return None


def database_texts(path: Path) -> dict[str, str]:
    """Every row of every table of a SQLite database (each column as text), and the bytes of
    the database and its WAL after a checkpoint, as ``{where: text}``."""
    out: dict[str, str] = {}
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            rows = conn.execute(f'select * from "{table}"').fetchall()
            for i, row in enumerate(rows):
                out[f"table {table} row {i}"] = " | ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("", "-wal", "-journal"):
        file = Path(str(path) + suffix)
        if file.exists():
            out[f"file {file.name}"] = file.read_bytes().decode("latin-1")
    return out


# --------------------------------------------------------------------------------------------
# Validation by jsonschema alone (to judge the generator, the mutator and the decisions without
# clauseline's own validation)


@lru_cache(maxsize=1)
def _registry():
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schemas_dir().rglob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources).crawl()


@lru_cache(maxsize=None)
def validator(schema_id: str) -> Draft202012Validator:
    """A jsonschema validator of one shipped schema, with the standard format checks."""
    return Draft202012Validator(_registry().contents(schema_id), registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(instance, schema_id: str) -> list[str]:
    return [f"{pointer(tuple(e.absolute_path))}: {e.message[:300]}"
            for e in validator(schema_id).iter_errors(instance)]


# --------------------------------------------------------------------------------------------
# docs/errors.md


def documented_codes() -> tuple[set[str], set[str]]:
    """``(codes, schema keywords)``: the event codes of docs/errors.md's event table, and the
    keywords its ``schema.<keyword>`` row stands for (every keyword the event schemas use)."""
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    section = text.split("## Event errors", 1)[1].split("\n## ", 1)[0]
    codes = set(re.findall(r"^\| `([a-z][a-zA-Z0-9_.<>]*)`", section, flags=re.M))
    return codes, Schemas().keywords() - ANNOTATIONS


# --------------------------------------------------------------------------------------------
# Fixtures and settings


@lru_cache(maxsize=1)
def shared_policy():
    """The shipped policy, loaded once for this folder."""
    return load_policy()


@lru_cache(maxsize=1)
def generator() -> Generator:
    return Generator(Schemas(), shared_policy())


@pytest.fixture(scope="session")
def policy():
    """The shipped policy (the one the generator draws its facilities and times from)."""
    return shared_policy()


@pytest.fixture(scope="session")
def store_template(tmp_path_factory) -> Path:
    """An empty, migrated SQLite store, copied for each example (opening a new store migrates
    it, which costs 0.3 s; a copy of a migrated one opens in 10 ms)."""
    from clauseline.store import open_store

    path = tmp_path_factory.mktemp("template") / "clauseline.db"
    store = open_store(f"sqlite:///{path}")
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


#: How long Hypothesis may spend shrinking one failure (its own limit is 300 s; a failing
#: property here would hold the suite for minutes). The example it reports may then not be
#: the smallest.
SHRINK_SECONDS = 15


@pytest.fixture(autouse=True, scope="module")
def _readable_failures():
    """Print the falsifying examples, and bound the time spent shrinking them.

    The schemathesis pytest plugin (loaded for the whole suite by its entry point, for
    tests/service) swaps Hypothesis's printer for one that prints nothing, so every falsifying
    example would read ``log=,``; this folder's tests put Hypothesis's own printer back while
    they run."""
    from hypothesis import core
    from hypothesis.internal.conjecture import engine
    from hypothesis.vendor import pretty

    saved = core.RepresentationPrinter, engine.MAX_SHRINKING_SECONDS
    core.RepresentationPrinter = pretty.RepresentationPrinter
    engine.MAX_SHRINKING_SECONDS = SHRINK_SECONDS
    yield
    core.RepresentationPrinter, engine.MAX_SHRINKING_SECONDS = saved


def bounded(examples: int) -> settings:
    """Settings of a property in the default run (``make test``): a bounded number of
    examples, derandomized so that every run and CI see the same ones, no example database."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    print_blob=False,
                    # no "explain" phase: it blanks the falsifying example it reports
                    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


#: How many times more examples the runs marked ``slow`` try (``.ci/run``).
SLOW_FACTOR = 10


# Strategies for @given, built at the first draw (loading the policy costs a second, which
# collecting the test suite should not pay).

def events(kind: str | None = None):
    return st.deferred(lambda: generator().event(kind))


def logs(min_size: int = 1, max_size: int = 12):
    return st.deferred(lambda: generator().log(min_size, max_size))


def mutated(kind: str | None = None):
    return st.deferred(lambda: mutants(generator(), kind=kind))


@st.composite
def mixed_logs(draw, min_size: int = 1, max_size: int = 12):
    """A log with, here and there, an event broken in one place and a blank line: as JSON
    Lines text (``ensure_ascii`` either way), and the events as given."""
    gen = generator()
    log = draw(gen.log(min_size, max_size))
    lines: list[str] = []
    for event in log:
        roll = draw(st.integers(0, 9))
        if roll == 0:
            event = draw(mutants(gen, st.just(event))).event
        if roll == 1:
            lines.append("")
        lines.append(json.dumps(event, ensure_ascii=draw(st.booleans())))
    return lines
