"""The memory mechanism on a tiny policy of its own: computed conditions, `remember`,
obligations and wildcard rules, independent of the shipped rules."""


import pytest

from clauseline import Session, load_policy
from clauseline.timers import TIMER_SOURCE, timer_id

SOURCE = """\
# Tiny policy

###### A) Requests

We answer each request within 10 days. We answer at most two requests per month.

###### B) Opt-outs

You may opt out at any time.
"""

INDEX = """\
version: tiny-1
title: Tiny
effective_from: "2019-01-01T00:00:00Z"
source: source.md
clauses:
  A: {title: Requests, operative: true}
  B: {title: Opt-outs, operative: true}
memory:
  requests: "requests counted in the monthly limit: {id, at}"
  opt_outs.*: when the subject opted out of a channel
  log: on the global record, every channel opted out of
"""

RULES_A = """\
clause: A
rules:
  - id: A.answer-within-10-days
    title: Answer within 10 days
    quote: We answer each request within 10 days.
    when:
      event: ccpa.request.filed
      match:
        memory.requests: {count_since: {since: "{time|add_months:-1}", at: at, fewer_than: 2}}
    emit:
      - kind: obligation
        obligation: answer
        ref: "{data.request_id}"
        status: open
        due_by: "{time|add_days:10}"
    remember:
      - append: requests
        value: {id: "{data.request_id}", at: "{time}"}

  - id: A.third-request-declined
    title: A third request in a month is declined
    quote: We answer at most two requests per month.
    when:
      event: ccpa.request.filed
      match:
        memory.requests: {count_since: {since: "{time|add_months:-1}", at: at, at_least: 2}}
    emit:
      - kind: obligation
        obligation: answer
        ref: "{data.request_id}"
        status: declined
        due_by: "{time}"

  - id: A.answered
    title: An answer closes the request; a late one is a violation
    quote: We answer each request within 10 days.
    when:
      event: ccpa.response.delivered
      match:
        memory.request.status: {in: [open, missed]}
    emit:
      - kind: obligation
        obligation: answer
        ref: "{data.request_id}"
        status: fulfilled
        due_by: "{memory.request.due_by}"

  - id: A.answered-late
    title: Late answer
    quote: We answer each request within 10 days.
    when:
      event: ccpa.response.delivered
      match:
        time: {after: "{memory.request.due_by}"}
    emit:
      - kind: violation
        violation: late
        ref: "{data.request_id}"
        detail: "answered after {memory.request.due_by}"

  - id: A.deadline-missed
    title: Missed deadline, reported once
    quote: We answer each request within 10 days.
    when:
      event: "*"
      for_each: memory.overdue_obligations
    emit:
      - kind: violation
        subject: "{item.subject}"
        violation: missed
        ref: "{item.ref}"
        detail: "due {item.due_by}"
"""

RULES_B = """\
clause: B
rules:
  - id: B.opt-out
    title: Remember the opt-out
    quote: You may opt out at any time.
    when:
      event: communication.opted_out
    emit: []
    remember:
      - set: "opt_outs.{data.channel}"
        value: "{time}"
      - append: "log"
        value: "{data.channel}"
        subject: "*"

  - id: B.no-messages-after-opt-out
    title: No message on a channel opted out of
    quote: You may opt out at any time.
    when:
      event: message.send.requested
      match:
        data.channel: {one_of: "{memory.global.log}"}
        memory.opt_outs.email: {exists: true}
    emit:
      - kind: violation
        violation: opted_out
        ref: "{data.message_id}"
        detail: "since {memory.opt_outs.email}"

  - id: B.forget-on-opt-in
    title: Opting back in forgets
    quote: You may opt out at any time.
    when:
      event: cookie.preference.changed
      match:
        data.enabled: true
    emit: []
    remember:
      - delete: opt_outs
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "tiny-1"
    (root / "clauses").mkdir(parents=True)
    (root / "source.md").write_text(SOURCE)
    (root / "policy.yaml").write_text(INDEX)
    (root / "clauses" / "A.yaml").write_text(RULES_A)
    (root / "clauses" / "B.yaml").write_text(RULES_B)
    return load_policy(root)


def ev(kind, data, time, subject="s-1", n=[0]):
    n[0] += 1
    out = {"specversion": "1.0", "id": f"m-{n[0]}", "source": "/t", "type": kind, "time": time,
           "data": data}
    if subject:
        out["subject"] = subject
    return out


def filed(rid, time, subject="s-1"):
    return ev("ccpa.request.filed", {"request_id": rid, "kinds": ["categories"],
                                     "delivery": "mail", "has_account": False}, time, subject)


def answered(rid, time):
    return ev("ccpa.response.delivered", {"request_id": rid, "channel": "mail", "portable_format": True,
                                          "fee": 0, "period": {"from": "2018-01-01T00:00:00Z",
                                                               "to": "2019-01-01T00:00:00Z"}}, time)


def kinds(decision):
    return [(o["kind"], o.get("status") or o.get("violation")) for o in decision.outcomes]


def test_obligation_opens_and_an_answer_on_time_closes_it(tiny):
    s = Session(tiny)
    opened = s.submit(filed("r-1", "2019-03-01T10:00:00Z"))
    assert kinds(opened) == [("obligation", "open")]
    assert opened.outcomes[0]["due_by"] == "2019-03-11T10:00:00Z"
    closed = s.submit(answered("r-1", "2019-03-11T10:00:00Z"))
    assert kinds(closed) == [("obligation", "fulfilled")]
    record = s.store.state["subjects"]["s-1"]["obligations"]["r-1"]
    assert record["status"] == "fulfilled" and record["opened_at"] == "2019-03-01T10:00:00Z"


def test_a_late_answer_is_a_violation_one_second_after_due(tiny):
    s = Session(tiny)
    s.submit(filed("r-1", "2019-03-01T10:00:00Z"))
    late = s.submit(answered("r-1", "2019-03-11T10:00:01Z"))
    assert ("violation", "late") in kinds(late)


def missed_by(decision):
    """(subject, violation, ref, the timer's time) for each outcome of the timers fired before
    the decision's event (each a decision of its own, at its obligation's due instant)."""
    return [(o["subject"], o["violation"], o["ref"], timer.time)
            for timer in decision.fired for o in timer.outcomes]


def test_deadline_missed_fires_once_by_a_timer_when_the_first_tick_passes_due(tiny):
    s = Session(tiny)
    s.submit(filed("r-1", "2019-03-01T10:00:00+02:00"))     # due 2019-03-11T08:00:00Z
    on_time = s.submit(ev("clock.tick", {}, "2019-03-11T08:00:00Z", subject=None))
    assert on_time.outcomes == () and on_time.fired == ()
    first = s.submit(ev("clock.tick", {}, "2019-03-11T08:00:01Z", subject=None))
    # the tick fires the timer first: a clock.tick of the engine's at the due instant, whose
    # decision alone lists the obligation in memory.overdue_obligations and reports it
    [timer] = first.fired
    assert (timer.event_type, timer.event_source, timer.time) == (
        "clock.tick", TIMER_SOURCE, "2019-03-11T08:00:00Z")
    assert timer.event_id == timer_id("s-1", "r-1", "2019-03-11T08:00:00.000000Z")
    assert missed_by(first) == [("s-1", "missed", "r-1", "2019-03-11T08:00:00Z")]
    assert timer.trace == ("A.deadline-missed",)
    assert first.outcomes == () and "A.deadline-missed" not in first.trace
    record = s.store.state["subjects"]["s-1"]["obligations"]["r-1"]
    assert record["status"] == "missed" and record["missed_at"] == "2019-03-11T08:00:00Z"
    again = s.submit(ev("clock.tick", {}, "2019-03-20T00:00:00Z", subject=None))
    assert again.outcomes == () and again.fired == ()


def test_deadline_missed_fires_before_the_subjects_own_next_event(tiny):
    s = Session(tiny)
    s.submit(filed("r-1", "2019-03-01T10:00:00Z"))
    later = s.submit(ev("communication.opted_out", {"channel": "sms", "method": "sms_stop"}, "2019-04-01T00:00:00Z"))
    assert missed_by(later) == [("s-1", "missed", "r-1", "2019-03-11T10:00:00Z")]
    assert ("violation", "missed") not in kinds(later)


def test_windowed_count_declines_the_third_request_and_not_one_outside(tiny):
    s = Session(tiny)
    # (the earlier requests' missed deadlines are reported by their timers, in the decisions
    # fired before these events, not in them)
    s.submit(filed("r-1", "2019-03-01T10:00:00Z"))
    s.submit(filed("r-2", "2019-03-15T10:00:00Z"))
    third = s.submit(filed("r-3", "2019-03-31T10:00:00Z"))
    assert kinds(third) == [("obligation", "declined")]
    # exactly one month after r-1, r-1 has left the window ("after" since): only r-2 counts
    fourth = s.submit(filed("r-4", "2019-04-01T10:00:00Z"))
    assert kinds(fourth) == [("obligation", "open")]
    # a day later r-2 and r-4 are inside the window (declined r-3 was never counted)
    fifth = s.submit(filed("r-5", "2019-04-02T10:00:00Z"))
    assert kinds(fifth) == [("obligation", "declined")]


def test_remember_set_append_delete_and_the_global_record(tiny):
    s = Session(tiny)
    s.submit(ev("communication.opted_out", {"channel": "email", "method": "email_link"}, "2019-03-01T00:00:00Z"))
    state = s.store.state["subjects"]
    assert state["s-1"]["opt_outs"] == {"email": "2019-03-01T00:00:00Z"}
    assert state["*"]["log"] == ["email"]
    sent = s.submit(ev("message.send.requested", {"message_id": "m-1", "channel": "email",
                                                  "category": "marketing"}, "2019-03-02T00:00:00Z"))
    assert kinds(sent) == [("violation", "opted_out")]
    s.submit(ev("cookie.preference.changed", {"purpose": "x", "enabled": True}, "2019-03-03T00:00:00Z"))
    assert "opt_outs" not in s.store.state["subjects"]["s-1"]
    again = s.submit(ev("message.send.requested", {"message_id": "m-2", "channel": "email",
                                                   "category": "marketing"}, "2019-03-04T00:00:00Z"))
    assert again.outcomes == ()


def test_filters_accept_dates_and_render_non_times_as_absent():
    from clauseline.evaluation.templates import render
    fact = {"data": {"birth_date": "2006-07-02", "name": "x"}}
    assert render("{data.birth_date|add_years:13}", fact) == "2019-07-02T00:00:00Z"
    assert render("{data.name|add_days:1}", fact) is None
    assert render("due {data.name|add_days:1}", fact) == "due "


def test_obligation_tracking_keeps_what_rules_remembered_beside_it(tiny):
    s = Session(tiny)
    s.submit(filed("r-1", "2019-03-01T10:00:00Z"))
    record = s.store.state["subjects"]["s-1"]["obligations"]["r-1"]
    record_with_note = dict(record, note="kept")
    s.store.state["subjects"]["s-1"]["obligations"]["r-1"] = record_with_note
    s.submit(answered("r-1", "2019-03-05T10:00:00Z"))
    after = s.store.state["subjects"]["s-1"]["obligations"]["r-1"]
    assert after["status"] == "fulfilled" and after["note"] == "kept"


@pytest.mark.parametrize("people, some", [
    ([{"user_type": "family"}, {"user_type": "attorney"}], True),
    ([{"user_type": "family"}, {"user_type": "clergy"}], False),
    ([], False),
    (None, False),
])
def test_some_have_and_none_have_look_across_a_list(people, some):
    from clauseline.evaluation.conditions import computed
    from clauseline.policy.model import Condition
    fact = {"data": {"participants": people} if people is not None else {},
            "facility": {"exempt_user_types": ["attorney"]}}
    spec = {"user_type": "{facility.exempt_user_types}"}
    assert computed(Condition("data.participants", "some_have", spec, "k1"), fact) is some
    assert computed(Condition("data.participants", "none_have", spec, "k2"), fact) is (not some)


def test_membership_in_a_long_remembered_list_answers_as_the_list_does():
    """A list that grows with the log (the recordings ordered deleted) is tested through a set
    made once per list object: the same answers as scanning it, for every kind of item."""
    from clauseline.evaluation.conditions import LONG_LIST, computed
    from clauseline.policy.model import Condition
    deleted = [f"rec-{i}" for i in range(LONG_LIST * 4)] + [{"an": "object"}, 7, ["a", "list"]]
    one_of = Condition("data.recording_id", "one_of", "{memory.deleted}", "k1")
    none_of = Condition("data.recording_id", "none_of", "{memory.deleted}", "k2")
    for asked in ("rec-0", "rec-127", "rec-128", "REC-0", 7, 7.0, True, {"an": "object"},
                  ["a", "list"], None):
        fact = {"data": {"recording_id": asked}, "memory": {"deleted": deleted}}
        expected = asked is not None and asked in deleted
        assert computed(one_of, fact) is expected, asked
        assert computed(none_of, fact) is (asked is not None and not expected), asked
    # a new list (a record is copied when it changes) is read anew
    grown = deleted + ["rec-new"]
    fact = {"data": {"recording_id": "rec-new"}, "memory": {"deleted": grown}}
    assert computed(one_of, fact) is True
    fact["memory"]["deleted"] = deleted
    assert computed(one_of, fact) is False


def test_the_sets_kept_for_long_lists_stay_bounded_as_a_remembered_list_grows():
    """Each append to a remembered list makes a new list object (records are copied on write);
    the sets made of its versions must not pile up with the log: at most a bounded number of
    members beyond the newest set, and the answers stay those of the list."""
    from clauseline.evaluation import conditions
    from clauseline.policy.model import Condition
    one_of = Condition("data.recording_id", "one_of", "{memory.deleted}", "k1")
    deleted: list = []
    for version in range(60):  # 60 versions of a list growing to 60,000 recordings
        deleted = deleted + [f"rec-{version}-{i}" for i in range(1000)]
        fact = {"data": {"recording_id": f"rec-{version}-999"}, "memory": {"deleted": deleted}}
        assert conditions.computed(one_of, fact) is True
        fact["data"]["recording_id"] = f"rec-{version + 1}-0"
        assert conditions.computed(one_of, fact) is False
        kept = sum(len(members) for _, _, members in conditions._SETS.values())
        assert kept == conditions._sets_members
        assert kept <= max(conditions._SETS_MEMBERS, len(deleted)), version
        assert len(conditions._SETS) <= conditions._SETS_KEPT
    assert len(conditions._SETS) == 1  # the newest alone: 60,000 members are over the bound


def test_versions_of_a_growing_list_tested_in_any_order_answer_as_each_list_does():
    """A list appended to takes over the set of the version it grew from; an older version
    tested afterwards (a late event reads the record as it was) must not see the newer items,
    and versions that branch from one another must not share what they do not hold."""
    import random

    from clauseline.evaluation import conditions
    from clauseline.policy.model import Condition
    one_of = Condition("data.recording_id", "one_of", "{memory.deleted}", "k1")
    rng = random.Random(5)
    versions = [[f"rec-{i}" for i in range(40)]]
    for step in range(300):
        base = rng.choice(versions[-3:]) if rng.random() < 0.8 else rng.choice(versions)
        extra = [f"rec-{step}-{k}" for k in range(rng.randrange(1, 4))]
        if rng.random() < 0.05:
            extra.append({"an": "object"})  # unhashable: scanned from then on
        versions.append(base + extra)
        for version in rng.sample(versions, min(4, len(versions))) + [versions[-1]]:
            asked = rng.choice(rng.choice(versions))
            fact = {"data": {"recording_id": asked}, "memory": {"deleted": version}}
            assert conditions.computed(one_of, fact) is (asked in version), (step, asked)
        kept = sum(length for _, length, _ in conditions._SETS.values())
        assert kept == conditions._sets_members


def test_versions_of_a_long_list_tested_from_several_threads_answer_as_each_list_does():
    """The service evaluates in several threads: a set taken over by a longer list must not
    answer for the shorter one another thread is testing."""
    import random
    import sys
    import threading

    from clauseline.evaluation import conditions
    from clauseline.policy.model import Condition
    one_of = Condition("data.recording_id", "one_of", "{memory.deleted}", "k1")
    versions = [[f"rec-{i}" for i in range(2000)]]
    for step in range(200):
        versions.append(versions[-1] + [f"rec-{step}-new"])
    wrong: list = []

    def test(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(3000):
            at = rng.randrange(len(versions))
            asked = f"rec-{rng.randrange(at + 1)}-new" if rng.random() < 0.5 \
                else f"rec-{rng.randrange(max(1, at - 5), len(versions))}-new"
            fact = {"data": {"recording_id": asked}, "memory": {"deleted": versions[at]}}
            if conditions.computed(one_of, fact) is not (asked in versions[at]):
                wrong.append((at, asked))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=test, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong, wrong[:5]
