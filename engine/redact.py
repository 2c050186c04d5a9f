"""Reducing sensitive values before anything is written to a store, or quoted in an error
message (clause C).

Clause C: "Upon completion of a transaction, your private information (e.g., credit cards or debit
card number, bank routing or checking account numbers) will not be stored on our servers." The
store therefore never writes a full card number, bank account or routing number, or social
security number. Two layers:

1. **By field name**, anywhere in the event (not only in ``payment.made``): a value under a key
   that names such a number (``card_number``, ``pan``, ``account_number``, ``routing_number``,
   ``iban``, ``ssn``, ``social_security_number`` and spellings of them, see :func:`kind_of_key`)
   is replaced by ``{"redacted": KIND, "last4": "1111", "hmac": "<64 hex>"}``; ``last4`` is kept
   only when the value has at least 8 digits (so that a short value is not kept whole), ``hmac``
   is HMAC-SHA-256 over ``KIND:digits`` with the store's redaction key, so that equal numbers can
   be matched without being readable.
2. **By shape and context**, in every string and number anywhere else in the document (defence
   in depth), in one pass that is linear in the text (:func:`find_sensitive`). A *run* is a
   sequence of digits whose groups are separated by one to three characters among white space
   (non-breaking spaces included), ``.``, ``,``, ``-``, ``_`` and ``/``: so ``4111  1111.1111_1111``
   is one run. A run with 13 or more digits in which any 13 to 19 consecutive digits pass the Luhn
   check is a card number (concatenated numbers included: the whole run is reduced); three,
   two and four digits with the same separator twice, one to three characters of it
   (``123-45-6789``, ``123 45 6789``, ``123  45  6789``) make a run an SSN; a run
   of 6 or more digits that follows a word naming such a number (``SSN``, ``social security``,
   ``account``, ``acct``, ``routing``, ``ABA``, ``IBAN``) within a few characters is that number
   (``ssn 219099999``). Each is replaced, inside the string, by ``[redacted card ...1111
   hmac:<16 hex>]`` (or ``ssn``, ``bank_account``, ``routing``). A JSON number that is a whole
   card number (an integer, or a float with no fraction such as ``4111111111111111.0``) is
   reduced like a keyed value.

Envelope identifiers (``id``, ``source``, ``type``, ``time``, ``specversion``, ``subject``) are
keys of the store and are kept as given: producers must not use sensitive numbers as ids.
Dictionary keys are not rewritten either (obligation refs are keys).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from typing import Any

#: Event attributes kept as given (they are the store's keys).
ENVELOPE_KEYS = frozenset({"id", "source", "type", "time", "specversion", "subject"})
#: Decision fields kept as given.
DECISION_KEYS = frozenset({"event_id", "event_source", "event_type", "time", "policy_version",
                           "status", "trace"})

#: A run of digit groups: one to three separators between groups (see the module's doc).
_RUN = re.compile(r"\d+(?:[\s.,_/\-]{1,3}\d+)*")
#: Three, two and four digits with the same separator (one to three characters) twice: an SSN.
_SSN_SHAPE = re.compile(r"(?<!\d)\d{3}([\s._/\-]{1,3})\d{2}\1\d{4}(?!\d)")
#: A word naming a sensitive number, right before a run (looked for in the characters before it).
_CONTEXT = re.compile(
    r"(?i)(?:\b(ssn|ss#|soc(?:ial)?[\s._-]*sec(?:urity)?(?:[\s._-]*(?:no|num|number|#))?|taxpayer"
    r"[\s._-]*id|tin)|\b(account|acct|a/c|iban|bank)(?:[\s._-]*(?:no|num|number|#))?|\b(routing|aba)"
    r"(?:[\s._-]*(?:no|num|number|#))?)[\s:=#.\-]*$")
_CONTEXT_SPAN = 40
#: A whole RFC 3339 time (at most 9 fractional digits): kept as it is, never a sensitive number
#: (its digit runs are cut by ``T`` and ``:``; the longest, seconds + fraction + offset hours,
#: would otherwise pass the Luhn check now and then).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")
_NOT_DIGIT = re.compile(r"\D")
#: Six digits anywhere (linear: a failed search scans from at most five digits).
_SIX_DIGITS = re.compile(r"(?:\d\D*?){6}")


@functools.lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=4096)  # a pure function of the name; field names recur
def kind_of_key(key: str) -> str | None:
    """The kind of sensitive number a field of this name holds, or None."""
    k = re.sub(r"[^a-z0-9]", "", key.lower())
    if k in ("ssn", "socialsecuritynumber", "socialsecurity", "taxpayerid") or k.endswith("ssn"):
        return "ssn"
    if k in ("pan", "cardnumber", "cardno", "ccnumber", "ccnum", "creditcard", "debitcard") or (
            "card" in k and ("number" in k or k.endswith("num") or k.endswith("no"))):
        return "card"
    if "routing" in k or k in ("aba", "abanumber"):
        return "routing"
    if k in ("iban", "accountnumber", "accountno", "acctnumber", "acctno", "bankaccount",
             "bankaccountnumber", "checkingaccount", "checkingaccountnumber"):
        return "bank_account"
    if "account" in k and ("number" in k or k.endswith("no")):
        return "bank_account"
    return None


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (the check every payment card number passes)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _has_card(digits: str) -> bool:
    """Whether any 13 to 19 consecutive digits pass the Luhn check: linear, with prefix sums
    of the digits as they count at even and at odd distance from a window's right end."""
    n = len(digits)
    if n < 13:
        return False
    # plain[p][k]: sum of digits d_i, i < k, i % 2 == p; doubled[p][k]: the same, Luhn-doubled
    plain = ([0] * (n + 1), [0] * (n + 1))
    doubled = ([0] * (n + 1), [0] * (n + 1))
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        dd = d * 2 - 9 if d > 4 else d * 2
        for p in (0, 1):
            plain[p][i + 1] = plain[p][i] + (d if i % 2 == p else 0)
            doubled[p][i + 1] = doubled[p][i] + (dd if i % 2 == p else 0)
    for end in range(13, n + 1):
        right = (end - 1) % 2  # digits at the window's parity of its last digit stay plain
        for length in range(13, min(19, end) + 1):
            start = end - length
            total = (plain[right][end] - plain[right][start]
                     + doubled[1 - right][end] - doubled[1 - right][start])
            if total % 10 == 0:
                return True
    return False


def find_sensitive(text: str, known: dict[str, str] | None = None) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, digits) of every card, SSN and named bank or routing number in a text,
    by shape and context (see the module's doc), and of every run holding one of the ``known``
    numbers (digits -> kind: those the same document gives under a field that names them);
    linear in the text."""
    found = []
    for match in _RUN.finditer(text):
        run = match.group()
        digits = _NOT_DIGIT.sub("", run)
        if len(digits) < 6:
            continue
        kind = None
        if known:
            kind = next((k for secret, k in known.items() if secret in digits), None)
        if kind is not None:
            pass
        elif len(digits) >= 13 and _has_card(digits):
            kind = "card"
        elif _SSN_SHAPE.search(run):
            kind = "ssn"
        else:
            context = _CONTEXT.search(text, max(0, match.start() - _CONTEXT_SPAN), match.start())
            if context is not None:
                kind = "ssn" if context.group(1) else "bank_account" if context.group(2) else "routing"
        if kind is not None:
            found.append((match.start(), match.end(), kind, digits))
    return found


def secrets_of(value: Any, kind: str | None = None, out: dict | None = None) -> dict[str, str]:
    """The digits (6 or more) of every value a document gives under a field that names a
    sensitive number (:func:`kind_of_key`), with its kind: the same number is then reduced
    wherever else it appears in that document (by value, not only by shape)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            secrets_of(v, (kind_of_key(k) if isinstance(k, str) else None) or kind, out)
    elif isinstance(value, list):
        for v in value:
            secrets_of(v, kind, out)
    elif kind is not None and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        digits = _NOT_DIGIT.sub("", str(value))
        if len(digits) >= 6:
            out[digits] = kind
    return out


def _whole_card(value: int | float) -> str | None:
    """The digits of a JSON number that is a whole card number, or None."""
    if isinstance(value, float):
        if not value.is_integer() or not 1e12 <= abs(value) < 1e19:
            return None
        value = int(value)
    if not 10**12 <= abs(value) < 10**19:
        return None
    digits = str(abs(value))
    return digits if luhn_ok(digits) else None


class Redactor:
    """Reduces sensitive numbers in JSON documents with one HMAC key (bytes)."""

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("the redaction key must not be empty")
        self._key = key

    def mac(self, kind: str, digits: str) -> str:
        """HMAC-SHA-256 of ``KIND:digits`` under the key, as hex."""
        return hmac.new(self._key, f"{kind}:{digits}".encode(), hashlib.sha256).hexdigest()

    def reduce(self, kind: str, value: Any) -> Any:
        """The structured reduction of one sensitive scalar."""
        if isinstance(value, dict) and "redacted" in value:
            return value  # already reduced
        if isinstance(value, (dict, list)):
            return self._walk(value, kind)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 4111111111111111.0 is the card number 4111111111111111
        text = str(value)
        digits = _NOT_DIGIT.sub("", text)
        out: dict[str, Any] = {"redacted": kind}
        if len(digits) >= 8:
            out["last4"] = digits[-4:]
        out["hmac"] = self.mac(kind, digits or text)
        return out

    def _inline(self, kind: str, digits: str) -> str:
        return f"[redacted {kind} ...{digits[-4:]} hmac:{self.mac(kind, digits)[:16]}]"

    def scrub_text(self, text: str, known: dict[str, str] | None = None) -> str:
        """Replace card, SSN and named bank numbers inside free text (:func:`find_sensitive`);
        a whole RFC 3339 time is kept."""
        if len(text) < 6 or _SIX_DIGITS.search(text) is None or _DATE_TIME.fullmatch(text):
            return text
        found = find_sensitive(text, known)
        if not found:
            return text
        pieces, cursor = [], 0
        for start, end, kind, digits in found:
            pieces.append(text[cursor:start])
            pieces.append(self._inline(kind, digits))
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def _walk(self, value: Any, kind: str | None = None, known: dict | None = None) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                sub = kind_of_key(k) if isinstance(k, str) else None
                out[k] = (self.reduce(sub, v) if sub and kind is None
                          else self._walk(v, sub or kind, known))
            return out
        if isinstance(value, list):
            return [self._walk(v, kind, known) for v in value]
        if kind is not None and not isinstance(value, bool) and isinstance(value, (str, int, float)):
            return self.reduce(kind, value)
        if isinstance(value, str):
            return self.scrub_text(value, known)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            digits = _whole_card(value)
            if digits is not None:
                return self.reduce("card", digits)
            if known and (value >= 100000 or value <= -100000):
                text = _NOT_DIGIT.sub("", str(int(value)) if isinstance(value, float)
                                      and value.is_integer() else str(value))
                hit = next((k for secret, k in known.items() if secret in text), None)
                if hit is not None:
                    return self.reduce(hit, value)
        return value

    def scrub(self, value: Any, known: dict[str, str] | None = None) -> Any:
        """A reduced copy of any JSON value (the input is not changed); ``known`` numbers
        (:func:`secrets_of` of the event it comes from) are reduced wherever they appear."""
        return self._walk(value, None, known)

    def event(self, event: dict) -> dict:
        """A reduced copy of an event: envelope identifiers are kept; an extension attribute
        named for a sensitive number is reduced whole, one whose name holds six digits or more is
        renamed (``[redacted name hmac:...]``), and the numbers given under such names are reduced wherever they appear."""
        known = secrets_of(event)
        out = {}
        for k, v in event.items():
            if k in ENVELOPE_KEYS:
                out[k] = v
                continue
            kind = kind_of_key(k) if isinstance(k, str) else None
            name = k
            if isinstance(k, str) and _SIX_DIGITS.search(k):
                # a name is not a place for a number: six digits or more, and it is not kept
                name = f"[redacted name hmac:{self.mac('name', k)[:16]}]"
            out[name] = self.reduce(kind, v) if kind else self._walk(v, None, known)
        return out

    def decision(self, decision: dict, known: dict[str, str] | None = None) -> dict:
        """A reduced copy of a decision's JSON; its identifying fields are kept."""
        return {k: (v if k in DECISION_KEYS else self._walk(v, None, known))
                for k, v in decision.items()}


__all__ = ["Redactor", "find_sensitive", "kind_of_key", "luhn_ok", "mask_numbers", "mask_strings",
           "quote", "secrets_of"]


#: The longest input string a message quotes (and then only one with few digits).
QUOTE_MAX = 24
_DIGIT_RE = re.compile(r"\d")


def quote(value) -> str:
    """An input value as a message may show it: a short string with at most four digits, a
    small number, a boolean or null, quoted; anything else described by its type and size only,
    so that no card, bank or SSN number (in any spelling) is ever echoed (docs/errors.md)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        if len(value) <= QUOTE_MAX and len(_DIGIT_RE.findall(value)) <= 4 and value.isprintable():
            return json.dumps(value, ensure_ascii=False)
        return f"a string of {len(value)} characters"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(_DIGIT_RE.findall(text)) <= 4 else f"a number of {len(text)} characters"
    if isinstance(value, dict):
        return f"an object of {len(value)} member(s)"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    return "a value"


class _Mask(Redactor):
    """Masks numbers in messages: no HMAC, since a message's key would have to be public."""

    def __init__(self):
        super().__init__(b"unused: messages carry no HMAC")

    def _inline(self, kind: str, digits: str) -> str:
        return f"[redacted {kind} ...{digits[-4:]}]"


_MASK = _Mask()


def mask_strings(value, keep: frozenset = frozenset(), known: dict[str, str] | None = None):
    """A JSON value with :func:`mask_numbers` applied to every string (and the ``known``
    numbers of :func:`secrets_of` masked wherever they appear), except under the keys in
    ``keep``; for decisions, whose outcomes may quote event values (a request id as ``ref``)."""
    if isinstance(value, str):
        return _MASK.scrub_text(value, known)
    if isinstance(value, dict):
        return {k: (v if k in keep else mask_strings(v, keep, known)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_strings(v, keep, known) for v in value]
    if known and isinstance(value, (int, float)) and not isinstance(value, bool):
        digits = _NOT_DIGIT.sub("", str(value))
        kind = next((k for secret, k in known.items() if secret in digits), None)
        if kind is not None:
            return f"[redacted {kind} ...{digits[-4:]}]"
    return value


def mask_numbers(text: str) -> str:
    """Text with card-like and SSN-like numbers replaced by ``[redacted card ...1111]``; used
    for error messages, which quote the values they refuse."""
    return _MASK.scrub_text(text)

