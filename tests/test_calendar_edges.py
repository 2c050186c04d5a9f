"""Times at the ends of the calendar: an event time whose UTC instant falls outside the years 1
to 9999, or a deadline computed past 9999, is a rejected event with its place and code, never an
OverflowError: the replay goes on and the store is left as it was."""

from __future__ import annotations

import pytest

from clauseline import Session
from clauseline.eventtime import parse_time
from clauseline.store import open_store

CALIFORNIAN = {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
               "collected": ["name"], "channel": "web"}
CCPA = {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail", "has_account": True}


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_outside_the_calendar_in_utc_is_a_value_error(text):
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        parse_time(text)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_event_at_such_a_time_is_rejected_at_its_time(policy, event, text):
    decision = Session(policy).submit(event("clock.tick", {}, subject=None, time=text))
    assert decision.status == "rejected"
    assert [(e["path"], e["code"]) for e in decision.errors] == [("/time", "schema.format")]


def test_a_deadline_past_9999_rejects_the_event_and_changes_nothing(policy, event, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("CLAUSELINE_REDACTION_KEY", "k")
    store = open_store(f"sqlite:///{tmp_path / 'edge.db'}")
    try:
        session = Session(policy, store)
        opened = session.submit(event("account.opened", CALIFORNIAN, subject="ca-1",
                                      time="9999-12-30T00:00:00Z"))
        assert opened.status == "accepted"
        before = store.state()
        filed = session.submit(event("ccpa.request.filed", CCPA, subject="ca-1",
                                     time="9999-12-30T00:00:00Z"))
        assert filed.status == "rejected"
        assert [(e["path"], e["code"]) for e in filed.errors] == [("/time", "event.time_out_of_range")]
        assert store.state() == before and len(store.decisions()) == 1
        # an ordinary event of the same subject afterwards is decided as usual
        later = session.submit(event("profile.updated", {"profile": {"user_type": "family"}},
                                     subject="ca-1", time="9999-12-30T00:00:01Z"))
        assert later.status == "accepted"
    finally:
        store.close()
