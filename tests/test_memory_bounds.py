"""What a replay keeps grows with its live subjects, not with its events (issue 23).

The in-memory idempotency index keeps 16 bytes a decision (the decisions themselves go to a
temporary file, read back for a repeat), and a record's journal is compacted past its horizon
(``clauseline.records.compact``): what is kept is counted here, in entries and bytes, never
timed. Compaction changes nothing an event in time order reads, so such a log decides the same
with and without it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import random
import sys
from pathlib import Path

from clauseline import Session, evaluate
import clauseline.records as records
from clauseline.records import JOURNAL, compact, current, editable, instant_key, view_at, write
from clauseline.session import KeptDecisions

ROOT = Path(__file__).resolve().parents[1]


def _bench_logs():
    spec = importlib.util.spec_from_file_location("bench_logs", ROOT / "bench" / "logs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _changes(record: dict) -> list:
    """The journal entries of a record that are not its base values."""
    return [e for e in record.get(JOURNAL) or () if e[0] != ""]


def _at(day: int, hour: int = 9) -> str:
    return instant_key(f"2019-{1 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:00:00Z")


# -- the idempotency index ----------------------------------------------------------------------

def test_a_repeat_answers_its_first_decision_byte_for_byte_after_many_events(policy):
    lines = list(_bench_logs().iter_log(1500, subjects=60, seed=3))
    session = Session(policy)
    first = {}
    for number, decision in session.replay(lines):
        first[number] = decision
    kept = session.store.decisions
    assert kept._written > 0, "the early decisions were written to the file, not kept in memory"
    accepted = [n for n, d in first.items() if d.status == "accepted"]
    again = random.Random(5).sample(accepted[:300], 20) + accepted[-5:]
    for number, decision in session.replay([lines[n - 1] for n in again]):
        expected = first[again[number - 1]]
        assert decision.status == "duplicate"
        assert decision.to_json() == expected.as_duplicate().to_json()
    assert len(kept) == len(accepted)  # a repeat adds nothing


def test_the_index_keeps_8_bytes_a_decision_in_memory():
    kept = KeptDecisions()
    rng = random.Random(1)
    texts = {}
    for n in range(30000):
        text = json.dumps({"event_id": f"e-{n}", "outcomes": [rng.random() for _ in range(40)]})
        texts[("/src", f"e-{n}")] = text
        kept.add("/src", f"e-{n}", text)
    assert len(kept) == 30000
    # the sorted digest arrays (and the block not yet written) are all that grows in memory
    assert sys.getsizeof(kept) < 30000 * 9.5 + KeptDecisions.BLOCK * 2
    for key in rng.sample(sorted(texts), 200):
        assert kept.get(*key) == texts[key]
    assert kept.get("/src", "e-30000") is None and kept.get("/other", "e-1") is None


def test_a_tag_that_names_several_blocks_finds_the_decision_in_any(monkeypatch):
    """A digest keeps only the last bits of its block's number: with 2 of them and blocks of a
    few decisions, each tag names many blocks, and every decision is still found (and a pair
    never kept is not), repeats of the first and of the last blocks alike."""
    monkeypatch.setattr(KeptDecisions, "TAG_BITS", 2)
    monkeypatch.setattr(KeptDecisions, "BLOCK", 256)
    kept = KeptDecisions()
    texts = {f"e-{n}": json.dumps({"n": n, "pad": "x" * (n % 50)}) for n in range(3000)}
    for event_id, text in texts.items():
        kept.add("/src", event_id, text)
    assert len(kept._offsets) > 40  # many blocks, each tag naming a tenth of them or more
    for event_id in ["e-0", "e-1", "e-2999", *random.Random(3).sample(sorted(texts), 300)]:
        assert kept.get("/src", event_id) == texts[event_id]
    assert kept.get("/src", "e-3000") is None and kept.get("/other", "e-7") is None


def test_pairs_whose_digests_collide_are_told_apart(monkeypatch):
    monkeypatch.setattr(KeptDecisions, "_digest", staticmethod(lambda key: 7))
    kept = KeptDecisions()
    for n in range(400):  # all 400 share one digest: each is found by its own (source, id)
        kept.add(f"/s{n % 3}", f"e-{n}", f'{{"n":{n}}}')
    for n in range(400):
        assert kept.get(f"/s{n % 3}", f"e-{n}") == f'{{"n":{n}}}'
    assert kept.get("/s0", "e-1") is None  # e-1 was kept under /s1
    assert kept.get("/s9", "e-9") is None


# -- journals -----------------------------------------------------------------------------------

def test_journals_stay_bounded_and_an_ordered_log_decides_the_same(policy, monkeypatch):
    lines = list(_bench_logs().iter_log(2500, subjects=12, seed=2))
    compacted = Session(policy)
    decided = [d.to_json() for _, d in compacted.replay(lines)]
    with monkeypatch.context() as unbounded:
        unbounded.setattr(records, "MOST", 10 ** 9)
        unbounded.setattr(records, "HORIZON", 10 ** 4)
        whole = Session(policy)
        assert [d.to_json() for _, d in whole.replay(lines)] == decided
    subjects = compacted.store.state["subjects"]
    longest = max(len(_changes(r)) for r in whole.store.state["subjects"].values())
    assert longest > records.MOST  # the whole journals grew with the log ...
    for sid, record in subjects.items():  # ... the compacted ones did not
        assert len(_changes(record)) <= records.MOST, sid
        assert current(record) == current(whole.store.state["subjects"][sid])


def test_compacting_keeps_every_view_since_the_fold(monkeypatch):
    """Random changes (every verb, nested paths, some late): a compacted journal and a whole
    one give the same current values and the same view at every instant since the fold."""
    rng = random.Random(11)
    for trial in range(30):
        with monkeypatch.context() as unbounded:
            unbounded.setattr(records, "MOST", 10 ** 9)
            whole = editable(None)
            compacted = editable(None)
            steps = []
            day = 0
            for _ in range(rng.randrange(20, 200)):
                day += rng.choice((0, 0, 1, 2))
                late = rng.random() < 0.1
                at = _at(max(0, day - rng.randrange(1, 4)) if late else day, rng.randrange(24))
                verb = rng.choice(("set", "set", "append", "delete", "default", "miss"))
                key = rng.choice(("profile", "notes", "obligations"))
                path = [key, rng.choice("abc")] if key != "notes" else [key]
                value = {"status": rng.choice(("open", "fulfilled"))} if verb == "set" and \
                    key == "obligations" else rng.randrange(100)
                steps.append((at, verb, path, value))
                write(whole, at, verb, path, value)
        for at, verb, path, value in steps:
            write(compacted, at, verb, path, value)
            assert len(_changes(compacted)) <= records.MOST
        if not any(e[0] == "" for e in compacted[JOURNAL]):
            continue  # nothing was folded
        assert current(compacted) == current(whole), trial
        fold = _changes(compacted)[0][0] if _changes(compacted) else compacted[JOURNAL][-1][0]
        for at in sorted({s[0] for s in steps if s[0] >= fold}):
            assert view_at(compacted, at) == view_at(whole, at), (trial, at)


def test_an_event_past_the_horizon_reads_the_compacted_values(monkeypatch):
    record = editable(None)
    for day in range(records.MOST + 10):
        write(record, _at(day), "set", ["count"], day)
        write(record, _at(day), "append", ["seen"], day)
    kept = _changes(record)
    assert len(kept) <= records.MOST and kept[0][0] > _at(5)
    # an instant since the fold reads exactly; an earlier one reads the values at the fold
    assert view_at(record, _at(records.MOST + 5))["count"] == records.MOST + 5
    folded = view_at(record, _at(2))
    assert folded["count"] == kept[0][4] - 1 and folded["seen"] == list(range(folded["count"] + 1))
    # and a change older than the fold applies over the folded values, later ones still win
    write(record, _at(3), "set", ["late"], True)
    assert view_at(record, _at(4))["late"] is True
    assert current(record)["count"] == records.MOST + 9


def test_the_horizon_folds_what_is_older_than_13_months_before_the_latest_change():
    record = editable(None)
    write(record, instant_key("2019-01-10T00:00:00Z"), "set", ["a"], 1)
    write(record, instant_key("2019-06-10T00:00:00Z"), "set", ["b"], 2)
    write(record, instant_key("2020-02-01T00:00:00Z"), "set", ["c"], 3)
    assert len(_changes(record)) == 3  # 2019-01-10 is 12 months and 22 days before
    write(record, instant_key("2020-02-11T00:00:00Z"), "set", ["a"], 4)
    assert [e[0][:10] for e in _changes(record)] == ["2019-06-10", "2020-02-01", "2020-02-11"]
    assert view_at(record, instant_key("2019-01-01T00:00:00Z")) == {"a": 1}
    assert current(record) == {"a": 4, "b": 2, "c": 3}


def test_a_late_event_past_the_fold_is_still_marked_out_of_order(policy, event):
    session = Session(policy)
    for day in range(records.MOST + 5):
        session.submit(event("profile.updated", {"profile": {"user_type": f"type-{day}"}},
                             subject="acct-9", time=f"2019-08-{1 + day % 28:02d}T{day // 28:02d}:00:00Z"))
    record = session.store.state["subjects"]["acct-9"]
    assert any(e[0] == "" for e in record[JOURNAL]) and _changes(record)
    late = session.submit(event("profile.updated", {"profile": {"user_type": "late"}},
                                subject="acct-9", time="2019-07-01T09:00:00Z"))
    assert late.status == "accepted" and late.out_of_order is not None


def test_compacting_leaves_the_record_before_as_it_was(policy, event):
    """The state before an event is never changed by it, compaction included (copy-on-write:
    the folded values are new containers; the entries folded are shared, untouched)."""
    state = {"subjects": {}, "due": []}
    for day in range(records.MOST + 3):
        before = copy.deepcopy(state)
        after = evaluate(policy, state, event(
            "profile.updated", {"profile": {"user_type": f"type-{day}",
                                            "residence": {"country": "US", "region": "US-CA"}}},
            subject="acct-3", time=f"2019-08-{1 + day % 28:02d}T{day // 28:02d}:00:00Z"))[1]
        assert records.plain_state(state) == records.plain_state(before)
        state = after
    record = state["subjects"]["acct-3"]
    assert len(_changes(record)) <= records.MOST and any(e[0] == "" for e in record[JOURNAL])


def test_compact_is_idempotent_and_leaves_a_short_journal_alone():
    record = editable(None)
    for day in range(10):
        write(record, _at(day), "append", ["seen"], day)
    journal = list(record[JOURNAL])
    compact(record)
    assert record[JOURNAL] == journal
    for day in range(10, 10 + 3 * records.MOST):
        write(record, _at(day), "append", ["seen"], day)
    once = copy.deepcopy(record)
    compact(record)
    assert record == once


def test_entries_of_one_path_share_its_list_and_the_caller_keeps_its_own(policy):
    """A path written again and again (a subject's SVV recordings) is held once, not once per
    entry; the caller's path list is never the one kept, and the record still reads and
    serialises as before."""
    record = editable(None)
    path = ["svv_recordings"]
    for day in range(20):
        write(record, _at(day, 1), "append", path, {"id": f"rec-{day}"})
    path.append("changed by the caller")  # must not reach the journal
    kept = [entry[3] for entry in record[JOURNAL] if entry[3] == ["svv_recordings"]]
    assert len(kept) == 20 and len({id(p) for p in kept}) == 1
    assert kept[0] is not path
    assert current(record)["svv_recordings"] == [{"id": f"rec-{day}"} for day in range(20)]
    assert json.loads(json.dumps(record)) == record
