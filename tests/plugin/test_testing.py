"""clauseline.testing without pytest fixtures: the clock, the timeline and the outcome matching."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from clauseline.testing import (Clock, OutcomeMismatch, Timeline, assert_denies, assert_no_outcome,
                                assert_nothing, assert_obligation, assert_outcome, assert_permits,
                                assert_rejected, assert_retention, assert_status, assert_violation,
                                outcome_differences, parse_duration)

PAYMENT = {"transaction_id": "t-1", "amount": 1, "currency": "USD", "instrument": "credit_card",
           "status": "completed", "encrypted_in_transit": True, "product": "calls"}


@pytest.mark.parametrize("duration, start, end", [
    ("P3D", "2019-07-01T09:00:00Z", "2019-07-04T09:00:00Z"),
    ("PT90M", "2019-07-01T09:00:00Z", "2019-07-01T10:30:00Z"),
    ("P1Y", "2020-02-29T00:00:00Z", "2021-02-28T00:00:00Z"),
    ("P1M", "2019-01-31T00:00:00Z", "2019-02-28T00:00:00Z"),
    ("P2W", "2019-07-01T00:00:00Z", "2019-07-15T00:00:00Z"),
    ("P1DT1.5S", "2019-07-01T00:00:00Z", "2019-07-02T00:00:01.5Z"),
])
def test_durations_are_calendar_steps_then_exact_time(duration, start, end):
    clock = Clock(start)
    assert clock.advance(duration) == end


@pytest.mark.parametrize("bad", ["P", "3D", "PT", "P1H", "", None])
def test_a_bad_duration_is_refused(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_the_clock_fills_the_envelope():
    clock = Clock("2019-07-01T04:00:00-05:00", source="/svc")
    event = clock.event("clock.tick")
    assert event == {"specversion": "1.0", "id": "auto-1", "source": "/svc", "type": "clock.tick",
                     "time": "2019-07-01T09:00:00Z", "data": {}}
    completed = clock.complete({"type": "clock.tick", "id": "mine", "time": "2019-08-01T00:00:00Z"})
    assert completed["id"] == "mine" and clock.time == "2019-08-01T00:00:00Z"


def test_a_timeline_carries_state_and_feeds_files(tmp_path):
    timeline = Timeline.for_rules(start=datetime(2019, 7, 1, tzinfo=timezone.utc), subject="acct-1")
    first = timeline.send("payment.made", PAYMENT, id="p-1")
    assert_status(timeline.send("payment.made", PAYMENT, id="p-1"), "duplicate")
    assert_status(timeline.send("payment.made", dict(PAYMENT, amount="x")), "rejected")
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"type": "clock.tick", "data": {}}]), encoding="utf-8")
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(timeline.clock.event("payment.made", PAYMENT, "acct-2", id="p-9")) + "\n\n{oops\n",
                   encoding="utf-8")
    assert [d.status for d in timeline.feed(events)] == ["accepted"]
    assert [d.status for d in timeline.feed(log)] == ["accepted", "rejected"]
    assert timeline.decisions[0] is first and len(timeline.decisions) == 6


def test_due_by_compares_instants_and_categories_include_unless_exact():
    outcome = {"kind": "retention", "action": "purge", "data_categories": ["voice", "video"],
               "target": "recording:r", "due_by": "2019-07-01T09:30:00+02:00"}
    assert outcome_differences({"due_by": "2019-07-01T07:30:00Z", "data_categories": ["video"]}, outcome) == []
    assert outcome_differences({"data_categories": ["video"], "exact": True}, outcome) == [
        "data_categories: expected exactly [video], got [voice, video]"]
    assert outcome_differences({"due_by": "2019-07-01T09:30:00Z"}, outcome) == [
        "due_by: expected 2019-07-01T09:30:00Z, got 2019-07-01T09:30:00+02:00"]
    assert outcome_differences({"recipient": "x"}, outcome) == ["recipient: expected x, absent"]


def test_helpers_return_the_outcome_and_explain_failures():
    timeline = Timeline.for_rules(subject="acct-1")
    d = timeline.send("disclosure.requested", {
        "request_id": "r-1", "recipient": {"kind": "regulator", "name": "FCC"},
        "purpose": "illegal_activity_investigation", "data_categories": ["money_transfer"]})
    permit = assert_permits(d, "money_transfer", "regulator",
                            basis=["P.regulator-investigation", "P.fraud-and-illegal-activity"])
    assert permit["effect"] == "permit"
    assert_outcome(d, kind="disclosure", rule=permit["rule"])
    assert_no_outcome(d, effect="deny")
    with pytest.raises(OutcomeMismatch, match="effect: expected deny, got permit"):
        assert_denies(d, ["money_transfer"], "regulator")
    with pytest.raises(OutcomeMismatch, match=r"(?s)expected no outcome matching .*P\.fraud-and-illegal-activity"):
        assert_no_outcome(d, kind="disclosure")
    with pytest.raises(OutcomeMismatch, match="outcomes:\n  - disclosure effect=permit"):
        assert_retention(d, "purge")


def typo_payment(timeline):
    """A payment whose data carries a misspelt field: the schema rejects it."""
    return timeline.send("payment.made", dict(PAYMENT, encrypted_in_transitt=True))


@pytest.mark.parametrize("assertion", [
    lambda d: assert_nothing(d, "violation"),
    lambda d: assert_nothing(d),
    lambda d: assert_no_outcome(d, kind="retention"),
    lambda d: assert_permits(d, ["voice"], "law_enforcement"),
    lambda d: assert_denies(d, ["ssn"]),
    lambda d: assert_retention(d, "purge"),
    lambda d: assert_obligation(d, "ccpa.respond"),
    lambda d: assert_violation(d, "C"),
    lambda d: assert_outcome(d, kind="notice"),
], ids=["nothing-of-kind", "nothing", "no-outcome", "permits", "denies", "retention",
        "obligation", "violation", "outcome"])
def test_outcome_assertions_fail_on_a_rejected_event_and_say_so(assertion):
    decision = typo_payment(Timeline.for_rules(subject="acct-1"))
    assert decision.status == "rejected"
    with pytest.raises(OutcomeMismatch, match=r"(?s)the event was rejected.*assert_rejected.*"
                                              r"error /data: unknown properties"):
        assertion(decision)


def test_a_test_that_expects_the_rejection_says_so():
    decision = typo_payment(Timeline.for_rules(subject="acct-1"))
    assert assert_rejected(decision) is decision
    assert_rejected(decision, path="/data", code="schema.unevaluatedProperties")
    assert_status(decision, "rejected")
    with pytest.raises(OutcomeMismatch, match="expected an error {path: /data/amount}"):
        assert_rejected(decision, path="/data/amount")
    accepted = Timeline.for_rules(subject="acct-1").send("payment.made", PAYMENT)
    with pytest.raises(OutcomeMismatch, match="expected status rejected, got accepted"):
        assert_rejected(accepted)
    assert_nothing(accepted, "violation")  # accepted, and indeed no violation: passes
