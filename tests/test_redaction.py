"""The redaction's vocabulary and normalisation (``clauseline.redact``), as SECURITY.md states
them: the field names and words of the issue are read, the schemas' members other than the
``writeOnly`` ones are not, every character with a digit value is seen by the cheap check that
decides whether a text is read at all, and the spellings of the issue are reduced. The spellings
in general are a property (``tests/properties/test_spellings.py``)."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from clauseline.redact import Redactor, find_sensitive, kind_of_key, luhn_ok, mask_numbers, quote
from clauseline.resources import schemas_dir

REDACTOR = Redactor(b"test")


# --- field names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind", [
    # the issue's field names
    ("ssn1", "ssn"), ("taxid", "ssn"), ("accountnum", "bank_account"), ("bankacct", "bank_account"),
    ("acct", "bank_account"), ("rtn", "routing"), ("cc", "card"),
    # and their spellings
    ("SSN_2", "ssn"), ("primary-ssn", "ssn"), ("TaxpayerId", "ssn"), ("bank_acct", "bank_account"),
    ("routing/transit", "routing"), ("RoutingTransitNumber", "routing"), ("transit_no", "routing"),
    ("acctNo", "bank_account"), ("checking_account", "bank_account"), ("DDA", "bank_account"),
    ("ccNum", "card"), ("credit_card", "card"), ("\uff53\uff53\uff4e", "ssn"), ("s\u200bsn", "ssn"),
    # the older rules still hold
    ("card_number", "card"), ("cardholder_number", "card"), ("routing_code", "routing"),
    ("social_security_number", "ssn"), ("account_number", "bank_account"), ("iban", "bank_account"),
])
def test_field_names_of_the_vocabulary_are_read(name, kind):
    assert kind_of_key(name) == kind


@pytest.mark.parametrize("name", [
    "card", "account", "account_id", "bank", "checking", "transit", "encrypted_in_transit",
    "subject", "amount", "currency", "instrument", "product", "ccpa", "accounts", "c49c94", "d6da",
    "acc", "ssn_verified_at", "tinted", "pancake", "scc",
])
def test_other_names_are_not(name):
    assert kind_of_key(name) is None


def _members() -> dict[str, bool]:
    """Every member name the shipped schemas declare, and whether one of them is ``writeOnly``."""
    out: dict[str, bool] = {}

    def walk(node):
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                out[name] = out.get(name, False) or bool(isinstance(sub, dict) and sub.get("writeOnly"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for path in schemas_dir().rglob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return out


def test_the_schemas_members_named_for_a_number_are_exactly_the_write_only_ones():
    """No member of the schemas is reduced by name (an amount, an id) unless the schemas mark it
    as a raw number: the vocabulary does not over-mask the events' own fields."""
    members = _members()
    assert len(members) > 100
    named = {name for name in members if kind_of_key(name) is not None}
    assert named == {name for name, write_only in members.items() if write_only}, named


# --- digits of every script ----------------------------------------------------------------------

def test_the_cheap_check_sees_every_character_that_is_a_digit():
    """``OTHER_DIGITS`` (with ``\\d``) holds every character that has a digit value or normalises
    to a digit, for this Python's Unicode version: a text is not read at all when it has fewer
    than six of them, so one left out would let a number written with it through."""
    from clauseline.redact import OTHER_DIGITS

    other = re.compile(f"[{OTHER_DIGITS}]")
    decimal = re.compile(r"\d")
    missing = []
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if decimal.match(ch) or other.match(ch):
            continue
        if unicodedata.digit(ch, None) is not None or decimal.search(unicodedata.normalize("NFKC", ch)):
            missing.append(f"U+{code:04X}")
    assert not missing, missing[:40]


@pytest.mark.parametrize("zero", ["\u0660", "\u06f0", "\u0966", "\u09e6", "\u0e50", "\uff10",
                                  "\U0001d7ce", "\u1040", "\u0be6"])
def test_a_card_in_digits_of_another_script_is_reduced(zero):
    card = "4111111111111111"
    written = "".join(chr(ord(zero) + int(d)) for d in card)
    assert luhn_ok(written)
    out = REDACTOR.scrub_text(f"paid with {written} today")
    assert out == f"paid with {REDACTOR._inline('card', card)} today"
    # one number, one HMAC, whatever its script
    assert REDACTOR.scrub({"card_number": written})["card_number"]["hmac"] == REDACTOR.mac("card", card)


def test_a_number_in_a_message_is_counted_in_every_script():
    assert quote("\u2463\u2460\u2460\u2460\u2460") == "a string of 5 characters"
    assert quote("\uff14\uff11\uff11\uff11") == json.dumps("\uff14\uff11\uff11\uff11", ensure_ascii=False)


# --- the spellings of the issue --------------------------------------------------------------------

CARD = "4111111111111111"


@pytest.mark.parametrize("sep", ["\u2013", "\u2014", "\u2010", "\u2212", "\uff0d", "\u00b7", "|", ":",
                                 "+", "*", "'", "\u200b", "\u2060", "\u00ad", "    ", " \u2013 "])
def test_the_issues_card_separators(sep):
    written = sep.join([CARD[i:i + 4] for i in range(0, 16, 4)])
    assert mask_numbers(f"card {written}.") == "card [redacted card ...1111]."


@pytest.mark.parametrize("text, kind, digits", [
    ("ssn 219,09,9999", "ssn", "219099999"), ("219:09:9999", "ssn", "219099999"),
    ("219-09 9999", "ssn", "219099999"), ("S.S.N. 219099999", "ssn", "219099999"),
    ("checking 987654321012", "bank_account", "987654321012"),
    ("DDA: 987654321012", "bank_account", "987654321012"), ("RTN 021000021", "routing", "021000021"),
    ("routing/transit 021000021", "routing", "021000021"),
    ("account number is 987654321012", "bank_account", "987654321012"),
    ("\uff33\uff33\uff2e 219099999", "ssn", "219099999"),
])
def test_the_issues_context_words_and_ssn_separators(text, kind, digits):
    (start, end, found, got), = find_sensitive(text)
    assert (found, got) == (kind, digits)
    # the number is reduced to its end, the words before it are kept
    assert end == len(text) and not re.search(r"\d", text[:start])


@pytest.mark.parametrize("text", [
    "from 2019-07-01T09:00:00.123456789+05:30 to 2019-08-15 09:00:00",
    "at 01/07/2019 09:30:15 | 1234", "id 123e4567-e89b-12d3-a456-426614174000",
    "call 972-734-1111 or 1-800-844-6591", "972-734-1111 / 1-800-844-6591 | (800) 555-0199",
    "USD 1,234,567.89 and 2,345,678.90", "sizes 100, 20, 3000", "dr-00001 msg-18298 e-0x0001",
])
def test_ordinary_values_are_kept(text):
    assert mask_numbers(text) == text
    assert REDACTOR.scrub_text(text) == text


def test_a_phone_number_named_as_an_account_is_reduced():
    assert mask_numbers("acct 212-555-1234") == "acct [redacted bank_account ...1234]"
