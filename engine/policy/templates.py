"""Outcome templates, their syntax: strings with ``{path}`` placeholders and time filters.

``{data.request_id}`` inserts a value; a string that is exactly one placeholder keeps the
value's JSON type (a list stays a list). Filters shift times: ``{time|add_days:45}``,
``{time|add_years:1}``, ``{time|add_months:-12}``; a calendar date counts as its midnight UTC.
The loader checks every placeholder with :func:`parse_placeholder`; rendering against a fact is
:mod:`clauseline.evaluation.templates`.

A filter's argument is a whole number written with ASCII digits and an optional sign, at most
:data:`FILTER_LIMITS` either way: the span of the calendar clauseline keeps (the years 1 to
9999), past which no time can land in it. So a template that passes the loader can only render
a time, or a time the calendar cannot hold, which evaluation answers with the rejection
``event.time_out_of_range`` (docs/errors.md) instead of failing.
"""

from __future__ import annotations

import re
from datetime import MAXYEAR, MINYEAR, date
from typing import Any

from ..eventtime import add_days, add_months, add_years

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
