"""Property 5: no card, bank account, routing or social security number placed in an event is
ever given back or kept.

A number (a Luhn-valid card number of 13 to 19 digits, a bank account number, an ABA routing
number, an SSN) is written into a schema-valid event in one of its spellings (bare, in groups
separated by a space, two spaces, a dot, a dash, a no-break space, ``_`` or ``/``, inside a
longer run of digits, as a JSON integer or float) and placed somewhere: each placement is its
own test case, so that each reports its own smallest example. The event is then evaluated
(``clauseline.evaluate``), replayed as a log line (``Session.replay``), submitted to a
fresh SQLite store, and made into the message ``clauseline publish`` and ``serve
--enqueue-nats`` put in the NATS events stream (and decided from it, as a consumer does); the
number must not appear, in any spelling, as its bare digits or inside a
longer run of digits, in

- the decision's canonical JSON, error messages included, of each of the three;
- the text renderings of the decision (``clauseline.explain.describe`` and ``report``);
- any column of any row of any table of the store, or the bytes of its database file and WAL
  after a checkpoint.

A card number, and an SSN written in its 3-2-4 groups, show what they are by their shape. A
bank account or routing number, and an SSN written as nine bare digits, do not: such a number
is also given under the member the schemas name for it (``payment.made``'s ``account_number``,
``routing_number``, ``ssn``: the members marked ``writeOnly``), or, in events of other types,
under an extension attribute of that name, so that the engine can know it (the issue:
"redaction works on values and the vocabulary of the schemas"), and must then not let it out
wherever else it appears in the event.

Envelope ``id``, ``source`` and ``subject`` are documented as kept as given (they are the
store's keys), and get no numbers here. ``type`` and ``time`` are echoed in every decision,
valid or not (decision.schema.json); they have cases of their own.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clauseline import Session, empty_state, evaluate
from clauseline.explain import describe, report

from .conftest import (SLOW_FACTOR, Schemas, bounded, database_texts, find_number, generator,
                       one_class, secrets, set_at, shared_policy)

#: The member names of the schemas' vocabulary of raw numbers, by the kind each holds.
WRITE_ONLY = Schemas().write_only_members()


def kind_of_member(name: str) -> str | None:
    """What a write-only member holds, by its name."""
    lowered = name.lower()
    for word, kind in (("routing", "routing"), ("card", "card"), ("account", "bank_account"),
                       ("ssn", "ssn"), ("social", "ssn")):
        if word in lowered:
            return kind
    return None


VOCABULARY = {name: kind_of_member(name) for name in WRITE_ONLY}


def test_every_write_only_member_is_known():
    """The schemas' raw-number members: each is a kind of number this property places, and every
    kind has one (a new writeOnly member must be taught here, or it goes untested)."""
    assert VOCABULARY and None not in VOCABULARY.values(), VOCABULARY
    assert set(VOCABULARY.values()) == {"card", "bank_account", "routing", "ssn"}


def _extension_name(member: str) -> str:
    """An extension attribute name for a member (lower-case letters and digits)."""
    return re.sub(r"[^a-z0-9]", "", member.lower())[:20]


#: Where a number is placed; each is one test case.
PLACEMENTS = {
    "payment_member": "the payment.made member the schemas name for the number",
    "extension_attribute": "an extension attribute named like the number (cardnumber, ssn, ...)",
    "free_text": "inside a free text (a reason, a name, a purpose), between words",
    "identifier_in_data": "a data member that is an id (request_id, recording_id)",
    "enum_member": "a member with an enumeration (refused: schema.enum)",
    "patterned_member": "a member with a pattern (a currency, a region, datacontenttype; refused)",
    "time_member": "a date or date-time member of data (refused: schema.format)",
    "number_member": "a number member (an amount, a fee), as a JSON integer or float",
    "too_long": "a string member, made longer than its maxLength with the number (refused)",
    "data_member_name": "the name of an unknown member of data (refused)",
    "unknown_member_value": "an unknown member of data named for it (cardNumber, SSN, ...; refused)",
    "extension_name": "the name of an extension attribute",
    "envelope_type": "the envelope's type (refused: event.unknown_type)",
    "envelope_time": "the envelope's time (refused: schema.format)",
}

_WORDS = ["", "card ", "paid with ", "SSN ", "acct no. ", "ref: ", "routing "]


def _string_of(secret) -> str:
    return secret.value if isinstance(secret.value, str) else str(secret.value)


def _data_nodes(gen, event, accept):
    return [n for n in gen.nodes(event) if n.path[:1] == ("data",) and len(n.path) > 1
            and accept(n)]


def _name(node) -> str:
    return next((p for p in reversed(node.path) if isinstance(p, str)), "")


def _is_identifier(node) -> bool:
    return _name(node).endswith("_id")


def _is_subject_id(node) -> bool:
    # a subject id (the envelope's, or a call party's `subject`) keys the subject's record and
    # is kept as given, like the envelope's identifiers (SECURITY.md, "What is not protected"):
    # no placement puts a number there
    return _name(node) == "subject"


def _free(node) -> bool:
    s = node.schema
    return (isinstance(node.value, str) and "enum" not in s and "format" not in s
            and "pattern" in s and one_class(s["pattern"]) is not None)


@st.composite
def leaky_events(draw, placement: str):
    """``(event, secret)``: a schema-valid event with a sensitive number placed as named."""
    gen = generator()
    numbers = placement in ("extension_attribute", "number_member", "payment_member",
                            "unknown_member_value")
    secret = draw(secrets(numbers=numbers))
    if placement == "number_member" and isinstance(secret.value, str):
        assume(secret.digits[0] != "0")
        secret = type(secret)(secret.kind, secret.digits, int(secret.digits), "integer")
    kind = "payment.made" if placement == "payment_member" else None
    event = draw(gen.event(kind))
    text = _string_of(secret)

    if placement == "payment_member":
        member = draw(st.sampled_from(sorted(m for m, k in VOCABULARY.items() if k == secret.kind)))
        event = set_at(event, ("data", member), secret.value)
    elif placement == "extension_attribute":
        member = draw(st.sampled_from(sorted(m for m, k in VOCABULARY.items() if k == secret.kind)))
        event = dict(event, **{_extension_name(member): secret.value})
    elif placement == "free_text":
        sites = _data_nodes(gen, event, lambda n: _free(n) and not _is_identifier(n)
                            and not _is_subject_id(n))
        assume(sites)
        node = draw(st.sampled_from(sites))
        value = draw(st.sampled_from(_WORDS)) + text + draw(st.sampled_from(["", " thanks", "."]))
        event = set_at(event, node.path, value)
    elif placement == "identifier_in_data":
        sites = _data_nodes(gen, event, lambda n: _free(n) and _is_identifier(n))
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, text)
    elif placement == "enum_member":
        sites = _data_nodes(gen, event, lambda n: isinstance(n.value, str) and "enum" in n.schema)
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, text)
    elif placement == "patterned_member":
        sites = [n for n in gen.nodes(event) if isinstance(n.value, str) and "pattern" in n.schema
                 and one_class(n.schema["pattern"]) is None and "format" not in n.schema
                 and n.path not in (("id",), ("source",), ("subject",), ("type",), ("time",))]
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, text)
    elif placement == "time_member":
        sites = _data_nodes(gen, event, lambda n: n.schema.get("format") in ("date", "date-time"))
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, text)
    elif placement == "number_member":
        sites = _data_nodes(gen, event, lambda n: n.schema.get("type") in ("number", "integer"))
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, secret.value)
    elif placement == "too_long":
        sites = _data_nodes(gen, event, lambda n: _free(n) and "maxLength" in n.schema)
        assume(sites)
        node = draw(st.sampled_from(sites))
        value = (text + " ") * (node.schema["maxLength"] // (len(text) + 1) + 1)
        event = set_at(event, node.path, value)
    elif placement == "data_member_name":
        assume(isinstance(event.get("data"), dict))
        event = set_at(event, ("data",), dict(event["data"], **{text: "x"}))
    elif placement == "unknown_member_value":
        assume(isinstance(event.get("data"), dict))
        name = draw(st.sampled_from(["cardNumber", "card_no", "SSN", "socialSecurityNumber",
                                     "accountNumber", "routingNumber", "bank_account"]))
        assume(name not in event["data"])
        event = set_at(event, ("data",), dict(event["data"], **{name: secret.value}))
    elif placement == "extension_name":
        name = secret.digits[:20]
        assume(name not in event)
        event = dict(event, **{name: "x"})
    elif placement == "envelope_type":
        event = dict(event, type=text)
    elif placement == "envelope_time":
        event = dict(event, time=text)
    else:  # pragma: no cover - PLACEMENTS and this function are kept in step
        raise AssertionError(placement)

    if not secret.shape_known and placement not in ("payment_member", "extension_attribute"):
        # give the engine the means to know it: the number also under its own member
        member = draw(st.sampled_from(sorted(m for m, k in VOCABULARY.items() if k == secret.kind)))
        if event.get("type") == "payment.made" and isinstance(event.get("data"), dict):
            event = set_at(event, ("data", member), secret.digits)
        else:
            event = dict(event, **{_extension_name(member): secret.digits})
    return event, secret


def outputs(template: Path, event) -> dict[str, str]:
    """Everything that is given back or kept for one event, as ``{where: text}``."""
    from clauseline.store import open_store

    policy = shared_policy()
    out: dict[str, str] = {}
    decision, _ = evaluate(policy, empty_state(), event)
    out["evaluate: decision"] = decision.to_json()
    out["evaluate: explain.describe"] = describe(decision, policy)
    out["evaluate: explain.report"] = report(decision)
    (_, replayed), = list(Session(policy).replay([json.dumps(event, ensure_ascii=False)]))
    out["replay: decision"] = replayed.to_json()
    out["replay: explain.describe"] = describe(replayed, policy)
    # the NATS events stream (clauseline publish, serve --enqueue-nats): the message as it is
    # published, and the decision a consumer makes from it (what the decisions stream carries)
    from clauseline.stream.partitioning import Router
    from clauseline.stream.publish import Watermark, messages_for
    from clauseline.stream.reduction import StreamRedactor
    messages, _ = messages_for(Router(policy, 6), "EVENTS",
                               json.dumps(event, ensure_ascii=False).encode(),
                               StreamRedactor(b"a key"), Watermark(policy))
    out["nats: events stream message"] = "\n".join(
        " ".join([subject, json.dumps(headers), data.decode("utf-8", "replace")])
        for subject, headers, data in messages)
    body = messages[0][2]
    (_, consumed), = list(Session(policy).replay([body.decode("utf-8", "surrogateescape")]))
    out["nats: decision of a consumer"] = consumed.to_json()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clauseline.db"
        shutil.copyfile(template, path)
        store = open_store(f"sqlite:///{path}")
        try:
            stored = Session(policy, store).submit(event)
            out["store: decision"] = stored.to_json()
        finally:
            store.close()
        for where, text in database_texts(path).items():
            out[f"store: {where}"] = text
    return out


def check_no_leak(template: Path, event, secret) -> None:
    leaks = {}
    for where, text in outputs(template, event).items():
        found = find_number(text, secret.digits)
        if found is not None:
            at = text.find(found)
            leaks[where] = text[max(0, at - 60): at + len(found) + 30]
    assert not leaks, (f"a {secret.kind} number written {secret.style} ({secret.value!r}) "
                       f"comes out in: " + json.dumps(leaks, ensure_ascii=False, indent=1))


@pytest.mark.parametrize("placement", list(PLACEMENTS))
@bounded(15)
@given(data=st.data())
def test_no_number_placed_in_an_event_comes_out(store_template, placement, data):
    event, secret = data.draw(leaky_events(placement), label="event, secret")
    check_no_leak(store_template, event, secret)


@pytest.mark.slow
@pytest.mark.parametrize("placement", list(PLACEMENTS))
@bounded(15 * SLOW_FACTOR)
@given(data=st.data())
def test_no_number_placed_in_an_event_comes_out_longer(store_template, placement, data):
    event, secret = data.draw(leaky_events(placement), label="event, secret")
    check_no_leak(store_template, event, secret)
