"""The rule language's newer forms, on a tiny policy of its own: several operators on one path,
`is_not`, named sets, declared memory paths and policy-level overrides. Each is checked at load,
with the problem located, and then by what it decides."""

from __future__ import annotations

import pytest

from clauseline import Session, load_policy
from clauseline.errors import PolicyLoadError

SOURCE = """\
# Tiny policy

###### A) Teens

Teenagers get the teen notice. Anyone may ask us to hold their data.

###### B) Sharing

We share what you allow with our partners.
"""

INDEX = """\
version: tiny-1
title: Tiny
effective_from: "2019-01-01T00:00:00Z"
source: source.md
clauses:
  A: {title: Teens, operative: true}
  B: {title: Sharing, operative: true}
sets:
  contact: [email, phone]
  every_data_category: {schema: "defs.schema.json#/$defs/data_category"}
memory:
  hold.since: when the subject asked us to hold their data
profile_changes:
  "*": {merge: data.profile}
derived:
  age: {years_since: profile.birth_date}
"""

RULES_A = """\
clause: A
rules:
  - id: A.teen-notice
    title: Teenagers get the teen notice
    quote: Teenagers get the teen notice.
    when:
      event: profile.updated
      match:
        profile.age: {gte: 13, lt: 18}
    emit:
      - kind: notice
        notice: teen
        to: "{subject}"
        channel: account
        due_by: "{time}"
        detail: "categories kept: {sets.contact}"

  - id: A.hold
    title: A subject without verified consent may ask to hold their data
    quote: Anyone may ask us to hold their data.
    when:
      event: cookie.preference.changed
      match:
        profile.parental_consent_verified: {is_not: true}
    emit: []
    remember:
      - set: hold.since
        value: "{time}"
"""

RULES_B = """\
clause: B
rules:
  - id: B.partners
    title: Partners get contact data
    quote: We share what you allow with our partners.
    when:
      event: disclosure.requested
      for_each: data.data_categories
      match:
        item: {in: "{sets.contact}"}
    emit:
      - kind: disclosure
        effect: permit
        recipient: "{data.recipient.kind}"
        purpose: "{data.purpose}"
        data_categories: ["{item}"]
        ref: "{data.request_id}"
      - kind: retention
        action: retain
        data_categories: "{sets.every_data_category}"
        target: "subject:{subject}"
overrides:
  - id: B.held-data-is-not-shared
    title: Held data is neither shared nor kept
    quote: We share what you allow with our partners.
    while: memory.hold.since
    disclosure: deny
    retain: delete
"""


def write(root, index=INDEX, a=RULES_A, b=RULES_B):
    (root / "clauses").mkdir(parents=True, exist_ok=True)
    (root / "source.md").write_text(SOURCE)
    (root / "policy.yaml").write_text(index)
    (root / "clauses" / "A.yaml").write_text(a)
    (root / "clauses" / "B.yaml").write_text(b)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_policy(write(tmp_path_factory.mktemp("lang") / "tiny-1"))


def ev(kind, data, time="2019-03-01T00:00:00Z", subject="s-1", n=[0]):
    n[0] += 1
    return {"specversion": "1.0", "id": f"l-{n[0]}", "source": "/t", "type": kind, "time": time,
            "subject": subject, "data": data}


def problems(tmp_path, **files) -> list:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(write(tmp_path / "tiny-1", **files))
    return caught.value.problems


@pytest.mark.parametrize("birth, fires", [("2006-03-02", False), ("2006-03-01", True),
                                          ("2001-03-02", True), ("2001-03-01", False)])
def test_several_operators_on_one_path_all_hold(tiny, birth, fires):
    # on 2019-03-01: born 2006-03-02 is 12, 2006-03-01 is 13, 2001-03-02 is 17, 2001-03-01 is 18
    d = Session(tiny).submit(ev("profile.updated", {"profile": {"birth_date": birth}}))
    assert ("A.teen-notice" in d.trace) is fires


def test_a_named_set_inside_text_is_listed(tiny):
    d = Session(tiny).submit(ev("profile.updated", {"profile": {"birth_date": "2005-01-01"}}))
    assert d.outcomes[0]["detail"] == "categories kept: email, phone"


@pytest.mark.parametrize("consent, fires", [(None, True), (False, True), (True, False)])
def test_is_not_holds_when_absent_or_different(tiny, consent, fires):
    s = Session(tiny)
    if consent is not None:
        s.submit(ev("profile.updated", {"profile": {"parental_consent_verified": consent}},
                    time="2019-02-01T00:00:00Z"))
    d = s.submit(ev("cookie.preference.changed", {"purpose": "x", "enabled": True}))
    assert ("A.hold" in d.trace) is fires


def request(categories, time="2019-03-02T00:00:00Z"):
    return ev("disclosure.requested", {"request_id": "r-1", "recipient": {"kind": "affiliate", "name": "P"},
                                       "purpose": "service_provision", "data_categories": categories}, time)


def test_named_sets_in_conditions_and_outcomes(tiny):
    d = Session(tiny).submit(request(["email", "ssn"]))
    [permit] = [o for o in d.outcomes if o["kind"] == "disclosure"]
    assert permit["data_categories"] == ["email"]
    [kept] = [o for o in d.outcomes if o["kind"] == "retention"]
    # the set taken from the schema vocabulary: every data category, in the schema's order
    assert kept["data_categories"][:3] == ["name", "date_of_birth", "ssn"] and len(kept["data_categories"]) == 20


def test_an_override_denies_and_deletes_while_its_memory_path_holds(tiny):
    s = Session(tiny)
    before = s.submit(request(["email"], time="2019-02-01T00:00:00Z"))
    assert {o.get("effect") or o.get("action") for o in before.outcomes} == {"permit", "retain"}
    s.submit(ev("cookie.preference.changed", {"purpose": "x", "enabled": True}, time="2019-02-15T00:00:00Z"))
    after = s.submit(request(["email"]))
    [deny] = [o for o in after.outcomes if o["kind"] == "disclosure"]
    assert deny["effect"] == "deny" and deny["rule"] == "B.held-data-is-not-shared"
    assert deny["overrides"] == [{"rule": "B.partners", "clause": "B", "effect": "permit",
                                  "data_categories": ["email"]}]
    [gone] = [o for o in after.outcomes if o["kind"] == "retention"]
    assert gone["action"] == "delete" and gone["due_by"] == "2019-03-02T00:00:00Z"
    assert "B.held-data-is-not-shared" in after.trace
    # memory is read as of the event's time: a request logged late, from before the hold, is
    # decided as it would have been then
    late = s.submit(request(["email"], time="2019-02-10T00:00:00Z"))
    assert late.out_of_order == {"latest": "2019-03-02T00:00:00Z"}
    assert [o["effect"] for o in late.outcomes if o["kind"] == "disclosure"] == ["permit"]


def test_a_memory_path_typo_is_a_located_load_error(tmp_path):
    found = problems(tmp_path, b=RULES_B.replace("while: memory.hold.since", "while: memory.hold.sinse"))
    [p] = [p for p in found if p.code == "unknown_memory_path"]
    assert p.file.endswith("clauses/B.yaml") and p.line == 26 and "hold.since" in p.message


def test_reading_an_undeclared_memory_path_in_a_condition_is_a_load_error(tmp_path):
    typo = RULES_A.replace("profile.parental_consent_verified: {is_not: true}",
                           "memory.child.deletion_orderd_at: {exists: false}")
    [p] = [p for p in problems(tmp_path, a=typo) if p.code == "unknown_memory_path"]
    assert p.key == "rules[1].when.match.memory.child.deletion_orderd_at"


def test_remembering_into_an_undeclared_or_engine_path_is_a_load_error(tmp_path):
    found = problems(tmp_path, a=RULES_A.replace("- set: hold.since", "- set: hold_since"))
    assert [p.code for p in found] == ["unknown_memory_path"]
    found = problems(tmp_path, a=RULES_A.replace("- set: hold.since", "- set: obligations.x.status"))
    assert [p.code for p in found] == ["engine_owned_memory"]


def test_an_unknown_set_and_a_bad_schema_set_are_load_errors(tmp_path):
    found = problems(tmp_path, b=RULES_B.replace('item: {in: "{sets.contact}"}', 'item: {in: "{sets.contacts}"}'))
    assert [p.code for p in found] == ["unknown_set"] and "contacts" in found[0].message
    found = problems(tmp_path, index=INDEX.replace("$defs/data_category", "$defs/nothing_here"))
    assert "bad_set" in [p.code for p in found]


@pytest.mark.parametrize("pointer", ["cloudevent.schema.json#/required/x",
                                     "cloudevent.schema.json#/required/99",
                                     "defs.schema.json#nowhere", "defs.schema.json#/$defs/%7E",
                                     "../../etc/passwd", "nothing.schema.json#/$defs/x"])
def test_a_named_set_pointing_anywhere_but_an_enum_is_a_load_error(tmp_path, pointer):
    """Each is reported, located, never raised (a list index that is not a number made the
    schema registry raise a bare ValueError)."""
    found = problems(tmp_path, index=INDEX.replace("defs.schema.json#/$defs/data_category",
                                                   pointer))
    assert "bad_set" in [p.code for p in found], found
