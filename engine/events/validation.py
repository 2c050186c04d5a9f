"""JSON Schema registry and validation with located, complete error lists.

All schemas in ``schemas/`` (installed as ``clauseline.schemas``) are loaded by their ``$id``
(into one ``referencing`` registry when python-jsonschema is first needed). There is no
process-wide instance: a loaded policy owns the set it was checked with (``Policy.schemas``). An event is checked against the
CloudEvents envelope, then its ``data`` against the schema of its ``type`` (dispatching on type
gives clearer errors than one ``oneOf`` over every type).

Two validators per schema: jsonschema-rs answers first and quickly for the common case, a valid
instance (about 20 times faster); python-jsonschema lists the errors of an instance jsonschema-rs
finds invalid, with paths and words, and has the last word. ``tests/test_validation_fast_path.py``
checks that the two agree on every logged event, the hostile corpus and mutations of each member.
python-jsonschema (with ``referencing``, ``attrs`` and its format checkers) is imported only when
it is first needed: a process that meets only valid events and policy files (a consumer, a
worker, a replay of a clean log) does not pay its import, about a sixth of a command's start-up.

Every validator checks formats with :func:`format_checker`: the standard checks of draft
2020-12, except that a ``date-time`` must also be one :func:`clauseline.eventtime.parse_time`
reads exactly. That is the one check of every date-time (the envelope's ``time`` and each
``format: date-time`` field of the data schemas): a time finer than a microsecond is refused,
never truncated.
"""

from __future__ import annotations

import functools

import json
import re
from functools import cached_property
from pathlib import Path

from typing import TYPE_CHECKING

from rfc3339_validator import validate_rfc3339

from ..errors import Problem
from .parsing import lone_surrogate, lone_surrogate_problem, pointer
from ..eventtime import TimePrecisionError, parse_time
from ..redact import mask_numbers, quote
from ..resources import schemas_dir

if TYPE_CHECKING:  # imported when first needed (the module's docstring)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

BASE = "https://clauseline.dev/schemas/"
_REQUIRED = re.compile(r"^('.*'|\".*\") is a required property$")
ENVELOPE = BASE + "cloudevent.schema.json"


#: Ends every anchored pattern of the schemas: Python's ``$`` also matches before a final newline.
_NO_TRAILER = "(?![\\s\\S])"
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
               list: "array", type(None): "null"}


@functools.cache
def format_checker():
    """The format checker of every python-jsonschema validator a :class:`SchemaSet` builds:
    draft 2020-12's checks; a ``date-time`` must also be exactly representable. Made (and
    python-jsonschema imported) at the first call."""
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import FormatError

    class _ClauselineFormats(FormatChecker):
        def check(self, instance, format: str) -> None:
            super().check(instance, format)  # the standard RFC 3339 check first
            if format == "date-time" and isinstance(instance, str):
                try:
                    parse_time(instance)
                except TimePrecisionError as error:
                    # finer than a microsecond: say so in words (docs/errors.md, schema.format)
                    raise FormatError(str(error), cause=error) from None
                except ValueError as error:
                    raise FormatError("not a 'date-time'", cause=error) from None

    checker = _ClauselineFormats(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    return checker


def __getattr__(name: str):
    if name == "FORMAT_CHECKER":  # the name this module's callers knew it by
        return format_checker()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: A time in UTC with ``Z`` and at most microseconds, the shape nearly every event's has: for it
#: the standard check holds wherever :func:`parse_time` reads it (a real date, hours to 23,
#: seconds to 59, a year from 1), so that alone decides.
_PLAIN_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")


@functools.lru_cache(maxsize=4096)  # a pure function of the text; an event's time recurs
def _date_time_ok(value: str) -> bool:
    """The ``date-time`` check of :func:`format_checker`, for jsonschema-rs: what
    ``format_checker().conforms(value, "date-time")`` answers, its two checks called directly
    (jsonschema-rs calls this for every time of every event, nearly all of them new)."""
    if not isinstance(value, str):
        return True  # the check is of strings only
    if not _PLAIN_UTC.fullmatch(value) and not validate_rfc3339(value.upper()):
        return False  # python-jsonschema's own date-time check, called as it calls it
    try:
        parse_time(value)
    except ValueError:  # TimePrecisionError among them
        return False
    return True


try:  # the fast path for valid events; without it, python-jsonschema does all the work
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - a dependency, but validation stays correct without it
    _rs = None
_UNSET = object()


def _names(names) -> str:
    shown = [quote(n) for n in list(names)[:10]]
    return ", ".join(shown) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _unknown(error: ValidationError) -> list[str]:
    """The members an ``additionalProperties``/``unevaluatedProperties`` error is about."""
    instance, schema = error.instance, error.schema if isinstance(error.schema, dict) else {}
    if not isinstance(instance, dict):
        return []
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    unknown = [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]
    return unknown or list(instance)


def _message(error: ValidationError) -> str:
    """A plain message in words, built from the schema (safe) and the shape of the offending
    value: the value itself is quoted only when :func:`quote` finds it short and safe."""
    v, rule, instance = error.validator, error.validator_value, error.instance
    length = len(instance) if isinstance(instance, (str, list, dict)) else None
    if "propertyNames" in error.relative_schema_path:
        return (f"the member name {quote(instance)} does not have the allowed form (for an "
                "event's extension attributes: 1 to 20 lowercase letters and digits)")
    if v in ("additionalProperties", "unevaluatedProperties"):
        names = _unknown(error)
        return f"unknown properties are not allowed ({_names(names)} unexpected)"
    if v == "enum":
        options = ", ".join(json.dumps(o) for o in rule[:25])
        return f"{quote(instance)} is not one of: {options}"
    if v == "const":
        return f"{quote(instance)} is not {json.dumps(rule)}"
    if v == "type":
        return f"expected {rule}, got {_JSON_TYPES.get(type(instance), 'value')}"
    if v == "pattern" and str(rule).endswith(_NO_TRAILER) and str(rule).startswith("^[^\\u0000"):
        return "must not contain control characters (U+0000 to U+001F, U+007F)"
    if v == "pattern":
        return f"{quote(instance)} does not have the expected form"
    if v == "format":
        if isinstance(error.cause, Exception) and "finer than a microsecond" in str(error.cause):
            return str(error.cause)
        return f"{quote(instance)} is not a valid {rule!r}"
    if v == "maxLength":
        return f"is too long: {length} characters, at most {rule}"
    if v == "minLength":
        return f"is too short: {length} characters, at least {rule}"
    if v == "maxItems":
        return f"has too many items: {length}, at most {rule}"
    if v == "minItems":
        return f"has too few items: {length}, at least {rule}"
    if v == "uniqueItems":
        return "has repeated items; each must be unique"
    if v == "maxProperties":
        return "must be empty" if rule == 0 else f"has too many members: {length}, at most {rule}"
    if v == "minProperties":
        return f"has too few members: {length}, at least {rule}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[v]
        return f"{quote(instance)} is out of range: must be {words} {rule}"
    if v == "propertyNames":
        return "a member name does not have the expected form"
    if v in ("oneOf", "anyOf"):
        return f"{_JSON_TYPES.get(type(instance), 'value')} matches none of the allowed forms"
    if v == "not":
        return f"{_JSON_TYPES.get(type(instance), 'value')} has a form that is not allowed here"
    if v in ("dependentRequired", "dependencies"):
        return "a member requires another member that is missing"
    return f"fails the schema's {v!r} check"


class SchemaSet:
    """Every shipped schema, addressable by ``$id``; validators are built once and cached."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or schemas_dir()
        self.ids: dict[str, Path] = {}
        self._documents: dict[str, dict] = {}
        for path in sorted(self.folder.rglob("*.schema.json")):
            contents = json.loads(path.read_text(encoding="utf-8"))
            self.ids[contents["$id"]] = path
            self._documents[contents["$id"]] = contents
        self._validators: dict[str, Draft202012Validator] = {}
        self._fast: dict = {}

    @cached_property
    def registry(self):
        """Every schema in one ``referencing`` registry, for python-jsonschema (made when first
        needed)."""
        from referencing import Registry, Resource
        return Registry().with_resources(
            (i, Resource.from_contents(c)) for i, c in self._documents.items()).crawl()

    def contents(self, uri: str):
        """The schema (or the part of one) at ``uri``: a schema's ``$id``, optionally with a
        JSON Pointer fragment (``defs.schema.json#/$defs/data_category``); anything else is
        resolved by the registry. LookupError where nothing is there."""
        base, _, fragment = uri.partition("#")
        found = self._documents.get(base)
        if found is None or (fragment and (fragment[0] != "/" or "%" in fragment)):
            from referencing.exceptions import Unresolvable
            try:
                return self.registry.resolver().lookup(uri).contents
            except Unresolvable as error:
                raise LookupError(uri) from error
        for token in fragment.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(found, list) and token.isdigit():
                found = found[int(token)]  # IndexError is a LookupError
            elif isinstance(found, dict):
                found = found[token]
            else:
                raise LookupError(uri)
        return found

    def validator(self, schema_id: str) -> Draft202012Validator:
        """The cached validator for one schema id (format checks on)."""
        found = self._validators.get(schema_id)
        if found is None:
            from jsonschema import Draft202012Validator
            schema = self.registry.contents(schema_id)
            found = Draft202012Validator(
                schema, registry=self.registry, format_checker=format_checker())
            self._validators[schema_id] = found
        return found

    def fast(self, schema_id: str):
        """The jsonschema-rs validator of one schema id, or None where jsonschema-rs is not
        installed: a quick yes for valid instances. Its date-time check is the one of
        :func:`format_checker`; python-jsonschema stays the judge of what fails and why."""
        found = self._fast.get(schema_id, _UNSET)
        if found is _UNSET:
            found = None
            if _rs is not None:
                found = _rs.validator_for(
                    self.contents(schema_id), registry=self._rs_registry,
                    validate_formats=True, formats={"date-time": _date_time_ok})
            self._fast[schema_id] = found
        return found

    def fast_ref(self, ref: str):
        """The jsonschema-rs validator of ``{"$ref": ref}`` (a schema id with a JSON Pointer
        fragment, say), without format checks; None without jsonschema-rs or where ``ref``
        does not resolve. A quick yes, as :meth:`fast`."""
        key = ("ref", ref)
        found = self._fast.get(key, _UNSET)
        if found is _UNSET:
            found = None
            if _rs is not None:
                try:
                    found = _rs.validator_for({"$ref": ref}, registry=self._rs_registry)
                except Exception:  # noqa: BLE001 - unresolvable: python-jsonschema judges alone
                    found = None
            self._fast[key] = found
        return found

    @cached_property
    def _rs_registry(self):
        return _rs.Registry(list(self._documents.items()))

    def problems(self, instance, schema_id: str, prefix: tuple = ()) -> list[Problem]:
        """All validation errors of ``instance``, ordered by JSON Pointer, one per failure.

        An instance that jsonschema-rs finds valid has none; otherwise python-jsonschema lists
        them (and has the last word: an instance it finds valid has none either)."""
        fast = self.fast(schema_id)
        try:
            if fast is not None and fast.is_valid(instance):
                return []
        except ValueError:  # a string that is not text: jsonschema-rs cannot read it
            pass
        # an event built in Python (not parsed from JSON) may hold a lone surrogate, which no
        # later stage can encode: refuse it here as the parser would
        where = lone_surrogate(instance)
        if where is not None:
            return [lone_surrogate_problem(pointer(prefix) + where)]
        out = []
        for error in self.validator(schema_id).iter_errors(instance):
            path = prefix + tuple(error.absolute_path)
            if error.validator == "required":
                # point at the missing member itself, as RFC 9457 problem details usually do
                name = _REQUIRED.match(error.message)
                out.append(Problem("schema.required", f"required property {name.group(1)} is missing",
                                   pointer(path + (name.group(1).strip("'\""),))))
                continue
            message = mask_numbers(_message(error))
            if isinstance(error.schema, dict) and error.schema.get("writeOnly"):
                # a raw card, bank or SSN number must not be echoed into decisions and logs
                message = f"the value is not valid here ({error.validator}); it is not repeated"
            out.append(Problem(f"schema.{error.validator}", message, pointer(path)))
        # a value that fails its format usually fails the format's pattern too: say it once
        formats = {p.path for p in out if p.code == "schema.format"}
        out = [p for p in out if not (p.code == "schema.pattern" and p.path in formats)]
        out.sort(key=lambda p: (p.path, p.code, p.message))
        return out

    @cached_property
    def event_types(self) -> frozenset[str]:
        """The event types that have a data schema: the catalogue the engine accepts."""
        prefix = BASE + "events/"
        return frozenset(i[len(prefix):-len(".schema.json")] for i in self.ids if i.startswith(prefix))

    def event_problems(self, event) -> list[Problem]:
        """Envelope errors, then the data errors of the event's type."""
        if not isinstance(event, dict):
            return [Problem("event.not_object", "an event must be a JSON object", "")]
        out = self.problems(event, ENVELOPE)
        kind = event.get("type")
        if isinstance(kind, str) and kind not in self.event_types:
            out.append(Problem("event.unknown_type",
                               f"unknown event type {quote(kind)}; see the catalogue in docs/events.md",
                               "/type"))
        elif isinstance(kind, str) and isinstance(event.get("data"), dict):
            out.extend(self.problems(event["data"], f"{BASE}events/{kind}.schema.json", ("data",)))
        return out
