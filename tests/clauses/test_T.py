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


def test_a_birth_date_on_file_is_learning_it_the_account_itself_orders_the_deletion(run):
    d = run("account.opened", {"profile": {"role": "customer", "birth_date": "2010-01-01"},
                               "collected": ["name", "date_of_birth"], "channel": "web"},
            time="2019-07-02T09:00:00Z")
    [deletion] = [o for o in t(d) if o["rule"] == "T.delete-child-information"]
    assert deletion["target"] == "subject:kid-1" and deletion["data_categories"] == ALL_CATEGORIES
    # a later report on the same child orders nothing new: the order stands
    d = run("child.identified", report("2010-01-01", inline=False), time="2019-07-03T09:00:00Z")
    assert "T.delete-child-information" not in d.trace


def test_a_profile_update_giving_a_birth_date_under_13_orders_the_deletion(run):
    run("account.opened", {"profile": {"role": "customer"}, "collected": ["name"],
                           "channel": "web"}, time="2019-07-01T09:00:00Z")
    d = run("profile.updated", {"profile": {"birth_date": "2012-05-05"}}, time="2019-07-02T09:00:00Z")
    assert [o["rule"] for o in t(d)] == ["T.delete-child-information"]


def test_verified_consent_on_the_profile_orders_nothing(run):
    d = run("account.opened", {"profile": {"role": "customer", "birth_date": "2010-01-01",
                                           "parental_consent_verified": True},
                               "collected": ["name"], "channel": "web"})
    assert t(d) == ()


def test_a_report_after_the_13th_birthday_about_information_collected_before_it(run):
    # first seen at 12 (a call), reported at 14: the age when collected is what matters
    run("call.recorded", {"call_id": "c-1", "facility_id": "tx-1", "recording_id": "r-1",
                          "monitored": True, "parties": [{"subject": "kid-1", "user_type": "family"}],
                          "collected": ["voice"]}, time="2019-06-01T09:00:00Z")
    d = run("child.identified", report(inline=False), time="2020-08-01T09:00:00Z")
    assert [o["rule"] for o in t(d)] == ["T.delete-child-information"]


def test_a_report_after_the_13th_birthday_may_say_when_the_information_was_collected(run):
    late = dict(report(inline=False), collected_at="2019-06-30T09:00:00Z")
    d = run("child.identified", late, time="2020-08-01T09:00:00Z")
    assert [o["rule"] for o in t(d)] == ["T.delete-child-information"]
    other = dict(report(inline=False), collected_at="2019-07-02T00:00:00Z")   # on the birthday
    d = run("child.identified", other, subject="kid-2", time="2020-08-01T09:00:00Z")
    assert t(d) == ()


def test_a_subject_first_seen_after_the_13th_birthday_is_not_a_child(run):
    d = run("child.identified", report(inline=False), time="2020-08-01T09:00:00Z")
    assert t(d) == ()


def test_a_later_disclosure_of_the_child_is_denied_even_where_another_clause_permits(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("disclosure.requested", disclosure(), time="2020-01-01T09:00:00Z")
    [deny] = d.outcomes
    assert deny["effect"] == "deny"
    assert deny["data_categories"] == ["name", "voice"]
    assert deny["rule"] == "T.deleted-child-information-stays-deleted"
    assert deny["clause"] == "T"
    # G voted permit; the override replaced it and says so
    assert deny["overrides"] == [{"rule": "G.law-enforcement-disclosure", "clause": "G",
                                  "effect": "permit", "data_categories": ["name", "voice"]}]
    assert "T.deleted-child-information-stays-deleted" in d.trace


def test_the_denial_lasts_after_the_child_turns_13(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("disclosure.requested", disclosure(["account_info"], "service_provider",
                                               "service_provision"), time="2025-01-01T09:00:00Z")
    assert [(o["effect"], o["rule"]) for o in d.outcomes] == \
        [("deny", "T.deleted-child-information-stays-deleted")]


def test_a_recorded_call_of_the_child_permits_nothing_and_is_deleted(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("call.recorded", {"call_id": "c-1", "facility_id": "tx-1", "recording_id": "r-1",
                              "monitored": True, "parties": [{"subject": "kid-1", "user_type": "family"}],
                              "collected": ["voice", "call_details"]}, time="2019-07-05T09:00:00Z")
    assert {o["effect"] for o in d.outcomes if o["kind"] == "disclosure"} == {"deny"}
    assert all(o["rule"] == "T.deleted-child-information-stays-deleted"
               for o in d.outcomes if o["kind"] == "disclosure")
    assert not [o for o in d.outcomes if o["kind"] == "retention" and o["action"] == "retain"]
    # what the call collected from the child is deleted at once, by the same override
    [later] = [o for o in t(d) if o["kind"] == "retention"]
    assert later["rule"] == "T.deleted-child-information-stays-deleted"
    assert later["target"] == "subject:kid-1" and later["subject"] == "kid-1"
    assert later["data_categories"] == ["voice", "call_details"] and later["due_by"] == "2019-07-05T09:00:00Z"


def test_an_svv_session_with_the_child_as_participant_keeps_nothing_of_the_child(run):
    run("child.identified", report(), time="2019-07-01T09:00:00Z")
    d = run("svv.session.recorded", {
        "session_id": "s-1", "facility_id": "tx-1", "recording_id": "rec-9",
        "participants": [{"subject": "kid-1", "user_type": "family", "role": "participant"},
                         {"subject": "inmate-1", "user_type": "detainee", "role": "participant"}],
        "collected": ["video", "voice"]}, subject="inmate-1", time="2019-07-05T09:00:00Z")
    kid = [o for o in d.outcomes if o["subject"] == "kid-1"]
    adult = [o for o in d.outcomes if o["subject"] == "inmate-1"]
    assert {(o["kind"], o.get("effect") or o.get("action")) for o in kid} == \
        {("disclosure", "deny"), ("retention", "delete")}
    [deleted] = [o for o in kid if o["kind"] == "retention" and o["target"] == "recording:rec-9"]
    assert deleted["overrides"] == [{"rule": "K.svv-session-stored", "clause": "K", "action": "retain"}]
    assert deleted["due_by"] == "2019-07-05T09:00:00Z"
    # and what the session collected from the child is deleted from the child's record at once
    [collected] = [o for o in kid if o["kind"] == "retention" and o["target"] == "subject:kid-1"]
    assert collected["data_categories"] == ["video", "voice"]
    assert collected["due_by"] == "2019-07-05T09:00:00Z"
    # a recording cannot be partly deleted: the delete of its target outranks the adult's
    # retain; the adult's own disclosure permits stay as M decides them
    assert {(o["kind"], o.get("effect")) for o in adult} == {("disclosure", "permit")}


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
