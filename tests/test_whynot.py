"""Why a rule fired and why not (clauseline.evaluation.whynot): the explanation data, the text
an auditor reads (clauseline.explain.render_why; golden files under tests/golden/explain/, each
line checked by hand against the rule files), and its agreement with the engine over the whole
demo log.

The golden files were written once by the renderer and then read line by line against
rules/securus-2019-05-04/; after a deliberate change to the renderer or the rules, regenerate them
with CLAUSELINE_UPDATE_GOLDEN=1 and review the diff the same way before committing it.
"""

import json
import os
import re
from pathlib import Path

from clauseline import TIMER_SOURCE, due_ticks, empty_state, evaluate, parse_event
from clauseline.evaluation.facts import facts_for
from clauseline.evaluation.whynot import base_fact, check, compare, cross_type, explain_event
from clauseline.explain import render_why, show
from clauseline.policy.compiler import EVENT_LEVEL
from clauseline.policy.matcher import Matcher
from clauseline.policy.model import Condition, Rule

GOLDEN = Path(__file__).parent / "golden" / "explain"
LOG = Path(__file__).resolve().parents[1] / "examples" / "demo-log.jsonl"


def make(kind, data, id, subject="cus-1", time="2019-07-01T09:00:00Z", source="/tests"):
    return {"specversion": "1.0", "id": id, "source": source, "type": kind, "time": time,
            "subject": subject, "data": data}


def payment(status):
    return make("payment.made", {"transaction_id": "txn-1", "amount": 25.0, "currency": "USD",
                                 "instrument": "debit_card", "status": status,
                                 "encrypted_in_transit": True, "product": "inmate_debit"},
                f"w-pay-{status}", source="/billing")


def account(subject, region, birth_date="1980-01-07", id="w-acct-1",
            time="2019-06-01T08:00:00Z"):
    return make("account.opened", {"profile": {"role": "customer", "user_type": "friend",
                                               "residence": {"country": "US", "region": region},
                                               "birth_date": birth_date},
                                   "collected": ["name", "email"], "channel": "web"},
                id, subject=subject, time=time, source="/accounts")


def ccpa(subject):
    return make("ccpa.request.filed", {"request_id": "ccpa-1", "kinds": ["categories"],
                                       "delivery": "account", "has_account": True},
                "w-ccpa-1", subject=subject, source="/privacy/ccpa")


def disclosure(subject, categories, id="w-dr-1"):
    return make("disclosure.requested", {
        "request_id": "dr-1", "recipient": {"kind": "law_enforcement", "name": "County Sheriff"},
        "purpose": "law_enforcement_activity", "data_categories": categories},
        id, subject=subject, source="/legal/disclosures")


CALL = make("call.recorded", {
    "call_id": "call-1", "facility_id": "tx-harris-02", "recording_id": "rec-1", "monitored": True,
    "parties": [{"subject": "det-1", "user_type": "inmate"},
                {"subject": "att-1", "user_type": "attorney"}],
    "collected": ["call_details", "voice"]}, "w-call-1", subject="det-1",
    time="2019-07-01T10:00:00Z", source="/facilities/tx-harris-02/calls")


def state_after(policy, *events):
    state = empty_state()
    for event in events:
        decision, state = evaluate(policy, state, event)
        assert decision.status == "accepted", decision.errors
    return state


def golden(name, text):
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("CLAUSELINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs from the rendered text"


# --- fired and not fired ----------------------------------------------------------------------

PURGE = "C.purge-payment-numbers-after-transaction"


def test_a_completed_payment_fires_the_purge_and_says_which_condition_held(policy):
    x = explain_event(policy, empty_state(), payment("completed"))
    assert [r.rule for r in x.fired] == [PURGE]
    purge = x.rule(PURGE)
    assert purge.fired and purge.failure is None
    [fact] = purge.facts
    [held] = fact.conditions
    assert (held.path, held.op, held.expected, held.actual, held.held) == (
        "data.status", "in", ["completed", "failed"], "completed", True)
    assert [o["action"] for o in purge.outcomes] == ["purge"]
    assert [e.fate for e in purge.emitted] == ["kept"]
    golden("payment_completed", render_why(x, policy))


def test_an_authorized_payment_does_not_fire_the_purge_and_names_data_status(policy):
    x = explain_event(policy, empty_state(), payment("authorized"))
    assert x.fired == [] and x.decision.trace == ()
    purge = x.rule(PURGE)
    assert not purge.fired
    failed = purge.failure.condition
    assert purge.failure.kind == "condition"
    assert (failed.path, failed.op, failed.expected, failed.present, failed.actual) == (
        "data.status", "in", ["completed", "failed"], True, "authorized")
    text = render_why(x, policy)
    assert "data.status is 'authorized', the rule needs one of ['completed', 'failed']" in text
    golden("payment_authorized", text)


def test_every_rule_of_the_event_type_is_explained_once_in_rule_order(policy):
    x = explain_event(policy, empty_state(), payment("authorized"))
    version = policy.latest
    listening = sorted((r for r in version.rules
                        if "payment.made" in r.events or "*" in r.events), key=lambda r: r.sort_key)
    assert [r.rule for r in x.not_fired] == [r.id for r in listening]


# --- disclosures: permit, deny, fallback ------------------------------------------------------

def test_a_disclosure_one_rule_permits_and_the_fallback_denies(policy):
    x = explain_event(policy, empty_state(), disclosure("det-1", ["voice", "ssn"]))
    assert {r.rule for r in x.fired} == set(x.decision.trace) == {
        "G.law-enforcement-disclosure", "E.no-other-transfer"}
    effects = {o["effect"]: o["data_categories"] for o in x.decision.outcomes}
    assert effects == {"permit": ["voice"], "deny": ["ssn"]}
    g = x.rule("G.law-enforcement-disclosure")
    assert [(f.index, f.item, f.matched) for f in g.facts] == [
        (0, "voice", True), (1, "ssn", False)]
    failed = g.facts[1].failure.condition
    assert (failed.path, failed.actual) == ("item", "ssn")
    # the fallback voted deny on both: it decided ssn; on voice G's permit counted instead
    fallback = x.rule("E.no-other-transfer")
    fates = {(e.fate, e.data_categories, e.by) for e in fallback.emitted}
    assert fates == {("kept", ("ssn",), ()),
                     ("not_counted", ("voice",), ("G.law-enforcement-disclosure",))}
    # a rule of the type that failed on the recipient, the first condition in file order
    e = x.rule("E.service-providers-as-necessary")
    assert [(f.failure.condition.path, f.failure.condition.actual) for f in e.facts] == [
        ("data.recipient.kind", "law_enforcement")] * 2
    # match_any: none of the alternatives held, the first failing condition of each
    sale = x.rule("E.no-sale-or-commercial-transfer").failure
    assert sale.kind == "match_any"
    assert [(c.group, c.path, c.expected) for c in sale.conditions] == [
        (0, "data.purpose", "sale"), (1, "data.purpose", "marketing")]
    golden("disclosure_permit_and_deny", render_why(x, policy))


def test_a_fallback_that_decided_nothing_is_not_fired_and_says_why(policy):
    x = explain_event(policy, empty_state(), disclosure("det-1", ["voice"]))
    fallback = x.rule("E.no-other-transfer")
    assert not fallback.fired and fallback.failure is None and fallback.matched
    assert "fallback" in fallback.note and "G.law-enforcement-disclosure" in fallback.note


# --- for_each: one item matches, another does not ---------------------------------------------

def test_a_call_with_an_attorney_party_matches_that_party_only(policy):
    x = explain_event(policy, empty_state(), CALL)
    r = x.rule("R.exempt-call-party-not-recorded")
    assert r.fired and r.for_each == "data.parties"
    assert [(f.index, f.item["user_type"], f.matched) for f in r.facts] == [
        (0, "inmate", False), (1, "attorney", True)]
    failed = r.facts[0].failure.condition
    assert (failed.path, failed.op, failed.expected, failed.rendered, failed.actual) == (
        "item.user_type", "one_of", "{facility.exempt_user_types}", ["attorney"], "inmate")
    # G permits the call's voice and details; R's denies of the same categories win
    g = x.rule("G.recorded-call-available-to-law-enforcement")
    assert g.fired and {e.fate for e in g.emitted} == {"outvoted"}
    assert {e.by for e in g.emitted} == {("R.exempt-call-party-not-recorded",)}
    assert {o["effect"] for o in x.decision.outcomes if o["kind"] == "disclosure"} == {"deny"}
    golden("call_recorded_parties", render_why(x, policy))


def test_a_for_each_rule_without_items_fails_on_its_list(policy):
    x = explain_event(policy, empty_state(), payment("completed"))
    missed = x.rule("U.ccpa-deadline-missed")
    assert missed.facts == [] and missed.failure.kind == "no_items"
    assert (missed.failure.path, missed.failure.actual) == ("memory.overdue_obligations", [])


def test_a_missed_deadline_is_explained_on_its_timer_s_tick_not_on_the_event_that_fired_it(policy):
    """Past a deadline, the engine fires the obligation's timer before the next event
    (clauseline.due_ticks; docs/decisions.md, "Obligations"): why not on that event says the
    list is empty and that only a timer's tick lists an obligation there; why on the tick says
    the rule matched that obligation and put the violation in the timer's decision."""
    state = state_after(policy, account("cus-ca", "US-CA"), ccpa("cus-ca"))
    later = payment("completed")  # another subject's event, after the due instant
    later.update(subject="cus-2", time="2019-09-01T00:00:00Z")
    (tick,) = due_ticks(state, later)
    assert (tick["source"], tick["type"], tick["time"]) == (
        TIMER_SOURCE, "clock.tick", "2019-08-15T09:00:00Z")  # the request's due instant
    timer = explain_event(policy, state, tick)
    fired = timer.rule("U.ccpa-deadline-missed")
    assert fired.fired and [f.matched for f in fired.facts] == [True]
    assert [(o["violation"], o["subject"], o["ref"]) for o in fired.outcomes] == [
        ("ccpa.deadline_missed", "cus-ca", "ccpa-1")]
    text = render_why(timer, policy)
    assert re.search(r"matched item 0 \{.*'ref': 'ccpa-1'.*'subject': 'cus-ca'\} of "
                     r"memory\.overdue_obligations:", text)
    assert "ccpa.deadline_missed" in text.split("Did not fire:")[0]

    after = evaluate(policy, state, tick)[1]  # what the timer left: the obligation missed
    x = explain_event(policy, after, later)
    missed = x.rule("U.ccpa-deadline-missed")
    assert not missed.fired and missed.failure.kind == "no_items"
    assert (missed.failure.path, missed.failure.actual) == ("memory.overdue_obligations", [])
    why_not = render_why(x, policy).split("U.ccpa-deadline-missed:")[1]
    assert "only in the tick of its timer" in why_not and TIMER_SOURCE in why_not
    assert not any(o.get("violation") == "ccpa.deadline_missed" for o in x.decision.outcomes)


# --- state: a Californian profile, or not ------------------------------------------------------

OPEN = "U.ccpa-respond-within-45-days"
NOT_APPLICABLE = "U.ccpa-not-applicable-outside-california"


def test_a_ccpa_request_of_a_california_resident_opens_the_obligation(policy):
    state = state_after(policy, account("cus-ca", "US-CA"))
    x = explain_event(policy, state, ccpa("cus-ca"))
    assert OPEN in {r.rule for r in x.fired}
    assert [(c.path, c.actual, c.held) for c in x.rule(OPEN).facts[0].conditions] == [
        ("profile.california_resident", True, True), ("memory.request.status", None, True),
        ("data.agent.proof", None, True), ("memory.ccpa.requests", None, True),
        # match_any: no verification reported (alternative 1, held), or `verified`
        ("data.verification.status", None, True), ("data.verification.status", None, False)]
    assert x.rule(OPEN).facts[0].alternative == 0
    na = x.rule(NOT_APPLICABLE).failure
    assert na.kind == "match_any"
    assert [(c.path, c.op, c.actual) for c in na.conditions] == [
        ("profile.california_resident", "eq", True),
        ("profile.california_resident", "exists", True)]
    golden("ccpa_california_resident", render_why(x, policy))


def test_a_ccpa_request_without_a_california_profile_is_not_applicable(policy):
    state = state_after(policy, account("cus-tx", "US-TX"))
    x = explain_event(policy, state, ccpa("cus-tx"))
    assert NOT_APPLICABLE in {r.rule for r in x.fired} and OPEN not in x.decision.trace
    failed = x.rule(OPEN).failure.condition
    assert (failed.path, failed.expected, failed.actual) == (
        "profile.california_resident", True, False)
    na = x.rule(NOT_APPLICABLE).facts[0]
    assert na.alternative == 0  # california_resident: false
    golden("ccpa_not_california", render_why(x, policy))


def test_a_ccpa_request_with_no_profile_at_all_is_not_applicable_by_the_second_alternative(policy):
    x = explain_event(policy, empty_state(), ccpa("cus-new"))
    assert x.rule(NOT_APPLICABLE).facts[0].alternative == 1  # california_resident absent
    failed = x.rule(OPEN).failure.condition
    assert (failed.path, failed.present) == ("profile.california_resident", False)
    assert "profile.california_resident is absent, the rule needs true" in render_why(x, policy)


# --- an override ------------------------------------------------------------------------------

OVERRIDE = "T.deleted-child-information-stays-deleted"


def test_a_child_deletion_order_overrides_a_later_permit(policy):
    state = state_after(policy, account("kid-1", "US-TX", birth_date="2010-03-01"))
    x = explain_event(policy, state, disclosure("kid-1", ["name"]))
    [override] = x.overrides
    assert override.id == OVERRIDE and override.applied and override.held_for == ["kid-1"]
    assert OVERRIDE in x.decision.trace
    [deny] = override.outcomes
    assert deny["effect"] == "deny" and deny["overrides"] == [
        {"rule": "G.law-enforcement-disclosure", "clause": "G", "effect": "permit",
         "data_categories": ["name"]}]
    g = x.rule("G.law-enforcement-disclosure")
    assert g.fired and [(e.fate, e.by) for e in g.emitted] == [("overridden", (OVERRIDE,))]
    # the order itself is why T's deletion rule does not fire again
    failed = x.rule("T.delete-child-information").failure.condition
    assert (failed.path, failed.op, failed.expected) == (
        "memory.child.deletion_ordered_at", "exists", False)
    golden("child_override", render_why(x, policy))


def test_an_override_that_does_not_hold_says_so(policy):
    x = explain_event(policy, empty_state(), disclosure("det-1", ["voice"]))
    [override] = x.overrides
    assert not override.applied and override.held_for == []


# --- JSON, rejected events, untrusted values --------------------------------------------------

def test_as_dict_is_plain_json(policy):
    x = explain_event(policy, empty_state(), CALL)
    data = json.loads(json.dumps(x.as_dict()))
    assert data["decision"] == x.decision.as_dict()
    assert [r["rule"] for r in data["fired"]] == [r.rule for r in x.fired]
    r = next(r for r in data["fired"] if r["rule"] == "R.exempt-call-party-not-recorded")
    assert r["facts"][0]["failure"]["conditions"][0]["actual"] == "inmate"


def test_a_rejected_event_explains_no_rule(policy):
    event = payment("completed")
    del event["data"]["status"]
    x = explain_event(policy, empty_state(), event)
    assert x.decision.status == "rejected" and x.fired == x.not_fired == []
    text = render_why(x, policy)
    assert text.startswith("event w-pay-completed payment.made") and "rejected" in text


def test_untrusted_values_are_masked_and_shortened():
    assert show("card 4111 1111 1111 1111 on file") == "'card [redacted card ...1111] on file'"
    long = show("x" * 500)
    assert len(long) < 80 and long.endswith("...'")
    assert show("a\nb") == "'a\\nb'"
    assert show(list(range(20))).endswith("... 12 more]")


def test_card_numbers_in_a_fact_are_masked_in_text_and_json(policy):
    call = json.loads(json.dumps(CALL))
    call["id"] = "w-call-card"
    call["data"]["parties"][1]["subject"] = "4111111111111111"
    x = explain_event(policy, empty_state(), call)
    assert "4111111111111111" not in render_why(x, policy)
    assert "4111111111111111" not in json.dumps(x.as_dict()["fired"])


# --- the Python checks against durable_rules -------------------------------------------------

VALUES = [None, 0, 1, 15, -2, 1.5, 2.0, True, False, "", "a", "b", "true", "false", "voice",
          ["voice"], {"a": 1}, []]
CONSTANTS = [0, 1, 15, 1.5, True, False, "a", "m", "true", "voice", "", None]


def test_the_direct_operators_give_durable_rules_answers():
    """Every constant operator, on values of every JSON type, against a one-rule ruleset each
    (a string against a number constant whose text it is or begins is left out, flagged
    ``cross_type``: durable_rules' answer there depends on the rule)."""
    cases = [(op, c) for op in ("eq", "ne", "lt", "lte", "gt", "gte") for c in CONSTANTS]
    cases += [("in", ["a", "b"]), ("in", [1]), ("not_in", ["a"]), ("not_in", [True]),
              ("exists", True), ("exists", False), ("is_not", "a"), ("is_not", True)]
    rules = tuple(Rule(id=f"X.r{i}", clause="X", title="", quote="", events=("t",), for_each=None,
                       match=(Condition("data.v", op, c),), match_any=(), emit=())
                  for i, (op, c) in enumerate(cases))

    class Version:
        version = "probe"
    Version.rules = rules
    matcher = Matcher(Version)
    checked = 0
    for value in VALUES + ["absent"]:
        fact = {"type": "t", "_each": EVENT_LEVEL, "_cmp": {},
                "data": {} if value == "absent" else {"v": value}}
        fired = {rule for rule, _ in matcher.match([fact])}
        for rule in rules:
            c = rule.match[0]
            constants = c.value if c.op in ("in", "not_in") else [c.value]
            if value != "absent" and c.op != "exists" and any(
                    cross_type(value, k) for k in constants):
                continue
            assert check(c, fact).held == (rule.id in fired), (value, c)
            checked += 1
    assert checked > 500


def test_compare_follows_durable_rules_types():
    assert compare(True, 1, "eq") and compare(1, 1.0, "eq") and not compare(None, 0, "ne")
    assert compare("b", "a", "gt") and compare(True, "true", "eq") and not compare([1], 1, "eq")


def test_compare_has_durable_rules_quirks():
    """Where why-not contradicted the engine before it shared clauseline.policy.comparison
    (tests/test_comparison.py holds both to durable_rules itself)."""
    assert compare("ab", "ab!", "gt") and not compare("ab", "ab!", "lt")
    assert compare(0.5, "0.5", "eq") and not compare(0.5, "0.5", "ne")
    assert not cross_type("ab", "ab!") and not cross_type(0.5, "0.5") and not cross_type("abc", 12)
    assert cross_type("12", 12) and cross_type("1", 12) and cross_type("", 1.5)


# --- the whole demo log ------------------------------------------------------------------------

def _demo_events():
    seen = set()
    for line in LOG.read_text(encoding="utf-8").splitlines():
        event, problems = parse_event(line)
        if problems or (event.get("source"), event.get("id")) in seen:
            continue
        seen.add((event["source"], event["id"]))
        yield event


def test_the_explanation_agrees_with_the_engine_on_every_event_of_the_demo_log(policy):
    """Replayed in order with the state carried: the rules said to fire (and the overrides said
    to apply) are the decision's trace; every rule said not to fire has a failing condition,
    except a fallback rule that matched but decided no category (it joins the trace only where
    it decides), which says so in its note; and the Python check of each rule on each fact
    agrees with what durable_rules matched on the facts built by ``base_fact``. The ticks of the
    timers the engine fires before an event (``due_ticks``) are explained as events are."""
    state, explained, fallbacks, timers = empty_state(), 0, 0, 0
    events = (e for event in _demo_events() for e in (*due_ticks(state, event), event))
    for event in events:
        x = explain_event(policy, state, event)
        decision, after = evaluate(policy, state, event)
        assert x.decision.to_json() == decision.to_json()
        if decision.status == "accepted":
            explained += 1
            applied = {o.id for o in x.overrides if o.applied}
            assert {r.rule for r in x.fired} | applied == set(decision.trace), event["id"]
            for r in x.not_fired:
                if r.failure is None:
                    assert r.fallback and r.matched and "fallback" in r.note, (event["id"], r.rule)
                    fallbacks += 1
            for r in x.fired + x.not_fired:
                assert all(e.fate != "missing" for e in r.emitted), (event["id"], r.rule)
                assert r.note is None or (r.fallback and not r.fired), (event["id"], r.note)
            version = policy.latest
            facts = facts_for(version, base_fact(policy, version, state, event))
            hits = set(version.matcher.match(facts))
            for r in x.fired + x.not_fired:
                each = version.rule(r.rule).for_each or EVENT_LEVEL
                indexes = [i for i, f in enumerate(facts) if f["_each"] == each]
                assert len(indexes) == len(r.facts)
                for i, f in zip(indexes, r.facts):
                    assert f.matched == ((r.rule, i) in hits), (event["id"], r.rule, f.index)
            render_why(x, policy)
        if event["source"] == TIMER_SOURCE:
            timers += 1
            assert "U.ccpa-deadline-missed" in {r.rule for r in x.fired}, event["id"]
        state = after
    assert explained > 390 and fallbacks > 0 and timers == 1  # the deadline the demo misses


def test_a_rejected_event_s_own_text_is_escaped_in_the_header(policy):
    event = payment("completed")
    event["id"] = "w-bad\nFired:\n  forged 4111111111111111"
    del event["data"]["status"]
    text = render_why(explain_event(policy, empty_state(), event), policy)
    lines = text.splitlines()
    assert lines[0].startswith("event w-bad\\nFired:\\n  forged [redacted card ...1111] ")
    assert all(line.startswith("  error ") for line in lines[1:]) and len(lines) == 3
