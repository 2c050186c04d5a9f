"""Clause D, cookies: only two purposes; the mobile full-site cookie expires with the session,
remember-me one calendar year after it is set, and disabling it deletes it for good."""

import pytest


SUBJECT = "visitor-1"


def visit(*cookies, session_id="s-1"):
    return {"session_id": session_id, "dnt": False, "collected": ["ip_address"],
            "cookies": [{"purpose": p, "set": s} for p, s in cookies]}


def of_kind(decision, kind):
    return [o for o in decision.outcomes if o["kind"] == kind]


def test_mobile_full_site_cookie_expires_with_the_browsing_session(run):
    d = run("website.visited", visit(("mobile_full_site", True), session_id="s-42"),
            time="2019-07-01T09:00:00-05:00")
    [expire] = d.outcomes
    assert expire == {"kind": "retention", "action": "expire", "data_categories": ["device_id"],
                      "target": "cookie:mobile_full_site:s-42", "due_by": "2019-07-01T09:00:00-05:00",
                      "subject": "visitor-1", "clause": "D",
                      "rule": "D.mobile-full-site-lasts-for-the-session"}


def test_remember_me_lasts_until_the_same_date_and_time_a_year_later(run):
    d = run("website.visited", visit(("remember_me", True)), time="2019-07-01T09:00:00+02:00")
    [expire] = d.outcomes
    assert expire["action"] == "expire"
    assert expire["target"] == "cookie:remember_me:visitor-1"
    assert expire["due_by"] == "2020-07-01T07:00:00Z"
    assert expire["rule"] == "D.remember-me-lasts-one-year"


def test_remember_me_set_on_a_leap_day_expires_on_28_february(run):
    d = run("website.visited", visit(("remember_me", True)), time="2020-02-29T10:00:00Z")
    [expire] = d.outcomes
    assert expire["due_by"] == "2021-02-28T10:00:00Z"


def test_a_cookie_that_was_not_set_owes_nothing(run):
    d = run("website.visited", visit(("remember_me", False), ("mobile_full_site", False), ("ads", False)))
    assert d.outcomes == ()


@pytest.mark.parametrize("purpose", ["analytics", "advertising", "Remember_Me"])
def test_a_cookie_for_any_other_purpose_is_a_violation(run, purpose):
    d = run("website.visited", visit((purpose, True), ("mobile_full_site", True)))
    [violation] = of_kind(d, "violation")
    assert violation["violation"] == "cookie.unlisted_purpose"
    assert violation["ref"] == f"cookie:{purpose}:s-1"
    assert violation["rule"] == "D.only-two-cookie-purposes"
    assert [o["rule"] for o in of_kind(d, "retention")] == ["D.mobile-full-site-lasts-for-the-session"]


def test_disabling_remember_me_deletes_the_cookie_at_once(run):
    d = run("cookie.preference.changed", {"purpose": "remember_me", "enabled": False},
            time="2019-08-01T12:00:00Z")
    [delete] = d.outcomes
    assert delete == {"kind": "retention", "action": "delete", "data_categories": ["device_id"],
                      "target": "cookie:remember_me:visitor-1", "due_by": "2019-08-01T12:00:00Z",
                      "subject": "visitor-1", "clause": "D", "rule": "D.remember-me-disabled"}


def test_remember_me_set_while_disabled_is_a_violation_and_deleted(run):
    run("cookie.preference.changed", {"purpose": "remember_me", "enabled": False})
    d = run("website.visited", visit(("remember_me", True)), time="2019-09-01T00:00:00Z")
    [delete] = of_kind(d, "retention")
    assert (delete["action"], delete["due_by"], delete["target"]) == (
        "delete", "2019-09-01T00:00:00Z", "cookie:remember_me:visitor-1")
    [violation] = of_kind(d, "violation")
    assert violation["violation"] == "cookie.set_while_disabled"
    assert violation["rule"] == "D.remember-me-set-while-disabled"
    assert "D.remember-me-lasts-one-year" not in d.trace


def test_disabling_is_per_subject(run):
    run("cookie.preference.changed", {"purpose": "remember_me", "enabled": False}, subject="visitor-1")
    d = run("website.visited", visit(("remember_me", True)), subject="visitor-2")
    assert [o["action"] for o in d.outcomes] == ["expire"]


def test_enabling_again_restores_the_one_year_cookie(run):
    run("cookie.preference.changed", {"purpose": "remember_me", "enabled": False})
    enabled = run("cookie.preference.changed", {"purpose": "remember_me", "enabled": True})
    assert enabled.outcomes == () and enabled.trace == ("D.remember-me-enabled",)
    d = run("website.visited", visit(("remember_me", True)), time="2019-10-01T00:00:00Z")
    [expire] = d.outcomes
    assert (expire["action"], expire["due_by"]) == ("expire", "2020-10-01T00:00:00Z")


def test_disabling_another_cookie_changes_nothing(run):
    d = run("cookie.preference.changed", {"purpose": "mobile_full_site", "enabled": False})
    assert d.outcomes == ()
    later = run("website.visited", visit(("remember_me", True)))
    assert [o["action"] for o in later.outcomes] == ["expire"]
