"""The why/why-not text (clauseline.explain.render_why) is a function of an explanation's JSON form
(``Explanation.as_dict()``, what ``clauseline explain --format json`` prints): rendering the
JSON read back gives the same text as rendering the live explanation, so the two cannot drift.
The text itself is checked against golden files in tests/test_whynot.py."""

import json
from pathlib import Path

import pytest

from clauseline import empty_state, evaluate, parse_event
from clauseline.evaluation.whynot import explain_event
from clauseline.explain import render_why

LOG = Path(__file__).resolve().parents[1] / "examples" / "demo-log.jsonl"


def make(kind, data, id, subject="cus-1", time="2019-07-01T09:00:00Z", source="/tests"):
    return {"specversion": "1.0", "id": id, "source": source, "type": kind, "time": time,
            "subject": subject, "data": data}


def payment(status, id="rj-pay-1"):
    return make("payment.made", {"transaction_id": "txn-1", "amount": 25.0, "currency": "USD",
                                 "instrument": "debit_card", "status": status,
                                 "encrypted_in_transit": True, "product": "inmate_debit"},
                id, source="/billing")


def account(subject, birth_date="1980-01-07"):
    return make("account.opened", {"profile": {"role": "customer", "user_type": "friend",
                                               "residence": {"country": "US", "region": "US-TX"},
                                               "birth_date": birth_date},
                                   "collected": ["name", "email"], "channel": "web"},
                f"rj-acct-{subject}", subject=subject, time="2019-06-01T08:00:00Z",
                source="/accounts")


def disclosure(subject, categories):
    return make("disclosure.requested", {
        "request_id": "dr-1", "recipient": {"kind": "law_enforcement", "name": "County Sheriff"},
        "purpose": "law_enforcement_activity", "data_categories": categories},
        f"rj-dr-{subject}", subject=subject, source="/legal/disclosures")


CALL = make("call.recorded", {
    "call_id": "call-1", "facility_id": "tx-harris-02", "recording_id": "rec-1", "monitored": True,
    # keys deliberately not in sorted order: a JSON round trip keeps them as they are
    "parties": [{"user_type": "inmate", "subject": "det-1"},
                {"user_type": "attorney", "subject": "4111111111111111"}],
    "collected": ["call_details", "voice"]}, "rj-call-1", subject="det-1",
    time="2019-07-01T10:00:00Z", source="/facilities/tx-harris-02/calls")


def _rejected():
    event = payment("completed", id="rj-bad\nFired:\n  forged 4111111111111111")
    del event["data"]["status"]
    return event


CASES = {
    "accepted: a payment": lambda policy: (empty_state(), payment("completed")),
    "accepted: a permit and a fallback deny": lambda policy: (
        empty_state(), disclosure("det-1", ["voice", "ssn"])),
    "accepted: for_each over objects": lambda policy: (empty_state(), CALL),
    "rejected": lambda policy: (empty_state(), _rejected()),
    "an override applied": lambda policy: (
        _state_after(policy, account("kid-1", birth_date="2010-03-01")),
        disclosure("kid-1", ["name", "voice"])),
}


def _state_after(policy, *events):
    state = empty_state()
    for event in events:
        decision, state = evaluate(policy, state, event)
        assert decision.status == "accepted", decision.errors
    return state


def _round_trip(explanation):
    return json.loads(json.dumps(explanation.as_dict()))


@pytest.mark.parametrize("case", CASES)
def test_the_text_is_rendered_from_the_json_form(policy, case):
    state, event = CASES[case](policy)
    x = explain_event(policy, state, event)
    text = render_why(x, policy)
    assert render_why(_round_trip(x), policy) == text
    assert render_why(x.as_dict(), policy) == text
    if case == "rejected":
        assert x.decision.status == "rejected" and text.startswith("event rj-bad\\nFired:")
    if case == "an override applied":
        assert any(o.applied for o in x.overrides) and "\nOverrides:\n" in text
    assert "4111111111111111" not in text


def test_the_json_form_renders_alike_over_the_whole_demo_log(policy):
    state, rendered = empty_state(), 0
    for line in LOG.read_text(encoding="utf-8").splitlines():
        event, problems = parse_event(line)
        if problems:
            continue
        x = explain_event(policy, state, event)
        assert render_why(_round_trip(x), policy) == render_why(x, policy), event["id"]
        rendered += 1
        _, state = evaluate(policy, state, event)
    assert rendered > 400
