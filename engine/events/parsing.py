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


def _too_deep(value: Any) -> str | None:
    """The JSON Pointer of the first node nested deeper than MAX_DEPTH, or None."""
    stack = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                return path
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                stack.append((child, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}", depth + 1))
    return None


def parse_event(text: str | bytes) -> tuple[Any, list[Problem]]:
    """Parse one event's JSON text; on failure return ``(None, problems)``."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_EVENT_BYTES:
        return None, [Problem("event.too_large",
                              f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}", "")]
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
        return None, [Problem("event.too_deep", f"nesting is deeper than {MAX_DEPTH} levels", "")]
    except ValueError as error:
        return None, [Problem("event.invalid_json", str(error), "")]
    deep = _too_deep(value)
    if deep is not None:
        return None, [Problem("event.too_deep", f"nesting is deeper than {MAX_DEPTH} levels", deep)]
    return value, []
