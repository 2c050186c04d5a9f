"""Clause S, transfer to the United States: a subject located outside the US is told once that
the data is transferred to and processed in the US."""

import pytest


SUBJECT = "v-1"


def visit(country=None, **extra):
    data = {"session_id": "s-1", "dnt": False, "collected": ["ip_address"], "cookies": []}
    if country:
        data["location"] = {"country": country}
    data.update(extra)
    return data


def notices(decision):
    return [o for o in decision.outcomes if o["kind"] == "notice"]


def test_visit_from_abroad_gets_the_transfer_notice_at_once(run):
    d = run("website.visited", visit("MX"), time="2019-07-01T09:00:00-06:00")
    assert notices(d) == [{"kind": "notice", "notice": "data_transfer.us", "to": "v-1",
                           "channel": "website", "due_by": "2019-07-01T09:00:00-06:00",
                           "subject": "v-1", "clause": "S", "rule": "S.transfer-notice-on-visit-from-abroad"}]


def test_the_notice_is_sent_once_per_subject(run):
    assert len(notices(run("website.visited", visit("DE")))) == 1
    again = run("website.visited", visit("DE"), time="2019-07-02T09:00:00Z")
    assert notices(again) == []
    assert not any(r.startswith("S.") for r in again.trace)
    other = run("website.visited", visit("DE"), subject="v-2")
    assert len(notices(other)) == 1


@pytest.mark.parametrize("country", ["US", None])
def test_visit_from_the_us_or_unknown_place_gets_nothing(run, country):
    assert notices(run("website.visited", visit(country))) == []


def test_resident_abroad_gets_the_notice_on_any_event(run):
    opened = {"profile": {"role": "customer", "residence": {"country": "CA"}},
              "collected": ["name"], "channel": "telephone"}
    d = run("account.opened", opened, subject="acct-9", time="2019-07-03T12:00:00Z")
    [n] = notices(d)
    assert (n["to"], n["channel"], n["due_by"], n["rule"]) == (
        "acct-9", "account", "2019-07-03T12:00:00Z", "S.transfer-notice-to-subject-abroad")
    later = run("message.send.requested", {"message_id": "m-1", "channel": "email", "category": "transactional"},
                subject="acct-9")
    assert notices(later) == []


def test_us_resident_gets_nothing(run):
    opened = {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-TX"}},
              "collected": ["name"], "channel": "telephone"}
    assert notices(run("account.opened", opened, subject="acct-8")) == []


def test_resident_abroad_visiting_from_abroad_gets_one_notice(run):
    d = run("website.visited", visit("FR", profile={"residence": {"country": "FR"}}))
    assert [n["rule"] for n in notices(d)] == ["S.transfer-notice-on-visit-from-abroad"]


def test_resident_abroad_visiting_from_the_us_gets_it_through_the_account(run):
    d = run("website.visited", visit("US", profile={"residence": {"country": "FR"}}))
    assert [n["rule"] for n in notices(d)] == ["S.transfer-notice-to-subject-abroad"]
