"""The JSON Schemas in ``schemas/``: well-formed, consistently identified, and strict where the
contract says so.

Every schema is checked against the 2020-12 metaschema, all are loaded into one ``referencing``
registry by ``$id`` (as the engine does), and realistic events, outcomes and decisions are
validated against them. Invalid cases assert the JSON Pointer of each error, the location a
rejected decision reports.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
BASE = "https://clauseline.dev/schemas/"
DEFS = BASE + "defs.schema.json"
ENVELOPE = BASE + "cloudevent.schema.json"
OUTCOME = BASE + "outcome.schema.json"
DECISION = BASE + "decision.schema.json"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

#: The contract's event catalogue (section 1).
CATALOGUE = [
    "account.opened", "profile.updated", "website.visited", "cookie.preference.changed",
    "call.recorded", "svv.session.recorded", "payment.made", "disclosure.requested",
    "ccpa.request.filed", "ccpa.request.extended", "ccpa.response.delivered",
    "ccpa.request.verified", "ccpa.response.prepared", "communication.opted_out", "message.send.requested", "child.identified", "service.changed",
    "policy.changed", "clock.tick",
]
#: Event types whose envelope carries no subject (so their data carries no inline profile).
SUBJECTLESS = {"clock.tick", "policy.changed"}
#: The contract's closed vocabulary of data categories.
CATEGORIES = [
    "name", "date_of_birth", "ssn", "email", "mailing_address", "phone", "credit_card",
    "debit_card", "bank_account", "location", "voice", "video", "call_details", "account_info",
    "account_history", "device_id", "mac_address", "ip_address", "browsing_history",
    "money_transfer",
]
#: The schemas of the event/decision contract (rule-file schemas live beside them).
CONTRACT_SCHEMAS = (
    ["defs.schema.json", "cloudevent.schema.json", "outcome.schema.json", "decision.schema.json"]
    + [f"events/{t}.schema.json" for t in CATALOGUE]
)

SCHEMA_FILES = sorted(SCHEMAS.rglob("*.schema.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def registry() -> Registry:
    resources = []
    for path in SCHEMA_FILES:
        contents = _load(path)
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@pytest.fixture(scope="module")
def validator(registry):
    cache: dict[str, Draft202012Validator] = {}

    def get(schema_id: str) -> Draft202012Validator:
        if schema_id not in cache:
            cache[schema_id] = Draft202012Validator(
                registry.contents(schema_id), registry=registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER)
        return cache[schema_id]

    return get


def event_schema(event_type: str) -> str:
    return f"{BASE}events/{event_type}.schema.json"


def pointer(error) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path)


def errors(validator, schema_id: str, instance) -> list[tuple[str, str]]:
    """(JSON Pointer, failing keyword) of every error, sorted."""
    return sorted((pointer(e), e.validator) for e in validator(schema_id).iter_errors(instance))


def paths(validator, schema_id: str, instance) -> set[str]:
    return {p for p, _ in errors(validator, schema_id, instance)}


# ---------------------------------------------------------------------------- examples

#: One realistic, valid ``data`` object per event type.
VALID_DATA = {
    "account.opened": {
        "profile": {
            "role": "customer",
            "user_type": "family",
            "residence": {"country": "US", "region": "US-CA"},
            "birth_date": "1984-11-02",
        },
        "collected": ["name", "date_of_birth", "email", "mailing_address", "phone", "credit_card"],
        "channel": "web",
    },
    "profile.updated": {"profile": {"residence": {"country": "MX"}}},
    "website.visited": {
        "session_id": "sess-81",
        "dnt": True,
        "collected": ["ip_address", "device_id", "browsing_history", "location"],
        "location": {"country": "US", "region": "US-TX"},
        "cookies": [{"purpose": "mobile_full_site", "set": True}, {"purpose": "remember_me", "set": True}],
    },
    "cookie.preference.changed": {"purpose": "remember_me", "enabled": False},
    "call.recorded": {
        "call_id": "call-3301",
        "facility_id": "tx-dallas-01",
        "recording_id": "rec-9",
        "monitored": True,
        "parties": [
            {"subject": "det-5521", "user_type": "detainee"},
            {"subject": "acct-1", "user_type": "family"},
        ],
        "collected": ["voice", "call_details", "phone"],
    },
    "svv.session.recorded": {
        "session_id": "svv-77",
        "facility_id": "tx-dallas-01",
        "recording_id": "rec-10",
        "participants": [
            {"subject": "det-5521", "user_type": "detainee", "role": "participant"},
            {"subject": "acct-1", "user_type": "family", "role": "participant"},
            {"subject": "acct-2", "user_type": "clergy", "role": "observer"},
        ],
        "collected": ["video", "voice"],
    },
    "payment.made": {
        "transaction_id": "tx-4410",
        "amount": 25.0,
        "currency": "USD",
        "instrument": "credit_card",
        "status": "completed",
        "encrypted_in_transit": True,
        "product": "svv",
        "card_number": "4111111111111111",
    },
    "disclosure.requested": {
        "request_id": "dr-12",
        "recipient": {"kind": "law_enforcement", "name": "Dallas County Sheriff"},
        "purpose": "legal_process",
        "data_categories": ["voice", "call_details"],
        "legal_process": {"kind": "subpoena", "reference": "DC-2019-0042"},
        "recording_id": "rec-9",
    },
    "ccpa.request.filed": {
        "request_id": "ccpa-1",
        "kinds": ["categories", "specific_pieces"],
        "delivery": "electronic",
        "has_account": False,
    },
    "ccpa.request.extended": {"request_id": "ccpa-1"},
    "ccpa.request.verified": {"request_id": "ccpa-1", "verification": {"status": "verified"}},
    "ccpa.response.prepared": {
        "request_id": "ccpa-1",
        "period": {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00Z"},
        "digest": "sha256:" + "0123456789abcdef" * 4,
    },
    "ccpa.response.delivered": {
        "request_id": "ccpa-1",
        "channel": "electronic",
        "portable_format": True,
        "fee": 0,
        "period": {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00Z"},
    },
    "communication.opted_out": {"channel": "email", "method": "email_link"},
    "message.send.requested": {"message_id": "msg-9", "channel": "email", "category": "marketing"},
    "child.identified": {"birth_date": "2008-03-14", "parental_consent_verified": False, "reported_by": "parent"},
    "service.changed": {"change": "price_increase", "reason": "ccpa_rights_exercised"},
    "policy.changed": {
        "version": "securus-2019-09-01",
        "effective_at": "2019-09-01T00:00:00-05:00",
        "advance_notice_required": True,
    },
    "clock.tick": {},
}


def envelope(event_type: str, data=None, **attributes) -> dict:
    event = {
        "specversion": "1.0",
        "id": "e-17",
        "source": "/facilities/tx-dallas-01/calls",
        "type": event_type,
        "time": "2019-07-01T09:00:00Z",
        "data": copy.deepcopy(VALID_DATA[event_type]) if data is None else data,
    }
    if event_type not in SUBJECTLESS:
        event["subject"] = "acct-1"
    event.update(attributes)
    return event


def with_changes(event_type: str, changes: dict, drop: tuple = ()) -> dict:
    data = copy.deepcopy(VALID_DATA[event_type])
    data.update(copy.deepcopy(changes))
    for key in drop:
        del data[key]
    return data


# ---------------------------------------------------------------------------- the files


def test_catalogue_has_one_schema_per_type():
    found = sorted(p.name[: -len(".schema.json")] for p in (SCHEMAS / "events").glob("*.schema.json"))
    assert found == sorted(CATALOGUE)
    assert sorted(VALID_DATA) == sorted(CATALOGUE)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(SCHEMAS)))
def test_schema_is_valid_2020_12(path):
    schema = _load(path)
    assert schema["$schema"] == DRAFT_2020_12
    Draft202012Validator.check_schema(schema)
    assert schema.get("title") and schema.get("description")


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(SCHEMAS)))
def test_id_matches_path(path):
    assert _load(path)["$id"] == BASE + path.relative_to(SCHEMAS).as_posix()


def test_ids_are_unique():
    ids = [_load(p)["$id"] for p in SCHEMA_FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", CONTRACT_SCHEMAS)
def test_formatting_is_two_space_json(name):
    text = (SCHEMAS / name).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def _nodes(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


@pytest.mark.parametrize("name", CONTRACT_SCHEMAS)
def test_closed_objects_declare_what_they_require(name):
    for node in _nodes(_load(SCHEMAS / name)):
        closed = node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False
        if closed and "required" in node:
            assert set(node["required"]) <= set(node.get("properties", {})), node["required"]


@pytest.mark.parametrize("name", CONTRACT_SCHEMAS)
def test_cross_file_refs_are_absolute_and_resolve(name, registry):
    resolver = registry.resolver(base_uri=_load(SCHEMAS / name)["$id"])
    for node in _nodes(_load(SCHEMAS / name)):
        target = node.get("$ref")
        if isinstance(target, str):
            assert target.startswith(("#", BASE)), target
            resolver.lookup(target)


@pytest.mark.parametrize("event_type", CATALOGUE)
def test_event_schema_shape(event_type):
    schema = _load(SCHEMAS / "events" / f"{event_type}.schema.json")
    assert schema["type"] == "object"
    assert schema["unevaluatedProperties"] is False
    inline = schema.get("properties", {}).get("profile", {}).get("$ref")
    if event_type in SUBJECTLESS:
        assert inline is None
    elif event_type == "account.opened":
        assert inline == DEFS + "#/$defs/profile"
        assert "profile" in schema["required"]
    else:
        assert inline == DEFS + "#/$defs/profile_patch"


def test_data_categories_are_the_contract_vocabulary_mapped_to_fideslang():
    category = _load(SCHEMAS / "defs.schema.json")["$defs"]["data_category"]
    assert category["enum"] == CATEGORIES
    mapping = category["x-fideslang"]
    assert list(mapping) == CATEGORIES
    assert all(key == "user" or key.startswith("user.") for key in mapping.values())


# ---------------------------------------------------------------------------- events


@pytest.mark.parametrize("event_type", CATALOGUE)
def test_valid_data(event_type, validator):
    assert errors(validator, event_schema(event_type), VALID_DATA[event_type]) == []


@pytest.mark.parametrize("event_type", CATALOGUE)
def test_valid_envelope(event_type, validator):
    assert errors(validator, ENVELOPE, envelope(event_type)) == []


@pytest.mark.parametrize("event_type", sorted(set(CATALOGUE) - SUBJECTLESS - {"account.opened", "profile.updated"}))
def test_any_subject_event_may_carry_an_inline_profile(event_type, validator):
    data = with_changes(event_type, {"profile": {"role": "svv_user", "parental_consent_verified": True}})
    assert errors(validator, event_schema(event_type), data) == []


VALID_EDGES = {
    "legal process without reference (the rules decide)": (
        "disclosure.requested",
        with_changes("disclosure.requested", {"legal_process": {"kind": "warrant"}}),
    ),
    "disclosure without legal process or consent": (
        "disclosure.requested",
        with_changes("disclosure.requested", {"purpose": "fraud_investigation"}, drop=("legal_process", "recording_id")),
    ),
    "cookie for an unknown purpose (a violation, not a schema error)": (
        "website.visited",
        with_changes("website.visited", {"cookies": [{"purpose": "ad_tracking", "set": True}]}),
    ),
    "request by an authorised agent, still to be verified": (
        "ccpa.request.filed",
        with_changes("ccpa.request.filed", {"agent": {"proof": "power_of_attorney"},
                                            "verification": {"status": "pending"}}),
    ),
    "request failing verification, with its reason": (
        "ccpa.request.filed",
        with_changes("ccpa.request.filed", {"verification": {"status": "failed",
                                                             "reason": "identity_not_confirmed"}}),
    ),
    "visit of unknown location, no cookies": (
        "website.visited",
        with_changes("website.visited", {"cookies": []}, drop=("location",)),
    ),
    "collected category clause A does not list (a violation, not a schema error)": (
        "account.opened",
        with_changes("account.opened", {"collected": ["name", "money_transfer"]}),
    ),
    "service change for another reason": (
        "service.changed",
        with_changes("service.changed", {"change": "service_denied", "reason": "non_payment"}),
    ),
    "payment without raw sensitive values, offset time, integer amount": (
        "payment.made",
        with_changes("payment.made", {"amount": 10, "status": "failed"}, drop=("card_number",)),
    ),
    "payment carrying every raw sensitive value": (
        "payment.made",
        with_changes("payment.made", {"instrument": "bank_account", "account_number": "000123456789",
                                      "routing_number": "111000025", "ssn": "078-05-1120"}),
    ),
    "delivery naming the document it delivered": (
        "ccpa.response.delivered",
        with_changes("ccpa.response.delivered", {"document_digest": "sha256:" + "f" * 64}),
    ),
    "ccpa period with offsets": (
        "ccpa.response.delivered",
        with_changes("ccpa.response.delivered", {"period": {"from": "2018-07-01T04:00:00-05:00", "to": "2019-07-01T09:00:00.5+00:00"}}),
    ),
}


@pytest.mark.parametrize("event_type, data", VALID_EDGES.values(), ids=list(VALID_EDGES))
def test_valid_edge_cases(event_type, data, validator):
    assert errors(validator, event_schema(event_type), data) == []


INVALID_DATA = {
    "amount as a string": (
        "payment.made", with_changes("payment.made", {"amount": "25.00"}), {("/amount", "type")}),
    "negative amount": (
        "payment.made", with_changes("payment.made", {"amount": -1}), {("/amount", "minimum")}),
    "lower-case currency": (
        "payment.made", with_changes("payment.made", {"currency": "usd"}), {("/currency", "pattern")}),
    "unknown key": (
        "account.opened", with_changes("account.opened", {"shoe_size": 9}), {("", "unevaluatedProperties")}),
    "category outside the vocabulary": (
        "website.visited",
        with_changes("website.visited", {"collected": ["ip_address", "shoe_size"]}),
        {("/collected/1", "enum")}),
    "category repeated": (
        "call.recorded", with_changes("call.recorded", {"collected": ["voice", "voice"]}),
        {("/collected", "uniqueItems")}),
    "missing required field": (
        "disclosure.requested", with_changes("disclosure.requested", {}, drop=("purpose",)),
        {("", "required")}),
    "legal process of an unknown kind": (
        "disclosure.requested",
        with_changes("disclosure.requested", {"legal_process": {"kind": "letter", "reference": "x"}}),
        {("/legal_process/kind", "enum")}),
    "legal process without kind": (
        "disclosure.requested",
        with_changes("disclosure.requested", {"legal_process": {"reference": "DC-1"}}),
        {("/legal_process", "required")}),
    "unknown recipient kind": (
        "disclosure.requested",
        with_changes("disclosure.requested", {"recipient": {"kind": "journalist", "name": "x"}}),
        {("/recipient/kind", "enum")}),
    "disclosure of no category": (
        "disclosure.requested", with_changes("disclosure.requested", {"data_categories": []}),
        {("/data_categories", "minItems")}),
    "full profile without role": (
        "account.opened",
        with_changes("account.opened", {"profile": {"user_type": "family"}}),
        {("/profile", "required")}),
    "empty profile patch": (
        "profile.updated", {"profile": {}}, {("/profile", "minProperties")}),
    "unknown profile field": (
        "profile.updated", {"profile": {"favourite_colour": "blue"}},
        {("/profile", "additionalProperties")}),
    "unknown role": (
        "message.send.requested",
        with_changes("message.send.requested", {"profile": {"role": "guard"}}),
        {("/profile/role", "enum")}),
    "country not ISO alpha-2": (
        "profile.updated", {"profile": {"residence": {"country": "USA"}}},
        {("/profile/residence/country", "pattern"), ("/profile/residence/country", "maxLength")}),
    "region with a trailing newline": (
        "profile.updated", {"profile": {"residence": {"country": "US", "region": "US-CA\n"}}},
        {("/profile/residence/region", "pattern")}),
    "impossible birth date": (
        "child.identified", with_changes("child.identified", {"birth_date": "2008-02-30"}),
        {("/birth_date", "format")}),
    "cookie without set": (
        "website.visited", with_changes("website.visited", {"cookies": [{"purpose": "remember_me"}]}),
        {("/cookies/0", "required")}),
    "location with an unknown key": (
        "website.visited",
        with_changes("website.visited", {"location": {"country": "US", "city": "Dallas"}}),
        {("/location", "additionalProperties")}),
    "session without participants": (
        "svv.session.recorded", with_changes("svv.session.recorded", {"participants": []}),
        {("/participants", "minItems")}),
    "participant of an unknown role": (
        "svv.session.recorded",
        with_changes("svv.session.recorded", {"participants": [{"subject": "a", "user_type": "family", "role": "host"}]}),
        {("/participants/0/role", "enum")}),
    "party with an unknown key": (
        "call.recorded",
        with_changes("call.recorded", {"parties": [{"subject": "a", "user_type": "family", "phone": "1"}]}),
        {("/parties/0", "additionalProperties")}),
    "period end without offset": (
        "ccpa.response.delivered",
        with_changes("ccpa.response.delivered", {"period": {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00"}}),
        {("/period/to", "pattern"), ("/period/to", "format")}),
    "unknown request kind": (
        "ccpa.request.filed", with_changes("ccpa.request.filed", {"kinds": ["everything"]}),
        {("/kinds/0", "enum")}),
    "failed verification without a reason": (
        "ccpa.request.filed",
        with_changes("ccpa.request.filed", {"verification": {"status": "failed"}}),
        {("/verification", "required")}),
    "unknown verification status": (
        "ccpa.request.verified", {"request_id": "r-1", "verification": {"status": "pending"}},
        {("/verification/status", "enum")}),
    "verification result without a verification": (
        "ccpa.request.verified", {"request_id": "r-1"}, {("", "required")}),
    "agent without proof named": (
        "ccpa.request.filed", with_changes("ccpa.request.filed", {"agent": {"name": "Agent"}}),
        {("/agent", "required"), ("/agent", "additionalProperties")}),
    "digest in upper case": (
        "ccpa.response.prepared", with_changes("ccpa.response.prepared", {"digest": "sha256:" + "AB" * 32}),
        {("/digest", "pattern")}),
    "digest of another algorithm": (
        "ccpa.response.prepared", with_changes("ccpa.response.prepared", {"digest": "md5:" + "a" * 32}),
        {("/digest", "pattern")}),
    "digest one digit short": (
        "ccpa.response.prepared", with_changes("ccpa.response.prepared", {"digest": "sha256:" + "a" * 63}),
        {("/digest", "pattern")}),
    "digest with a trailing newline": (
        "ccpa.response.prepared", with_changes("ccpa.response.prepared", {"digest": "sha256:" + "a" * 64 + "\n"}),
        {("/digest", "pattern")}),
    "prepared document without a period": (
        "ccpa.response.prepared", {"request_id": "r-1", "digest": "sha256:" + "a" * 64}, {("", "required")}),
    "prepared document period without offset": (
        "ccpa.response.prepared",
        with_changes("ccpa.response.prepared", {"period": {"from": "2018-07-01T09:00:00", "to": "2019-07-01T09:00:00Z"}}),
        {("/period/from", "pattern"), ("/period/from", "format")}),
    "delivered document digest not a digest": (
        "ccpa.response.delivered", with_changes("ccpa.response.delivered", {"document_digest": "4111111111111111"}),
        {("/document_digest", "pattern")}),
    "negative fee": (
        "ccpa.response.delivered", with_changes("ccpa.response.delivered", {"fee": -5}),
        {("/fee", "minimum")}),
    "unknown message channel": (
        "message.send.requested", with_changes("message.send.requested", {"channel": "pigeon"}),
        {("/channel", "enum")}),
    "unknown service change": (
        "service.changed", with_changes("service.changed", {"change": "fired"}), {("/change", "enum")}),
    "tick with data": (
        "clock.tick", {"now": "2019-07-01T09:00:00Z"},
        {("", "maxProperties"), ("", "unevaluatedProperties")}),
    "profile on a subject-less event": (
        "policy.changed", with_changes("policy.changed", {"profile": {"role": "customer"}}),
        {("", "unevaluatedProperties")}),
    "id too long": (
        "ccpa.request.extended", {"request_id": "r" * 257}, {("/request_id", "maxLength")}),
    "id with a control character": (
        "ccpa.request.extended", {"request_id": "r-1\n"}, {("/request_id", "pattern")}),
    "raw card number as a number": (
        "payment.made", with_changes("payment.made", {"card_number": 4111111111111111}),
        {("/card_number", "type")}),
}


@pytest.mark.parametrize("event_type, data, expected", INVALID_DATA.values(), ids=list(INVALID_DATA))
def test_invalid_data(event_type, data, expected, validator):
    assert set(errors(validator, event_schema(event_type), data)) == expected


INVALID_ENVELOPES = {
    "time without offset": (
        envelope("call.recorded", time="2019-07-01T09:00:00"),
        {("/time", "pattern"), ("/time", "format")}),
    "time with a trailing newline": (
        envelope("call.recorded", time="2019-07-01T09:00:00Z\n"), {("/time", "pattern")}),
    "subject missing": (
        {k: v for k, v in envelope("call.recorded").items() if k != "subject"}, {("", "required")}),
    "wrong specversion": (envelope("clock.tick", specversion="0.3"), {("/specversion", "const")}),
    "data not an object": (envelope("clock.tick", data=[]), {("/data", "type")}),
    "data missing": (
        {k: v for k, v in envelope("clock.tick").items() if k != "data"}, {("", "required")}),
    "empty id": (envelope("clock.tick", id=""), {("/id", "minLength")}),
    "extension attribute with an object value": (
        envelope("clock.tick", tenant={"id": 1}), {("/tenant", "type")}),
    "extension attribute name in upper case": (
        envelope("clock.tick", Tenant="x"), {("", "pattern")}),
    "binary data": (envelope("clock.tick", data_base64="e30="), {("", "pattern")}),
    "non-JSON content type": (
        envelope("clock.tick", datacontenttype="text/xml"), {("/datacontenttype", "pattern")}),
}


@pytest.mark.parametrize("event, expected", INVALID_ENVELOPES.values(), ids=list(INVALID_ENVELOPES))
def test_invalid_envelope(event, expected, validator):
    assert set(errors(validator, ENVELOPE, event)) == expected


def test_envelope_allows_extension_attributes_and_leaves_type_to_the_engine(validator):
    event = envelope("call.recorded", traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                     partitionkey=7, sampled=True, datacontenttype="application/json",
                     dataschema=BASE + "events/call.recorded.schema.json")
    assert errors(validator, ENVELOPE, event) == []
    assert errors(validator, ENVELOPE, envelope("clock.tick", type="parcel.delivered", subject="p-1")) == []


def test_subjectless_types_may_still_carry_a_subject(validator):
    assert errors(validator, ENVELOPE, envelope("policy.changed", subject="acct-1")) == []


def test_source_must_be_a_uri_reference(validator):
    pytest.importorskip("rfc3986_validator")
    assert set(errors(validator, ENVELOPE, envelope("clock.tick", source="not a uri"))) == {("/source", "format")}


# ---------------------------------------------------------------------------- outcomes

VALID_OUTCOMES = {
    "disclosure": {
        "kind": "disclosure", "subject": "acct-1", "clause": "G", "rule": "G.recorded-call-available-to-law-enforcement",
        "effect": "permit", "recipient": "law_enforcement", "purpose": "law_enforcement_activity",
        "data_categories": ["call_details", "voice"], "ref": "recording:rec-9",
        "basis": [{"rule": "G.recorded-call-available-to-law-enforcement", "clause": "G",
                   "data_categories": ["call_details", "voice"]}],
    },
    "retention": {
        "kind": "retention", "subject": "acct-1", "clause": "C", "rule": "C.purge-payment-data-on-completion",
        "action": "purge", "data_categories": ["credit_card"], "target": "payment:tx-4410",
        "due_by": "2019-07-01T09:00:00Z",
    },
    "retention retain without due_by": {
        "kind": "retention", "subject": "acct-1", "clause": "K", "rule": "K.svv-data-retained",
        "action": "retain", "data_categories": ["video", "voice"], "target": "recording:rec-10",
    },
    "notice": {
        "kind": "notice", "subject": "acct-1", "clause": "U", "rule": "U.ccpa-extension-notice",
        "notice": "ccpa.extension", "to": "acct-1", "channel": "email", "due_by": "2019-07-01T09:00:00Z",
        "template": "ccpa.extension", "text": "We need 45 more days to answer your request.",
    },
    "public notice": {
        "kind": "notice", "subject": "*", "clause": "I", "rule": "I.policy-change-posted",
        "notice": "policy.change_posted", "to": "*", "channel": "website", "due_by": "2019-09-01T05:00:00Z",
    },
    "obligation": {
        "kind": "obligation", "subject": "acct-1", "clause": "U", "rule": "U.ccpa-respond-within-45-days",
        "obligation": "ccpa.respond", "ref": "ccpa-1", "status": "open", "due_by": "2019-08-15T09:00:00Z",
    },
    "declined obligation without due_by": {
        "kind": "obligation", "subject": "acct-1", "clause": "U", "rule": "U.ccpa-two-requests-per-12-months",
        "obligation": "ccpa.respond", "ref": "ccpa-3", "status": "declined",
    },
    "violation": {
        "kind": "violation", "subject": "acct-1", "clause": "U", "rule": "U.ccpa-deadline-missed",
        "violation": "ccpa.deadline_missed", "ref": "ccpa-1", "detail": "no response by 2019-08-15T09:00:00Z",
    },
}


@pytest.mark.parametrize("outcome", VALID_OUTCOMES.values(), ids=list(VALID_OUTCOMES))
def test_valid_outcome(outcome, validator):
    assert errors(validator, OUTCOME, outcome) == []


def _outcome(name: str, changes: dict, drop: tuple = ()) -> dict:
    out = dict(VALID_OUTCOMES[name], **changes)
    for key in drop:
        del out[key]
    return out


INVALID_OUTCOMES = {
    "disclosure without effect": (_outcome("disclosure", {}, drop=("effect",)), {("", "required")}),
    "field of another kind": (_outcome("retention", {"effect": "deny"}), {("", "enum")}),
    "unknown field": (_outcome("notice", {"priority": "high"}), {("", "enum")}),
    "unknown kind": (_outcome("violation", {"kind": "warning"}), {("/kind", "enum")}),
    "disclosure of no category": (_outcome("disclosure", {"data_categories": []}), {("/data_categories", "minItems")}),
    # any capital letter a policy.yaml indexes is a clause (rules check holds the policy to it)
    "clause not a capital letter": (_outcome("violation", {"clause": "x"}), {("/clause", "pattern")}),
    "rule id not a slug": (_outcome("violation", {"rule": "U.Deadline"}), {("/rule", "pattern")}),
    "rule id without clause": (_outcome("violation", {"rule": "deadline"}), {("/rule", "pattern")}),
    "delete without due_by": (_outcome("retention", {"action": "delete"}, drop=("due_by",)), {("", "required")}),
    "open obligation without due_by": (_outcome("obligation", {}, drop=("due_by",)), {("", "required")}),
    "violation without detail": (_outcome("violation", {}, drop=("detail",)), {("", "required")}),
    "null subject": (_outcome("violation", {"subject": None}), {("/subject", "type")}),
    "due_by without offset": (
        _outcome("notice", {"due_by": "2019-07-01T09:00:00"}), {("/due_by", "pattern"), ("/due_by", "format")}),
    "basis without clause": (
        _outcome("disclosure", {"basis": [{"rule": "G.x"}]}), {("/basis/0", "required")}),
    "unknown recipient": (_outcome("disclosure", {"recipient": "journalist"}), {("/recipient", "enum")}),
}


@pytest.mark.parametrize("outcome, expected", INVALID_OUTCOMES.values(), ids=list(INVALID_OUTCOMES))
def test_invalid_outcome(outcome, expected, validator):
    assert set(errors(validator, OUTCOME, outcome)) == expected


# ---------------------------------------------------------------------------- decisions

ACCEPTED = {
    "event_id": "e-17", "event_source": "/facilities/tx-01/calls", "event_type": "ccpa.request.filed",
    "time": "2019-07-01T09:00:00Z", "policy_version": "securus-2019-05-04", "status": "accepted",
    "outcomes": [VALID_OUTCOMES["obligation"]],
    "trace": ["U.ccpa-respond-within-45-days"],
}
REJECTED = {
    "event_id": "e-18", "event_source": "/payments", "event_type": "payment.made",
    "time": "2019-07-01T09:00:00", "policy_version": None, "status": "rejected",
    "outcomes": [], "trace": [],
    "errors": [
        {"path": "/time", "message": "'2019-07-01T09:00:00' is not a 'date-time'", "code": "schema.format"},
        {"path": "/data", "message": "unknown properties ('tip' was unexpected)", "code": "schema.unevaluatedProperties"},
    ],
}


def test_valid_decisions(validator):
    assert errors(validator, DECISION, ACCEPTED) == []
    assert errors(validator, DECISION, dict(ACCEPTED, status="duplicate")) == []
    assert errors(validator, DECISION, REJECTED) == []
    unreadable = dict(REJECTED, event_id=None, event_source=None, event_type=None, time=None,
                      errors=[{"path": "", "message": "not valid JSON", "code": "event.invalid_json"}])
    assert errors(validator, DECISION, unreadable) == []


def _decision(base: dict, changes: dict, drop: tuple = ()) -> dict:
    out = dict(base, **changes)
    for key in drop:
        del out[key]
    return out


INVALID_DECISIONS = {
    "rejected without errors": (_decision(REJECTED, {}, drop=("errors",)), {("", "required")}),
    "rejected with outcomes": (
        _decision(REJECTED, {"outcomes": [VALID_OUTCOMES["violation"]]}), {("/outcomes", "maxItems")}),
    "accepted with errors": (_decision(ACCEPTED, {"errors": REJECTED["errors"]}), {("", "not")}),
    "accepted without event id": (_decision(ACCEPTED, {"event_id": None}), {("/event_id", "type")}),
    "accepted without policy version": (_decision(ACCEPTED, {}, drop=("policy_version",)), {("", "required")}),
    "unknown status": (_decision(ACCEPTED, {"status": "ok"}), {("/status", "enum")}),
    "error path not a JSON Pointer": (
        _decision(REJECTED, {"errors": [{"path": "data/amount", "message": "m", "code": "schema.type"}]}),
        {("/errors/0/path", "pattern")}),
    "error without code": (
        _decision(REJECTED, {"errors": [{"path": "/data/amount", "message": "m"}]}), {("/errors/0", "required")}),
    "trace entry not a rule id": (_decision(ACCEPTED, {"trace": ["respond"]}), {("/trace/0", "pattern")}),
    "invalid outcome inside": (
        _decision(ACCEPTED, {"outcomes": [_outcome("violation", {"clause": "z"})]}),
        {("/outcomes/0/clause", "pattern")}),
    "unknown key": (_decision(ACCEPTED, {"notes": []}), {("", "unevaluatedProperties")}),
    "empty warnings": (_decision(ACCEPTED, {"warnings": [{"code": "state.empty"}]}),
                       {("/warnings/0", "required")}),
}


@pytest.mark.parametrize("decision, expected", INVALID_DECISIONS.values(), ids=list(INVALID_DECISIONS))
def test_invalid_decision(decision, expected, validator):
    assert set(errors(validator, DECISION, decision)) == expected


def test_schema_examples_are_valid(validator, registry):
    """Every ``examples`` entry of an object or reusable definition validates against it."""
    decision = _load(SCHEMAS / "decision.schema.json")
    for example in decision["examples"]:
        assert errors(validator, DECISION, example) == []
    defs = _load(SCHEMAS / "defs.schema.json")["$defs"]
    for name, definition in defs.items():
        for example in definition.get("examples", []):
            schema = {"$schema": DRAFT_2020_12, "$ref": f"{DEFS}#/$defs/{name}"}
            check = Draft202012Validator(schema, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
            assert list(check.iter_errors(example)) == [], (name, example)
