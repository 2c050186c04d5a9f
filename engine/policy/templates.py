"""Outcome templates, their syntax: strings with ``{path}`` placeholders and time filters.

``{data.request_id}`` inserts a value; a string that is exactly one placeholder keeps the
value's JSON type (a list stays a list). Filters shift times: ``{time|add_days:45}``,
``{time|add_years:1}``, ``{time|add_months:-12}``; a calendar date counts as its midnight UTC.
The loader checks every placeholder with :func:`parse_placeholder`; a rule's templates are
compiled when it is built (:func:`compile_template`: a function of the fact, so the text is
parsed once, not at every event); rendering against a fact is
:mod:`clauseline.evaluation.templates`.

A filter's argument is a whole number written with ASCII digits and an optional sign, at most
:data:`FILTER_LIMITS` either way: the span of the calendar clauseline keeps (the years 1 to
9999), past which no time can land in it. So a template that passes the loader can only render
a time, or a time the calendar cannot hold, which evaluation answers with the rejection
``event.time_out_of_range`` (docs/errors.md) instead of failing.
"""

from __future__ import annotations

import copy
import functools
import re
from datetime import MAXYEAR, MINYEAR, date
from typing import Any, Callable

from ..eventtime import add_days, add_months, add_years, format_time, parse_instant

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PART = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
FILTERS = {
    "add_days": add_days,
    "add_months": add_months,
    "add_years": add_years,
}
#: The largest shift each filter takes, either way (in its own unit): from the first instant of
#: the calendar to its last (days 3,652,058; months 119,987; years 9,998).
FILTER_LIMITS = {
    "add_days": (date.max - date.min).days,
    "add_months": (MAXYEAR - MINYEAR) * 12 + 11,
    "add_years": MAXYEAR - MINYEAR,
}
_UNITS = {"add_days": "days", "add_months": "months", "add_years": "years"}
# a sign and ASCII digits only (int() would also take "1_000", " 5" and other scripts' digits);
# the length is checked before int() sees the digits
_WHOLE = re.compile(r"[+-]?[0-9]{1,12}")


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:39]) + "\u2026"


def parse_placeholder(body: str) -> tuple[str, list[tuple[str, int]]]:
    """Split ``path|filter:arg|...``; raise ValueError naming what is wrong (an unknown filter,
    or an argument that is not a whole number within the filter's :data:`FILTER_LIMITS`)."""
    path, *chain = [p.strip() for p in body.split("|")]
    if not _PART.match(path):
        raise ValueError(f"bad path {_shown(path)} in placeholder {_shown('{' + body + '}')}")
    filters = []
    for item in chain:
        name, _, arg = (part.strip() for part in item.partition(":"))
        if name not in FILTERS:
            raise ValueError(f"unknown filter {_shown(name)} (known: {', '.join(sorted(FILTERS))})")
        limit = FILTER_LIMITS[name]
        value = int(arg) if _WHOLE.fullmatch(arg) else None
        if value is None or abs(value) > limit:
            raise ValueError(f"filter {name} takes a whole number of {_UNITS[name]} from "
                             f"-{limit:,} to {limit:,} (the calendar's span), got {_shown(arg)}")
        filters.append((name, value))
    return path, filters


def split_path(template: str) -> list[str]:
    """Split a dotted path template on the dots outside placeholders."""
    parts, depth, current = [], 0, ""
    for char in template:
        depth += char == "{"
        depth -= char == "}"
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def placeholders(template: Any) -> list[str]:
    """Every placeholder body in a template (string or list of strings)."""
    items = template if isinstance(template, list) else [template]
    return [m.group(1) for t in items if isinstance(t, str) for m in PLACEHOLDER.finditer(t)]


#: A compiled template: ``(fact, shared) -> value`` (see :func:`compile_template`).
Compiled = Callable[[dict, bool], Any]


def compile_template(template: Any) -> Compiled:
    """A template as a function ``(fact, shared) -> value``, what rendering it against the fact
    gives (:func:`clauseline.evaluation.templates.render`, whose rules these are): objects and
    lists are built anew at each call (a list's list items spliced in, its ``None`` items
    dropped), a value inserted whole is a copy unless ``shared``. A placeholder that does not
    parse raises its ValueError when rendered, as it would have unparsed."""
    if isinstance(template, dict):
        members = tuple((key, compile_template(value)) for key, value in template.items())
        return lambda fact, shared=False: {key: fill(fact, shared) for key, fill in members}
    if isinstance(template, list):
        items = tuple(compile_template(item) for item in template)

        def listed(fact: dict, shared: bool = False) -> list:
            out = []
            for fill in items:
                value = fill(fact, shared)
                if isinstance(value, list):
                    out.extend(value)
                elif value is not None:
                    out.append(value)
            return out
        return listed
    if not isinstance(template, str):
        return lambda fact, shared=False: template
    return compiled_text(template)


@functools.lru_cache(maxsize=None)  # templates come from rule files: a bounded set
def compiled_text(template: str) -> Compiled:
    """:func:`compile_template` of a string: plain text is itself, a string that is exactly one
    placeholder keeps the value's JSON type, placeholders inside text insert the value's text
    (``""`` for an absent one)."""
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return _placeholder(whole.group(1))
    if "{" not in template:
        return lambda fact, shared=False: template
    parts: list = []
    at = 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(template[at:match.start()])
        parts.append(_placeholder(match.group(1)))
        at = match.end()
    parts.append(template[at:])
    pieces = tuple(p for p in parts if p != "")

    def text(fact: dict, shared: bool = False) -> str:
        out = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = piece(fact, True)  # only its text is used
                out.append("" if value is None else str(value))
        return "".join(out)
    return text


def compile_instant(template: Any) -> Callable[[dict], Any]:
    """A template as a function of the fact giving the instant it renders to:
    ``parse_instant`` of the rendered value (None when it is not a time), without writing a
    shifted time out as text to read it back (the same instant: :func:`format_time` keeps every
    microsecond). For the time comparisons of computed conditions."""
    whole = PLACEHOLDER.fullmatch(template) if isinstance(template, str) else None
    if whole is None:
        rendered = compile_template(template)
        return lambda fact: parse_instant(rendered(fact, True))
    return _placeholder(whole.group(1), instant=True)


def _placeholder(body: str, instant: bool = False) -> Any:
    """One placeholder as a function of the fact: the value at its path (None when a step is
    absent), each filter shifting it as a time (None when it is not one). A filter that takes
    the time out of the calendar raises ``OverflowError`` (answered as
    ``event.time_out_of_range``). With ``instant``, a function of the fact alone giving the
    value as an instant (:func:`compile_instant`)."""
    try:
        path, filters = parse_placeholder(body)
    except ValueError as error:
        def refused(fact: dict, shared: bool = False):
            raise error
        return refused
    steps = tuple(path.split("."))
    shifts = tuple((name, FILTERS[name], arg) for name, arg in filters)

    def at_instant(fact: dict) -> Any:
        found: Any = fact
        for step in steps:
            if not isinstance(found, dict):
                return None
            found = found.get(step)
        moment = parse_instant(found)
        for name, shift, arg in shifts:
            if moment is None:
                return None
            moment = _shifted(moment, name, shift, arg)
        return moment

    if instant:
        return at_instant

    def value(fact: dict, shared: bool = False) -> Any:
        found: Any = fact
        for step in steps:
            if not isinstance(found, dict):
                found = None
                break
            found = found.get(step)
        if not shared and isinstance(found, (dict, list)):
            # the fact shares it with the state: the outcome gets its own (a list of strings,
            # numbers and the like, the usual one, copied as deepcopy would, only faster)
            if type(found) is list and all(type(item) in _ATOMS for item in found):
                return list(found)
            return copy.deepcopy(found)
        for name, shift, arg in shifts:
            moment = parse_instant(found)
            if moment is None:  # absent, or not a time: the placeholder renders as absent
                return None
            found = format_time(_shifted(moment, name, shift, arg))
        return found
    return value


#: The JSON values that ``copy.deepcopy`` returns as they are.
_ATOMS = frozenset({str, int, float, bool, type(None)})


def _shifted(moment, name: str, shift, arg: int):
    try:
        return shift(moment, arg)
    except (OverflowError, ValueError):
        # timedelta arithmetic raises OverflowError, datetime.replace ValueError: either way
        # the time is outside the calendar, which the evaluator rejects as such
        raise OverflowError(f"{name}:{arg} takes {format_time(moment)} out of the years "
                            "1 to 9999") from None
