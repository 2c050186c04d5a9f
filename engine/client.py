"""A typed Python client for clauseline's HTTP API (``clauseline serve``), sync and async.

::

    from clauseline.client import Client

    with Client("http://127.0.0.1:8000", api_key=KEY) as client:
        decision = client.post(event)          # a dict, JSON text or a CloudEvents SDK event
        decision.status                        # "accepted", or "duplicate" for a repeat
        decisions = client.post_batch(events)  # one decision per event, in order

What it promises:

- **Retries resend the same bytes.** An event is encoded once; a 503 (its ``Retry-After``
  honoured), a 429, a 502 or 504 from a proxy, a connection error or a timeout sends the same
  body again, with the same ``X-Request-ID``, up to ``retries`` more times. The service is
  idempotent by ``(source, id)``: an event stored by an attempt whose answer was lost comes back
  as ``duplicate`` (``decision.duplicate`` is true and ``decision.attempts`` more than 1).
  Another 4xx is never retried.
- **Problems are exceptions.** An RFC 9457 problem details answer raises a
  :class:`ProblemError` subclass chosen by status (:class:`ValidationFailed` for 422,
  :class:`Unauthorized`, :class:`Forbidden`, :class:`NotFound`, ...), with ``status``,
  ``type``, ``title``, ``detail``, ``code``, ``errors`` and ``request_id``; a connection that
  never got an answer raises :class:`ConnectionFailed`. Every one is a
  :class:`ClauselineError`, which is also :class:`clauseline.errors.ClauselineError`. Messages
  quote only what the service sent (which masks card and SSN-like numbers) and mask numbers
  again; an event's values are never quoted.
- **Typed answers, raw kept.** :class:`Decision`, :class:`Outcome`, :class:`Subject`,
  :class:`Obligation`, :class:`PolicyInfo` mirror the contract's shapes (``docs/decisions.md``);
  each keeps the JSON it was read from as ``raw``, fields added later included.

httpx is needed (``pip install 'clauseline[client]'``); the CloudEvents SDK is not, but its events
(``cloudevents.core.v1.event.CloudEvent`` and the 1.x-style ``cloudevents.v1.http.CloudEvent``)
are accepted as they are and written by the SDK's own JSON format.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time as _time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

try:
    import httpx
except ImportError as _missing:  # pragma: no cover - exercised by a subprocess test
    raise ImportError("clauseline.client needs httpx: pip install 'clauseline[client]'") \
        from _missing

from .errors import ClauselineError as _BaseError
from .errors import Problem, printable
from .redact import mask_numbers

__all__ = [
    "Client", "AsyncClient", "Decision", "StoredDecision", "Outcome", "Queued", "Subject",
    "Obligation", "PolicyInfo", "ClauselineError", "ProblemError", "BadRequest", "ValidationFailed",
    "Unauthorized", "Forbidden", "NotFound", "Conflict", "TooLarge", "UnsupportedMediaType",
    "TooManyRequests", "ServerError", "ServiceUnavailable", "ConnectionFailed",
    "InvalidResponse", "EventNotEncodable", "encode_event", "encode_batch",
]

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
#: The stored decision's id of a single event's answer, and the ids of a batch's, in order.
DECISION_ID_HEADER, DECISION_IDS_HEADER = "clauseline-decision-id", "clauseline-decision-ids"
#: Answers worth sending the same request again: the service or a proxy in front of it was
#: overloaded or unavailable, and did not decide the request.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
#: The longest wait between attempts, whatever ``Retry-After`` or the backoff says.
MAX_DELAY = 60.0


def _shown(text: Any, limit: int = 500) -> str:
    """Text from the service, as an exception message shows it: numbers masked, controls
    escaped, one line, bounded."""
    shown = printable(mask_numbers(str(text)), lines=False)
    return shown if len(shown) <= limit else shown[:limit] + "..."


# ---------------------------------------------------------------- errors


class ClauselineError(_BaseError):
    """Base of every error the client raises (a :class:`clauseline.errors.ClauselineError`)."""

    code = "client.error"

    def __init__(self, message: str):
        super().__init__([Problem(self.code, message)])
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self):  # picklable despite the dataclass base
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls, state):
    error = cls.__new__(cls)
    Exception.__init__(error)
    error.__dict__.update(state)
    return error


class ProblemError(ClauselineError):
    """The service answered an error: RFC 9457 problem details (``application/problem+json``).

    ``status``, ``type``, ``title``, ``detail``, ``code`` (stable, ``docs/errors.md``),
    ``errors`` (``[{"pointer", "detail", "code"}]``), ``request_id``; ``problem`` is the whole
    body as sent; ``attempts`` how many times the request was sent."""

    def __init__(self, status: int, problem: Mapping[str, Any] | None = None, *,
                 attempts: int = 1, request_id: str | None = None):
        body = dict(problem or {})
        self.status = status
        self.problem = body
        self.type = _text(body.get("type")) or "about:blank"
        self.title = _text(body.get("title")) or f"HTTP {status}"
        self.detail = _text(body.get("detail")) or ""
        self.code = _text(body.get("code")) or f"http.{status}"
        errors = body.get("errors")
        self.errors = [dict(e) for e in errors if isinstance(e, Mapping)] \
            if isinstance(errors, list) else []
        self.request_id = _text(body.get("request_id")) or request_id
        self.attempts = attempts
        message = f"{status} {self.code}: {self.detail or self.title}"
        if not self.detail:  # the service's detail already names the first errors
            for error in self.errors[:3]:
                message += f"; {error.get('pointer', '')}: {error.get('detail', '')}"
            if len(self.errors) > 3:
                message += "; ..."
        super().__init__(_shown(message, 1000))


class BadRequest(ProblemError):
    """400: the body is not an event's JSON, a batch is not an array, a header is malformed.
    Sending the same request again cannot succeed."""


class ValidationFailed(BadRequest):
    """422: the event fails its schema (``errors``: every problem with its JSON Pointer;
    ``decision``: the rejected decision), or a query parameter is out of range."""

    @property
    def decision(self) -> "Decision | None":
        raw = self.problem.get("decision")
        return Decision.from_json(raw) if isinstance(raw, Mapping) else None


class Unauthorized(ProblemError):
    """401: no key, or one that is unknown, malformed or revoked."""


class Forbidden(ProblemError):
    """403: the key lacks the endpoint's scope (``required_scope``)."""

    @property
    def required_scope(self) -> str | None:
        return _text(self.problem.get("required_scope"))


class NotFound(ProblemError):
    """404: nothing stored under that name (``decision.not_found``, ``subject.not_found``,
    ``right_to_know.subject_not_found``, ``right_to_know.request_not_found``,
    ``right_to_know.no_request``)."""


class Conflict(ProblemError):
    """409. The service answers a repeated event 200 ``duplicate``, never 409; a proxy or a
    later version may."""


class TooLarge(ProblemError):
    """413: a body over the service's limit, a batch of too many events, or one event over
    256 KiB."""


class UnsupportedMediaType(ProblemError):
    """415: the Content-Type carries no CloudEvent."""


class TooManyRequests(ProblemError):
    """429, once the retries are spent."""


class ServerError(ProblemError):
    """5xx, other than 503 (a 502 or 504 once the retries are spent, a 500)."""


class ServiceUnavailable(ServerError):
    """503 once the retries are spent: the store does not answer, or its schema is behind."""


class ConnectionFailed(ClauselineError):
    """No answer: the connection failed or timed out on every attempt (``attempts``; ``reason``
    names the last failure's kind, e.g. ``ConnectError``, ``ReadTimeout``)."""

    code = "client.connection_failed"

    def __init__(self, message: str, *, reason: str, attempts: int):
        self.reason = reason
        self.attempts = attempts
        super().__init__(_shown(message))


class InvalidResponse(ClauselineError):
    """A 2xx whose body is not the JSON the API documents (a proxy's page, a truncated body)."""

    code = "client.invalid_response"


class EventNotEncodable(ClauselineError, TypeError):
    """An event the client cannot write as JSON (a value JSON has no form for, a naive
    datetime, NaN); nothing was sent. The message names the place, never the value."""

    code = "client.event_not_encodable"


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: TooLarge, 415: UnsupportedMediaType, 422: ValidationFailed, 429: TooManyRequests,
    503: ServiceUnavailable}


def _problem_class(status: int) -> type[ProblemError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ProblemError


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """One outcome of a decision (``docs/decisions.md``): ``kind``, ``subject``, ``clause``,
    ``rule`` and the kind's own fields (those of other kinds are None). ``raw``: the JSON."""

    kind: str
    subject: str | None
    clause: str | None
    rule: str | None
    effect: str | None = None
    recipient: str | None = None
    purpose: str | None = None
    data_categories: tuple[str, ...] = ()
    action: str | None = None
    target: str | None = None
    due_by: str | None = None
    notice: str | None = None
    to: str | None = None
    channel: str | None = None
    obligation: str | None = None
    ref: str | None = None
    status: str | None = None
    violation: str | None = None
    detail: Any = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Outcome":
        names = cls.__dataclass_fields__.keys() - {"raw", "data_categories"}
        return cls(**{name: raw.get(name) for name in names},
                   data_categories=tuple(raw.get("data_categories") or ()), raw=dict(raw))


@dataclass(frozen=True)
class Decision:
    """The decision of one event, the contract's shape (``docs/decisions.md``).

    ``status`` is ``accepted``, ``duplicate`` (the event was stored before: its first decision)
    or ``rejected`` (``errors``). ``decision_id`` is the stored decision's id (the service's
    ``Clauseline-Decision-Id``; None for a dry run, a rejected event, or a service that does not
    send one). ``request_id`` is the service's ``X-Request-ID``; ``attempts``
    how many times the request was sent (a ``duplicate`` after more than one: an earlier attempt
    was stored, its answer lost); ``dry_run`` is true for :meth:`Client.evaluate`. ``raw``: the
    JSON, every field the service sent."""

    event_id: str | None
    event_source: str | None
    event_type: str | None
    time: str | None
    policy_version: str | None
    status: str
    outcomes: tuple[Outcome, ...] = ()
    trace: tuple[str, ...] = ()
    errors: tuple[Mapping[str, Any], ...] = ()
    out_of_order: Mapping[str, Any] | None = None
    warnings: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    request_id: str | None = field(default=None, compare=False)
    attempts: int = field(default=1, compare=False)
    dry_run: bool = field(default=False, compare=False)
    decision_id: str | None = field(default=None, compare=False)

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    def of_kind(self, kind: str) -> list[Outcome]:
        """The outcomes of one kind (``disclosure``, ``retention``, ``notice``, ``obligation``,
        ``violation``), in the decision's order."""
        return [o for o in self.outcomes if o.kind == kind]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], **meta) -> "Decision":
        if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), str):
            raise InvalidResponse("the service's answer is not a decision")
        return cls(raw.get("event_id"), raw.get("event_source"), raw.get("event_type"),
                   raw.get("time"), raw.get("policy_version"), raw["status"],
                   tuple(Outcome.from_json(o) for o in raw.get("outcomes") or ()
                         if isinstance(o, Mapping)),
                   tuple(raw.get("trace") or ()), tuple(raw.get("errors") or ()),
                   raw.get("out_of_order"), tuple(raw.get("warnings") or ()), dict(raw), **meta)


@dataclass(frozen=True)
class StoredDecision:
    """``GET /v1/decisions/{decision_id}``: a stored decision with its id, its ``seq`` in the
    store's decision log, the ``request_id`` of the request that stored it (None when a replay
    or a consumer did), and the event it decided (``source``, ``id``, ``type``, ``subject``,
    ``time``)."""

    decision_id: str
    seq: int | None
    request_id: str | None
    event: Mapping[str, Any]
    decision: Decision
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "StoredDecision":
        if not isinstance(raw, Mapping) or not isinstance(raw.get("decision"), Mapping):
            raise InvalidResponse("the service's answer is not a stored decision")
        return cls(raw.get("decision_id"), raw.get("seq"), raw.get("request_id"),
                   raw.get("event") or {},
                   Decision.from_json(raw["decision"], decision_id=raw.get("decision_id")),
                   dict(raw))


@dataclass(frozen=True)
class Queued:
    """Enqueue mode (``clauseline serve --enqueue-nats``): the event is stored in the events
    stream, not yet decided (202). ``duplicate``: the stream already held it."""

    event_id: str | None
    event_source: str | None
    stream: str | None
    seq: int | None
    duplicate: bool
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    request_id: str | None = field(default=None, compare=False)
    attempts: int = field(default=1, compare=False)
    status: str = "queued"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], **meta) -> "Queued":
        return cls(raw.get("event_id"), raw.get("event_source"), raw.get("stream"),
                   raw.get("seq"), bool(raw.get("duplicate")), dict(raw), **meta)


@dataclass(frozen=True)
class Obligation:
    """An obligation still owed (open, extended or missed) with its due time; ``overdue``: due
    before the ``due_before`` asked for."""

    subject: str
    ref: str
    obligation: str
    status: str
    due_by: str | None
    opened_at: str | None
    missed: bool
    overdue: bool
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Obligation":
        return cls(raw.get("subject"), raw.get("ref"), raw.get("obligation"), raw.get("status"),
                   raw.get("due_by"), raw.get("opened_at"), bool(raw.get("missed")),
                   bool(raw.get("overdue")), dict(raw))


@dataclass(frozen=True)
class Subject:
    """A subject's stored memory (``record``: profile, remembered facts; sensitive numbers
    reduced), when it was first and last seen, and the obligations it is still owed."""

    subject: str
    record: Mapping[str, Any]
    first_seen: str | None
    last_seen: str | None
    obligations: tuple[Obligation, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Subject":
        return cls(raw.get("subject"), raw.get("record") or {}, raw.get("first_seen"),
                   raw.get("last_seen"), _obligations(raw), dict(raw))


@dataclass(frozen=True)
class PolicyInfo:
    """``GET /v1/policy``: the serving engine's version and every policy version (its
    ``policy_hash``, clauses, rules, interpretations, as JSON)."""

    engine_version: str | None
    versions: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def version(self, name: str) -> Mapping[str, Any] | None:
        """The policy version called ``name`` (e.g. ``securus-2019-05-04``), or None."""
        return next((v for v in self.versions if v.get("version") == name), None)


def _obligations(raw: Mapping[str, Any]) -> tuple[Obligation, ...]:
    return tuple(Obligation.from_json(o) for o in raw.get("obligations") or ()
                 if isinstance(o, Mapping))


# ---------------------------------------------------------------- encoding events


def _rfc3339(value: datetime) -> str | None:
    """An aware datetime as RFC 3339 (UTC as ``Z``); None for a naive one."""
    if value.utcoffset() is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_default(value):
    if isinstance(value, datetime):
        text = _rfc3339(value)
        if text is None:
            raise EventNotEncodable("the event holds a datetime without a UTC offset (an "
                                    "event's time needs one)")
        return text
    if isinstance(value, date):
        return value.isoformat()
    raise EventNotEncodable(f"the event holds a {type(value).__name__}, which JSON cannot hold")


def _sdk_body(event) -> bytes | None:
    """The structured-mode body the CloudEvents SDK writes for one of its events, or None when
    ``event`` is not an SDK event (nor of a subclass of one)."""
    modules = [kind.__module__ or "" for kind in type(event).__mro__]
    try:
        if any(m.startswith("cloudevents.v1.") for m in modules):  # the 1.x-style API
            from cloudevents.v1.conversion import to_json
            return to_json(event)
        if any(m.startswith("cloudevents.core.") for m in modules):  # the 2.x API
            from cloudevents.core.bindings.http import to_structured
            from cloudevents.core.formats.json import JSONFormat
            return to_structured(event, JSONFormat()).body
    except (TypeError, ValueError) as error:  # its data JSON cannot hold; never quoted
        raise EventNotEncodable("the CloudEvents SDK could not write the event as JSON "
                                f"({type(error).__name__})") from None
    return None


def encode_event(event) -> bytes:
    """One event as the body of a structured-mode request: a mapping written as JSON (an aware
    ``datetime`` as RFC 3339, UTC as ``Z``), a CloudEvents SDK event as the SDK writes it, or
    JSON text (``str`` or ``bytes``) sent as it is."""
    if isinstance(event, (bytes, bytearray, memoryview)):
        return bytes(event)
    if isinstance(event, str):
        try:
            return event.encode("utf-8")
        except UnicodeEncodeError:
            raise EventNotEncodable("the event's text is not valid UTF-8 (a lone surrogate)") \
                from None
    body = _sdk_body(event)
    if body is not None:
        return body
    if not isinstance(event, Mapping):
        raise EventNotEncodable(f"an event is a mapping, JSON text or a CloudEvents SDK event, "
                                f"not a {type(event).__name__}")
    try:
        text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=_json_default)
    except EventNotEncodable:
        raise
    except ValueError as error:
        if "ircular" in str(error):
            raise EventNotEncodable("the event contains itself (a circular reference)") from None
        raise EventNotEncodable("the event holds NaN or an infinity, which JSON cannot hold") \
            from None
    except TypeError:
        raise EventNotEncodable("the event has a key that is not a string") from None
    except RecursionError:
        raise EventNotEncodable("the event is nested too deep to write as JSON") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EventNotEncodable("the event holds a lone surrogate, which UTF-8 cannot hold") \
            from None


def encode_batch(events: Iterable) -> bytes:
    """Events as the body of a batch request: a JSON array of their structured-mode JSON."""
    if isinstance(events, (str, bytes, bytearray, Mapping)):
        raise EventNotEncodable("a batch is a list of events, not a single event")
    try:
        items = list(events)
    except TypeError:
        raise EventNotEncodable(f"a batch is a list of events, not a {type(events).__name__}") \
            from None
    parts = []
    for index, event in enumerate(items):
        try:
            parts.append(encode_event(event))
        except EventNotEncodable as error:
            raise EventNotEncodable(f"event {index} of the batch: {error.message}") from None
    return b"[" + b",".join(parts) + b"]"


# ---------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    content_type: str | None = None
    retries: int | None = None  # None: the client's own


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    # an HTTP date: the wall clock is right here (retry pacing, not evaluation)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _check_base_url(base_url: str) -> str:
    """The service's URL, checked; the message says what is wrong and never quotes it (it may
    hold a password)."""
    example = "such as http://127.0.0.1:8000"
    if not isinstance(base_url, str):
        raise ValueError(f"base_url is a string {example}, not a {type(base_url).__name__}")
    base_url = base_url.strip()
    if not base_url.isprintable():
        raise ValueError(f"base_url holds a control character: it is a URL {example}")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must start with http:// or https://, {example}")
    if not parts.hostname:
        raise ValueError(f"base_url has no host: it is a URL {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url has a query or a fragment: it is the service's root, {example}")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"base_url has an invalid port: it is a URL {example}") from None
    return base_url.rstrip("/")


def _check_key(api_key) -> str | None:
    if api_key is None:
        return None
    # never quoted: a key is a secret
    if not isinstance(api_key, str) or not api_key or not api_key.isascii() \
            or not api_key.isprintable() or " " in api_key:
        raise ValueError("api_key must be the key clauseline keys create printed (printable "
                         "ASCII without spaces), or None for a server run with "
                         "--insecure-no-auth")
    return api_key


def _check_count(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}")
    return value


def _check_seconds(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds, at least 0")
    return float(value)


class _Base:
    """What the sync and the async client share: settings, requests, reading answers."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
                 max_delay: float = MAX_DELAY, headers: Mapping[str, str] | None = None):
        self.base_url = _check_base_url(base_url)
        parts = urlsplit(self.base_url)
        #: the URL as messages show it: no user or password
        self._shown_url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        self.retries = _check_count("retries", retries)
        self.backoff = _check_seconds("backoff", backoff)
        self.max_delay = _check_seconds("max_delay", max_delay)
        if timeout is not None and not isinstance(timeout, httpx.Timeout):
            timeout = _check_seconds("timeout", timeout)
        self._timeout = timeout
        self._headers = {"user-agent": f"clauseline-client/{_version()}",
                         "accept": "application/json, application/problem+json",
                         **dict(headers or {})}
        key = _check_key(api_key)
        if key is not None:
            self._headers["authorization"] = f"Bearer {key}"

    # -- requests

    @staticmethod
    def _post_event(path: str, event) -> _Request:
        return _Request("POST", path, body=encode_event(event), content_type=STRUCTURED)

    @staticmethod
    def _decision_request(source: str, event_id: str) -> _Request:
        for name, value in (("source", source), ("event_id", event_id)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        # the query form: ids and sources with slashes travel without path tricks
        return _Request("GET", "/v1/decisions", params={"source": source, "id": event_id})

    @staticmethod
    def _stored_request(decision_id: str) -> _Request:
        if not isinstance(decision_id, str) or not decision_id:
            raise ValueError("decision_id must be a non-empty string (dec_ and 26 characters)")
        if "/" in decision_id:
            raise ValueError("a decision id has no slash (dec_ and 26 characters)")
        from urllib.parse import quote
        return _Request("GET", "/v1/decisions/" + quote(decision_id, safe=""))

    @staticmethod
    def _subject_request(subject_id: str) -> _Request:
        if not isinstance(subject_id, str) or not subject_id:
            raise ValueError("subject_id must be a non-empty string")
        if "/" in subject_id:
            raise ValueError("a subject id with a slash cannot be read over HTTP "
                             "(GET /v1/subjects/{id} takes one path segment)")
        from urllib.parse import quote
        return _Request("GET", "/v1/subjects/" + quote(subject_id, safe=""))

    @staticmethod
    def _right_to_know_request(subject_id: str, request_id, at, fmt) -> _Request:
        if not isinstance(subject_id, str) or not subject_id:
            raise ValueError("subject_id must be a non-empty string")
        if "/" in subject_id:
            raise ValueError("a subject id with a slash cannot be read over HTTP "
                             "(GET /v1/subjects/{id}/right-to-know takes one path segment)")
        params: dict[str, Any] = {}
        if request_id is not None:
            if not isinstance(request_id, str) or not request_id:
                raise ValueError("request_id must be a non-empty string (the request_id of the "
                                 "subject's ccpa.request.filed), or None")
            params["request_id"] = request_id
        if at is not None:
            if request_id is not None:
                raise ValueError("give request_id or at, not both")
            if isinstance(at, datetime):
                at = _rfc3339(at)
                if at is None:
                    raise ValueError("at: a datetime without a UTC offset")
            if not isinstance(at, str) or not at:
                raise ValueError("at is an RFC 3339 time with offset (a string or an aware "
                                 "datetime), or None")
            params["at"] = at
        if fmt not in ("json", "html"):  # never quoted: it may be anything
            raise ValueError('fmt is "json" (the document as a dict) or "html" (a page)')
        if fmt == "html":
            params["format"] = "html"
        from urllib.parse import quote
        return _Request("GET", f"/v1/subjects/{quote(subject_id, safe='')}/right-to-know",
                        params=params)

    def _document(self, response: httpx.Response, fmt: str):
        if fmt == "html":
            if not response.headers.get("content-type", "").startswith("text/html"):
                raise InvalidResponse("the service's answer to format=html is not an HTML page")
            return response.text
        body = self._mapping(response)
        if body.get("document") != "clauseline.right-to-know":
            raise InvalidResponse("the service's answer is not a right-to-know document")
        return body

    @staticmethod
    def _obligations_request(due_before, limit) -> _Request:
        params: dict[str, Any] = {}
        if due_before is not None:
            if isinstance(due_before, datetime):
                due_before = _rfc3339(due_before)
                if due_before is None:
                    raise ValueError("due_before: a datetime without a UTC offset")
            if not isinstance(due_before, str):
                raise ValueError("due_before is an RFC 3339 time with offset (a string or an "
                                 "aware datetime)")
            params["due_before"] = due_before
        if limit is not None:
            params["limit"] = _check_count("limit", limit, 1)
        return _Request("GET", "/v1/obligations", params=params)

    def _batches(self, events, batch_size) -> list[bytes]:
        if batch_size is None:
            return [encode_batch(events)]
        batch_size = _check_count("batch_size", batch_size, 1)
        if isinstance(events, (str, bytes, bytearray, Mapping)):
            raise EventNotEncodable("a batch is a list of events, not a single event")
        items = list(events)
        if not items:
            return [b"[]"]
        return [encode_batch(items[i:i + batch_size]) for i in range(0, len(items), batch_size)]

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: _Request,
               request_id: str) -> httpx.Request:
        headers = {"x-request-id": request_id}
        if request.content_type:
            headers["content-type"] = request.content_type
        return client.build_request(request.method, request.path, params=request.params,
                                    content=request.body, headers=headers)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (1-based ``attempt`` just failed)."""
        delay = self.backoff * 2.0 ** min(attempt - 1, 64)
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                delay = after
        return min(delay, self.max_delay)

    # -- answers

    @staticmethod
    def _json(response: httpx.Response):
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise InvalidResponse(f"the service answered {response.status_code} with a body "
                                  "that is not JSON") from None

    def _raise_problem(self, response: httpx.Response, attempts: int):
        status = response.status_code
        body = None
        try:
            parsed = response.json()
            if isinstance(parsed, Mapping):
                body = parsed
        except (ValueError, UnicodeDecodeError):
            pass
        if body is None:  # not problem details (a proxy's page): its text is not quoted
            body = {"title": response.reason_phrase or f"HTTP {status}",
                    "detail": f"the service answered {status} without problem details"}
        raise _problem_class(status)(status, body, attempts=attempts,
                                     request_id=response.headers.get("x-request-id"))

    def _meta(self, response: httpx.Response, attempts: int) -> dict:
        return {"request_id": response.headers.get("x-request-id"), "attempts": attempts}

    def _decision(self, body, response: httpx.Response, attempts: int,
                  decision_id: str | None = None) -> Decision:
        meta = self._meta(response, attempts)
        if decision_id is None and isinstance(body, Mapping):
            decision_id = _text(body.get("decision_id"))
        return Decision.from_json(body, **meta, decision_id=_decision_id(decision_id))

    def _answer(self, response: httpx.Response, attempts: int):
        """One posted event's answer: a Decision, or Queued in enqueue mode."""
        body = self._json(response)
        if response.status_code == 202 and isinstance(body, Mapping) \
                and body.get("status") == "queued":
            return Queued.from_json(body, **self._meta(response, attempts))
        return self._decision(body, response, attempts,
                              response.headers.get(DECISION_ID_HEADER))

    def _answers(self, response: httpx.Response, attempts: int) -> list:
        body = self._json(response)
        if not isinstance(body, list):
            raise InvalidResponse("the service's answer to a batch is not a list")
        ids = [i.strip() for i in response.headers.get(DECISION_IDS_HEADER, "").split(",")]
        if len(ids) != len(body):
            ids = [None] * len(body)
        return [Queued.from_json(item, **self._meta(response, attempts))
                if isinstance(item, Mapping) and item.get("status") == "queued"
                else self._decision(item, response, attempts, ids[index])
                for index, item in enumerate(body)]

    def _mapping(self, response: httpx.Response) -> Mapping[str, Any]:
        body = self._json(response)
        if not isinstance(body, Mapping):
            raise InvalidResponse("the service's answer is not a JSON object")
        return body


def _decision_id(value: str | None) -> str | None:
    # "-": a rejected event's place in a batch's list of ids (nothing stored)
    return value if value and value != "-" else None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("clauseline")
    except PackageNotFoundError:  # pragma: no cover - a source tree without an install
        return "0"


def _transport_failure(error: httpx.TransportError) -> bool:
    """Whether a failed attempt may be sent again: the connection failed, broke or timed out.
    A URL httpx cannot send, or a proxy refusing, will fail the same way again."""
    return isinstance(error, (httpx.TimeoutException, httpx.NetworkError,
                              httpx.RemoteProtocolError))


def _connection_failed(error: httpx.TransportError, attempts: int, base_url: str):
    kind = type(error).__name__
    what = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    return ConnectionFailed(f"the request to {base_url} {what}{tries}: {kind}", reason=kind,
                            attempts=attempts)


class Client(_Base):
    """A client of ``clauseline serve``: ``with Client(url, api_key=KEY) as client: ...``.

    ``timeout`` (seconds per request, or an ``httpx.Timeout``), ``retries`` (more attempts after
    the first, on 429, 502, 503, 504, connection errors and timeouts), ``backoff`` (seconds before
    the first retry, doubled each time, unless the answer says ``Retry-After``; at most
    ``max_delay``), ``headers`` (added to every request), ``transport`` (an httpx transport, e.g.
    ``httpx.MockTransport`` in tests). Safe to share between threads, as httpx's client is."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
                 max_delay: float = MAX_DELAY, headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(base_url, api_key=api_key, timeout=timeout, retries=retries,
                         backoff=backoff, max_delay=max_delay, headers=headers)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers,
                                  timeout=self._timeout, transport=transport)
        self._sleep = _time.sleep

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _send(self, request: _Request) -> tuple[httpx.Response, int]:
        """Send, retrying what may be retried; the 2xx answer and the number of attempts."""
        request_id = uuid.uuid4().hex  # the same on every attempt: one request in the logs
        retries = self.retries if request.retries is None else request.retries
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.send(self._build(self._http, request, request_id))
                response.read()
            except httpx.TransportError as error:
                if not _transport_failure(error) or attempt > retries:
                    raise _connection_failed(error, attempt, self._shown_url) from None
                self._sleep(self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return response, attempt
            if response.status_code not in RETRY_STATUSES or attempt > retries:
                self._raise_problem(response, attempt)
            self._sleep(self._delay(attempt, response))

    # -- events

    def post(self, event) -> Decision | Queued:
        """Post one event (structured mode) and return its decision: ``accepted`` (201), or
        ``duplicate`` (200: stored before, its first decision). Raises :class:`ValidationFailed`
        for an invalid event (``.errors``, ``.decision``)."""
        response, attempts = self._send(self._post_event("/v1/events", event))
        return self._answer(response, attempts)

    def post_batch(self, events: Iterable, *, batch_size: int | None = None) -> list:
        """Post events as one batch (one transaction) and return one decision per event, in
        order; a rejected event is a decision with status ``rejected`` and its ``errors``, and
        does not stop the rest. ``batch_size``: send at most that many per request (the
        service's ``--max-batch`` is 1000 by default); each request is committed on its own,
        so after an error some may be stored: posting all again is safe (those answer
        ``duplicate``)."""
        out = []
        for body in self._batches(events, batch_size):
            response, attempts = self._send(_Request("POST", "/v1/events", body=body,
                                                     content_type=BATCH))
            out.extend(self._answers(response, attempts))
        return out

    def evaluate(self, event) -> Decision:
        """Dry run: the decision ``event`` would get now against the stored state; nothing is
        stored (``decision.dry_run`` is true). An event already stored answers ``duplicate``."""
        response, attempts = self._send(self._post_event("/v1/evaluate", event))
        decision = self._answer(response, attempts)
        return _dry(decision, response)

    # -- reads

    def decision(self, source: str, event_id: str) -> Decision:
        """The stored decision of the event ``(source, event_id)``; :class:`NotFound` if none."""
        response, attempts = self._send(self._decision_request(source, event_id))
        return self._decision(self._json(response), response, attempts,
                              response.headers.get(DECISION_ID_HEADER))

    def stored_decision(self, decision_id: str) -> StoredDecision:
        """The stored decision whose id a post answered (``decision.decision_id``), with its
        event, ``seq`` and ``request_id``; :class:`NotFound` if none, :class:`ValidationFailed`
        for a string that is not a decision id."""
        response, _ = self._send(self._stored_request(decision_id))
        return StoredDecision.from_json(self._json(response))

    def subject(self, subject_id: str) -> Subject:
        """A subject's stored memory and the obligations it is owed; :class:`NotFound` if none."""
        response, _ = self._send(self._subject_request(subject_id))
        return Subject.from_json(self._mapping(response))

    def obligations(self, due_before: str | datetime | None = None, *,
                    limit: int | None = None) -> list[Obligation]:
        """Obligations still owed, by due time: all, or those due strictly before
        ``due_before`` (RFC 3339 with offset, or an aware datetime); at most ``limit`` (the
        service's default 1000, at most 10000)."""
        response, _ = self._send(self._obligations_request(due_before, limit))
        return list(_obligations(self._mapping(response)))

    def right_to_know(self, subject: str, request_id: str | None = None,
                      at: str | datetime | None = None, *, fmt: str = "json"):
        """The subject's CCPA right-to-know document (clause U, ``docs/right-to-know.md``) as
        the service builds it from its store, for the 12 months before the receipt of the
        request ``request_id``, or before ``at`` (RFC 3339 with offset, or an aware datetime),
        or, with neither, before the subject's latest request: the document as a dict (its
        ``digest`` is that of the service's bytes), or with ``fmt="html"`` the printable page
        as text. Needs a key with ``subjects:read`` (or ``admin``): :class:`Forbidden`
        otherwise. :class:`NotFound` with ``code`` ``right_to_know.subject_not_found``,
        ``right_to_know.request_not_found`` or ``right_to_know.no_request``;
        :class:`ValidationFailed` with ``right_to_know.invalid_time`` for an ``at`` the service
        cannot end a period with. Arguments that cannot make a request raise ``ValueError``
        before anything is sent."""
        request = self._right_to_know_request(subject, request_id, at, fmt)
        response, _ = self._send(request)
        return self._document(response, fmt)

    def policy(self) -> PolicyInfo:
        """The engine version and every policy version the service decides with."""
        response, _ = self._send(_Request("GET", "/v1/policy"))
        body = self._mapping(response)
        return PolicyInfo(body.get("engine_version"), tuple(body.get("versions") or ()), body)

    def health(self) -> bool:
        """Liveness (``/healthz``): True when the process answers. Not retried."""
        response, _ = self._send(_Request("GET", "/healthz", retries=0))
        return self._mapping(response).get("status") == "ok"

    def ready(self) -> Mapping[str, Any]:
        """Readiness (``/readyz``): ``{"status": "ready", "store", "schema"}``, or
        :class:`ServiceUnavailable` (``store.unavailable``, ``store.migration_pending``). Not
        retried: a probe wants the answer of now."""
        response, _ = self._send(_Request("GET", "/readyz", retries=0))
        return self._mapping(response)

    def metrics(self) -> str:
        """The Prometheus text of ``/metrics``."""
        response, _ = self._send(_Request("GET", "/metrics"))
        return response.text


def _dry(decision, response: httpx.Response):
    if isinstance(decision, Decision):
        from dataclasses import replace
        return replace(decision, dry_run=response.headers.get("x-clauseline-dry-run") == "true")
    raise InvalidResponse("the service's answer to a dry run is not a decision")


class AsyncClient(_Base):
    """The asyncio twin of :class:`Client`: the same arguments and methods, awaited
    (``async with AsyncClient(url, api_key=KEY) as client: await client.post(event)``)."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
                 max_delay: float = MAX_DELAY, headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(base_url, api_key=api_key, timeout=timeout, retries=retries,
                         backoff=backoff, max_delay=max_delay, headers=headers)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers,
                                       timeout=self._timeout, transport=transport)
        self._sleep = asyncio.sleep

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, request: _Request) -> tuple[httpx.Response, int]:
        request_id = uuid.uuid4().hex
        retries = self.retries if request.retries is None else request.retries
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.send(self._build(self._http, request, request_id))
                await response.aread()
            except httpx.TransportError as error:
                if not _transport_failure(error) or attempt > retries:
                    raise _connection_failed(error, attempt, self._shown_url) from None
                await self._sleep(self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return response, attempt
            if response.status_code not in RETRY_STATUSES or attempt > retries:
                self._raise_problem(response, attempt)
            await self._sleep(self._delay(attempt, response))

    async def post(self, event) -> Decision | Queued:
        """See :meth:`Client.post`."""
        response, attempts = await self._send(self._post_event("/v1/events", event))
        return self._answer(response, attempts)

    async def post_batch(self, events: Iterable, *, batch_size: int | None = None) -> list:
        """See :meth:`Client.post_batch`."""
        out = []
        for body in self._batches(events, batch_size):
            response, attempts = await self._send(_Request("POST", "/v1/events", body=body,
                                                           content_type=BATCH))
            out.extend(self._answers(response, attempts))
        return out

    async def evaluate(self, event) -> Decision:
        """See :meth:`Client.evaluate`."""
        response, attempts = await self._send(self._post_event("/v1/evaluate", event))
        return _dry(self._answer(response, attempts), response)

    async def decision(self, source: str, event_id: str) -> Decision:
        """See :meth:`Client.decision`."""
        response, attempts = await self._send(self._decision_request(source, event_id))
        return self._decision(self._json(response), response, attempts,
                              response.headers.get(DECISION_ID_HEADER))

    async def stored_decision(self, decision_id: str) -> StoredDecision:
        """See :meth:`Client.stored_decision`."""
        response, _ = await self._send(self._stored_request(decision_id))
        return StoredDecision.from_json(self._json(response))

    async def subject(self, subject_id: str) -> Subject:
        """See :meth:`Client.subject`."""
        response, _ = await self._send(self._subject_request(subject_id))
        return Subject.from_json(self._mapping(response))

    async def obligations(self, due_before: str | datetime | None = None, *,
                          limit: int | None = None) -> list[Obligation]:
        """See :meth:`Client.obligations`."""
        response, _ = await self._send(self._obligations_request(due_before, limit))
        return list(_obligations(self._mapping(response)))

    async def right_to_know(self, subject: str, request_id: str | None = None,
                            at: str | datetime | None = None, *, fmt: str = "json"):
        """See :meth:`Client.right_to_know`."""
        request = self._right_to_know_request(subject, request_id, at, fmt)
        response, _ = await self._send(request)
        return self._document(response, fmt)

    async def policy(self) -> PolicyInfo:
        """See :meth:`Client.policy`."""
        response, _ = await self._send(_Request("GET", "/v1/policy"))
        body = self._mapping(response)
        return PolicyInfo(body.get("engine_version"), tuple(body.get("versions") or ()), body)

    async def health(self) -> bool:
        """See :meth:`Client.health`."""
        response, _ = await self._send(_Request("GET", "/healthz", retries=0))
        return self._mapping(response).get("status") == "ok"

    async def ready(self) -> Mapping[str, Any]:
        """See :meth:`Client.ready`."""
        response, _ = await self._send(_Request("GET", "/readyz", retries=0))
        return self._mapping(response)

    async def metrics(self) -> str:
        """See :meth:`Client.metrics`."""
        response, _ = await self._send(_Request("GET", "/metrics"))
        return response.text
