"""What the events stream carries: each event reduced as the store reduces it.

A JetStream stream is a store too (file-backed, read by whoever may read it), so no card, bank
or social security number reaches it in full. Before an event is published (``clauseline
publish``, ``serve --enqueue-nats``) it is reduced by the store's own reduction
(:class:`clauseline.redact.Redactor`: the same fields by name, the same numbers by shape and
context, envelope identifiers kept), with two differences. A reduced value is written in line,
as text, ``[redacted card ...1111 hmac:<16 hex>]``, instead of the store's object, so the event
keeps its schema (``payment.made``'s ``card_number`` is a string) and a consumer decides it as a
serial replay of the raw event would: no rule reads a number's digits, only whether a field is
there. The store that later keeps the event takes such a value as already reduced.
And member names, and a ``type`` or ``time`` that is not one, are reduced too (a store never
keeps such an event, which no schema allows; the stream holds every event, valid or not).

The HMAC is under ``CLAUSELINE_REDACTION_KEY`` when it is set (give consumers' stores the same
key, and the stream's HMACs match theirs); without it the stream carries none (a key of the
publishing process alone would make it a value nobody could check).

A line that is not strict JSON is rejected wherever it is decided; it is published as text with
its numbers masked the same way (its rejection may then name another column).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..events import parse_event
from ..redact import REDUCED_TEXT, Redactor, digits_of, secrets_of


class StreamRedactor(Redactor):
    """:class:`Redactor` writing each reduced value in line (module doc)."""

    def __init__(self, key: bytes | None = None):
        super().__init__(key or b"unused: no HMAC without a key")
        self.keyed = bool(key)

    def _tag(self, kind: str, digits: str, last4: bool) -> str:
        tail = f" ...{digits[-4:]}" if last4 and digits else ""
        mac = f" hmac:{self.mac(kind, digits)[:16]}" if self.keyed else ""
        return f"[redacted {kind}{tail}{mac}]"

    def _inline(self, kind: str, digits: str) -> str:
        """A number found in text (6 digits or more): its last four, as the store writes it."""
        return self._tag(kind, digits, True)

    def reduce(self, kind: str, value: Any) -> Any:
        """A value under a field named for a sensitive number: the store's reduction, as text
        (last four only of a value of 8 digits or more)."""
        if isinstance(value, dict) and "redacted" in value:
            return value
        if isinstance(value, (dict, list)):
            return self._walk(value, kind)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value)
        if isinstance(value, str) and REDUCED_TEXT.fullmatch(value):
            return value  # already reduced in line
        digits = digits_of(text)
        return self._tag(kind, digits or text, len(digits) >= 8)

    def names(self, value: Any, known: dict[str, str]) -> Any:
        """Member names reduced too (a store keeps no event whose data has a member named by a
        number, since no schema allows one; the stream holds every event, valid or not)."""
        if isinstance(value, dict):
            return {(self.scrub_text(k, known) if isinstance(k, str) else k): self.names(v, known)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.names(v, known) for v in value]
        return value


def stream_redactor() -> StreamRedactor:
    """The reduction of what is published: keyed by ``CLAUSELINE_REDACTION_KEY`` when set."""
    from ..store import KEY_ENV
    key = os.environ.get(KEY_ENV)
    return StreamRedactor(key.encode() if key else None)


def reduced(redactor: StreamRedactor, body: bytes) -> tuple[Any, bytes]:
    """(the raw event, or None when the line is not one; the bytes to publish: the reduced
    event as compact JSON, or the masked text of a line that is not strict JSON)."""
    event, problems = parse_event(body)
    if problems:
        text = body.decode("utf-8", "surrogateescape")
        return None, redactor.scrub_text(text).encode("utf-8", "surrogateescape")
    out = redactor.event(event) if isinstance(event, dict) else redactor.scrub(event)
    known = secrets_of(event)
    out = redactor.names(out, known)
    if isinstance(out, dict):
        # ``type`` and ``time`` are kept by the store, which keeps only events where they are a
        # known type and a time; the stream holds every event, so a number in them is masked
        for key in ("type", "time"):
            if isinstance(out.get(key), str):
                out[key] = redactor.scrub_text(out[key], known)
    return event, json.dumps(out, ensure_ascii=False, separators=(",", ":"),
                             allow_nan=False).encode("utf-8")


__all__ = ["StreamRedactor", "reduced", "stream_redactor"]
