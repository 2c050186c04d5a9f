"""Clause T, children's privacy: a child under 13 without verified parental consent has all
personal information deleted at once, and nothing of theirs is disclosed afterwards."""


ALL_CATEGORIES = ["name", "date_of_birth", "ssn", "email", "mailing_address", "phone",
                  "credit_card", "debit_card", "bank_account", "location", "voice", "video",
                  "call_details", "account_info", "account_history", "device_id", "mac_address",
                  "ip_address", "browsing_history", "money_transfer"]
BIRTH = "2006-07-02"                      # 13th birthday: 2019-07-02


SUBJECT = "kid-1"


def t(decision):
    """The decision's clause T outcomes (other clauses may act on the same events)."""
    return tuple(o for o in decision.outcomes if o["clause"] == "T")


def report(birth=BIRTH, consent=False, inline=True):
    data = {"birth_date": birth, "parental_consent_verified": consent, "reported_by": "staff"}
    if inline:
        data["profile"] = {"birth_date": birth}
    return data


def disclosure(categories=("voice", "name"), kind="law_enforcement",
               purpose="law_enforcement_activity"):
    return {"request_id": "d-1", "recipient": {"kind": kind, "name": "County Sheriff"},
            "purpose": purpose, "data_categories": list(categories)}


def test_a_child_under_13_without_consent_has_everything_deleted_at_once(run):
    d = run("child.identified", report(), time="2019-07-01T23:59:00Z")   # the day before 13
    [deletion] = t(d)
    assert deletion == {"kind": "retention", "action": "delete", "data_categories": ALL_CATEGORIES,
                        "target": "subject:kid-1", "due_by": "2019-07-01T23:59:00Z",
                        "subject": "kid-1", "clause": "T", "rule": "T.delete-child-information"}


def test_on_the_13th_birthday_nothing_is_deleted(run):
    d = run("child.identified", report(), time="2019-07-02T00:00:00Z")
    assert t(d) == ()
    assert "T.record-child-report" in d.trace
    assert "T.delete-child-information" not in d.trace


def test_the_birthday_is_the_events_utc_date(run):
    # 2019-07-02T01:00+02:00 is still 1 July in UTC: the child is 12
    d = run("child.identified", report(), time="2019-07-02T01:00:00+02:00")
    assert [o["action"] for o in t(d)] == ["delete"]


def test_a_child_with_verified_parental_consent_keeps_the_information(run):
    d = run("child.identified", report(consent=True), time="2019-07-01T09:00:00Z")
    assert t(d) == ()


def test_the_birth_date_may_come_from_the_profile_on_file(run):
    run("account.opened", {"profile": {"role": "customer", "birth_date": "2010-01-01"},
                           "collected": ["name", "date_of_birth"], "channel": "web"})
    d = run("child.identified", report("2010-01-01", inline=False), time="2019-07-02T09:00:00Z")
    assert [o["target"] for o in t(d)] == ["subject:kid-1"]


def test_a_later_disclosure_of_the_child_is_denied_even_where_another_clause_permits(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("disclosure.requested", disclosure(), time="2020-01-01T09:00:00Z")
    [deny] = d.outcomes
    assert deny["effect"] == "deny"
    assert deny["data_categories"] == ["name", "voice"]
    assert deny["rule"] == "T.no-disclosure-of-deleted-child-information"
    assert deny["clause"] == "T"
    assert "G.law-enforcement-disclosure" in d.trace       # G voted permit; T's deny overrides


def test_the_denial_lasts_after_the_child_turns_13(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("disclosure.requested", disclosure(["account_info"], "service_provider",
                                               "service_provision"), time="2025-01-01T09:00:00Z")
    assert [(o["effect"], o["rule"]) for o in d.outcomes] == \
        [("deny", "T.no-disclosure-of-deleted-child-information")]


def test_other_subjects_and_consented_children_are_disclosed_as_usual(run):
    run("child.identified", report(), subject="kid-1", time="2019-07-01T09:00:00Z")
    run("child.identified", report(consent=True), subject="kid-2", time="2019-07-01T09:00:00Z")
    for subject in ("adult-1", "kid-2"):
        d = run("disclosure.requested", disclosure(), subject=subject, time="2019-08-01T09:00:00Z")
        assert [o["effect"] for o in d.outcomes] == ["permit"], subject


def test_the_reports_own_birth_date_is_enough(run):
    # no profile on file and none inline: the report itself sets the profile's birth date
    d = run("child.identified", report(inline=False), time="2019-07-01T12:00:00Z")
    assert [o["rule"] for o in t(d)] == ["T.delete-child-information"]
