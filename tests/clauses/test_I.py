"""Clause I: corrections to a subject's information, and changes to the policy (posted at
once; notified in advance where the law requires it)."""


SUBJECT = None


def change(advance, effective_at="2019-08-01T00:00:00Z"):
    return {"version": "securus-2019-08-01", "effective_at": effective_at,
            "advance_notice_required": advance}


def test_a_change_without_advance_notice_is_posted_and_takes_effect_at_once(run):
    d = run("policy.changed", change(False))
    [posted] = [o for o in d.outcomes if o["clause"] == "I"]
    assert {k: posted[k] for k in ("kind", "notice", "to", "channel", "due_by", "subject",
                                   "clause", "rule", "ref")} == {
        "kind": "notice", "notice": "policy.change_posted", "to": "*", "channel": "website",
        "due_by": "2019-07-01T09:00:00Z", "subject": "*", "clause": "I",
        "rule": "I.post-policy-changes", "ref": "policy:securus-2019-08-01"}
    assert "972-734-1111" in posted["detail"]
    assert [r for r in d.trace if r.startswith("I.")] == \
        ["I.change-takes-effect-immediately", "I.post-policy-changes"]


def test_a_change_that_needs_advance_notice_notifies_subjects_before_it_takes_effect(run):
    d = run("policy.changed", change(True, "2019-08-01T00:00:00+02:00"))
    notices = {o["notice"]: o for o in d.outcomes if o["clause"] == "I"}
    assert sorted(notices) == ["policy.change_advance", "policy.change_posted"]
    advance = notices["policy.change_advance"]
    assert advance["to"] == "*" and advance["subject"] == "*"
    assert advance["due_by"] == "2019-08-01T00:00:00+02:00"
    assert advance["rule"] == "I.notify-changes-in-advance"
    assert notices["policy.change_posted"]["due_by"] == "2019-07-01T09:00:00Z"
    assert "I.change-takes-effect-immediately" not in d.trace


def test_a_profile_correction_is_accepted_and_cites_clause_I(run):
    run("account.opened", {"profile": {"role": "customer"}, "collected": ["name"], "channel": "web"},
        subject="acct-1")
    d = run("profile.updated", {"profile": {"residence": {"country": "US", "region": "US-CA"}}},
            subject="acct-1", time="2019-07-02T09:00:00Z")
    assert "I.correct-your-information" in d.trace
    assert [o for o in d.outcomes if o["clause"] == "I"] == []
    # the correction is applied: the subject is now a California resident (clause U sees it)
    filed = run("ccpa.request.filed", {"request_id": "r-1", "kinds": ["categories"],
                                       "delivery": "mail", "has_account": True},
                subject="acct-1", time="2019-07-03T09:00:00Z")
    assert [o["status"] for o in filed.outcomes
            if o["kind"] == "obligation" and o["clause"] == "U"] == ["open"]
