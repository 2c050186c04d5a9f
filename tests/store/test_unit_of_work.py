"""The one path every event takes: a store's unit of work (docs/storage.md, "The unit of work").

What a user relies on: the evaluator never waits on a database (every read happens before it
runs, every write after), a rule that writes a subject no event names still finds that subject's
record (nothing is overwritten, nothing fails as a duplicate row), a single event and a batch
store the same thing, and the in-memory store and the SQL stores decide alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import clauseline.session as session_module
from clauseline import evaluate, load_policy
from clauseline.records import Records, current
from clauseline.session import MemoryStore, Session
from clauseline.store import open_store

from .logs import ccpa_log, mixed_log

ROOT = Path(__file__).resolve().parents[2]

SOURCE = """\
# Tiny policy

###### A) Partners

We tell each partner who asked about whom.
"""

INDEX = """\
version: tiny-1
title: Tiny
effective_from: "2019-01-01T00:00:00Z"
source: source.md
clauses:
  A: {title: Partners, operative: true}
memory:
  asked.by: the subjects a partner asked about
"""

# The record written is the recipient's, named by its name: no `subject` key of the event names
# it, so no store can know before evaluating that the event will read and write it.
RULES = """\
clause: A
rules:
  - id: A.note-partner
    title: A partner's request is noted in the partner's record
    quote: We tell each partner who asked about whom.
    when:
      event: disclosure.requested
    emit:
      - kind: notice
        notice: partner_asked
        to: "{subject}"
        channel: account
        due_by: "{time}"
        detail: "asked by {data.recipient.name}"
    remember:
      - subject: "{data.recipient.name}"
        append: asked.by
        value: "{subject}"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("uow") / "tiny-1"
    (root / "clauses").mkdir(parents=True)
    (root / "source.md").write_text(SOURCE)
    (root / "policy.yaml").write_text(INDEX)
    (root / "clauses" / "A.yaml").write_text(RULES)
    return load_policy(root)


def ask(n: int, subject: str, partner: str) -> dict:
    return {"specversion": "1.0", "id": f"q-{n}", "source": "/t", "type": "disclosure.requested",
            "time": f"2019-03-{n:02d}T00:00:00Z", "subject": subject,
            "data": {"request_id": f"r-{n}", "recipient": {"kind": "affiliate", "name": partner},
                     "purpose": "service_provision", "data_categories": ["email"]}}


ASKS = [ask(1, "s-1", "partner-p"), ask(2, "s-2", "partner-p"), ask(3, "s-3", "partner-q"),
        ask(4, "s-1", "partner-p")]


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_a_subject_no_event_names_is_loaded_before_it_is_written(tiny, store_url, batch):
    memory = Session(tiny)
    want = [memory.submit(e).to_json() for e in ASKS]
    store = open_store(store_url)
    try:
        session = Session(tiny, store)
        got = [d.to_json() for i in range(0, len(ASKS), batch)
               for d in session.submit_many(ASKS[i:i + batch])]
        assert got == want
        # every request is kept in the partner's record: none overwrote the one before it
        assert current(store.subject("partner-p"))["asked"]["by"] == ["s-1", "s-2", "s-1"]
        assert current(store.subject("partner-q"))["asked"]["by"] == ["s-3"]
        assert store.subject("partner-p") == memory.store.state["subjects"]["partner-p"]
    finally:
        store.close()


def test_a_read_of_an_unloaded_record_is_noted_and_loaded_for_a_second_evaluation(tiny, store_url):
    store = open_store(store_url)
    try:
        Session(tiny, store).submit(ASKS[0])
        event = ASKS[1]
        for tx in store.transactions([event], read_only=True):
            with tx:
                first = tx.state(event)
                assert isinstance(first["subjects"], Records)
                assert "partner-p" not in set(first["subjects"])  # not named: not read ahead
                evaluate(tiny, first, event, fold=True)
                again = tx.state(event, also={"partner-p"})
        assert first["subjects"].unloaded == {"partner-p"}
        assert current(again["subjects"]["partner-p"])["asked"]["by"] == ["s-1"]
        # the state explain is given holds it too
        assert "partner-p" in set(Session(tiny, store).state_for(event)["subjects"])
    finally:
        store.close()


def _statements_during_evaluation(store, monkeypatch) -> list[str]:
    """Every SQL statement the store's engine runs while ``evaluate`` is running."""
    inside, seen = [False], []
    real = session_module.evaluate

    def watched(*args, **kwargs):
        inside[0] = True
        try:
            return real(*args, **kwargs)
        finally:
            inside[0] = False

    monkeypatch.setattr(session_module, "evaluate", watched)

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _spy(conn, cursor, statement, *args):
        if inside[0]:
            seen.append(statement)

    return seen


@pytest.mark.parametrize("batch", [1, 500])
def test_no_query_runs_while_an_event_is_evaluated(policy, store_url, monkeypatch, batch):
    lines = (ROOT / "examples" / "demo-log.jsonl").read_text(encoding="utf-8").splitlines()
    lines += ccpa_log(subjects=8, days=100)
    store = open_store(store_url)
    try:
        during = _statements_during_evaluation(store, monkeypatch)
        session = Session(policy, store)
        decided = [d for _, d in session.replay(lines, batch=batch)]
        session.preview(json.loads(lines[0]))
        session.state_for(json.loads(lines[1]))
        assert sum(d.status == "accepted" for d in decided) > 400
        assert during == []
    finally:
        store.close()


def test_a_single_event_and_a_batch_store_the_same_rows(policy, store_url, other_url):
    lines = mixed_log(300, subjects=12, seed=29)
    one, many = open_store(store_url), open_store(other_url)
    try:
        alone = [d.to_json() for _, d in Session(policy, one).replay(lines, batch=1)]
        batched = [d.to_json() for _, d in Session(policy, many).replay(lines, batch=64)]
        memory = [d.to_json() for _, d in Session(policy, MemoryStore()).replay(lines)]
        assert alone == batched == memory
        assert one.decisions() == many.decisions()
        assert one.state()["subjects"] == many.state()["subjects"]
        assert [r["hash"] for r in one.log()] == [r["hash"] for r in many.log()]
    finally:
        one.close()
        many.close()


def test_a_dry_run_and_explain_write_nothing(policy, store_url):
    lines = mixed_log(40, subjects=4, seed=31)
    store = open_store(store_url)
    try:
        session = Session(policy, store)
        for _, _ in session.replay(lines[:20], batch=8):
            pass
        before = (store.count(), store.state())
        for line in lines[20:]:
            event = json.loads(line)
            session.preview(event)
            session.state_for(event)
        repeat = session.preview(json.loads(lines[0]))
        assert repeat.status == "duplicate"
        assert (store.count(), store.state()) == before
    finally:
        store.close()
