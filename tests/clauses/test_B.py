"""Clause B, uses of information: no commercial company gets data for B's uses without consent,
affiliates may get it for Securus news, and order and news e-mails may be sent."""

import pytest
from helpers import disclosures, request


@pytest.mark.parametrize("purpose", ["service_provision", "transaction_processing"])
@pytest.mark.parametrize("consent", [None, False])
def test_commercial_company_without_consent_is_denied(run, purpose, consent):
    extra = {} if consent is None else {"consent": consent}
    d = run("disclosure.requested", request("commercial_third_party", purpose, ["name", "email"], **extra))
    assert disclosures(d) == {"deny": (["email", "name"], "B.no-commercial-company-without-consent")}
    assert d.outcomes[0]["clause"] == "B"


@pytest.mark.parametrize("purpose", ["service_provision", "transaction_processing"])
def test_commercial_company_with_consent_is_permitted_for_b_uses(run, purpose):
    d = run("disclosure.requested", request("commercial_third_party", purpose, ["name"], consent=True))
    assert disclosures(d) == {"permit": (["name"], "B.commercial-company-with-consent")}


def test_consent_does_not_open_a_sale(run):
    d = run("disclosure.requested", request("commercial_third_party", "sale", ["name"], consent=True))
    assert disclosures(d) == {"deny": (["name"], "E.no-sale-or-commercial-transfer")}
    assert "B.commercial-company-with-consent" not in d.trace


def test_consent_does_not_open_marketing_by_a_commercial_company(run):
    d = run("disclosure.requested", request("commercial_third_party", "marketing", ["email"], consent=True))
    assert disclosures(d) == {"deny": (["email"], "E.no-sale-or-commercial-transfer")}


def test_b_leaves_other_purposes_to_the_clauses_that_state_them(run):
    lp = {"kind": "subpoena", "reference": "SUB-1"}
    d = run("disclosure.requested", request("commercial_third_party", "legal_process", ["name"], legal_process=lp))
    assert set(disclosures(d)) == {"permit"}
    assert not any(r.startswith("B.") for r in d.trace)


def test_affiliates_may_receive_data_for_securus_news(run):
    d = run("disclosure.requested", request("affiliate", "marketing", ["email", "name"]))
    assert disclosures(d) == {"permit": (["email", "name"], "B.affiliates-for-news-and-updates")}


@pytest.mark.parametrize("kind", ["vendor", "service_provider"])
def test_vendors_and_service_providers_get_nothing_for_marketing(run, kind):
    d = run("disclosure.requested", request(kind, "marketing", ["email"]))
    assert disclosures(d) == {"deny": (["email"], "E.no-other-transfer")}


def test_sharing_with_service_providers_for_b_uses_is_permitted(run):
    d = run("disclosure.requested", request("service_provider", "service_provision", ["email"]))
    assert disclosures(d)["permit"][0] == ["email"]


# --- messages (B.2) ------------------------------------------------------------------------

def message(category, channel="email", mid="m-1"):
    return {"message_id": mid, "channel": channel, "category": category}


def test_order_emails_may_be_sent(run):
    d = run("message.send.requested", message("transactional"))
    [o] = d.outcomes
    assert (o["effect"], o["recipient"], o["purpose"], o["data_categories"], o["ref"], o["rule"]) == (
        "permit", "service_provider", "service_provision", ["email"], "message:m-1", "B.order-emails")


@pytest.mark.parametrize("category", ["news_updates", "marketing"])
def test_news_and_updates_emails_may_be_sent(run, category):
    d = run("message.send.requested", message(category))
    [o] = d.outcomes
    assert (o["effect"], o["purpose"], o["data_categories"], o["rule"]) == (
        "permit", "marketing", ["email"], "B.news-and-updates-emails")
