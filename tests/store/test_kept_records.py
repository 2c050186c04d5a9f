"""What the SQL store keeps between the events of a batch is what it would have read back: a
record reduced in its Python form (``Redactor.kept``, walking only what an event changed) is
the one the long way gives (reduce, serialise, parse), and the chain hashes and decision ids
made from texts already made are the ones ``clauseline.chain`` defines."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest

from clauseline import canonical
from clauseline.chain import decision_id, link, text_hash
from clauseline.redact import Redactor

REDACTOR = Redactor(b"test key")
KEYS = ("note", "profile", "ssn", "card_number", "acct", "status", "x1", "obligations")
LEAVES = (None, True, False, 0, 7, 99999, 100000, -100000, 123456789, 4111111111111111,
          4111111111111111.0, 1.5, "", "abc", "4111 1111 1111 1111", "SSN 123-45-6789",
          "2019-05-04T10:00:00.000000Z", "account 12345678", "call 972-734-1111",
          "[redacted card ...1111 hmac:0123456789abcdef]")


def value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.35:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice(LEAVES)


def the_long_way(record):
    return json.loads(canonical.dumps(REDACTOR.scrub(record)))


def same(kept, record) -> None:
    expected = the_long_way(record)
    assert kept == expected
    assert json.dumps(kept) == json.dumps(expected)  # the same key order, the same types


@pytest.mark.parametrize("seed", range(20))
def test_a_record_kept_reduced_is_the_one_read_back(seed):
    rng = random.Random(seed)
    for _ in range(200):
        record = value(rng)
        same(REDACTOR.kept(record, {}), record)


@pytest.mark.parametrize("seed", range(10))
def test_events_that_share_what_was_kept_get_what_the_long_way_gives(seed):
    """Each event changes a few values over the record kept for the event before (copy on
    write, as the evaluator does): the parts it shares are not walked again, and the result is
    the long way's over the whole record, the parts already reduced reduced again."""
    rng = random.Random(seed)
    for _ in range(50):
        clean: dict = {}
        kept = REDACTOR.kept({"profile": {"note": rng.choice(LEAVES)}, "_journal": []}, clean)
        for step in range(8):
            record = dict(kept)
            record["_journal"] = kept["_journal"] + [["2019", step, "set", ["profile"],
                                                      value(rng)]]
            if rng.random() < 0.5:
                record["profile"] = dict(kept["profile"], **{rng.choice(KEYS): value(rng)})
            kept = REDACTOR.kept(record, clean)
            same(kept, record)


@pytest.mark.parametrize("irregular", [{1: "a"}, {"a": ("4111 1111 1111 1111",)},
                                       {"a": float("inf")}, {"a": {"b", "c"}}])
def test_a_value_json_would_not_read_back_as_it_is_is_refused(irregular):
    with pytest.raises(ValueError):
        REDACTOR.kept(irregular, {})


def test_the_chain_hash_from_texts_is_the_records_hash():
    rng = random.Random(7)
    for seq in range(1, 300):
        event, decision = value(rng), {"outcomes": value(rng), "text": "\u2028\u0085é"}
        for policy_hash in (None, "ab" * 32):
            for engine in (None, "0.1.0"):
                record = link(seq, event, decision, policy_hash, "0" * 64, engine)
                assert record["hash"] == text_hash(seq, canonical.dumps(event),
                                                   canonical.dumps(decision), policy_hash,
                                                   "0" * 64, engine)


def test_the_decision_id_is_base32_of_the_sha256():
    rng = random.Random(11)
    alphabet = "abcxyz0189-_ é\u2028\U0001f600"
    for _ in range(2000):
        parts = ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(3)]
        digest = hashlib.sha256(canonical.dumps(parts).encode("utf-8", "surrogatepass")).digest()
        assert decision_id(*parts) == "dec_" + base64.b32encode(digest).decode().lower()[:26]
