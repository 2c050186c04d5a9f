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
2. **By shape**, in every string and integer anywhere in the document (defence in depth): a run
   of 13 to 19 digits (spaces or dashes allowed between them) that passes the Luhn check is a
   card number; ``ddd-dd-dddd`` is an SSN. Each is replaced, inside the string, by
   ``[redacted card ...1111 hmac:<16 hex>]`` or ``[redacted ssn ...6789 hmac:<16 hex>]``.

Envelope identifiers (``id``, ``source``, ``type``, ``time``, ``specversion``, ``subject``) are
keys of the store and are kept as given: producers must not use sensitive numbers as ids.
Dictionary keys are not rewritten either (obligation refs are keys).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

#: Event attributes kept as given (they are the store's keys).
ENVELOPE_KEYS = frozenset({"id", "source", "type", "time", "specversion", "subject"})
#: Decision fields kept as given.
DECISION_KEYS = frozenset({"event_id", "event_source", "event_type", "time", "policy_version",
                           "status", "trace"})

_RUN = re.compile(r"\d(?:[ -]?\d)*")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_GROUP = re.compile(r"\d+")


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


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


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
        text = str(value)
        digits = re.sub(r"\D", "", text)
        out: dict[str, Any] = {"redacted": kind}
        if len(digits) >= 8:
            out["last4"] = digits[-4:]
        out["hmac"] = self.mac(kind, digits or text)
        return out

    def _inline(self, kind: str, digits: str) -> str:
        return f"[redacted {kind} ...{digits[-4:]} hmac:{self.mac(kind, digits)[:16]}]"

    def scrub_text(self, text: str) -> str:
        """Replace card-like and SSN-like numbers inside free text."""
        if not any(c.isdigit() for c in text):
            return text
        text = _SSN.sub(lambda m: self._inline("ssn", m.group().replace("-", "")), text)
        return _RUN.sub(self._run, text)

    def _run(self, match: re.Match) -> str:
        run = match.group()
        digits = run.replace(" ", "").replace("-", "")
        if len(digits) < 13:
            return run
        if _is_card(digits):
            return self._inline("card", digits)
        # A longer run of groups (e.g. a card number followed by a year): look for a card
        # among consecutive groups.
        groups = list(_GROUP.finditer(run))
        if len(groups) < 2:
            return run
        pieces, cursor, i = [], 0, 0
        while i < len(groups):
            found = None
            for j in range(len(groups), i, -1):
                candidate = "".join(g.group() for g in groups[i:j])
                if _is_card(candidate):
                    found = j
                    break
            if found is None:
                i += 1
                continue
            start, end = groups[i].start(), groups[found - 1].end()
            pieces.append(run[cursor:start])
            pieces.append(self._inline("card", "".join(g.group() for g in groups[i:found])))
            cursor, i = end, found
        pieces.append(run[cursor:])
        return "".join(pieces)

    def _walk(self, value: Any, kind: str | None = None) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                sub = kind_of_key(k) if isinstance(k, str) else None
                out[k] = self.reduce(sub, v) if sub and kind is None else self._walk(v, sub or kind)
            return out
        if isinstance(value, list):
            return [self._walk(v, kind) for v in value]
        if kind is not None and not isinstance(value, bool) and isinstance(value, (str, int, float)):
            return self.reduce(kind, value)
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**12:
            digits = str(value)
            if _is_card(digits):
                return self.reduce("card", value)
        return value

    def scrub(self, value: Any) -> Any:
        """A reduced copy of any JSON value (the input is not changed)."""
        return self._walk(value)

    def event(self, event: dict) -> dict:
        """A reduced copy of an event; envelope identifiers are kept."""
        return {k: (v if k in ENVELOPE_KEYS else self._walk(v)) for k, v in event.items()}

    def decision(self, decision: dict) -> dict:
        """A reduced copy of a decision's JSON; its identifying fields are kept."""
        return {k: (v if k in DECISION_KEYS else self._walk(v)) for k, v in decision.items()}


__all__ = ["Redactor", "kind_of_key", "luhn_ok"]


class _Mask(Redactor):
    """Masks numbers in messages: no HMAC, since a message's key would have to be public."""

    def __init__(self):
        super().__init__(b"unused: messages carry no HMAC")

    def _inline(self, kind: str, digits: str) -> str:
        return f"[redacted {kind} ...{digits[-4:]}]"


_MASK = _Mask()


def mask_numbers(text: str) -> str:
    """Text with card-like and SSN-like numbers replaced by ``[redacted card ...1111]``; used
    for error messages, which quote the values they refuse."""
    return _MASK.scrub_text(text)

