"""Reading CloudEvents from an HTTP request: structured, binary and batch content modes.

- **structured**: ``Content-Type: application/cloudevents+json``; the body is one event. A body
  sent as plain ``application/json`` without ``ce-*`` headers is read the same way.
- **binary**: ``ce-specversion``, ``ce-id``, ``ce-source``, ``ce-type``, ``ce-time`` and
  ``ce-subject`` headers (any ``ce-*`` header is an attribute; values are percent-encoded UTF-8,
  as the CloudEvents HTTP binding says), the body is ``data``, and ``Content-Type`` (any JSON
  media type, parameters such as ``; charset=utf-8`` included) becomes ``datacontenttype``.
  With no ``Content-Type`` (what the CloudEvents SDK sends for an event without
  ``datacontenttype``) the body is read as JSON and the event has no ``datacontenttype``: the
  CloudEvents JSON format reads an absent content type as ``application/json``. A declared
  non-JSON type, in ``Content-Type`` or in a ``ce-datacontenttype`` header, is refused (415).
- **batch**: ``Content-Type: application/cloudevents-batch+json``; the body is a JSON array of
  events, each decided on its own and in order.

Bodies are UTF-8 (a ``charset`` parameter may say ``utf-8``, nothing else), at most the
configured size, and are parsed by the same strict parser as a log line; each event is at most
``MAX_EVENT_BYTES`` as written, alone or in a batch (an element over it answers 413 with its
index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fastapi import Request

from ..events.parsing import parse_event, parse_events_array
from ..redact import quote
from .problems import ProblemError

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Incoming:
    """The events of one request: ``mode`` is structured, binary or batch."""

    mode: str
    events: list[Any]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(413, f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``("application/json", {"charset": "utf-8"})`` from a Content-Type header value."""
    if not value:
        return "", {}
    kind, *params = value.split(";")
    parsed = {}
    for param in params:
        name, _, val = param.partition("=")
        parsed[name.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), parsed


def is_json(kind: str) -> bool:
    """Whether a media type is JSON: ``application/json`` or ``application/*+json``."""
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _check_charset(params: dict[str, str]) -> None:
    charset = params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8", "us-ascii"):
        raise ProblemError(415, "bodies are UTF-8: the charset parameter may only say utf-8")


_PARSE_STATUS = {"event.too_large": 413}


def _parse(body: bytes, parser=parse_event) -> Any:
    value, problems = parser(body)
    if problems:
        first = problems[0]
        status = _PARSE_STATUS.get(first.code, 400)
        raise ProblemError(status, first.message if status == 413 else
                           f"the body is not an event's JSON: {first.message}",
                           code=first.code,
                           errors=[{"pointer": p.path, "detail": p.message, "code": p.code}
                                   for p in problems])
    return value


def _binary(request: Request, body: bytes, raw_type: str | None) -> dict:
    event: dict[str, Any] = {}
    for name, value in request.headers.items():
        if not name.startswith("ce-"):
            continue
        attribute = name[3:]
        shown = quote(name)  # a header's name is the client's: quoted only when short and safe
        if attribute in event:
            raise ProblemError(400, f"the header {shown} appears twice",
                               code="request.invalid_header")
        if not value.isascii():
            raise ProblemError(400, f"the header {shown} is not ASCII: CloudEvents header "
                               "values are percent-encoded UTF-8", code="request.invalid_header")
        try:
            event[attribute] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise ProblemError(400, f"the header {shown} does not decode to UTF-8",
                               code="request.invalid_header") from None
    content_type = _binary_content_type(raw_type, event.get("datacontenttype"))
    if content_type is None:  # nothing declared: JSON, and no datacontenttype is made up
        event.pop("datacontenttype", None)
    else:
        event["datacontenttype"] = content_type
    if body.strip():
        event["data"] = _parse(body)
    return event


def _binary_content_type(raw_type: str | None, attribute: str | None) -> str | None:
    """Binary mode's ``datacontenttype``: the ``Content-Type`` (the binding's carrier of it), else
    a ``ce-datacontenttype`` header (``attribute``, decoded), else None (nothing declared: the
    data are read as JSON, as the CloudEvents JSON format reads an absent content type). 415 if
    either declares a type that is not JSON or a charset other than UTF-8."""
    declared = [value for value in (raw_type, attribute)
                if isinstance(value, str) and value.strip()]
    for value in declared:
        kind, params = media_type(value)
        if not is_json(kind):
            shown = quote(kind) if kind else "none"
            raise ProblemError(415, f"binary mode needs JSON data, and the request declares {shown}: "
                               "send application/json (or no Content-Type at all: then the data "
                               "are read as JSON); clauseline's event data are JSON objects")
        _check_charset(params)
    if not declared:
        return None
    # the media type lower-cased (it is case-insensitive), its parameters as sent
    given = declared[0].strip()
    return media_type(given)[0] + given[len(given.split(";")[0]):]


def read_events(request: Request, body: bytes, *, batch: bool = True, max_batch: int = 1000) -> Incoming:
    """The events of a request by its content mode; 415 for a content type that carries none,
    400 for a body that does not parse, 413 for an event over the size limit."""
    raw_type = request.headers.get("content-type")
    kind, params = media_type(raw_type)
    if kind == BATCH:
        if not batch:
            raise ProblemError(415, "this endpoint takes one event (structured or binary mode), "
                               "not a batch")
        _check_charset(params)
        # each event of the batch is held to the size limit of one event sent alone
        value = _parse(body, parse_events_array)
        if not isinstance(value, list):
            raise ProblemError(400, "a batch is a JSON array of events", code="request.invalid_batch")
        if len(value) > max_batch:
            raise ProblemError(413, f"the batch has {len(value)} events; the limit is {max_batch}")
        return Incoming("batch", value)
    if kind == STRUCTURED:
        _check_charset(params)
        return Incoming("structured", [_parse(body)])
    if "ce-specversion" in request.headers:
        return Incoming("binary", [_binary(request, body, raw_type)])
    if kind == "application/json":
        _check_charset(params)
        return Incoming("structured", [_parse(body)])
    shown = quote(kind) if kind else "none"
    raise ProblemError(415, f"unsupported Content-Type ({shown}): send application/cloudevents+json "
                       "(one event), application/cloudevents-batch+json (an array), or ce-* "
                       "headers with a JSON body (binary mode)")
