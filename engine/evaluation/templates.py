"""Outcome templates rendered against a matched fact (the syntax: :mod:`clauseline.policy.templates`).

``{data.request_id}`` inserts a value; a string that is exactly one placeholder keeps the
value's JSON type (a list stays a list). Filters shift times: ``{time|add_days:45}``,
``{time|add_years:1}``, ``{time|add_months:-12}``; a calendar date counts as its midnight UTC.
An absent value, or a filtered value that is not a time, renders as ``null`` (or as an empty
string inside longer text). A filter that would take a time out of the calendar (the years 1 to
9999) raises ``OverflowError``, which the evaluator answers with the rejection
``event.time_out_of_range``: the loader bounds every filter's argument, so nothing else can go
wrong here.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ..eventtime import format_time, parse_instant
from ..policy.templates import FILTERS, PLACEHOLDER, parse_placeholder


def lookup(fact: dict, path: str) -> Any:
    """The value at a dotted path of a fact, or None when any step is absent."""
    value: Any = fact
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


#: Placeholders come from rule files only (a bounded set, checked at load): each is parsed once.
_parsed = functools.lru_cache(maxsize=None)(parse_placeholder)


def _value(body: str, fact: dict, shared: bool = False) -> Any:
    path, filters = _parsed(body)
    value = lookup(fact, path)
    if isinstance(value, (dict, list)) and not shared:
        return copy.deepcopy(value)  # the fact shares it with the state: the outcome gets its own
    for name, arg in filters:
        moment = parse_instant(value)
        if moment is None:  # absent, or not a time: the placeholder renders as absent
            return None
        try:
            value = format_time(FILTERS[name](moment, arg))
        except (OverflowError, ValueError):
            # timedelta arithmetic raises OverflowError, datetime.replace ValueError: either
            # way the time is outside the calendar, which the evaluator rejects as such
            raise OverflowError(f"{name}:{arg} takes {format_time(moment)} out of the years "
                                "1 to 9999") from None
    return value


def render(template: Any, fact: dict, shared: bool = False) -> Any:
    """Render a template against a fact (see the module docstring). A value inserted whole (a
    list, an object) is a copy, unless ``shared``: then it is the fact's own, which the caller
    only reads (a computed condition testing membership in a list that grows with the log)."""
    if isinstance(template, dict):
        return {key: render(value, fact, shared) for key, value in template.items()}
    if isinstance(template, list):
        out = []
        for item in template:
            value = render(item, fact, shared)
            if isinstance(value, list):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return out
    if not isinstance(template, str):
        return template
    kind, body = _compiled(template)
    if kind is _PLAIN:
        return template
    if kind is _WHOLE:
        return _value(body, fact, shared)
    out = []
    for part in body:
        if isinstance(part, str):
            out.append(part)
        else:
            value = _value(part[0], fact, shared=True)  # only its text is used
            out.append("" if value is None else str(value))
    return "".join(out)


_PLAIN, _WHOLE, _TEXT = "plain", "whole", "text"


@functools.lru_cache(maxsize=None)  # templates come from rule files: a bounded set
def _compiled(template: str) -> tuple[str, Any]:
    """A template string parsed once: plain text, one placeholder standing for a whole value, or
    text with placeholders (its parts: strings, and 1-tuples of placeholder bodies)."""
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return _WHOLE, whole.group(1)
    if "{" not in template:
        return _PLAIN, None
    parts: list = []
    at = 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(template[at:match.start()])
        parts.append((match.group(1),))
        at = match.end()
    parts.append(template[at:])
    return _TEXT, tuple(parts)
