"""Turning raw bytes into an event: size and depth limits, strict JSON, located errors."""

from __future__ import annotations

import json
from typing import Any

from ..errors import Problem

#: Largest event accepted, in bytes of UTF-8 JSON.
MAX_EVENT_BYTES = 256 * 1024
#: Deepest nesting of objects and arrays accepted in one event.
MAX_DEPTH = 32


class _Duplicate(ValueError):
    pass


def _pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The JSON Pointer of the first node nested deeper than ``max_depth``, or None."""
    stack = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                return path
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                stack.append((child, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}", depth + 1))
    return None


def parse_event(text: str | bytes, max_bytes: int = MAX_EVENT_BYTES,
                max_depth: int = MAX_DEPTH) -> tuple[Any, list[Problem]]:
    """Parse one event's JSON text; on failure return ``(None, problems)``.

    ``max_bytes`` and ``max_depth`` are raised only by callers that parse several events in
    one document (a batch of the HTTP service is an array of events: one level deeper).
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        return None, [Problem("event.too_large",
                              f"event is {size} bytes; the limit is {max_bytes}", "")]
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            return None, [Problem("event.invalid_json", f"not UTF-8: {error.reason} at byte {error.start}", "")]
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Duplicate as error:
        return None, [Problem("event.duplicate_key", f"key {error.args[0]!r} appears twice in one object", "")]
    except json.JSONDecodeError as error:
        return None, [Problem("event.invalid_json",
                              f"{error.msg} at line {error.lineno} column {error.colno}", "")]
    except RecursionError:
        return None, [Problem("event.too_deep", f"nesting is deeper than {max_depth} levels", "")]
    except ValueError as error:
        return None, [Problem("event.invalid_json", str(error), "")]
    deep = _too_deep(value, max_depth)
    if deep is not None:
        return None, [Problem("event.too_deep", f"nesting is deeper than {max_depth} levels", deep)]
    return value, []
