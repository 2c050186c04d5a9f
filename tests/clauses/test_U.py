"""Clause U, the California privacy rights cycle: filing, the 12-month limit, the extension,
the response and its checks, the missed deadline, non-discrimination, non-residents.

A missed deadline is reported by the engine's timer: a decision of its own at the due instant
(a ``clock.tick`` from ``urn:clauseline:timer``), fired before the first event later than that
instant and handed back with that event's decision (``Decision.fired``)."""

import pytest

from clauseline.records import instant_key
from clauseline.timers import TIMER_SOURCE, timer_id


RECEIPT = "2019-07-01T09:00:00Z"
DUE = "2019-08-15T09:00:00Z"             # receipt + 45 days
EXTENDED_DUE = "2019-09-29T09:00:00Z"    # receipt + 90 days
CALIFORNIA = {"country": "US", "region": "US-CA"}


SUBJECT = "ca-1"
START = RECEIPT


def resident(run, subject="ca-1", residence=CALIFORNIA):
    profile = {"role": "customer"}
    if residence is not None:
        profile["residence"] = residence
    run("account.opened", {"profile": profile, "collected": ["name", "email"], "channel": "web"},
        subject=subject, time="2019-06-01T00:00:00Z")


def filed(request_id="r-1", delivery="mail", has_account=False):
    return {"request_id": request_id, "kinds": ["categories", "specific_pieces"],
            "delivery": delivery, "has_account": has_account}


def response(request_id="r-1", **over):
    data = {"request_id": request_id, "channel": "mail", "portable_format": True, "fee": 0,
            "period": {"from": "2018-07-01T09:00:00Z", "to": RECEIPT}}
    data.update(over)
    return data


def u(decision):
    """The decision's clause U outcomes (other clauses may act on the same events)."""
    return tuple(o for o in decision.outcomes if o["clause"] == "U")


def of_kind(decision, kind):
    return [o for o in u(decision) if o["kind"] == kind]


def violations(decision):
    return sorted(o["violation"] for o in of_kind(decision, "violation"))


def timer_u(decision):
    """The clause U outcomes of the timers fired before the decision's event, in firing order."""
    return tuple(o for timer in decision.fired for o in u(timer))


def quiet(decision):
    """Nothing of clause U: neither in the event's own decision nor in a timer it fired."""
    return u(decision) == () and timer_u(decision) == ()


def missed_by_timer(decision, subject, ref, due):
    """The one timer fired before the event, checked to be the tick of ``subject``'s ``ref`` at
    ``due`` reporting that deadline missed (and nothing else); the event's own decision does
    not report it. Returns the violation."""
    [timer] = decision.fired
    assert timer.status == "accepted"
    assert (timer.event_type, timer.event_source, timer.time) == ("clock.tick", TIMER_SOURCE, due)
    assert timer.event_id == timer_id(subject, ref, instant_key(due))
    [missed] = u(timer)
    assert missed["violation"] == "ccpa.deadline_missed"
    assert missed["subject"] == subject and missed["ref"] == ref
    assert missed["detail"] == (f"The response to request {ref} was due by {due} and had not "
                                "been delivered by then.")
    assert "ccpa.deadline_missed" not in violations(decision)
    return missed


# --- filing -----------------------------------------------------------------------------------

def test_a_residents_request_opens_an_obligation_due_in_45_days(run):
    resident(run)
    d = run("ccpa.request.filed", filed())
    [obligation] = u(d)
    assert obligation == {"kind": "obligation", "obligation": "ccpa.respond", "ref": "r-1",
                          "status": "open", "due_by": DUE, "subject": "ca-1", "clause": "U",
                          "rule": "U.ccpa-respond-within-45-days"}
    assert "U.ccpa-respond-within-45-days" in d.trace


def test_an_inline_profile_makes_the_filer_a_resident(run):
    d = run("ccpa.request.filed", dict(filed(), profile={"residence": CALIFORNIA}), subject="walk-in")
    assert [o["status"] for o in of_kind(d, "obligation")] == ["open"]


@pytest.mark.parametrize("residence", [{"country": "US", "region": "US-TX"},
                                       {"country": "MX"}, None])
def test_a_non_resident_gets_a_notice_and_no_obligation(run, residence):
    resident(run, residence=residence)
    d = run("ccpa.request.filed", filed())
    [notice] = u(d)
    assert notice["kind"] == "notice"
    assert notice["notice"] == "ccpa.not_applicable"
    assert notice["to"] == "ca-1" and notice["channel"] == "mail" and notice["due_by"] == RECEIPT
    assert "1-800-844-6591" in notice["detail"]
    assert notice["rule"] == "U.ccpa-not-applicable-outside-california"
    # nothing is owed, so nothing can be missed
    assert quiet(run("clock.tick", {}, subject=None, time="2019-12-01T00:00:00Z"))


def test_a_non_residents_requests_do_not_use_up_the_two(run):
    resident(run, residence={"country": "US", "region": "US-NY"})
    run("ccpa.request.filed", filed("r-1"))
    run("ccpa.request.filed", filed("r-2"), time="2019-07-02T09:00:00Z")
    run("profile.updated", {"profile": {"residence": CALIFORNIA}}, time="2019-07-03T09:00:00Z")
    d = run("ccpa.request.filed", filed("r-3"), time="2019-07-04T09:00:00Z")
    assert [o["status"] for o in of_kind(d, "obligation")] == ["open"]


# --- twice per 12 months ----------------------------------------------------------------------

def test_the_third_request_within_12_months_is_declined_with_a_notice(run):
    resident(run)
    run("ccpa.request.filed", filed("r-1"), time="2019-06-01T09:00:00Z")
    run("ccpa.request.filed", filed("r-2"), time="2019-07-01T09:00:00Z")
    d = run("ccpa.request.filed", filed("r-3", delivery="electronic"),
            time="2020-06-01T08:59:00Z")     # one minute inside 12 months of r-1
    [notice] = of_kind(d, "notice")
    [obligation] = of_kind(d, "obligation")
    assert obligation["status"] == "declined" and obligation["ref"] == "r-3"
    assert obligation["rule"] == "U.ccpa-twice-per-12-months"
    assert notice["notice"] == "ccpa.request_limit_reached"
    assert notice["channel"] == "electronic" and notice["to"] == "ca-1"
    assert "1-800-844-6591" in notice["detail"]
    # a declined request owes nothing: no deadline can be missed for it
    # (r-1 and r-2, never answered, were reported missed by their timers, fired before this
    # event at their due instants; this event's own decision does not report them)
    assert of_kind(d, "violation") == []
    assert [(t.time, [o["ref"] for o in u(t)]) for t in d.fired] == [
        ("2019-07-16T09:00:00Z", ["r-1"]), (DUE, ["r-2"])]
    assert quiet(run("clock.tick", {}, subject=None, time="2020-09-01T00:00:00Z"))


def test_the_third_request_just_outside_12_months_is_owed_a_response(run):
    resident(run)
    run("ccpa.request.filed", filed("r-1"), time="2019-06-01T09:00:00Z")
    run("ccpa.request.filed", filed("r-2"), time="2019-07-01T09:00:00Z")
    d = run("ccpa.request.filed", filed("r-3"), time="2020-06-01T09:00:00Z")   # exactly 12 months
    [obligation] = of_kind(d, "obligation")
    assert obligation["status"] == "open" and obligation["due_by"] == "2020-07-16T09:00:00Z"


def test_a_declined_request_does_not_count_toward_the_two(run):
    resident(run)
    run("ccpa.request.filed", filed("r-1"), time="2019-06-01T09:00:00Z")
    run("ccpa.request.filed", filed("r-2"), time="2019-07-01T09:00:00Z")
    run("ccpa.request.filed", filed("r-3"), time="2019-08-01T09:00:00Z")       # declined
    d = run("ccpa.request.filed", filed("r-4"), time="2020-06-02T09:00:00Z")   # r-1 out of window
    assert [o["status"] for o in of_kind(d, "obligation")] == ["open"]


def test_the_limit_is_per_subject(run):
    resident(run, "ca-1")
    resident(run, "ca-2")
    run("ccpa.request.filed", filed("r-1"), subject="ca-1")
    run("ccpa.request.filed", filed("r-2"), subject="ca-1", time="2019-07-02T09:00:00Z")
    d = run("ccpa.request.filed", filed("r-3"), subject="ca-2", time="2019-07-03T09:00:00Z")
    assert [o["status"] for o in of_kind(d, "obligation")] == ["open"]


# --- the 45th day, to the minute --------------------------------------------------------------

def test_deadline_missed_once_one_minute_after_day_45(run):
    resident(run)
    run("ccpa.request.filed", filed())
    # at the due instant itself nothing is missed yet: no timer fires
    assert quiet(run("clock.tick", {}, subject=None, time=DUE))
    # the first event past it fires the timer, dated at the due instant, not at 09:01
    d = run("clock.tick", {}, subject=None, time="2019-08-15T09:01:00Z")
    assert u(d) == ()
    missed = missed_by_timer(d, "ca-1", "r-1", DUE)
    assert missed["rule"] == "U.ccpa-deadline-missed"
    # reported once: later events fire no timer for it again
    assert quiet(run("clock.tick", {}, subject=None, time="2019-08-15T09:02:00Z"))
    assert quiet(run("clock.tick", {}, subject=None, time="2019-12-01T00:00:00Z"))


def test_deadline_missed_is_reported_at_any_event_past_due(run):
    resident(run)
    run("ccpa.request.filed", filed())
    # any event past the due instant (here a service change) fires the timer before it
    d = run("service.changed", {"change": "price_increase", "reason": "non_payment"},
            time="2019-08-20T00:00:00Z")
    assert violations(d) == []
    missed_by_timer(d, "ca-1", "r-1", DUE)
    assert quiet(run("clock.tick", {}, subject=None, time="2019-08-21T00:00:00Z"))


def test_a_response_in_time_leaves_nothing_to_miss(run):
    resident(run)
    run("ccpa.request.filed", filed())
    d = run("ccpa.response.delivered", response(), time=DUE)
    assert [(o["kind"], o.get("status")) for o in u(d)] == [("obligation", "fulfilled")]
    assert u(d)[0]["rule"] == "U.ccpa-response-fulfils-request"
    assert d.fired == ()      # delivered at the due instant itself: in time, no timer fired
    assert quiet(run("clock.tick", {}, subject=None, time="2019-09-01T00:00:00Z"))


def test_every_subjects_missed_deadline_is_reported_by_one_tick(run):
    resident(run, "ca-1")
    resident(run, "ca-2")
    run("ccpa.request.filed", filed("r-1"), subject="ca-1")
    run("ccpa.request.filed", filed("r-2"), subject="ca-2", time="2019-07-02T09:00:00Z")
    d = run("clock.tick", {}, subject=None, time="2019-09-01T00:00:00Z")
    # one timer per deadline, each a decision of its own at its due instant, in that order
    assert u(d) == ()
    assert [(t.time, [(o["subject"], o["ref"], o["violation"]) for o in u(t)])
            for t in d.fired] == [
        (DUE, [("ca-1", "r-1", "ccpa.deadline_missed")]),
        ("2019-08-16T09:00:00Z", [("ca-2", "r-2", "ccpa.deadline_missed")])]


# --- the extension ----------------------------------------------------------------------------

def test_an_extension_noticed_on_day_45_moves_the_due_date_to_receipt_plus_90(run):
    resident(run)
    run("ccpa.request.filed", filed(has_account=True, delivery="electronic"))
    d = run("ccpa.request.extended", {"request_id": "r-1"}, time=DUE)
    [notice] = of_kind(d, "notice")
    [obligation] = of_kind(d, "obligation")
    assert obligation["status"] == "extended" and obligation["due_by"] == EXTENDED_DUE
    assert notice["notice"] == "ccpa.extension" and notice["to"] == "ca-1"
    assert notice["channel"] == "account" and notice["due_by"] == DUE
    assert EXTENDED_DUE in notice["detail"] and "1-800-844-6591" in notice["detail"]
    assert violations(d) == []
    # the old due date has no effect any more; the new one does
    assert quiet(run("clock.tick", {}, subject=None, time="2019-08-16T09:00:00Z"))
    assert quiet(run("clock.tick", {}, subject=None, time=EXTENDED_DUE))
    d = run("clock.tick", {}, subject=None, time="2019-09-29T09:01:00Z")
    assert u(d) == ()
    missed_by_timer(d, "ca-1", "r-1", EXTENDED_DUE)


def test_an_extension_noticed_on_day_46_is_a_violation_and_the_due_date_stays(run):
    resident(run)
    run("ccpa.request.filed", filed())
    # the late extension is the first event past the due instant: the timer reports the
    # missed deadline before it, and the extension is late
    d = run("ccpa.request.extended", {"request_id": "r-1"}, time="2019-08-16T09:00:00Z")
    assert violations(d) == ["ccpa.extension_late"]
    missed_by_timer(d, "ca-1", "r-1", DUE)
    assert of_kind(d, "obligation") == [] and of_kind(d, "notice") == []
    late = run("ccpa.response.delivered", response(), time="2019-08-20T09:00:00Z")
    assert violations(late) == ["ccpa.response_late"]
    assert late.fired == ()   # the deadline was reported once, by its timer


def test_an_extension_one_minute_after_day_45_is_late(run):
    resident(run)
    run("ccpa.request.filed", filed())
    d = run("ccpa.request.extended", {"request_id": "r-1"}, time="2019-08-15T09:01:00Z")
    assert "ccpa.extension_late" in violations(d)


def test_a_second_extension_is_a_violation(run):
    resident(run)
    run("ccpa.request.filed", filed())
    run("ccpa.request.extended", {"request_id": "r-1"}, time="2019-07-10T09:00:00Z")
    d = run("ccpa.request.extended", {"request_id": "r-1"}, time="2019-07-11T09:00:00Z")
    assert violations(d) == ["ccpa.extension_repeated"]
    assert of_kind(d, "obligation") == []
    # still due at receipt + 90, not pushed further (and not missed before it)
    ok = run("ccpa.response.delivered", response(), time=EXTENDED_DUE)
    assert violations(ok) == [] and timer_u(ok) == ()


# --- the response and its checks --------------------------------------------------------------

def test_a_late_response_is_a_violation_and_still_fulfils(run):
    resident(run)
    run("ccpa.request.filed", filed())
    # the late response fires the deadline's timer before it (the deadline is missed at the
    # due instant), then fulfils the request, late
    d = run("ccpa.response.delivered", response(), time="2019-08-15T09:01:00Z")
    assert violations(d) == ["ccpa.response_late"]
    missed_by_timer(d, "ca-1", "r-1", DUE)
    [late] = [o for o in u(d) if o.get("violation") == "ccpa.response_late"]
    assert late["ref"] == "r-1" and late["rule"] == "U.ccpa-response-late"
    assert [o["status"] for o in of_kind(d, "obligation")] == ["fulfilled"]


def test_a_response_that_charges_a_fee_is_a_violation(run):
    resident(run)
    run("ccpa.request.filed", filed())
    d = run("ccpa.response.delivered", response(fee=0.01), time="2019-07-10T09:00:00Z")
    assert violations(d) == ["ccpa.response_charged"]


@pytest.mark.parametrize("period", [
    {"from": "2018-07-01T09:01:00Z", "to": RECEIPT},           # starts late
    {"from": "2018-06-01T09:00:00Z", "to": RECEIPT},           # too long
    {"from": "2018-07-01T09:00:00Z", "to": "2019-06-30T09:00:00Z"},  # ends early
])
def test_a_response_for_the_wrong_period_is_a_violation(run, period):
    resident(run)
    run("ccpa.request.filed", filed())
    d = run("ccpa.response.delivered", response(period=period), time="2019-07-10T09:00:00Z")
    assert violations(d) == ["ccpa.response_wrong_period"]


def test_the_period_is_compared_as_instants(run):
    resident(run)
    run("ccpa.request.filed", filed())
    period = {"from": "2018-07-01T04:00:00-05:00", "to": "2019-07-01T11:00:00+02:00"}
    d = run("ccpa.response.delivered", response(period=period), time="2019-07-10T09:00:00Z")
    assert violations(d) == []


@pytest.mark.parametrize("has_account,delivery,channel,wrong", [
    (True, "mail", "mail", True),              # account holders are answered via the account
    (True, "mail", "account", False),
    (False, "mail", "electronic", True),       # without an account: the subject's choice
    (False, "electronic", "electronic", False),
    (False, "mail", "account", True),
])
def test_the_response_channel(run, has_account, delivery, channel, wrong):
    resident(run)
    run("ccpa.request.filed", filed(has_account=has_account, delivery=delivery))
    d = run("ccpa.response.delivered", response(channel=channel), time="2019-07-10T09:00:00Z")
    assert violations(d) == (["ccpa.response_wrong_channel"] if wrong else [])


def test_a_non_portable_response_is_a_violation(run):
    resident(run)
    run("ccpa.request.filed", filed())
    d = run("ccpa.response.delivered", response(portable_format=False), time="2019-07-10T09:00:00Z")
    assert violations(d) == ["ccpa.response_not_portable"]


def test_the_checks_belong_to_the_request_answered(run):
    resident(run)
    run("ccpa.request.filed", filed("r-1", has_account=True))
    run("ccpa.request.filed", filed("r-2", has_account=False, delivery="mail"),
        time="2019-07-02T09:00:00Z")
    d = run("ccpa.response.delivered",
            response("r-2", period={"from": "2018-07-02T09:00:00Z", "to": "2019-07-02T09:00:00Z"}),
            time="2019-07-10T09:00:00Z")
    assert violations(d) == []
    assert [o["ref"] for o in of_kind(d, "obligation")] == ["r-2"]


def test_a_second_delivery_of_a_fulfilled_request_decides_nothing(run):
    resident(run)
    run("ccpa.request.filed", filed())
    run("ccpa.response.delivered", response(), time="2019-07-10T09:00:00Z")
    d = run("ccpa.response.delivered", response(fee=5), time="2019-09-10T09:00:00Z")
    assert quiet(d)


# --- non-discrimination -----------------------------------------------------------------------

@pytest.mark.parametrize("change", ["price_increase", "service_denied", "quality_reduced"])
def test_an_adverse_change_for_exercising_the_rights_is_a_violation(run, change):
    resident(run)
    d = run("service.changed", {"change": change, "reason": "ccpa_rights_exercised"})
    [violation] = u(d)
    assert violation["violation"] == "ccpa.discrimination"
    assert violation["rule"] == "U.no-discrimination-for-exercising-rights"
    assert violation["subject"] == "ca-1" and change in violation["detail"]


def test_an_adverse_change_for_another_reason_is_not_a_U_violation(run):
    resident(run)
    d = run("service.changed", {"change": "service_denied", "reason": "non_payment"})
    assert u(d) == ()


# --- a request id already on file -------------------------------------------------------------

def test_refiling_a_known_request_id_neither_reopens_nor_recounts_it(run):
    resident(run)
    run("ccpa.request.filed", filed("r-1"))
    run("ccpa.response.delivered", response(), time="2019-07-10T09:00:00Z")
    again = run("ccpa.request.filed", filed("r-1"), time="2019-07-11T09:00:00Z")
    assert of_kind(again, "obligation") == []
    assert quiet(run("clock.tick", {}, subject=None, time="2019-12-01T00:00:00Z"))
    # r-1 counted once: a second request is still owed a response
    d = run("ccpa.request.filed", filed("r-2"), time="2019-07-12T09:00:00Z")
    assert [o["status"] for o in of_kind(d, "obligation")] == ["open"]


# --- verifiable requests: the readings, as `clauseline interpretations` lists them -------------

VERIFIABLE_READINGS = {
    "u.verification-clock-from-receipt": "within 45 days of receiving a verifiable request",
    "u.unverifiable-request-declined": "within 45 days of receiving a verifiable request",
    "u.authorised-agent": "verifiable request from the consumer",
    "u.verified-requests-count": "twice per 12-month period",
    "u.no-account-required": "shall not require you to create an account",
}


def test_the_verification_readings_are_listed_with_their_sentence_and_rules(policy):
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "clauseline", "interpretations", "--format",
                           "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {e["id"]: e for e in map(json.loads, done.stdout.splitlines())}
    clause_u = " ".join(policy.latest.clauses["U"].text.replace("\u2019", "'").split())
    for reading, words in VERIFIABLE_READINGS.items():
        entry = listed[reading]
        sentence = " ".join(entry["sentence"].replace("\u2019", "'").split())
        assert words in sentence and sentence in clause_u, reading
        assert entry["clause"] == "U" and entry["reading"] and entry["why"]
    rules = {r for e in listed.values() for r in e["rules"]}
    assert {"U.ccpa-request-awaiting-verification-owed-from-receipt",
            "U.ccpa-unverifiable-request-declined", "U.ccpa-agent-without-authorisation-declined",
            "U.ccpa-no-account-required", "U.ccpa-verified-request-counted",
            "U.ccpa-verified-request-over-limit", "U.ccpa-verification-failed-declined",
            "U.ccpa-response-counts-request-awaiting-verification"} <= rules
    assert "U.ccpa-no-account-required" in listed["u.no-account-required"]["rules"]


def test_an_unverifiable_request_notice_says_why_and_how_to_file_again(run):
    resident(run)
    d = run("ccpa.request.filed", dict(filed(delivery="electronic"), verification={
        "status": "failed", "reason": "information_not_provided"}))
    [notice] = of_kind(d, "notice")
    assert notice["notice"] == "ccpa.request_unverified" and notice["channel"] == "electronic"
    for words in ("information_not_provided", "not disclosed", "costs you nothing",
                  "does not count", "no account is needed", "1-800-844-6591"):
        assert words in notice["detail"], words
    # nothing is owed, so nothing can be missed
    assert quiet(run("clock.tick", {}, subject=None, time="2019-12-01T00:00:00Z"))


def test_a_verification_result_for_a_request_never_filed_decides_nothing(run):
    resident(run)
    d = run("ccpa.request.verified", {"request_id": "r-9", "verification": {"status": "verified"}})
    assert u(d) == () and not [r for r in d.trace if r.startswith("U.")]
