"""Outcome templates, their syntax: strings with ``{path}`` placeholders and time filters.

``{data.request_id}`` inserts a value; a string that is exactly one placeholder keeps the
value's JSON type (a list stays a list). Filters shift times: ``{time|add_days:45}``,
``{time|add_years:1}``, ``{time|add_months:-12}``; a calendar date counts as its midnight UTC.
The loader checks every placeholder with :func:`parse_placeholder`; rendering against a fact is
:mod:`clauseline.evaluation.templates`.
"""

from __future__ import annotations

import re
from typing import Any

from ..eventtime import add_days, add_months, add_years

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PART = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
FILTERS = {
    "add_days": add_days,
    "add_months": add_months,
    "add_years": add_years,
}


def parse_placeholder(body: str) -> tuple[str, list[tuple[str, int]]]:
    """Split ``path|filter:arg|...``; raise ValueError naming what is wrong."""
    path, *chain = [p.strip() for p in body.split("|")]
    if not _PART.match(path):
        raise ValueError(f"bad path {path!r} in placeholder {{{body}}}")
    filters = []
    for item in chain:
        name, _, arg = item.partition(":")
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r} (known: {', '.join(sorted(FILTERS))})")
        try:
            filters.append((name, int(arg)))
        except ValueError:
            raise ValueError(f"filter {name} needs a whole number, got {arg!r}") from None
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
