"""Clauses O, Q and R, SVV recording: every participant and observer is a data subject, sessions
are recorded without notice, and a recording that includes a user type the facility exempts is
a violation, deleted at once and never disclosed (calls included)."""

import pytest


SUBJECT = "det-1"


def svv(participants, facility="tx-harris-02", rec="rec-1", collected=("voice", "video")):
    return {"session_id": "v-1", "facility_id": facility, "recording_id": rec,
            "participants": [{"subject": s, "user_type": t, "role": r} for s, t, r in participants],
            "collected": list(collected)}


def call(parties, facility="tx-harris-02", rec="rec-c"):
    return {"call_id": "c-1", "facility_id": facility, "recording_id": rec, "monitored": True,
            "parties": [{"subject": s, "user_type": t} for s, t in parties],
            "collected": ["voice", "call_details"]}


def request(rec=None, kind="law_enforcement", purpose="law_enforcement_activity", cats=("voice",)):
    data = {"request_id": "r-1", "recipient": {"kind": kind, "name": "County Sheriff"},
            "purpose": purpose, "data_categories": list(cats), "profile": {"role": "svv_user"}}
    if rec:
        data["recording_id"] = rec
    return data


def exempt_outcomes(decision):
    """{subject: sorted kinds/actions} of clause R's outcomes."""
    out = {}
    for o in decision.outcomes:
        if o["clause"] == "R":
            out.setdefault(o["subject"], []).append(o.get("action") or o.get("violation") or o["effect"])
    return {s: sorted(v) for s, v in out.items()}


# --- O ---------------------------------------------------------------------------------------

def test_ip_address_received_in_an_svv_session_is_allowed(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant")], collected=("ip_address", "video")))
    assert "O.svv-ip-address-received" in d.trace
    assert not [o for o in d.outcomes if o["kind"] == "violation"]


def test_cookies_of_an_svv_user_follow_d(run):
    d = run("website.visited", {"session_id": "s-1", "dnt": False, "collected": ["ip_address"],
                                "cookies": [{"purpose": "remember_me", "set": True}],
                                "profile": {"role": "svv_user"}}, time="2019-07-01T09:00:00Z")
    assert "O.svv-user-cookies-as-in-d" in d.trace
    [expire] = d.outcomes
    assert (expire["rule"], expire["due_by"]) == ("D.remember-me-lasts-one-year", "2020-07-01T09:00:00Z")


# --- Q ---------------------------------------------------------------------------------------

def test_every_participant_and_observer_is_a_data_subject(run, policy):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("fam-1", "family", "participant"),
                                         ("obs-1", "family", "observer")]))
    assert "Q.every-participant-is-a-data-subject" in d.trace
    retained = {o["subject"] for o in d.outcomes if o["kind"] == "retention"}
    assert retained == {"det-1", "fam-1", "obs-1"}
    # each is remembered as a subject of the recording: K then treats it as their SVV data
    later = run("disclosure.requested", dict(request("rec-1", kind="anti_terrorism_agency",
                                                     cats=("money_transfer",)), profile={"role": "customer"}),
                subject="obs-1")
    [permit] = later.outcomes
    assert (permit["effect"], permit["rule"]) == ("permit", "K.law-enforcement-access-to-svv-data")


# --- R: recorded without notice ----------------------------------------------------------------

def test_svv_session_is_recorded_without_prior_notice(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant")]))
    assert "R.recorded-without-prior-notification" in d.trace
    assert not [o for o in d.outcomes if o["kind"] in ("notice", "violation")]


# --- R: exempt user types in SVV ---------------------------------------------------------------

def test_exempt_attorney_in_svv_is_a_violation_and_the_recording_is_deleted(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("att-1", "attorney", "participant")]),
            time="2019-07-01T10:00:00-05:00")
    assert exempt_outcomes(d) == {"att-1": ["delete", "deny", "deny", "deny", "recording.exempt_user_type"]}
    [delete] = [o for o in d.outcomes if o.get("action") == "delete"]
    assert (delete["target"], delete["due_by"], delete["rule"]) == (
        "recording:rec-1", "2019-07-01T10:00:00-05:00", "R.exempt-participant-not-recorded")
    [violation] = [o for o in d.outcomes if o["kind"] == "violation"]
    assert violation["ref"] == "recording:rec-1" and "attorney" in violation["detail"]


def test_facility_not_listed_exempts_attorneys_by_default(run):
    d = run("svv.session.recorded", svv([("att-1", "attorney", "participant")], facility="zz-unknown-99"))
    assert exempt_outcomes(d)["att-1"][-1] == "recording.exempt_user_type"


@pytest.mark.parametrize("facility,exempt", [("tx-dallas-01", True), ("tx-harris-02", False),
                                             ("zz-unknown-99", False)])
def test_clergy_is_exempt_only_where_the_facility_says_so(run, facility, exempt):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("cl-1", "clergy", "participant")], facility=facility))
    assert ("cl-1" in exempt_outcomes(d)) is exempt
    assert ("R.exempt-participant-not-recorded" in d.trace) is exempt


def test_exempt_observer_is_treated_like_a_participant(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("obs-1", "consular_officer", "observer")], facility="ca-la-03"))
    assert list(exempt_outcomes(d)) == ["obs-1"]
    assert [o for o in d.outcomes if o["rule"] == "M.no-expectation-of-privacy-in-svv"] == []


def test_later_disclosure_of_a_deleted_recording_is_denied(run):
    run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                     ("att-1", "attorney", "participant")]))
    d = run("disclosure.requested", request("rec-1", cats=("voice", "video")), time="2019-08-01T00:00:00Z")
    assert [(o["effect"], o["data_categories"], o["rule"]) for o in d.outcomes] == [
        ("deny", ["video", "voice"], "R.deleted-recording-not-disclosed")]
    # K permits the same request for a recording that was not deleted
    ok = run("disclosure.requested", request(None, cats=("voice",)), time="2019-08-01T00:00:00Z")
    assert [o["effect"] for o in ok.outcomes] == ["permit"]


def test_deleted_recording_is_denied_for_any_subject_and_any_purpose(run):
    run("svv.session.recorded", svv([("att-1", "attorney", "participant")], rec="rec-9"))
    lp = {"kind": "warrant", "reference": "W-1"}
    d = run("disclosure.requested", dict(request("rec-9", purpose="legal_process"), legal_process=lp),
            subject="someone-else")
    assert {o["effect"] for o in d.outcomes} == {"deny"}
    assert d.outcomes[0]["rule"] == "R.deleted-recording-not-disclosed"


# --- R: exempt user types in calls -------------------------------------------------------------

def test_exempt_attorney_on_a_call_overrides_g_and_deletes_the_recording(run):
    d = run("call.recorded", call([("det-1", "detainee"), ("att-1", "attorney")]))
    disclosures = {o["recipient"]: (o["effect"], o["rule"]) for o in d.outcomes if o["kind"] == "disclosure"}
    assert disclosures == {"law_enforcement": ("deny", "R.exempt-call-party-not-recorded"),
                           "correctional_facility": ("deny", "R.exempt-call-party-not-recorded"),
                           "anti_terrorism_agency": ("deny", "R.exempt-call-party-not-recorded")}
    [delete] = [o for o in d.outcomes if o["kind"] == "retention"]
    assert (delete["subject"], delete["action"], delete["target"]) == ("att-1", "delete", "recording:rec-c")
    [violation] = [o for o in d.outcomes if o["kind"] == "violation"]
    assert (violation["subject"], violation["violation"]) == ("att-1", "recording.exempt_user_type")
    later = run("disclosure.requested", request("rec-c", cats=("call_details",)))
    assert [(o["effect"], o["rule"]) for o in later.outcomes] == [("deny", "R.deleted-recording-not-disclosed")]


def test_call_without_exempt_party_is_left_to_g(run):
    d = run("call.recorded", call([("det-1", "detainee"), ("cl-1", "clergy")]))  # harris exempts attorneys only
    assert {(o["effect"], o["clause"]) for o in d.outcomes} == {("permit", "G")}
    assert not any(r.startswith("R.") for r in d.trace)


def test_clergy_on_a_dallas_call_is_exempt(run):
    d = run("call.recorded", call([("det-1", "detainee"), ("cl-1", "clergy")], facility="tx-dallas-01"))
    assert "R.exempt-call-party-not-recorded" in d.trace


def test_a_deleted_recording_is_not_also_retained(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("att-1", "attorney", "participant")]))
    targets = [(o["action"], o["target"]) for o in d.outcomes if o["kind"] == "retention"]
    assert targets == [("delete", "recording:rec-1")]
    # nobody in a session with an exempt participant gets the recording permitted
    assert [o for o in d.outcomes if o["kind"] == "disclosure" and o["effect"] == "permit"] == []


def test_a_session_without_exempt_participants_is_retained(run):
    d = run("svv.session.recorded", svv([("det-1", "detainee", "participant"),
                                         ("fam-1", "family", "observer")]))
    assert {o["action"] for o in d.outcomes if o["kind"] == "retention"} == {"retain"}
