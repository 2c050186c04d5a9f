"""Turning raw bytes into an event: size and depth limits, strict JSON, located errors."""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO, Iterator

from ..errors import Problem
from ..redact import quote

#: Largest event accepted, in bytes of UTF-8 JSON.
MAX_EVENT_BYTES = 256 * 1024
#: Deepest nesting of objects and arrays accepted in one event.
MAX_DEPTH = 32


class Oversized:
    """A log line longer than the limit, read and dropped in pieces: only its size is kept, so
    that memory stays bounded by the limit whatever the line's length."""

    __slots__ = ("size",)

    def __init__(self, size: int):
        self.size = size

    def __repr__(self) -> str:
        return f"Oversized({self.size})"


def read_lines(handle: BinaryIO, max_bytes: int = MAX_EVENT_BYTES,
               chunk: int = 1 << 20) -> Iterator[bytes | Oversized]:
    """The lines of a binary stream (a JSON Lines log), as bytes with their line ending; a line
    longer than ``max_bytes`` (plus its line ending) is never held whole: it is read in chunks,
    dropped, and yielded as :class:`Oversized` (``parse_event`` rejects it as
    ``event.too_large``). Reading never decodes: a byte that is not UTF-8 is the parser's to
    reject, line by line."""
    limit = max_bytes + 2  # the line ending, \n or \r\n
    while True:
        line = handle.readline(limit)
        if not line:
            return
        if line.endswith(b"\n") or len(line) < limit:
            yield line
            continue
        size = len(line)
        while True:
            more = handle.readline(chunk)
            if not more:
                break
            size += len(more)
            if more.endswith(b"\n"):
                size -= 1 + more.endswith(b"\r\n")
                break
        yield Oversized(size)


#: A ``\u`` escape of a surrogate in JSON text (a lone one decodes to a string that is not text).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


#: Six digits in a member name, in any spelling (``4111 1111``, fullwidth digits): such a name
#: is not written into a pointer, since an event's own keys may be card, bank or SSN numbers.
_NAME_DIGITS = re.compile(r"(?:\d\D*?){6}")
#: Longest member name written into a pointer as it is.
MAX_POINTER_STEP = 64


def pointer_step(key: Any) -> str:
    """One JSON Pointer step as errors show it (RFC 6901 escapes, lone surrogates written
    ``\\uXXXX``): an array index as it is; a member name with six digits or more, or longer
    than :data:`MAX_POINTER_STEP` characters, masked as ``[redacted name of N characters]``,
    so that no pointer built from an event's keys quotes a number (docs/errors.md)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    step = shown_name(str(key))
    if step.startswith("[redacted name"):
        return step
    step = step.replace("~", "~0").replace("/", "~1")
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", step)


def shown_name(name: str) -> str:
    """A name chosen by input (a member name, a segment of a requested path) as an error may
    show it: as it is, or ``[redacted name of N characters]`` when it holds six digits or more
    or is longer than :data:`MAX_POINTER_STEP` characters."""
    if len(name) > MAX_POINTER_STEP or _NAME_DIGITS.search(name):
        return f"[redacted name of {len(name)} characters]"
    return name


def pointer(steps) -> str:
    """The JSON Pointer of a sequence of member names and array indexes (:func:`pointer_step`)."""
    return "".join("/" + pointer_step(step) for step in steps)


def lone_surrogate(value: Any) -> str | None:
    """The JSON Pointer of the first string (or key) holding a lone surrogate, or None; the
    pointer's own surrogates are written as ``\\uXXXX`` text."""
    stack = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return path
        elif isinstance(node, (dict, list)):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                step = f"{path}/{pointer_step(key)}"
                if isinstance(key, str) and _SURROGATE.search(key):
                    return step
                stack.append((child, step))
    return None


def lone_surrogate_problem(path: str) -> Problem:
    """The rejection of a string that is not text (a lone surrogate) at ``path``."""
    return Problem("event.invalid_json", "a \\u escape gives a lone surrogate (U+D800 to U+DFFF "
                   "without its pair), which is not text", path)


class _Duplicate(ValueError):
    pass


def _pairs(pairs):
    out = dict(pairs)
    if len(out) == len(pairs):  # nearly every object: no key twice
        return out
    seen = set()
    for key, _ in pairs:  # the first key that appears twice, as the error names it
        if key in seen:
            raise _Duplicate(key)
        seen.add(key)


def _constant(name):
    raise ValueError(f"{name} is not valid JSON")


class _OutOfRange(ValueError):
    pass


#: "a number past a double's range": one whose conversion to a 64-bit float overflows (its
#: magnitude rounds past 1.7976931348623157e308), whether written with a fraction or exponent
#: (``1e400``) or as an integer (``1`` and 400 zeros). Such an integer has at least 309 digits.
_DOUBLE_DIGITS = 309
_OUT_OF_RANGE = ("a number is past the range of a 64-bit floating-point value (about 1.8e308): "
                 "JSON has no infinity, and clauseline refuses numbers no double can hold")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; one past a double's range (``1e400``, which
    Python would read as infinity) is refused: JSON has no infinity."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OutOfRange(_OUT_OF_RANGE)
    return value


def _integer(text: str) -> int:
    """A JSON integer; one past a double's range is refused as ``1e400`` is. Its digits are
    counted before any conversion: Python's ``int()`` of over 4,300 digits raises an error that
    quotes the size and suggests ``sys.set_int_max_str_digits()``, and a long one is slow."""
    if len(text) < _DOUBLE_DIGITS:  # nearly every integer: fewer digits than any past range
        return int(text)
    digits = len(text) - text.startswith("-")
    if digits > _DOUBLE_DIGITS:
        raise _OutOfRange(f"an integer of {digits:,} digits is past the range of a 64-bit "
                          "floating-point value (about 1.8e308, 309 digits): clauseline "
                          "refuses numbers no double can hold")
    value = int(text)
    if digits == _DOUBLE_DIGITS:
        try:
            float(value)
        except OverflowError:
            raise _OutOfRange(f"an integer of {digits} digits is past the range of a 64-bit "
                              "floating-point value (about 1.8e308): clauseline refuses "
                              "numbers no double can hold") from None
    return value


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
                stack.append((child, f"{path}/{pointer_step(key)}", depth + 1))
    return None


def _deep_pointer(text: str, max_depth: int) -> str:
    """The JSON Pointer of the first container nested deeper than ``max_depth`` in JSON text
    too deep for the parser (which gives up without saying where): one linear scan that keeps
    the key or index of each open container. ``""`` where the text ends before."""
    stack: list[list] = []  # [bracket, key or index, expecting a key]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while True:
                j = text.find('"', j)
                if j < 0:
                    return ""
                k = j - 1
                while text[k] == "\\":
                    k -= 1
                if (j - 1 - k) % 2 == 0:  # an even number of backslashes: the closing quote
                    break
                j += 1
            if stack and stack[-1][2]:
                try:
                    stack[-1][1] = json.loads(text[i:j + 1])
                except ValueError:
                    stack[-1][1] = text[i + 1:j]
                stack[-1][2] = False
            i = j + 1
            continue
        if c in "[{":
            if len(stack) >= max_depth:
                return pointer(entry[1] for entry in stack)
            stack.append([c, 0 if c == "[" else "", c == "{"])
        elif c in "]}":
            if stack:
                stack.pop()
        elif c == "," and stack:
            if stack[-1][0] == "[":
                stack[-1][1] += 1
            else:
                stack[-1][2] = True
        i += 1
    return ""


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def parse_events_array(data: bytes, max_bytes: int = MAX_EVENT_BYTES,
                       max_depth: int = MAX_DEPTH) -> tuple[Any, list[Problem]]:
    """Parse a JSON document that should be an array of events (a batch of the HTTP service):
    strict as :func:`parse_event`, one level deeper, with no size limit on the whole (the
    caller bounds the body) but each element held to ``max_bytes`` as written (escapes
    counted, as one event sent alone is): an element over it is ``event.too_large`` at
    ``/INDEX``, never quoted. A document that parses to something else than an array is
    returned as it is, for the caller to refuse."""
    value, problems = parse_event(data, max_bytes=len(data) + 1, max_depth=max_depth + 1)
    if problems or not isinstance(value, list) or len(data) <= max_bytes:
        return value, problems
    # the text of each element, found by the same strict scanner (the document parsed, so
    # every element does): one more pass, only over bodies larger than one event may be
    text = data.decode("utf-8")
    scan = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant,
                            parse_float=_finite, parse_int=_integer).scan_once
    at = _WHITESPACE.match(text).end() + 1  # past "["
    for index in range(len(value)):
        at = _WHITESPACE.match(text, at).end()
        _, end = scan(text, at)
        size = end - at
        if size * 4 > max_bytes:  # fewer characters than that cannot be over in UTF-8
            size = len(text[at:end].encode("utf-8"))
            if size > max_bytes:
                return None, [Problem("event.too_large", f"event {index} of the batch is {size} "
                                      f"bytes; the limit for one event is {max_bytes}",
                                      f"/{index}")]
        at = _WHITESPACE.match(text, end).end() + 1  # past "," or "]"
    return value, []


#: The strict decoder of events (made once: ``json.loads`` with arguments builds one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant,
                            parse_float=_finite, parse_int=_integer)


def parse_event(text: str | bytes, max_bytes: int = MAX_EVENT_BYTES,
                max_depth: int = MAX_DEPTH) -> tuple[Any, list[Problem]]:
    """Parse one event's JSON text; on failure return ``(None, problems)``.

    ``max_bytes`` and ``max_depth`` are raised only by callers that parse several events in
    one document (a batch of the HTTP service is an array of events: one level deeper).
    """
    if isinstance(text, Oversized):
        return None, [Problem("event.too_large",
                              f"event is {text.size} bytes; the limit is {max_bytes}", "")]
    if isinstance(text, str):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as error:
            # a str read with errors="surrogateescape" (a byte that is not UTF-8), or built
            # with a lone surrogate: either way not text
            return None, [Problem("event.invalid_json", "not UTF-8: a byte or code point that is "
                                  f"not text at character {error.start}", "")]
    else:
        data = text
    if len(data) > max_bytes:
        return None, [Problem("event.too_large",
                              f"event is {len(data)} bytes; the limit is {max_bytes}", "")]
    if isinstance(text, (bytes, bytearray)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            return None, [Problem("event.invalid_json", f"not UTF-8: {error.reason} at byte {error.start}", "")]
    try:
        if text.startswith("\ufeff"):  # what json.loads says of a BOM, which decode() would not
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except _OutOfRange as error:
        return None, [Problem("event.invalid_json", str(error), "")]
    except _Duplicate as error:
        return None, [Problem("event.duplicate_key",
                              f"key {quote(error.args[0])} appears twice in one object", "")]
    except json.JSONDecodeError as error:
        return None, [Problem("event.invalid_json",
                              f"{error.msg} at line {error.lineno} column {error.colno}", "")]
    except RecursionError:
        return None, [Problem("event.too_deep", f"nesting is deeper than {max_depth} levels",
                              _deep_pointer(text, max_depth))]
    except ValueError as error:
        return None, [Problem("event.invalid_json", str(error), "")]
    # no walk where the text has too few brackets to nest that deep (nearly every event)
    deep = _too_deep(value, max_depth) if text.count("{") + text.count("[") > max_depth else None
    if deep is not None:
        return None, [Problem("event.too_deep", f"nesting is deeper than {max_depth} levels", deep)]
    if _SURROGATE_ESCAPE.search(text):
        where = lone_surrogate(value)
        if where is not None:
            return None, [lone_surrogate_problem(where)]
    return value, []


#: Deepest nesting accepted in a document clauseline wrote that a command reads back: a log
#: export's record (an event of at most :data:`MAX_DEPTH` levels, two levels down, beside its
#: decision), a replay's decision (``replay --compare``), a state file (``--state``: remembered
#: values of events, a few levels down). Twice the events' limit leaves room for what they add.
MAX_DOCUMENT_DEPTH = 2 * MAX_DEPTH


class TooDeep(RecursionError):
    """JSON text nested deeper than its reader takes (:func:`loads_bounded`): a
    ``RecursionError``, as the parser's own is, so that a reader answers both alike."""


def loads_bounded(text: str | bytes, max_depth: int = MAX_DOCUMENT_DEPTH) -> Any:
    """``json.loads`` with the nesting bounded the way :func:`parse_event` bounds an event's:
    the parser's own ``RecursionError`` (text nested past what it recurses), then, for text that
    parsed, the iterative walk of :func:`_too_deep`; so that nothing done with the value after
    (hashing it, comparing it, validating it) recurses past ``max_depth``, whatever the text.
    Raises :class:`TooDeep` (a ``RecursionError``), or the parser's ``ValueError`` (not JSON,
    not UTF-8)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"nested deeper than {max_depth} levels") from None
    brackets = (text.count(b"{") + text.count(b"[")) if isinstance(text, (bytes, bytearray)) \
        else (text.count("{") + text.count("["))
    if brackets > max_depth and _too_deep(value, max_depth) is not None:
        raise TooDeep(f"nested deeper than {max_depth} levels")
    return value
