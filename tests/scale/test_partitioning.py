"""Routing and merging, without servers: stable partitions, the routes of events that cross
partitions, partition store URLs, and the merge of partial decisions."""

from __future__ import annotations

import json

import pytest

from clauseline.stream.merge import merge, partial, partials_of
from clauseline.stream.partitioning import Router, nats_subject, partition_of
from clauseline.stream.stores import partition_url, schema_of


def test_a_partition_is_a_stable_hash_of_the_subject():
    # the same in every process and version (not Python's salted hash): pinned values
    assert [partition_of(s, 6) for s in ("acct-1", "det-tx-00003", "visitor-9")] == \
        [partition_of(s, 6) for s in ("acct-1", "det-tx-00003", "visitor-9")]
    assert partition_of("acct-1", 6) == _pinned("acct-1", 6)
    counts = [0] * 6
    for i in range(6000):
        counts[partition_of(f"acct-{i}", 6)] += 1
    assert min(counts) > 850  # spread evenly


def _pinned(subject: str, n: int) -> int:
    import hashlib
    digest = hashlib.blake2b(subject.encode(), digest_size=8, person=b"clauseline.part").digest()
    return int.from_bytes(digest, "big") % n


def test_routes(policy, event):
    router = Router(policy, 6)
    tick = event("clock.tick", {}, subject=None)
    assert router.route(tick).partitions is None and router.route(tick).owner is None
    assert router.targets(router.route(tick)) == list(range(6))  # a copy to every partition
    pay = event("payment.made", {"transaction_id": "t"}, subject="acct-1")
    route = router.route(pay)
    assert route.owner == partition_of("acct-1", 6) and route.partitions == {route.owner}
    assert router.targets(route) == [route.owner]
    assert nats_subject("EV", route.owner) == f"EV.p.{route.owner}"
    # a call writes the shared record when a party is exempt: every partition evaluates calls
    assert {"call.recorded", "svv.session.recorded"} <= router.everywhere
    call = event("call.recorded", {"parties": [{"subject": "x-2", "user_type": "family"}]})
    assert router.route(call).partitions is None
    # an event naming subjects of several partitions goes to each of them
    ids = [f"s-{i}" for i in range(40)]
    other = next(s for s in ids if partition_of(s, 6) != partition_of("acct-1", 6))
    named = event("disclosure.requested", {"x": [{"subject": other}]}, subject="acct-1")
    assert router.route(named).partitions == {partition_of("acct-1", 6), partition_of(other, 6)}
    assert router.targets(router.route(named)) == [partition_of("acct-1", 6), partition_of(other, 6)]
    assert router.route(None).owner == 0 and router.route({"subject": 5}).owner == 0
    assert "ccpa.request.filed" in router.obligation_types


def test_partition_store_urls():
    base = "postgresql://app@db/clauseline"
    assert partition_url(base, 2) == "postgresql://app@db/clauseline?options=-csearch_path%3Dclauseline_p2"
    chosen = "postgresql://app@db/x?sslmode=disable&options=-csearch_path%3Dmine"
    assert schema_of(partition_url(chosen, 0)) == "mine_p0"
    assert "sslmode=disable" in partition_url(chosen, 0)
    assert partition_url("sqlite:///out/x.db", 1) == "sqlite:///out/x.p1.db"
    from clauseline.store import StoreError
    with pytest.raises(StoreError):
        partition_url("postgresql://app@db/x?options=-csearch_path%3D%22a;b%22", 0)


def _outcome(subject, rule="K.svv-session-stored", action="retain", target="recording:r-1"):
    return {"kind": "retention", "clause": rule[0], "rule": rule, "subject": subject,
            "action": action, "data_categories": ["video"], "target": target,
            "due_by": "2019-07-01T09:00:00Z"}


def _decision(outcomes, trace):
    return {"event_id": "e-1", "event_source": "/s", "event_type": "svv.session.recorded",
            "time": "2019-07-01T09:00:00Z", "policy_version": "v", "status": "accepted",
            "outcomes": outcomes, "trace": trace}


def test_merge_keeps_each_partition_s_own_outcomes_and_settles_retention():
    n = 6
    a = "acct-1"
    b = next(f"s-{i}" for i in range(99) if partition_of(f"s-{i}", n) != partition_of(a, n))
    pa, pb = partition_of(a, n), partition_of(b, n)
    # the owner (a's partition) does not know b is a deleted child; b's partition does
    owner = _decision([_outcome(a), _outcome(b)], ["K.svv-session-stored"])
    other = _decision([_outcome(a), _outcome(b, rule="T.deleted-child", action="delete")],
                      ["K.svv-session-stored", "T.deleted-child"])
    parts = partials_of([(pa, a, owner), (pb, a, other)], n)
    merged = merge(parts)
    # b's delete comes from b's partition, and no partition retains a deleted target
    assert [o["action"] for o in merged["outcomes"]] == ["delete"]
    assert merged["trace"] == ["K.svv-session-stored", "T.deleted-child"]
    # a partition's partial keeps only its own subjects
    assert [o["subject"] for o in partial(owner, pa, n, owner=True)["outcomes"]] == [a]


def test_a_subject_less_event_is_the_union_of_every_partition():
    n = 3
    subjects = {partition_of(f"s-{i}", n): f"s-{i}" for i in range(50)}
    rows = []
    for k in range(n):
        miss = {"kind": "violation", "clause": "U", "rule": "U.ccpa-deadline-missed",
                "subject": subjects[k], "violation": "ccpa.deadline_missed", "ref": f"r-{k}",
                "detail": "d"}
        rows.append((k, None, _decision([miss], ["U.ccpa-deadline-missed"])))
    merged = merge(partials_of(rows, n))
    assert sorted(o["subject"] for o in merged["outcomes"]) == sorted(subjects.values())
    assert merged["trace"] == ["U.ccpa-deadline-missed"]


def test_a_call_that_writes_the_shared_record_reaches_the_other_partitions_as_its_writes(
        policy, event):
    router = Router(policy, 6)
    subjects = [f"s-{i}" for i in range(60)]
    caller = subjects[0]
    callee = next(s for s in subjects if partition_of(s, 6) != partition_of(caller, 6))

    def call(user_type):
        return event("call.recorded", {
            "call_id": "c-1", "facility_id": "tx-dallas-01", "recording_id": "rec-1",
            "monitored": True, "collected": ["voice"],
            "parties": [{"subject": caller, "user_type": "detainee"},
                        {"subject": callee, "user_type": user_type}]}, subject=caller)

    plain, exempt = call("family"), call("attorney")  # a facility exempts attorneys by default
    both = {partition_of(caller, 6), partition_of(callee, 6)}
    assert router.route(plain, exact=True).partitions == both
    # a call with an exempt party (deleted_recordings on "*"): its parties' partitions
    # evaluate it, every other partition receives only what it writes to the shared record
    route = router.route(exempt, exact=True)
    assert route.partitions == both
    assert route.writes == (["*", "append", ["deleted_recordings"], "rec-1"],)
    assert router.targets(route)[:2] == [partition_of(caller, 6), *(both - {route.owner})]
    assert sorted(router.targets(route)) == list(range(6))
    # a consumer outside those partitions takes the writes, checked against the event
    header = json.dumps(list(route.writes))
    assert router.writes_from_header(exempt, header) == list(route.writes)
    assert router.writes_from_header(exempt, None) is None  # none given: evaluated in full
    for hostile in ("", "[]", "{", "[[\"*\"]]", '[["*","miss",["obligations","r"],"t"]]',
                    '[["*","set",["_journal"],[]]]', '[["*","set",[],1]]',
                    '[["*","append",["deleted_recordings", 3],"x"]]', "[" * 5000,
                    json.dumps([[caller, "set", ["profile"], {}]]),  # a subject it names
                    json.dumps([[callee, "append", ["x"], 1]])):
        assert router.writes_from_header(exempt, hostile) is None, hostile
    # only for a type whose shared writes depend on the event alone
    visit = event("disclosure.requested", {}, subject=caller)
    assert router.writes_from_header(visit, header) is None
    # a consumer takes the producer's route when the header agrees with the event
    header = router.route(plain, exact=True).header()
    assert router.from_header(plain, header).partitions == both
    assert router.from_header(plain, None).partitions is None  # no header: cautious
    assert router.from_header(plain, str(partition_of(caller, 6))).partitions is None  # too few
    assert router.from_header(plain, "x,1").partitions is None
