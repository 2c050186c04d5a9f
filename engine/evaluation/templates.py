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

from typing import Any

from ..policy.templates import compiled_text


def lookup(fact: dict, path: str) -> Any:
    """The value at a dotted path of a fact, or None when any step is absent."""
    value: Any = fact
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def render(template: Any, fact: dict, shared: bool = False) -> Any:
    """Render a template against a fact (see the module docstring). A value inserted whole (a
    list, an object) is a copy, unless ``shared``: then it is the fact's own, which the caller
    only reads (a computed condition testing membership in a list that grows with the log).
    Rules hold their templates compiled (:func:`clauseline.policy.templates.compile_template`);
    this renders any other, each string compiled once."""
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
    return compiled_text(template)(fact, shared)
