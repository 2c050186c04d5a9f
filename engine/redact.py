"""Reducing sensitive values before anything is written to a store, or quoted in an error
message (clause C).

Clause C: "Upon completion of a transaction, your private information (e.g., credit cards or debit
card number, bank routing or checking account numbers) will not be stored on our servers." The
store therefore never writes a full card number, bank account or routing number, or social
security number. Redaction works by normalising what it reads, then matching a few shapes and
one vocabulary, not by listing spellings:

**Normalisation** (:func:`normalised`). Text that is all ASCII is read as it is. Other text is
read character by character: format characters (``Cf``: zero-width space, word joiner, soft
hyphen, byte order mark, bidirectional marks) and combining marks (``Mn``, ``Me``) are dropped;
every other character is replaced by its NFKC form (fullwidth ``４`` and ``Ｓ`` are ``4`` and
``S``, an ideographic space a space, ``①`` is ``1``), and every character with a digit value
(:func:`unicodedata.digit`: Arabic-Indic, Devanagari, Bengali, Thai, fullwidth, superscript,
circled digits ...) is that ASCII digit. Positions found in this view are mapped back to the
text, so that the original text around a number is kept as it is.

**Field names** (:func:`kind_of_key`). A value under a key that names such a number, anywhere in
the event (not only in ``payment.made``), is replaced by ``{"redacted": KIND, "last4": "1111",
"hmac": "<64 hex>"}``; ``last4`` is kept only when the value has at least 8 digits (so that a short
value is not kept whole), ``hmac`` is HMAC-SHA-256 over ``KIND:digits`` (ASCII digits, so that
every spelling of one number has one HMAC) with the store's redaction key. A key is read as its
letters and digits, NFKC and lower case, without the digits that end it (:func:`squash`:
``SSN_1``, ``ssn1``, ``bank-acct``, ``routing/transit`` are ``ssn``, ``ssn``, ``bankacct``,
``routingtransit``; ``c49c94`` is ``c49c``, no word) and names a number when it is one of the
:data:`VOCABULARY` words, maybe after qualifiers (:data:`QUALIFIERS`: ``bank``, ``primary``,
``customer`` ...) and before a number word (:data:`NUMBER_WORDS`: ``number``, ``num``, ``no``
...), or one of the :data:`GENERIC_WORDS` (``card``, ``account`` ...) followed by a number word;
and, as before, when it contains ``routing``, ends with ``ssn``, or contains ``card`` or
``account`` with ``number`` (``cardholder_number``).

**Shape and context**, in every string and number anywhere else (defence in depth), in one pass
that is linear in the text (:func:`find_sensitive`). In the normalised view, a *run* is a
sequence of digits whose groups are separated by one to three characters that are neither
letters nor digits (any punctuation, dash, symbol or space: ``-``, ``–``, ``—``, ``‐``, ``−``,
``·``, ``|``, ``:``, ``+``, ``*``, ``'``, ``/``, ``_``, ``,``, ``.``, ``" - "`` ...), or by up to four
white-space characters: ``4111  1111.1111_1111`` and ``4111–1111·1111|1111`` are runs. Not a part
of a run: an ISO date (``19xx``/``20xx-MM-DD``, with a time if one follows), a time of day with
seconds (``hh:mm:ss``, a fraction and an offset), a UUID (8-4-4-4-12 hexadecimal digits with at
least one letter): they are kept readable; and a North American phone number (``972-734-1111``,
``1-800-844-6591``, ``(800) 555-0199``), kept unless a vocabulary word is before it. Then:

- a run with 13 or more digits in which any 13 to 19 consecutive digits pass the Luhn check is a
  card number (concatenated numbers included: the whole run is reduced);
- three, two and four digits with a separator between each (the same or not; but not ``,`` or
  ``;`` followed by a space, which separate the items of a list) make a run an SSN
  (``123-45-6789``, ``123 45 6789``, ``123:45:6789``, ``123-45 6789``);
- a run of 6 or more digits after a word of the vocabulary (up to three number words, ``is`` or
  ``#`` between: ``SSN 219099999``, ``S.S.N.: ...``, ``account number is ...``, ``routing/transit
  ...``, ``DDA ...``) is that number; the words of the text before the run are read normalised
  (letters of each word, lower case; a word split in letters, ``S.S.N.``, is read whole).

Each is replaced, inside the string, by ``[redacted card ...1111 hmac:<16 hex>]`` (or ``ssn``,
``bank_account``, ``routing``). A JSON number that is a whole card number (an integer, or a float
with no fraction such as ``4111111111111111.0``) is reduced like a keyed value.

What is not read: numbers written in words or in numerals without a digit value (``五``,
``Ⅻ``), letters that look like digits (``O`` for ``0``), letters of another script that look
like a vocabulary word, a bank or routing number without a vocabulary word before it or a field
named for it (nothing tells it from an amount or an id), digits more than three punctuation
characters apart, and a number whose digits take the shape of a date, a time, a UUID or a phone
number. A scan reads candidate runs with a cheap pattern first and looks closer only around
those of six characters or more; all-ASCII text skips normalisation.

Envelope identifiers (``id``, ``source``, ``type``, ``time``, ``specversion``, ``subject``) are
keys of the store and are kept as given: producers must not use sensitive numbers as ids.
Dictionary keys are not rewritten either (obligation refs are keys).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import json
import math
import operator
import re
import unicodedata
from typing import Any

#: Event attributes kept as given (they are the store's keys).
ENVELOPE_KEYS = frozenset({"id", "source", "type", "time", "specversion", "subject"})
#: Decision fields kept as given.
DECISION_KEYS = frozenset({"event_id", "event_source", "event_type", "time", "policy_version",
                           "status", "trace"})
#: Outcome fields kept as given, at any depth: envelope identifiers and subject ids (as the store
#: keeps them), and the fields the engine or the rule files write, never event data (codes,
#: enums, times). The engine masks the rest of an outcome (``clauseline.evaluate``) and a store
#: reduces the same rest, so that a stored decision reads back as it was answered.
OUTCOME_KEYS = ENVELOPE_KEYS | {"kind", "clause", "rule", "effect", "status", "due_by", "basis",
                                "data_categories", "obligation", "violation", "purpose",
                                "recipient", "action"}

# --- the vocabulary -----------------------------------------------------------------------------

#: The words that name a sensitive number by themselves, by kind, as :func:`squash` reads them
#: (lower case, no separators): in a field name (``ssn1``, ``taxid``, ``bank_acct``, ``RTN``, ``cc``)
#: and before a number in a text (``S.S.N. 219099999``, ``DDA 1234567``).
VOCABULARY: dict[str, frozenset[str]] = {
    "ssn": frozenset({"ssn", "socialsecurity", "socialsec", "socsec", "taxpayerid", "taxid",
                      "tin", "itin"}),
    "card": frozenset({"pan", "cc", "ccn", "creditcard", "debitcard", "paymentcard", "bankcard",
                       "chargecard"}),
    "bank_account": frozenset({"iban", "acct", "bankacct", "bankaccount", "checkingaccount",
                               "checkingacct", "savingsaccount", "savingsacct", "dda",
                               "depositaccount"}),
    "routing": frozenset({"routing", "aba", "rtn", "routingtransit", "abarouting", "transitrouting"}),
}
#: Words that name such a number only before a number word in a field name (``card_number``,
#: ``account_no``, ``transit_num``); in a text, right before a number, they name it alone
#: (``account 12345678``, ``checking: 12345678``).
GENERIC_WORDS: dict[str, frozenset[str]] = {
    "card": frozenset({"card"}),
    "bank_account": frozenset({"account", "bank", "checking"}),
    "routing": frozenset({"transit"}),
}
#: Abbreviations read only in a text, right before a number (never a field name, where they
#: would be too short to be safe): ``SS# ...``, ``a/c ...``.
TEXT_WORDS: dict[str, frozenset[str]] = {
    "ssn": frozenset({"ss"}),
    "bank_account": frozenset({"ac"}),
}
#: Words after a vocabulary word that still name the number: ``card_number``, ``acct no``.
NUMBER_WORDS = ("number", "numbr", "num", "nbr", "nr", "no")
#: Words before a vocabulary word in a field name that keep it a name of the number:
#: ``bank_account_number``, ``primary_ssn``, ``customer_acct``.
QUALIFIERS = ("bank", "primary", "secondary", "customer", "client", "user", "member", "payer",
              "payee", "holder", "billing", "payment", "personal", "direct", "deposit", "full",
              "raw", "plain", "my", "your", "the")
#: Words skipped between a vocabulary word and the number in a text: ``account number is ...``.
FILLER_WORDS = frozenset(NUMBER_WORDS + ("is", "was", "#"))


def _alternation(words) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


def _kinds(*tables: dict[str, frozenset[str]]) -> dict[str, str]:
    return {word: kind for table in tables for kind, words in table.items() for word in words}


_NAME_KIND = _kinds(VOCABULARY, GENERIC_WORDS)
_TEXT_KIND = _kinds(VOCABULARY, GENERIC_WORDS, TEXT_WORDS)
_SUFFIX = f"(?:{_alternation(NUMBER_WORDS)})"
#: A field name (squashed): qualifiers, then a vocabulary word (maybe a number word after it),
#: or a generic word and a number word.
_KEY_NAME = re.compile(
    f"(?:{_alternation(QUALIFIERS)})*(?:(?P<word>{_alternation(set().union(*VOCABULARY.values()))})"
    f"{_SUFFIX}?|(?P<generic>{_alternation(set().union(*GENERIC_WORDS.values()))}){_SUFFIX})")
#: One word or a few of a text (squashed): a vocabulary, generic or text word, maybe with a
#: number word (``acctno``).
_TEXT_NAME = re.compile(f"(?P<word>{_alternation(_TEXT_KIND)}){_SUFFIX}?")
#: Any word :func:`kind_of_key` looks for (a quick check before the grammar).
_ANY_WORD = re.compile(_alternation(set(_NAME_KIND) | {"ssn", "card", "routing", "account",
                                                       "socialsecuritynumber", "taxpayerid"}))
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=16384)  # words and names recur
def squash(word: str) -> str:
    """A name or word as the vocabulary is matched: NFKC, lower case, ASCII letters and digits
    only, without the digits that end it (``SSN_1`` and ``ssn-2`` are ``ssn``; ``c49c94`` is
    ``c49c``, which no word of the vocabulary is)."""
    if not word.isascii():
        word = normalised(word)[0]
    return _NOT_ALNUM.sub("", word.lower()).rstrip("0123456789")


@functools.lru_cache(maxsize=16384)  # a pure function of the name; field names recur
def kind_of_key(key: str) -> str | None:
    """The kind of sensitive number a field of this name holds, or None (see the module's doc)."""
    k = squash(key)
    if not k or _ANY_WORD.search(k) is None:
        return None  # most names: no word of the vocabulary in them at all
    named = _KEY_NAME.fullmatch(k)
    if named is not None:
        return _NAME_KIND[named.group("word") or named.group("generic")]
    # the older rules, kept: they name fields the grammar above does not (``cardholder_number``)
    if k.endswith("ssn") or k in ("socialsecuritynumber", "taxpayerid"):
        return "ssn"
    if "card" in k and ("number" in k or k.endswith("num") or k.endswith("no")):
        return "card"
    if "routing" in k:
        return "routing"
    if "account" in k and ("number" in k or k.endswith("no")):
        return "bank_account"
    return None


def kind_of_words(words: list[str]) -> str | None:
    """The kind of number the last words of a text before a number name (``["account",
    "number", "is"]``: ``bank_account``), or None: up to three filler words are skipped, then one
    to three words are read together (``["s", "s", "n"]`` is ``ssn``)."""
    end = len(words)
    while end and len(words) - end < 3 and words[end - 1] in FILLER_WORDS:
        end -= 1
    squashed = ""
    for count in (1, 2, 3):
        if count > end:
            break
        word = squash(words[end - count])
        if not word:
            break  # a number between the words and the run
        squashed = word + squashed
        named = _TEXT_NAME.fullmatch(squashed)
        if named is not None:
            return _TEXT_KIND[named.group("word")]
    return None


# --- normalisation ------------------------------------------------------------------------------

#: Categories dropped from the view: format characters and combining marks.
_DROPPED = frozenset({"Cf", "Mn", "Me"})
#: Characters other than ``\d`` that are, or normalise to, a digit (superscripts, circled and
#: parenthesised digits, Ethiopic, Kharosthi ...); checked against :mod:`unicodedata` by the tests.
OTHER_DIGITS = ("\u00b2\u00b3\u00b9\u00bc-\u00be\u1369-\u1371\u19da\u2070\u2074-\u2079"
                "\u2080-\u2089\u2150-\u215f\u2189\u2460-\u249b\u24ea\u24f5-\u24fd\u24ff"
                "\u2776-\u277e\u2780-\u2788\u278a-\u2792\u3251-\u325f\u32b1-\u32cb\u3358-\u3370"
                "\u3378\u3379\u339f-\u33a6\u33a8\u33af\u33e0-\u33fe\U00010a40-\U00010a43"
                "\U00010e60-\U00010e68\U00011052-\U0001105a\U0001f100-\U0001f10a")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")
#: Six digits anywhere, of an ASCII text (linear: a failed search scans from at most five digits).
_SIX_DIGITS = re.compile(r"(?:\d\D*?){6}")
#: A value reduced in line already, as the events stream carries it (``clauseline.stream.
#: reduction``): ``[redacted card ...1111 hmac:<16 hex>]``, last four and HMAC each optional.
REDUCED_TEXT = re.compile(r"\[redacted [a-z_]{1,20}(?: \.\.\.\d{1,4})?(?: hmac:[0-9a-f]{16})?\]")
#: Six digits of any script anywhere.
_SIX_ANY_DIGITS = re.compile(f"(?:[\\d{OTHER_DIGITS}][^\\d{OTHER_DIGITS}]*?){{6}}")


@functools.lru_cache(maxsize=8192)
def _char_view(ch: str) -> str:
    """What one non-ASCII character is in the view (see :func:`normalised`)."""
    if unicodedata.category(ch) in _DROPPED:
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if c.isascii():
            out.append(c)
        elif unicodedata.category(c) not in _DROPPED:
            d = unicodedata.digit(c, None)
            out.append(c if d is None else str(d))
    return "".join(out)


def normalised(text: str, positions: bool = False) -> tuple[str, list[int] | None]:
    """The view of a text the scans read (the module's doc: format characters and combining marks
    dropped, NFKC, digits of every script as ASCII digits), and, with ``positions``, for each
    character of the view the position in ``text`` of the character it comes from (and one
    more: ``len(text)``). An ASCII text is its own view (positions None)."""
    if text.isascii():
        return text, None
    parts: list[str] = []
    index: list[int] | None = [] if positions else None
    cursor = 0
    for match in _NON_ASCII.finditer(text):
        at = match.start()
        if at > cursor:
            parts.append(text[cursor:at])
            if index is not None:
                index.extend(range(cursor, at))
        seen = _char_view(match.group())
        if seen:
            parts.append(seen)
            if index is not None:
                index.extend([at] * len(seen))
        cursor = at + 1
    parts.append(text[cursor:])
    if index is not None:
        index.extend(range(cursor, len(text)))
        index.append(len(text))
    return "".join(parts), index


def digits_of(text: str) -> str:
    """The digits of a text, of every script, as ASCII digits."""
    return _NOT_ASCII_DIGIT.sub("", normalised(text)[0])


def has_six_digits(text: str) -> bool:
    """Whether a text holds six digits or more, of any script (a cheap check, no normalisation)."""
    if text.isascii():
        return _SIX_DIGITS.search(text) is not None
    return _SIX_ANY_DIGITS.search(text) is not None


def count_digits(text: str) -> int:
    """How many digits, of any script, a text holds (``①`` counts one)."""
    if text.isascii():
        return sum(1 for c in text if "0" <= c <= "9")
    return len(digits_of(text))


# --- shapes -------------------------------------------------------------------------------------

#: What separates two groups of digits of a run: one to three characters that are neither
#: letters nor digits, or up to four white-space characters.
_SEP = r"(?:[\W_]{1,3}|\s{4})"
#: Dates, times and UUIDs: never a part of a run (they are kept readable).
_DATE = r"(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_SECONDS = r":(?:[0-5][0-9]|60)(?:[.,][0-9]{1,9})?"
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_ZONE = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])"
_UUID = (r"(?=[0-9-]{0,35}[A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}"
         r"-[0-9A-Fa-f]{12}")
_KEPT = (f"(?<![0-9A-Za-z])(?:{_DATE}(?:[Tt ]{_CLOCK}(?:{_SECONDS})?{_ZONE}?)?|{_CLOCK}{_SECONDS}"
         f"{_ZONE}?)(?![0-9])|(?<![0-9A-Za-z]){_UUID}(?![0-9A-Za-z])")
#: A North American phone number (``972-734-1111``, ``1-800-844-6591``, ``(800) 555-0199``): kept
#: unless a word of the vocabulary is right before it.
_PHONE = (r"(?<![0-9A-Za-z])(?:\+?1[-. ]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ])[2-9][0-9]{2}"
          r"[-. ][0-9]{4}(?![0-9])")
#: A run of digit groups, dates, times and phone numbers included: where a scan looks closer.
_CANDIDATE = re.compile(f"[0-9]+(?:{_SEP}[0-9]+)*")
#: A date, a time or a UUID (kept), a phone number, or a run of digit groups (the module's doc);
#: the lookahead first skips, cheaply, the positions where none of them starts.
_TOKEN = re.compile(f"(?=[0-9(+]|[A-Fa-f][0-9A-Fa-f]{{7}}-)(?:(?P<kept>{_KEPT})|(?P<phone>{_PHONE})|"
                    f"(?P<run>[0-9]+(?:{_SEP}(?!{_KEPT}|{_PHONE})[0-9]+)*))")
#: How far before a candidate run a kept shape may start (a UUID's letters), and after it end.
_REACH = 40
#: Three, two and four digits with a separator between each: an SSN.
_SSN_SHAPE = re.compile(f"(?<![0-9])[0-9]{{3}}({_SEP})[0-9]{{2}}({_SEP})[0-9]{{4}}(?![0-9])")
#: The separator of the items of a list, not of an SSN's groups.
_LIST_SEP = re.compile(r"[,;]\s")
#: A word (letters and digits) or ``#``, of the text before a run.
_WORD = re.compile(r"[^\W_]+|#")
_CONTEXT_SPAN = 40
#: A whole RFC 3339 time (at most 9 fractional digits): kept as it is, never a sensitive number.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")
_NOT_DIGIT = re.compile(r"\D")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (the check every payment card number passes); digits
    of any script count as their value."""
    if not digits.isascii():
        digits = digits_of(digits)
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
    """Whether any 13 to 19 consecutive digits (ASCII) pass the Luhn check: linear, with prefix
    sums of the digits as they count at even and at odd distance from a window's right end."""
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


def _is_ssn(run: str) -> bool:
    return any(not _LIST_SEP.search(m.group(1)) and not _LIST_SEP.search(m.group(2))
               for m in _SSN_SHAPE.finditer(run))


def _tokens(view: str):
    """The tokens (:data:`_TOKEN`) of a view that may hold six digits: a cheap scan for candidate
    runs first, then a closer look (kept shapes, phone numbers, runs) around each candidate of six
    characters or more; linear, each closer look reaching :data:`_REACH` characters around."""
    search, done = 0, 0  # where the next candidate is looked for; the end of the last token
    while True:
        candidate = _CANDIDATE.search(view, search)
        if candidate is None:
            return
        start, end = candidate.span()
        search = end
        if end - start < 6:
            continue
        for token in _TOKEN.finditer(view, max(done, start - _REACH), end + _REACH):
            if token.start() >= end:
                break
            done = token.end()
            yield token
        search = max(end, done)


def find_sensitive(text: str, known: dict[str, str] | None = None) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, digits) of every card, SSN and named bank or routing number in a text,
    by shape and context (see the module's doc), and of every run holding one of the ``known``
    numbers (ASCII digits -> kind: those the same document gives under a field that names them);
    positions are the text's, digits ASCII; linear in the text."""
    view, index = normalised(text, positions=True)
    found = []
    for match in _tokens(view):
        if match.lastgroup == "kept":
            continue  # a date, a time or a UUID
        run = match.group()
        digits = _NOT_ASCII_DIGIT.sub("", run)
        if len(digits) < 6:
            continue
        kind = None
        if known:
            kind = next((k for secret, k in known.items() if secret in digits), None)
        if kind is not None:
            pass
        elif match.lastgroup == "run" and len(digits) >= 13 and _has_card(digits):
            kind = "card"
        elif match.lastgroup == "run" and _is_ssn(run):
            kind = "ssn"
        else:
            start = match.start()
            kind = kind_of_words(_WORD.findall(view[max(0, start - _CONTEXT_SPAN):start].lower()))
        if kind is not None:
            start, end = match.span()
            if index is not None:
                start, end = index[start], index[end - 1] + 1
            found.append((start, end, kind, digits))
    return found


def secrets_of(value: Any, kind: str | None = None, out: dict | None = None) -> dict[str, str]:
    """The digits (6 or more, ASCII) of every value a document gives under a field that names a
    sensitive number (:func:`kind_of_key`), with its kind: the same number is then reduced
    wherever else it appears in that document (by value, not only by shape)."""
    out = {} if out is None else out
    # only containers and values under a naming field can give a number: a walk that does not
    # descend into the other values (almost all of an event's) costs no call for them
    if isinstance(value, dict):
        for k, v in value.items():
            sub = (kind_of_key(k) if isinstance(k, str) else None) or kind
            if sub is not None or isinstance(v, (dict, list)):
                secrets_of(v, sub, out)
    elif isinstance(value, list):
        for v in value:
            if kind is not None or isinstance(v, (dict, list)):
                secrets_of(v, kind, out)
    elif kind is not None and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        digits = digits_of(str(value))
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


def _json_form(value: Any) -> Any:
    """A reduced value as its canonical JSON reads back (keys sorted); ValueError for one that
    JSON would not read back as it is (see :meth:`Redactor.kept`)."""
    if isinstance(value, dict):
        if any(type(k) is not str for k in value):
            raise ValueError("a key that is not a string")
        return {k: _json_form(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_json_form(v) for v in value]
    if value is None or isinstance(value, (str, bool)) or type(value) is int \
            or (type(value) is float and math.isfinite(value)):
        return value
    raise ValueError(f"a {type(value).__name__} is not one of JSON's own values")


#: Integers closer to zero than this are no card number and hold no ``known`` number (six
#: digits or more): :meth:`Redactor._walk` keeps them as they are without looking closer.
_SMALL = 100000


class Redactor:
    """Reduces sensitive numbers in JSON documents with one HMAC key (bytes)."""

    #: Longest text, and most texts, :attr:`_plain` keeps.
    PLAIN_TEXT_MAX, PLAIN_TEXTS_MAX = 200, 1 << 15

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("the redaction key must not be empty")
        self._key = key
        #: texts :meth:`scrub_text` leaves as they are when no ``known`` numbers are given (its
        #: answer then depends on the text alone): the words of events and records recur
        #: (categories, statuses, paths, facility ids), and each is then scanned once. Short
        #: texts only, and cleared when full, so that it stays a few megabytes.
        self._plain: set[str] = set()

    def mac(self, kind: str, digits: str) -> str:
        """HMAC-SHA-256 of ``KIND:digits`` under the key, as hex."""
        return hmac.new(self._key, f"{kind}:{digits}".encode(), hashlib.sha256).hexdigest()

    def reduce(self, kind: str, value: Any) -> Any:
        """The structured reduction of one sensitive scalar."""
        if isinstance(value, dict) and "redacted" in value:
            return value  # already reduced
        if isinstance(value, str) and REDUCED_TEXT.fullmatch(value):
            return value  # reduced in line (the events stream's form): no number left in it
        if isinstance(value, (dict, list)):
            return self._walk(value, kind)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 4111111111111111.0 is the card number 4111111111111111
        text = str(value)
        digits = digits_of(text)
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
        if len(text) < 6 or (not known and text in self._plain):
            return text
        if not has_six_digits(text) or _DATE_TIME.fullmatch(text) \
                or not (found := find_sensitive(text, known)):
            if not known and len(text) <= self.PLAIN_TEXT_MAX:
                if len(self._plain) >= self.PLAIN_TEXTS_MAX:
                    self._plain.clear()
                self._plain.add(text)
            return text
        pieces, cursor = [], 0
        for start, end, kind, digits in found:
            pieces.append(text[cursor:start])
            pieces.append(self._inline(kind, digits))
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def _walk(self, value: Any, kind: str | None = None, known: dict | None = None) -> Any:
        # the leaves of most documents (texts, small numbers, null, booleans, outside any
        # naming field) are handled in the loops below without a call each: a record's journal
        # is mostly such leaves, and a store reduces every record it writes
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                sub = kind_of_key(k) if isinstance(k, str) else None
                if sub or kind is not None:
                    out[k] = (self.reduce(sub, v) if sub and kind is None
                              else self._walk(v, sub or kind, known))
                elif type(v) is str:
                    out[k] = self.scrub_text(v, known)
                elif v is None or type(v) is bool or (type(v) is int and -_SMALL < v < _SMALL):
                    out[k] = v
                else:
                    out[k] = self._walk(v, None, known)
            return out
        if isinstance(value, list):
            if kind is not None:
                return [self._walk(v, kind, known) for v in value]
            return [self.scrub_text(v, known) if type(v) is str
                    else v if v is None or type(v) is bool
                    or (type(v) is int and -_SMALL < v < _SMALL)
                    else self._walk(v, None, known) for v in value]
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

    def kept(self, value: Any, clean: dict[int, Any], before: dict | None = None) -> Any:
        """:meth:`scrub` of a JSON value (without ``known`` numbers) in the form its canonical
        JSON reads back as: keys sorted, JSON's own types only. ``clean`` (id -> object) holds
        values already in that form that a scrub leaves as they are: those are returned as they
        are, not walked, and the result's own such parts are added to it.

        A SQL store keeps a subject's record between the events of a batch this way, instead
        of its text: an event changes a few values of a record and shares the rest with the
        record it was given (copy-on-write), which is this method's result for the event before,
        so only what the event changed is walked and reduced. Raises ValueError for a value that
        JSON would not read back as it is (a key that is not a string, a tuple, an infinite
        float): the store then reduces, serialises and parses it the long way.

        ``before``: the record (a dict) this method returned for the event before, or read back
        clean. A list of ``value`` that starts with the very items of a clean list under the
        same key there (a list appended to: a copy with items more) reduces its new items only:
        its old ones are those of the list before, already in this form. A remembered list that
        grows with the log (the shared record's deleted recordings) then costs a write what the
        write added, not what the list holds."""
        if before is None or type(value) is not dict:
            return self._kept(value, clean)[0]
        if any(type(k) is not str for k in value):
            raise ValueError("a key that is not a string")
        out, same = {}, True
        for k in sorted(value):
            item, old, sub = value[k], before.get(k), kind_of_key(k)
            if sub:
                out[k], ok = _json_form(self.reduce(sub, item)), False
            elif type(item) is list and type(old) is list and len(item) >= len(old) \
                    and clean.get(id(old)) is old and all(map(operator.is_, item, old)):
                out[k], ok = self._appended(item, old, clean)
            else:
                out[k], ok = self._kept(item, clean)
            same = same and ok
        if same:
            clean[id(out)] = out
        return out

    def _appended(self, value: list, old: list, clean: dict[int, Any]) -> tuple[list, bool]:
        """:meth:`_kept` of a list whose first ``len(old)`` items are those of the clean ``old``."""
        tail = [self._kept(v, clean) for v in value[len(old):]]
        out = old + [v for v, _ in tail]
        same = all(ok for _, ok in tail)
        if same:
            clean[id(out)] = out
            clean.update((id(v), v) for v, _ in tail if type(v) is str)
        return out, same

    def _kept(self, value: Any, clean: dict[int, Any]) -> tuple[Any, bool]:
        """(:meth:`kept` of ``value``, whether it is clean: a scrub leaves it as it is)."""
        if clean.get(id(value)) is value:
            return value, True
        if isinstance(value, str):
            out = self.scrub_text(value)
            return out, out is value
        if value is None or isinstance(value, bool):
            return value, True
        if type(value) is int or (type(value) is float and math.isfinite(value)):
            out = self._walk(value)  # a whole card number is reduced
            return (value, True) if out is value else (_json_form(out), False)
        if isinstance(value, dict):
            if any(type(k) is not str for k in value):
                raise ValueError("a key that is not a string")
            out, same = {}, True
            for k in sorted(value):
                sub = kind_of_key(k)
                if sub:
                    out[k], same = _json_form(self.reduce(sub, value[k])), False
                else:
                    out[k], ok = self._kept(value[k], clean)
                    same = same and ok
        elif isinstance(value, list):
            out, same = [], True
            for v in value:
                item, ok = self._kept(v, clean)
                out.append(item)
                same = same and ok
        else:
            raise ValueError(f"a {type(value).__name__} is not one of JSON's own values")
        if same:
            clean[id(out)] = out
            if type(out) is list:
                # the texts of a clean list are clean too: a list appended to (a copy, with an
                # item more) is walked again, and its old items are then looked up, not scrubbed
                clean.update((id(v), v) for v in out if type(v) is str)
        return out, same

    def event(self, event: dict, known: dict[str, str] | None = None) -> dict:
        """A reduced copy of an event: envelope identifiers are kept; an extension attribute
        named for a sensitive number is reduced whole, one whose name holds six digits or more is
        renamed (``[redacted name hmac:...]``), and the numbers given under such names are reduced wherever they appear.
        ``known``: :func:`secrets_of` the event, when the caller has it already."""
        known = secrets_of(event) if known is None else known
        out = {}
        for k, v in event.items():
            if k in ENVELOPE_KEYS:
                out[k] = v
                continue
            kind = kind_of_key(k) if isinstance(k, str) else None
            name = k
            if isinstance(k, str) and has_six_digits(k):
                # a name is not a place for a number: six digits or more, and it is not kept
                name = f"[redacted name hmac:{self.mac('name', k)[:16]}]"
            out[name] = self.reduce(kind, v) if kind else self._walk(v, None, known)
        return out

    def decision(self, decision: dict, known: dict[str, str] | None = None) -> dict:
        """A reduced copy of a decision's JSON; its identifying fields, and the fields of its
        outcomes the engine keeps (:data:`OUTCOME_KEYS`: a subject id among them), are kept."""
        out = {}
        for k, v in decision.items():
            if k in DECISION_KEYS:
                out[k] = v
            elif k == "outcomes":
                out[k] = self._keeping(v, OUTCOME_KEYS, known)
            else:
                out[k] = self._walk(v, None, known)
        return out

    def _keeping(self, value: Any, keep: frozenset, known: dict | None) -> Any:
        """:meth:`_walk`, with the members named in ``keep`` kept as they are at any depth."""
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in keep:
                    out[k] = v
                    continue
                sub = kind_of_key(k) if isinstance(k, str) else None
                out[k] = self.reduce(sub, v) if sub else self._keeping(v, keep, known)
            return out
        if isinstance(value, list):
            return [self._keeping(v, keep, known) for v in value]
        return self._walk(value, None, known)


__all__ = ["GENERIC_WORDS", "NUMBER_WORDS", "QUALIFIERS", "Redactor", "TEXT_WORDS", "VOCABULARY",
           "digits_of", "find_sensitive", "kind_of_key", "kind_of_words", "luhn_ok", "mask_numbers",
           "mask_strings", "masked_or_same", "normalised", "OUTCOME_KEYS", "quote", "secrets_of"]


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
        if len(value) <= QUOTE_MAX and count_digits(value) <= 4 and value.isprintable():
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


#: Strings :func:`mask_numbers` leaves as they are: an event's and a decision's words recur
#: (types, channels, facility ids), and each is then checked once. Cleared when full.
_CLEAN: set[str] = set()
_CLEAN_MAX = 65536


def _masked_text(text: str, known: dict[str, str] | None) -> str:
    """``_MASK.scrub_text(text, known)``, remembering the strings it leaves alone when no
    ``known`` numbers are given (then the answer depends on the text alone)."""
    if known:
        return _MASK.scrub_text(text, known)
    if text in _CLEAN:
        return text
    masked = _MASK.scrub_text(text)
    if masked is text:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(text)
    return masked


def mask_strings(value, keep: frozenset = frozenset(), known: dict[str, str] | None = None):
    """A JSON value with :func:`mask_numbers` applied to every string (and the ``known``
    numbers of :func:`secrets_of` masked wherever they appear), except under the keys in
    ``keep``; for decisions, whose outcomes may quote event values (a request id as ``ref``)."""
    if isinstance(value, str):
        return _masked_text(value, known)
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


def masked_or_same(value, keep: frozenset = frozenset(), known: dict[str, str] | None = None):
    """:func:`mask_strings` that returns ``value`` itself (no copy) where nothing in it is
    masked, and copies only the containers on the way to what is: for an event, which almost
    always holds no such number, the check costs a walk and no allocation."""
    if isinstance(value, str):
        return _masked_text(value, known)
    if isinstance(value, dict):
        out = None
        for k, v in value.items():
            if k in keep:
                continue
            if isinstance(v, str):
                m = _masked_text(v, known)
            elif known or isinstance(v, (dict, list)):
                m = masked_or_same(v, keep, known)
            else:
                continue  # a number, a boolean or null: nothing to mask without known numbers
            if m is not v:
                if out is None:
                    out = dict(value)
                out[k] = m
        return value if out is None else out
    if isinstance(value, list):
        out = None
        for i, v in enumerate(value):
            m = masked_or_same(v, keep, known)
            if m is not v:
                if out is None:
                    out = list(value)
                out[i] = m
        return value if out is None else out
    if known and isinstance(value, (int, float)) and not isinstance(value, bool):
        return mask_strings(value, keep, known)
    return value


def mask_numbers(text: str) -> str:
    """Text with card-like and SSN-like numbers replaced by ``[redacted card ...1111]``; used
    for error messages, which quote the values they refuse."""
    return _MASK.scrub_text(text)


class MaskedArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors show no card or SSN number: argparse quotes the
    value it refuses (``invalid choice: '4111111111111111'``, ``invalid int value``). Its
    subparsers are of its class too (``add_subparsers`` takes the parent's)."""

    def error(self, message: str):
        super().error(mask_numbers(message))


# --- URLs in messages -----------------------------------------------------------------------

#: A URL's scheme and ``://``.
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: A query parameter whose value is a secret (libpq's ``password`` and ``sslpassword``, a
#: token, a key): its value is shown as ``***``.
_URL_SECRET = re.compile(r"(?i)([?&;][^=&;#]*(?:pass|secret|token|key|auth|cred)[^=&;#]*=)[^&;#]*")
#: Schemes whose user name alone is no secret (for NATS, a user name alone is a token).
_URL_NAMED_USERS = ("postgres", "mysql")
#: Longest URL a message shows.
URL_MAX = 200


def shown_url(url) -> str:
    """A database or NATS URL as every message, log line and suggestion shows it: no password
    (``user:***@``; a NATS user or token, ``***@``; the user information of every server of a
    comma-separated list, as far as the last ``@``, is never shown), the values of query
    parameters named for a secret (``password``, ``sslpassword``, ``token``, ...) ``***``,
    characters that do not print escaped (``\\u001b``), cut after :data:`URL_MAX` characters."""
    if not isinstance(url, str):
        return "(no URL)"
    text = url.strip()
    head = _URL_SCHEME.match(text)
    prefix = head.group() if head else ""
    rest = text[len(prefix):]
    at = -1 if prefix.lower().startswith("sqlite") else rest.rfind("@")  # a file's path
    if at >= 0:
        # a password may hold '/', '?' or '@' unescaped: everything up to the last '@' is the
        # user information, so nothing of a password is shown whatever the URL's form
        user, colon, _ = rest[:at].partition(":")
        keep = prefix.lower().startswith(_URL_NAMED_USERS) and "/" not in user
        rest = ((f"{user}:***" if colon else user) if keep else "***") + rest[at:]
    shown = _URL_SECRET.sub(r"\1***", prefix + rest)
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in shown)
    return shown if len(shown) <= URL_MAX else shown[:URL_MAX] + "..."
