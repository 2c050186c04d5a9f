"""Clauses C, E, G and P: each rule, and the borders the policy's wording creates."""

import pytest

from clauseline import empty_state, evaluate
from helpers import disclosures, request


def decide(policy, ev):
    decision, _ = evaluate(policy, empty_state(), ev)
    assert decision.status == "accepted", decision.errors
    return decision


def payment(**over):
    data = {"transaction_id": "t-1", "amount": 12.5, "currency": "USD", "instrument": "credit_card",
            "status": "completed", "encrypted_in_transit": True, "product": "calls"}
    data.update(over)
    return data


# --- C ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("instrument", ["credit_card", "debit_card", "bank_account"])
def test_completed_payment_purges_its_numbers_at_completion(policy, event, instrument):
    d = decide(policy, event("payment.made", payment(instrument=instrument),
                             time="2019-07-01T09:30:00+02:00"))
    [purge] = [o for o in d.outcomes if o["kind"] == "retention"]
    assert purge["action"] == "purge"
    assert purge["data_categories"] == [instrument]
    assert purge["target"] == "payment:t-1"
    assert purge["due_by"] == "2019-07-01T09:30:00+02:00"
    assert purge["clause"] == "C"


def test_failed_payment_is_also_over_and_purged(policy, event):
    d = decide(policy, event("payment.made", payment(status="failed")))
    assert [o["action"] for o in d.outcomes] == ["purge"]


def test_authorized_payment_is_not_purged_yet(policy, event):
    d = decide(policy, event("payment.made", payment(status="authorized")))
    assert d.outcomes == ()
    assert d.trace == ()


def test_unencrypted_payment_is_a_violation_whatever_its_status(policy, event):
    d = decide(policy, event("payment.made", payment(status="authorized", encrypted_in_transit=False)))
    [violation] = d.outcomes
    assert violation["kind"] == "violation"
    assert violation["violation"] == "payment.unencrypted_in_transit"
    assert violation["ref"] == "payment:t-1"
    assert violation["clause"] == "C"


# --- E ---------------------------------------------------------------------------------------

def test_sale_is_denied_even_to_recipients_otherwise_permitted(policy, event):
    d = decide(policy, event("disclosure.requested",
                             request("law_enforcement", "sale", ["voice", "name"], consent=True)))
    assert disclosures(d) == {"deny": (["name", "voice"], "E.no-sale-or-commercial-transfer")}


def test_marketing_to_a_commercial_third_party_is_denied(policy, event):
    d = decide(policy, event("disclosure.requested",
                             request("commercial_third_party", "marketing", ["email"])))
    assert disclosures(d) == {"deny": (["email"], "E.no-sale-or-commercial-transfer")}


@pytest.mark.parametrize("kind", ["service_provider", "vendor", "affiliate"])
def test_service_providers_get_what_the_service_needs(policy, event, kind):
    d = decide(policy, event("disclosure.requested", request(kind, "service_provision", ["name", "email"])))
    assert disclosures(d) == {"permit": (["email", "name"], "E.service-providers-as-necessary")}


@pytest.mark.parametrize("purpose", ["enforce_policies", "protect_rights_safety"])
def test_enforcing_policies_and_protecting_rights_is_permitted(policy, event, purpose):
    d = decide(policy, event("disclosure.requested", request("law_enforcement", purpose, ["ssn"])))
    assert disclosures(d) == {"permit": (["ssn"], "E.enforce-policies-protect-rights")}


def test_legal_process_with_a_reference_is_permitted(policy, event):
    lp = {"kind": "subpoena", "reference": "SUB-2019-17"}
    d = decide(policy, event("disclosure.requested",
                             request("law_enforcement", "legal_process", ["ssn", "voice"], legal_process=lp)))
    [permit] = [o for o in d.outcomes if o["effect"] == "permit"]
    assert permit["data_categories"] == ["ssn", "voice"]
    assert {b["rule"] for b in permit["basis"]} == {"E.legal-process", "P.compelled-by-law"}
    assert "deny" not in disclosures(d)


@pytest.mark.parametrize("legal_process", [None, {"kind": "warrant"}])
def test_legal_process_without_a_reference_is_denied(policy, event, legal_process):
    extra = {"legal_process": legal_process} if legal_process else {}
    d = decide(policy, event("disclosure.requested",
                             request("law_enforcement", "legal_process", ["ssn", "voice"], **extra)))
    assert disclosures(d) == {"deny": (["ssn", "voice"], "E.legal-process-without-reference")}


def test_business_transfer_is_permitted(policy, event):
    d = decide(policy, event("disclosure.requested", request("acquirer", "business_transfer", ["name", "ssn"])))
    [permit] = d.outcomes
    assert permit["effect"] == "permit"
    assert [b["rule"] for b in permit["basis"]] == ["E.business-transfer", "P.business-transfer"]


def test_a_purpose_no_rule_allows_falls_to_the_closed_world_deny(policy, event):
    d = decide(policy, event("disclosure.requested", request("vendor", "marketing", ["name"])))
    assert disclosures(d) == {"deny": (["name"], "E.no-other-transfer")}


# --- G ---------------------------------------------------------------------------------------

def test_law_enforcement_gets_g_categories_and_nothing_else(policy, event):
    cats = ["voice", "ssn", "phone", "credit_card", "location", "video", "call_details",
            "account_history", "date_of_birth"]
    d = decide(policy, event("disclosure.requested", request("law_enforcement", "law_enforcement_activity", cats)))
    got = disclosures(d)
    assert got["permit"] == (["account_history", "call_details", "location", "phone", "video", "voice"],
                             "G.law-enforcement-disclosure")
    assert got["deny"] == (["credit_card", "date_of_birth", "ssn"], "E.no-other-transfer")
    assert len(d.outcomes) == 2  # one outcome per effect


def test_correctional_facility_is_treated_like_law_enforcement(policy, event):
    d = decide(policy, event("disclosure.requested",
                             request("correctional_facility", "law_enforcement_activity", ["video"])))
    assert disclosures(d) == {"permit": (["video"], "G.law-enforcement-disclosure")}


def test_g_does_not_cover_a_commercial_purpose(policy, event):
    d = decide(policy, event("disclosure.requested", request("law_enforcement", "marketing", ["voice"])))
    assert disclosures(d)["deny"][0] == ["voice"]


def test_third_parties_supporting_law_enforcement(policy, event):
    d = decide(policy, event("disclosure.requested", request("vendor", "law_enforcement_activity", ["voice", "ssn"])))
    got = disclosures(d)
    assert got["permit"] == (["voice"], "G.third-parties-supporting-law-enforcement")
    assert got["deny"] == (["ssn"], "E.no-other-transfer")


def test_call_recorded_yields_its_permitted_disclosures(policy, event):
    data = {"call_id": "c-1", "facility_id": "tx-01", "recording_id": "rec-9", "monitored": True,
            "parties": [{"subject": "acct-1", "user_type": "family"}],
            "collected": ["voice", "call_details", "phone", "location"]}
    d = decide(policy, event("call.recorded", data))
    recipients = {o["recipient"]: o for o in d.outcomes}
    assert set(recipients) == {"law_enforcement", "correctional_facility", "anti_terrorism_agency"}
    for o in recipients.values():
        assert o["effect"] == "permit"
        assert o["data_categories"] == ["call_details", "location", "voice"]
        assert o["ref"] == "recording:rec-9"
        assert o["clause"] == "G"


# --- P ---------------------------------------------------------------------------------------

def test_card_processors_receive_payment_data(policy, event):
    d = decide(policy, event("disclosure.requested",
                             request("payment_processor", "transaction_processing", ["credit_card", "name"])))
    [permit] = d.outcomes
    assert permit["effect"] == "permit"
    assert permit["data_categories"] == ["credit_card", "name"]
    assert {b["rule"] for b in permit["basis"]} == {"E.service-providers-as-necessary", "P.transaction-processors"}


@pytest.mark.parametrize("purpose", ["fraud_investigation", "illegal_activity_investigation"])
def test_fraud_and_illegal_activity_investigations(policy, event, purpose):
    d = decide(policy, event("disclosure.requested", request("service_provider", purpose, ["ip_address"])))
    assert disclosures(d) == {"permit": (["ip_address"], "P.fraud-and-illegal-activity")}


def test_regulator_investigating_illegal_activity(policy, event):
    d = decide(policy, event("disclosure.requested",
                             request("regulator", "illegal_activity_investigation", ["money_transfer"])))
    [permit] = d.outcomes
    assert {b["rule"] for b in permit["basis"]} == {"P.fraud-and-illegal-activity", "P.regulator-investigation"}


def test_a_commercial_company_may_receive_what_a_fraud_investigation_needs(policy, event):
    # p.investigation-disclosure-any-recipient: P names a purpose, not a recipient
    d = decide(policy, event("disclosure.requested",
                             request("commercial_third_party", "fraud_investigation", ["ssn"])))
    assert disclosures(d) == {"permit": (["ssn"], "P.fraud-and-illegal-activity")}


def test_the_fallback_is_traced_only_where_it_decided(policy, event):
    permitted = decide(policy, event("disclosure.requested",
                                     request("payment_processor", "transaction_processing", ["credit_card"])))
    assert "E.no-other-transfer" not in permitted.trace
    mixed = decide(policy, event("disclosure.requested",
                                 request("law_enforcement", "law_enforcement_activity", ["voice", "ssn"])))
    assert "E.no-other-transfer" in mixed.trace
