"""Every stored decision has an id of its own (``clauseline.chain.decision_id``), derived from the
event's source and id and the policy version that decided it, and keeps the id of the HTTP
request that stored it: stored (revision 0007 fills the ids of older rows), read back by id,
exported with each record outside the hash chain, and checked by ``clauseline verify``. On
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import sqlalchemy as sa

from clauseline.chain import decision_id, verify
from clauseline.session import Session
from clauseline.store import head_revision, migrate, open_store, schema_version

from .logs import START, mixed_log, payment
from .test_chain import check, export, filled


def derived(source, event_id, version) -> str:
    """The documented derivation, written out again here (docs/auditing.md): ``dec_`` and the
    first 26 characters of the lowercase base32 SHA-256 of the compact, key-sorted JSON
    ``[source, id, policy_version]``."""
    text = json.dumps([source, event_id, version], ensure_ascii=False, separators=(",", ":"))
    return "dec_" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower()[:26]


def rows(url) -> list[tuple]:
    """(seq, source, id, policy_version, decision_id, request_id) of every stored decision."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "select d.seq, e.source, e.event_id, d.policy_version, d.decision_id, "
                "d.request_id from decisions d join events e on e.seq = d.seq order by d.seq"))]
    finally:
        engine.dispose()


def test_the_id_is_the_documented_derivation_and_never_changes():
    assert decision_id("/a", "e-1", "securus-2019-05-04") == derived("/a", "e-1",
                                                                      "securus-2019-05-04")
    # pinned: an id an auditor was given must still name the same decision in a later release
    assert decision_id("/facilities/tx-dallas-01/payments", "e-17",
                       "securus-2019-05-04") == "dec_3lv24g4gp7pilirl7bjfwgbmnm"
    one = decision_id("/facilities/tx-dallas-01/payments", "e-17", "securus-2019-05-04")
    assert one.startswith("dec_") and len(one) == 30 and one[4:].isalnum() and one == one.lower()
    # each part counts, and a separator inside a part cannot make two events one id
    assert len({decision_id("/a", "b", "v"), decision_id("/a", "b", "w"),
                decision_id("/a", "c", "v"), decision_id("/b", "b", "v"),
                decision_id("/a,b", "", "v"), decision_id("/a", ",b", "v")}) == 6
    # unicode is hashed as UTF-8, as the store and an export hold it
    assert decision_id("/ü", "é", None) == derived("/ü", "é", None)


def test_stored_decisions_carry_the_derived_id_and_a_replay_no_request_id(
        policy, store_url, other_url):
    lines = mixed_log(80, subjects=10)
    filled(policy, store_url, lines).close()
    stored = rows(store_url)
    assert len(stored) > 40
    for _, source, event_id, version, did, request in stored:
        assert did == derived(source, event_id, version) and request is None
    assert len({r[4] for r in stored}) == len(stored)
    # the same log replayed into another store gives the same ids, seq for seq
    filled(policy, other_url, lines + lines[:10]).close()  # the repeats are duplicates
    assert [r[4] for r in rows(other_url)] == [r[4] for r in stored]


def test_request_ids_are_stored_per_event_and_a_duplicate_keeps_the_first(policy, store_url):
    store = open_store(store_url)
    try:
        session = Session(policy, store)
        first = payment("p-1", START, "acct-1", 1)
        second = payment("p-2", START, "acct-2", 2)
        bad = payment("p-3", START, "acct-3", 3, amount=-1)  # rejected: nothing stored
        decisions = session.submit_many([first, second, bad], request_ids=["req-a", "req-b",
                                                                            "req-c"])
        assert [d.status for d in decisions] == ["accepted", "accepted", "rejected"]
        again = session.submit_many([dict(first)], request_ids=["req-z"])
        assert again[0].status == "duplicate"
        session.submit(payment("p-4", START, "acct-1", 4))  # no request (a replay, the CLI)
        found = store.decision_by_id(decision_id(first["source"], "p-1",
                                                 decisions[0].policy_version))
    finally:
        store.close()
    assert [(r[2], r[5]) for r in rows(store_url)] == [("p-1", "req-a"), ("p-2", "req-b"),
                                                     ("p-4", None)]
    assert found["request_id"] == "req-a" and found["seq"] == 1
    assert found["event"] == {"source": first["source"], "id": "p-1", "type": "payment.made",
                              "subject": "acct-1", "time": first["time"]}
    assert found["decision"] == decisions[0].as_dict()


def test_reading_by_id(policy, store_url):
    lines = mixed_log(30, subjects=5)
    store = filled(policy, store_url, lines)
    try:
        for seq, source, event_id, version, did, _ in rows(store_url):
            found = store.decision_by_id(did)
            assert found["seq"] == seq and found["decision_id"] == did
            assert (found["event"]["source"], found["event"]["id"]) == (source, event_id)
            assert found["decision"] == store.decision_for(source, event_id).as_dict()
        unknown = decision_id("/tests/store", "never-posted", "securus-2019-05-04")
        assert store.decision_by_id(unknown) is None
        # what cannot be stored is not looked up (a NUL, a lone surrogate)
        assert store.decision_by_id("dec_\x00") is None
        assert store.decision_by_id("dec_\ud800") is None
    finally:
        store.close()


def test_the_migration_fills_the_ids_of_older_rows(policy, store_url):
    from alembic import command
    from alembic.config import Config

    from clauseline.store import MIGRATIONS

    lines = mixed_log(60, subjects=8)
    store = filled(policy, store_url, lines[:40])
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
            assert "decision_id" not in {c["name"] for c in sa.inspect(conn).get_columns(
                "decisions")}
        assert schema_version(store.engine) == "0006"
        old = count_rows(store.engine)
        assert old > 20
        migrate(store.engine)
        assert schema_version(store.engine) == head_revision()
        # and the store goes on from there: new events get theirs as they are stored
        for _ in Session(policy, store).replay(lines):
            pass
        with store.engine.connect() as conn:
            indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("decisions")}
            assert indexes["ix_decisions_decision_id"]["unique"]
            assert indexes["ix_decisions_decision_id"]["column_names"] == ["decision_id"]
        # the index refuses a second row with the same id
        with pytest.raises(sa.exc.IntegrityError):
            with store.engine.begin() as conn:
                conn.execute(sa.text("update decisions set decision_id = (select decision_id "
                                         "from decisions where seq = 1) where seq = 2"))
    finally:
        store.close()
    stored = rows(store_url)
    assert len(stored) > old
    for _, source, event_id, version, did, request in stored:
        assert did == derived(source, event_id, version) and request is None


def count_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from decisions")).scalar_one()


def test_the_export_names_each_decision_and_verify_catches_a_changed_id(
        policy, store_url, tmp_path, capsys):
    store = filled(policy, store_url, mixed_log(40, subjects=6))
    try:
        Session(policy, store).submit_many([payment("p-http", START, "acct-1", 9)],
                                           request_ids=["req-http-1"])
    finally:
        store.close()
    exported, head = export(capsys, store_url, tmp_path)
    records = [json.loads(line) for line in exported]
    for record in records:
        decision = record["decision"]
        assert record["decision_id"] == derived(decision["event_source"], decision["event_id"],
                                                decision["policy_version"])
    assert [r["request_id"] for r in records].count(None) == len(records) - 1
    assert records[-1]["request_id"] == "req-http-1"
    code, text = check(capsys, tmp_path, exported, "--head", head)
    assert code == 0, text
    # an export written before revision 0007 (no id, no request id) verifies as it was
    older = [json.dumps({k: v for k, v in r.items() if k not in ("decision_id", "request_id")})
             for r in records]
    assert verify(older, head=head).ok
    # a changed id: the hash does not cover it, the derivation does
    changed = dict(records[5], decision_id=records[6]["decision_id"])
    lines = exported[:5] + [json.dumps(changed)] + exported[6:]
    code, text = check(capsys, tmp_path, lines, "--head", head)
    assert code == 1 and "line 6" in text and "decision_id" in text and "was changed" in text
    assert records[6]["decision_id"] not in text  # the verdict names the event, not the ids
    for wrong in (None, 17, "", "dec_" + "a" * 26, "4111111111111111", "dec_\x1b[2J"):
        changed = dict(records[0], decision_id=wrong)
        verdict = verify([json.dumps(changed)] + exported[1:], head=head)
        assert not verdict.ok and verdict.line == 1, wrong
        assert "\x1b" not in str(verdict)
        if isinstance(wrong, str) and wrong:
            assert wrong not in str(verdict) and "41111111" not in str(verdict)
    # a request id is not derived: it is what the service said, outside the chain, and a record
    # whose request id is not a string or null is not a log record
    assert verify(exported[:-1] + [json.dumps(dict(records[-1], request_id="other"))],
                  head=head).ok
    assert not verify([json.dumps(dict(records[0], request_id=["x"]))]).ok
