"""Clause A, what is collected: each collecting event is held to the categories A lists for its
context, and a Do Not Track signal is seen and deliberately ignored."""

import pytest


ASKED = ["name", "date_of_birth", "ssn", "email", "mailing_address", "phone", "credit_card",
         "debit_card"]
AUTOMATIC = ["device_id", "mac_address", "ip_address", "location", "browsing_history"]


def unlisted(decision):
    """{category: rule} of the decision's collection violations."""
    return {o["ref"]: o["rule"] for o in decision.outcomes
            if o["kind"] == "violation" and o["violation"] == "collection.unlisted_category"}


def account(collected, channel="live_agent"):
    return {"profile": {"role": "customer"}, "collected": collected, "channel": channel}


def visit(collected=(), dnt=False, cookies=()):
    return {"session_id": "s-1", "dnt": dnt, "collected": list(collected), "cookies": list(cookies)}


def call(collected):
    return {"call_id": "c-1", "facility_id": "tx-harris-02", "recording_id": "rec-1",
            "monitored": False, "parties": [{"subject": "acct-1", "user_type": "family"}],
            "collected": collected}


def session_data(collected):
    return {"session_id": "v-1", "facility_id": "tx-harris-02", "recording_id": "rec-2",
            "participants": [{"subject": "acct-1", "user_type": "family", "role": "participant"}],
            "collected": collected}


# --- account opening: what the subject may be asked for -------------------------------------

def test_account_may_collect_everything_a_subject_may_be_asked_for(run):
    d = run("account.opened", account(ASKED))
    assert unlisted(d) == {}


@pytest.mark.parametrize("category", ["bank_account", "voice", "ip_address", "account_info", "money_transfer"])
def test_account_collecting_an_unlisted_category_is_a_violation(run, category):
    d = run("account.opened", account(["name", category]))
    [violation] = [o for o in d.outcomes if o["kind"] == "violation"]
    assert violation["violation"] == "collection.unlisted_category"
    assert violation["ref"] == category
    assert violation["rule"] == "A.account-collection-limited"
    assert violation["clause"] == "A" and violation["subject"] == "acct-1"
    assert category in violation["detail"]


def test_debit_card_counts_as_payment_card_data_but_bank_account_does_not(run):
    d = run("account.opened", account(["credit_card", "debit_card", "bank_account"]))
    assert unlisted(d) == {"bank_account": "A.account-collection-limited"}


def test_account_opened_on_the_web_may_also_collect_automatically(run):
    d = run("account.opened", account(["name", "ip_address", "device_id", "voice"], channel="web"))
    assert unlisted(d) == {"voice": "A.account-collection-limited"}


def test_account_opened_by_telephone_may_not_collect_website_identifiers(run):
    d = run("account.opened", account(["name", "ip_address"], channel="telephone"))
    assert unlisted(d) == {"ip_address": "A.account-collection-limited"}


# --- website: what is collected automatically -----------------------------------------------

def test_visit_may_collect_the_automatic_categories(run):
    d = run("website.visited", visit(AUTOMATIC))
    assert d.outcomes == ()
    assert d.trace == ()


@pytest.mark.parametrize("category", ["ssn", "name", "voice"])
def test_visit_collecting_what_must_be_asked_for_is_a_violation(run, category):
    d = run("website.visited", visit(["ip_address", category]))
    assert unlisted(d) == {category: "A.website-collection-limited"}


# --- using a product or service ---------------------------------------------------------------

def test_call_may_collect_voice_location_call_details_and_phone(run):
    d = run("call.recorded", call(["voice", "location", "call_details", "phone"]))
    assert unlisted(d) == {}


def test_call_may_not_collect_money_transfers_or_bank_numbers(run):
    d = run("call.recorded", call(["voice", "money_transfer", "bank_account"]))
    assert unlisted(d) == {"money_transfer": "A.service-use-collection-limited",
                           "bank_account": "A.service-use-collection-limited"}


def test_svv_session_may_collect_money_transfers_but_not_account_history(run):
    d = run("svv.session.recorded", session_data(["video", "voice", "money_transfer", "account_history"]))
    assert unlisted(d) == {"account_history": "A.service-use-collection-limited"}


# --- Do Not Track --------------------------------------------------------------------------

def test_dnt_is_seen_and_changes_nothing(run):
    cookies = [{"purpose": "remember_me", "set": True}]
    with_dnt = run("website.visited", visit(AUTOMATIC, dnt=True, cookies=cookies), subject="v-1")
    without = run("website.visited", visit(AUTOMATIC, dnt=False, cookies=cookies), subject="v-2")
    assert "A.do-not-track-not-processed" in with_dnt.trace
    assert "A.do-not-track-not-processed" not in without.trace
    strip = lambda d: [dict(o, subject="-", target="-") for o in d.outcomes]  # noqa: E731
    assert strip(with_dnt) == strip(without)
    assert [o["rule"] for o in with_dnt.outcomes] == ["D.remember-me-lasts-one-year"]


def test_dnt_rule_emits_nothing(policy):
    rule = policy.latest.rule("A.do-not-track-not-processed")
    assert rule.emit == ()
    assert "Do Not Track" in rule.quote
