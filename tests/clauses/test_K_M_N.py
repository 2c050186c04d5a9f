"""Clauses K, M and N, SVV and law enforcement: SVV session and payment data and SVV users'
account information may go to law enforcement (anti-terrorism agencies included); each
recorded session is retained and its contents are available, per participant, except for the
participants a facility exempts."""

import pytest
from helpers import disclosures, request


LE = ["law_enforcement", "correctional_facility", "anti_terrorism_agency"]


def svv(participants, collected=("voice", "video", "ip_address"), facility="tx-harris-02", rec="rec-1"):
    return {"session_id": "v-1", "facility_id": facility, "recording_id": rec,
            "participants": [{"subject": s, "user_type": t, "role": r} for s, t, r in participants],
            "collected": list(collected)}


SVV_USER = {"profile": {"role": "svv_user"}}


# --- K ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", LE)
def test_svv_session_and_payment_data_go_to_law_enforcement(run, kind):
    d = run("disclosure.requested", request(kind, "law_enforcement_activity",
                                            ["money_transfer", "ip_address", "ssn"], **SVV_USER))
    got = disclosures(d)
    assert got["permit"] == (["ip_address", "money_transfer"], "K.law-enforcement-access-to-svv-data")
    assert got["deny"] == (["ssn"], "E.no-other-transfer")


def test_anti_terrorism_agency_gets_svv_voice_and_video(run):
    d = run("disclosure.requested", request("anti_terrorism_agency", "illegal_activity_investigation",
                                            ["voice", "video"], **SVV_USER))
    [permit] = d.outcomes
    assert (permit["effect"], permit["data_categories"]) == ("permit", ["video", "voice"])
    # K permits them as SVV data; G does too, anti-terrorism agencies being law enforcement
    # personnel (g.law-enforcement-includes-anti-terrorism-agencies); so does P's investigation
    assert {b["rule"] for b in permit["basis"]} == {"K.law-enforcement-access-to-svv-data",
                                                    "G.law-enforcement-disclosure",
                                                    "P.fraud-and-illegal-activity"}


def test_k_needs_svv_data(run):
    """A subject who is not an SVV user and names no SVV recording of theirs gets nothing from K
    (payment data and IP addresses are K's, not G's; a call's voice would be G's)."""
    d = run("disclosure.requested", request("anti_terrorism_agency", "law_enforcement_activity",
                                            ["money_transfer", "ip_address"]))
    assert disclosures(d) == {"deny": (["ip_address", "money_transfer"], "E.no-other-transfer")}
    assert not any(r.startswith("K.") for r in d.trace)


def test_a_named_svv_recording_of_the_subject_is_svv_data(run):
    run("svv.session.recorded", svv([("det-1", "detainee", "participant")]), subject="det-1")
    d = run("disclosure.requested", request("anti_terrorism_agency", "law_enforcement_activity",
                                            ["money_transfer"], recording_id="rec-1"), subject="det-1")
    assert disclosures(d) == {"permit": (["money_transfer"], "K.law-enforcement-access-to-svv-data")}
    other = run("disclosure.requested", request("anti_terrorism_agency", "law_enforcement_activity",
                                                ["money_transfer"], recording_id="rec-1"), subject="det-2")
    assert disclosures(other) == {"deny": (["money_transfer"], "E.no-other-transfer")}


def test_sold_in_k_is_not_a_ground_for_sale(run):
    d = run("disclosure.requested", request("law_enforcement", "sale", ["voice"], **SVV_USER))
    assert disclosures(d) == {"deny": (["voice"], "E.no-sale-or-commercial-transfer")}
    assert "K.law-enforcement-access-to-svv-data" not in d.trace


def test_k_is_not_for_commercial_recipients(run):
    d = run("disclosure.requested", request("commercial_third_party", "law_enforcement_activity",
                                            ["voice"], **SVV_USER))
    assert "permit" not in disclosures(d)


def test_recorded_session_is_retained_for_each_participant(run):
    d = run("svv.session.recorded", svv([("acct-1", "family", "participant"),
                                         ("det-1", "detainee", "participant")]))
    retains = sorted((o["subject"], o["action"], o["target"], tuple(o["data_categories"]), o["rule"])
                     for o in d.outcomes if o["kind"] == "retention")
    assert retains == [(s, "retain", "recording:rec-1", ("voice", "video", "ip_address"),
                        "K.svv-session-stored") for s in ("acct-1", "det-1")]


# --- M ---------------------------------------------------------------------------------------

def test_session_contents_are_available_per_participant(run):
    d = run("svv.session.recorded", svv([("acct-1", "family", "participant"),
                                         ("obs-1", "family", "observer")]))
    permits = {(o["subject"], o["recipient"]) for o in d.outcomes
               if o["kind"] == "disclosure" and o["effect"] == "permit"}
    assert permits == {(s, r) for s in ("acct-1", "obs-1") for r in LE}
    for o in d.outcomes:
        if o["kind"] == "disclosure":
            assert (o["rule"], o["purpose"], o["ref"]) == (
                "M.no-expectation-of-privacy-in-svv", "law_enforcement_activity", "recording:rec-1")
            assert o["data_categories"] == ["ip_address", "video", "voice"]


def test_a_session_with_an_exempt_participant_gives_no_m_permit_to_anyone(run):
    d = run("svv.session.recorded", svv([("acct-1", "family", "participant"),
                                         ("att-1", "attorney", "participant")]))
    assert [o for o in d.outcomes if o["rule"] == "M.no-expectation-of-privacy-in-svv"] == []
    assert "M.no-expectation-of-privacy-in-svv" not in d.trace


# --- N ---------------------------------------------------------------------------------------

def test_svv_account_information_goes_to_law_enforcement(run):
    cats = ["name", "mailing_address", "email", "phone", "credit_card", "account_info", "ssn"]
    d = run("disclosure.requested", request("law_enforcement", "law_enforcement_activity", cats, **SVV_USER))
    got = disclosures(d)
    assert got["deny"] == (["ssn"], "E.no-other-transfer")
    [permit] = [o for o in d.outcomes if o["effect"] == "permit"]
    assert permit["data_categories"] == ["account_info", "credit_card", "email", "mailing_address", "name", "phone"]
    assert permit["rule"] == "N.svv-account-information-to-law-enforcement"
    n_basis = [b for b in permit["basis"] if b["rule"] == "N.svv-account-information-to-law-enforcement"]
    assert n_basis[0]["data_categories"] == permit["data_categories"]


def test_credit_card_of_a_non_svv_user_is_not_shared(run):
    d = run("disclosure.requested", request("law_enforcement", "law_enforcement_activity", ["credit_card"],
                                            profile={"role": "customer"}))
    assert disclosures(d) == {"deny": (["credit_card"], "E.no-other-transfer")}


def test_anti_terrorism_agency_gets_svv_account_information(run):
    d = run("disclosure.requested", request("anti_terrorism_agency", "law_enforcement_activity",
                                            ["credit_card", "name"], **SVV_USER))
    assert disclosures(d) == {"permit": (["credit_card", "name"], "N.svv-account-information-to-law-enforcement")}
